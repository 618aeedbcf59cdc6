locals {
  # Storage account names are global and at most 24 characters, so the blob
  # account's default is the NFS account's name cut to 23 plus "b". Set
  # blob_storage_account_name when that name is taken.
  blob_account_name = coalesce(var.blob_storage_account_name, "${substr(var.storage_account_name, 0, 23)}b")

  expiring_buckets = { for k, b in var.buckets : k => b.delete_after_days if b.delete_after_days != null }

  # A container's name: the installer's answer, else its key.
  container_names = { for k, b in var.buckets : k => coalesce(b.name, k) }
}

# --- Homes: NFS 4.1 shares on a Premium FileStorage account ---------------

resource "azurerm_storage_account" "homes" {
  name                     = var.storage_account_name
  resource_group_name      = azurerm_resource_group.this.name
  location                 = azurerm_resource_group.this.location
  account_kind             = "FileStorage" # NFS shares exist only on Premium FileStorage
  account_tier             = "Premium"
  account_replication_type = "LRS"
  # NFS does not speak TLS; Azure requires secure transfer off for NFS shares.
  # The network rule below is what keeps the shares private instead.
  https_traffic_only_enabled      = false
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.labels

  network_rules {
    default_action             = "Deny"
    bypass                     = ["AzureServices"]
    virtual_network_subnet_ids = [azurerm_subnet.aks.id]
  }
}

resource "azurerm_storage_share" "home" {
  for_each = var.home_disks

  name               = "home-${each.key}"
  storage_account_id = azurerm_storage_account.homes.id
  enabled_protocol   = "NFS"
  quota              = max(each.value.size_gb, 100) # Premium shares start at 100 GiB

  lifecycle {
    precondition {
      condition     = contains(var.hubs, each.key)
      error_message = "home_disks key \"${each.key}\" is not listed in hubs."
    }
  }
}

check "every_hub_has_a_home_share" {
  assert {
    condition     = alltrue([for h in var.hubs : contains(keys(var.home_disks), h)])
    error_message = "Some hubs have no home_disks entry: ${join(", ", setsubtract(var.hubs, keys(var.home_disks)))}."
  }
}

# --- Buckets: blob containers on a StorageV2 account ----------------------
# A separate account because Premium FileStorage cannot hold blobs. Created
# only when there are buckets, so an unused global name cannot fail an apply.

resource "azurerm_storage_account" "blobs" {
  count = length(var.buckets) > 0 ? 1 : 0

  name                            = local.blob_account_name
  resource_group_name             = azurerm_resource_group.this.name
  location                        = azurerm_resource_group.this.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  https_traffic_only_enabled      = true
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.labels

  lifecycle {
    precondition {
      condition     = local.blob_account_name != var.storage_account_name
      error_message = "blob_storage_account_name must differ from storage_account_name."
    }
  }
}

resource "azurerm_storage_container" "bucket" {
  for_each = var.buckets

  name                  = local.container_names[each.key]
  storage_account_id    = azurerm_storage_account.blobs[0].id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "blobs" {
  count = length(local.expiring_buckets) > 0 ? 1 : 0

  storage_account_id = azurerm_storage_account.blobs[0].id

  dynamic "rule" {
    for_each = local.expiring_buckets
    content {
      # Rule names are alphanumeric only; the hash keeps "a-b" and "ab" apart.
      name    = "expire${replace(rule.key, "-", "")}${substr(sha1(rule.key), 0, 6)}"
      enabled = true

      filters {
        blob_types   = ["blockBlob", "appendBlob"]
        prefix_match = ["${local.container_names[rule.key]}/"] # "<container>/" = the whole container
      }

      actions {
        base_blob {
          delete_after_days_since_modification_greater_than = rule.value
        }
      }
    }
  }

  depends_on = [azurerm_storage_container.bucket]
}
