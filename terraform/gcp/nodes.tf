locals {
  # GKE pool names: lowercase letters, digits, hyphens, at most 40 characters.
  user_pool_names = {
    for k, _ in var.user_node_pools :
    k => "user-${trim(substr(replace(lower(k), "/[^a-z0-9-]/", "-"), 0, 34), "-")}"
  }

  node_oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
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

    labels = {
      "hub.jupyter.org/node-purpose" = "core"
    }

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

    # z2jh's scheduling: user pods prefer node-purpose=user and tolerate the
    # dedicated taint. GKE forbids "/" in taint keys, hence the "_" spelling,
    # which z2jh tolerates as well.
    labels = {
      "hub.jupyter.org/node-purpose" = "user"
    }
    taint {
      key    = "hub.jupyter.org_dedicated"
      value  = "user"
      effect = "NO_SCHEDULE"
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
