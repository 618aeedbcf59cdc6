locals {
  # AKS Linux pool names: at most 12 lowercase letters and digits, starting
  # with a letter. Other characters are dropped; a leading digit gets "u".
  user_pool_clean = { for k, _ in var.user_node_pools : k => replace(lower(k), "/[^a-z0-9]/", "") }
  user_pool_names = {
    for k, c in local.user_pool_clean :
    k => substr(can(regex("^[a-z]", c)) ? c : "u${c}", 0, 12)
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "user" {
  for_each = var.user_node_pools

  name                  = local.user_pool_names[each.key]
  kubernetes_cluster_id = azurerm_kubernetes_cluster.this.id
  mode                  = "User"
  vm_size               = each.value.machine_type
  vnet_subnet_id        = azurerm_subnet.aks.id
  auto_scaling_enabled  = true
  min_count             = each.value.min
  max_count             = each.value.max
  os_disk_size_gb       = 128 # user images are often several GB
  tags                  = var.labels

  # The source pool's labels and taints (r2r install carries them): user
  # pools are tainted hub.jupyter.org_dedicated=user, dask worker pools
  # k8s.dask.org_dedicated=worker, GPU pools nvidia.com/gpu. AKS takes
  # Kubernetes' spelling. A GPU VM size (Standard_NC*) brings its GPUs; AKS
  # installs the driver.
  node_labels = each.value.labels
  node_taints = [for t in each.value.taints : "${t.key}=${t.value}:${t.effect}"]

  upgrade_settings {
    max_surge = "10%"
  }

  lifecycle {
    ignore_changes = [node_count]

    precondition {
      condition     = length(distinct(values(local.user_pool_names))) == length(local.user_pool_names)
      error_message = "Two user_node_pools keys reduce to the same AKS pool name; rename one."
    }
    precondition {
      condition     = local.user_pool_names[each.key] != "core" && local.user_pool_names[each.key] != "coretmp"
      error_message = "A user pool may not be called \"core\": that is the system pool."
    }
  }
}
