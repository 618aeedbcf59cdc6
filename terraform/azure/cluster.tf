resource "azurerm_kubernetes_cluster" "this" {
  name                = var.cluster_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  dns_prefix          = var.cluster_name
  kubernetes_version  = var.kubernetes_version
  # Patch upgrades only when no version is pinned; a pinned version stays put.
  automatic_upgrade_channel = var.kubernetes_version == null ? "patch" : null
  tags                      = var.labels

  # The system pool doubles as the core pool: hub, proxy, NFS home server.
  default_node_pool {
    name                        = "core"
    temporary_name_for_rotation = "coretmp"
    vm_size                     = var.core_machine_type
    vnet_subnet_id              = azurerm_subnet.aks.id
    auto_scaling_enabled        = true
    min_count                   = 1
    max_count                   = 3
    os_disk_size_gb             = 128
    tags                        = var.labels

    node_labels = var.core_node_labels

    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  # Workload identity: pods exchange their service-account token for an Entra
  # token of a user-assigned identity (see identity.tf).
  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  # Azure CNI in overlay mode, with the Cilium dataplane:
  # - kubenet is on its way out (retirement announced), so not kubenet;
  # - overlay gives pods addresses outside the VNet, so the subnet only has
  #   to fit nodes, while pod traffic to the NFS account leaves with the
  #   node's address and matches the subnet's storage network rule;
  # - Cilium enforces the NetworkPolicies z2jh ships.
  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
    pod_cidr            = "10.244.0.0/16"
    service_cidr        = "10.0.0.0/16"
    dns_service_ip      = "10.0.0.10"
    load_balancer_sku   = "standard"
  }

  # The home restore Jobs mount the uploaded bundle's container read-only
  # through the Blob CSI driver (blueprints/azure/restore-job.yaml.tera:
  # driver blob.csi.azure.com); the home share mounts over NFS, no driver.
  storage_profile {
    blob_driver_enabled = true
  }

  lifecycle {
    # The cluster autoscaler owns the current size.
    ignore_changes = [default_node_pool[0].node_count]
  }
}
