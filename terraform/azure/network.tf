resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.labels
}

resource "azurerm_virtual_network" "this" {
  name                = "${var.cluster_name}-vnet"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = ["10.240.0.0/16"]
  tags                = var.labels
}

# Nodes only: with CNI overlay, pods take addresses from pod_cidr, not from
# this subnet. The Microsoft.Storage service endpoint is what lets the NFS
# account's network rule admit this subnet (NFS shares accept no public
# traffic at all).
resource "azurerm_subnet" "aks" {
  name                 = "aks-nodes"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = ["10.240.0.0/20"]
  service_endpoints    = ["Microsoft.Storage"]
}

# With a bring-your-own subnet the cluster identity needs rights on it, e.g.
# to place load balancer frontends; AKS does not grant these itself when
# created through the API.
resource "azurerm_role_assignment" "aks_subnet" {
  scope                            = azurerm_subnet.aks.id
  role_definition_name             = "Network Contributor"
  principal_id                     = azurerm_kubernetes_cluster.this.identity[0].principal_id
  skip_service_principal_aad_check = true
}
