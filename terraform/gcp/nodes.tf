locals {
  # GKE pool names: lowercase letters, digits, hyphens, at most 40 characters.
  user_pool_names = {
    for k, _ in var.user_node_pools :
    k => "user-${trim(substr(replace(lower(k), "/[^a-z0-9-]/", "-"), 0, 34), "-")}"
  }

  node_oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]

  # GKE spells taint effects its own way.
  taint_effects = {
    NoSchedule       = "NO_SCHEDULE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
  }
}

# Hub, proxy and the NFS home server. Fixed 1..3: enough headroom for an
# upgrade surge without paying for idle nodes.
resource "google_container_node_pool" "core" {
  name     = "core"
  cluster  = google_container_cluster.this.name
  location = var.zone

  initial_node_count = 1
  autoscaling {
    min_node_count = 1
    max_node_count = 3
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.core_machine_type
    disk_type       = "pd-balanced"
    disk_size_gb    = 100
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_oauth_scopes
    resource_labels = var.labels

    labels = var.core_node_labels

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}

resource "google_container_node_pool" "user" {
  for_each = var.user_node_pools

  name     = local.user_pool_names[each.key]
  cluster  = google_container_cluster.this.name
  location = var.zone

  # initial_node_count forces replacement when changed; the autoscaler owns
  # the size after creation, so only the first value matters.
  initial_node_count = each.value.min
  autoscaling {
    min_node_count = each.value.min
    max_node_count = each.value.max
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = each.value.machine_type
    disk_type       = "pd-balanced"
    disk_size_gb    = 100 # user images are often several GB
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_oauth_scopes
    resource_labels = var.labels

    # The source pool's labels and taints (r2r install carries them): user
    # pools are tainted hub.jupyter.org_dedicated=user, dask worker pools
    # k8s.dask.org_dedicated=worker. GKE taints GPU nodes nvidia.com/gpu
    # itself; the pool declares it too, or every apply would recreate it.
    labels = each.value.labels
    dynamic "taint" {
      for_each = each.value.taints
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = local.taint_effects[taint.value.effect]
      }
    }

    # GPUs are attached to N1 machines; GKE installs the driver.
    dynamic "guest_accelerator" {
      for_each = each.value.gpu == null ? [] : [each.value.gpu]
      content {
        type  = guest_accelerator.value.type
        count = guest_accelerator.value.count
        gpu_driver_installation_config {
          gpu_driver_version = "DEFAULT"
        }
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]

    precondition {
      condition     = length(distinct(values(local.user_pool_names))) == length(local.user_pool_names)
      error_message = "Two user_node_pools keys sanitise to the same GKE pool name; rename one."
    }
  }
}
