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

# Read/write on every container of the blob account for every hub.
resource "azurerm_role_assignment" "user_blobs" {
  for_each = { for h, id in azurerm_user_assigned_identity.user : h => id if length(var.buckets) > 0 }

  scope                            = azurerm_storage_account.blobs[0].id
  role_definition_name             = "Storage Blob Data Contributor"
  principal_id                     = each.value.principal_id
  skip_service_principal_aad_check = true
}
