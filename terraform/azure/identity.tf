# One user-assigned identity per hub, used by that hub's user pods through
# workload identity.
resource "azurerm_user_assigned_identity" "user" {
  for_each = toset(var.hubs)

  name                = "${var.cluster_name}-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = var.labels
}

# Trust the KSA "user-sa" in namespace <hub> of this cluster, and nothing else.
resource "azurerm_federated_identity_credential" "user" {
  for_each = azurerm_user_assigned_identity.user

  name                = "${var.cluster_name}-${each.key}-user-sa"
  resource_group_name = azurerm_resource_group.this.name
  parent_id           = each.value.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.this.oidc_issuer_url
  subject             = "system:serviceaccount:${each.key}:user-sa"
}

# The Blob CSI driver mounts a static volume that names no secret with the
# account key, which its node plugin fetches as the kubelet identity: it
# may list the keys of the blob account (where the bundle is uploaded).
resource "azurerm_role_assignment" "kubelet_blob_keys" {
  count = length(azurerm_storage_account.blobs)

  scope                            = azurerm_storage_account.blobs[0].id
  role_definition_name             = "Storage Account Key Operator Service Role"
  principal_id                     = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

locals {
  # hub/container pairs: each hub's identity can read and write the
  # containers listing it in hubs, and those with hubs null (every hub).
  hub_container_pairs = {
    for pair in setproduct(var.hubs, keys(var.buckets)) :
    "${pair[0]}/${pair[1]}" => { hub = pair[0], bucket = pair[1] }
    if contains(var.buckets[pair[1]].hubs == null ? [pair[0]] : var.buckets[pair[1]].hubs, pair[0])
  }
}

# Read/write on its own containers of the blob account for each hub.
resource "azurerm_role_assignment" "user_blobs" {
  for_each = local.hub_container_pairs

  scope                            = azurerm_storage_container.bucket[each.value.bucket].id
  role_definition_name             = "Storage Blob Data Contributor"
  principal_id                     = azurerm_user_assigned_identity.user[each.value.hub].principal_id
  skip_service_principal_aad_check = true
}
