terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.28 is the first release whose ECR SDK knows the CREATE_ON_PUSH value
      # of aws_ecr_repository_creation_template.applied_for (AWS launched
      # create-on-push in December 2025; the 5.x line never got it).
      version = ">= 6.28, < 7.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}
