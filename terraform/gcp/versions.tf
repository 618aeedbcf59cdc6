terraform {
  # 1.5 brings `check` blocks and `strcontains`; nothing newer is needed.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}
