terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.9 added storage_account_id to shares and containers, which manages
      # them through Azure Resource Manager instead of the storage data
      # plane. That matters here: the NFS account denies all networks except
      # the AKS subnet, so a data-plane call from the installer would be
      # refused.
      version = "~> 4.9"
    }
  }
}
