# Output names are a contract with the installer, like the variable names.

output "cluster_name" {
  description = "Name of the AKS cluster."
  value       = azurerm_kubernetes_cluster.this.name
}

output "registry_url" {
  description = "Docker registry host for hub images."
  value       = azurerm_container_registry.images.login_server
}

output "bucket_names" {
  description = "Bucket key => \"<blob account>/<container>\"."
  value       = { for k, c in azurerm_storage_container.bucket : k => "${local.blob_account_name}/${c.name}" }
}

output "home_volume_ids" {
  description = "Hub => NFS export \"<account>.file.core.windows.net:/<account>/home-<hub>\"."
  value = {
    for h, s in azurerm_storage_share.home :
    h => "${azurerm_storage_account.homes.name}.file.core.windows.net:/${azurerm_storage_account.homes.name}/${s.name}"
  }
}

output "user_identities" {
  description = "Hub => client id of the hub's managed identity, for the azure.workload.identity/client-id annotation on the hub's user-sa."
  value       = { for h, id in azurerm_user_assigned_identity.user : h => id.client_id }
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.this.name} --name ${azurerm_kubernetes_cluster.this.name}"
}

# Beyond the contract: workload identity clients also need the tenant id.
data "azurerm_client_config" "current" {}

output "tenant_id" {
  description = "Entra tenant of the user identities (azure.workload.identity/tenant-id)."
  value       = data.azurerm_client_config.current.tenant_id
}
