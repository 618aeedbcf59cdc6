# One zonal disk per hub, in the cluster's zone so the NFS server can mount it.
resource "google_compute_disk" "home" {
  for_each = var.home_disks

  name = "${var.cluster_name}-home-${each.key}"
  type = "pd-balanced"
  zone = var.zone
  size = each.value.size_gb

  depends_on = [google_project_service.this]

  lifecycle {
    precondition {
      condition     = contains(var.hubs, each.key)
      error_message = "home_disks key \"${each.key}\" is not listed in hubs."
    }
    precondition {
      condition     = length("${var.cluster_name}-home-${each.key}") <= 63
      error_message = "Disk name \"${var.cluster_name}-home-${each.key}\" exceeds 63 characters; shorten cluster_name or the hub name."
    }
  }
}

check "every_hub_has_a_home_disk" {
  assert {
    condition     = alltrue([for h in var.hubs : contains(keys(var.home_disks), h)])
    error_message = "Some hubs have no home_disks entry: ${join(", ", setsubtract(var.hubs, keys(var.home_disks)))}."
  }
}

resource "google_storage_bucket" "this" {
  for_each = var.buckets

  name     = coalesce(each.value.name, "${var.cluster_name}-${each.key}")
  location = var.region
  # force_destroy stays false: destroying a bucket that still holds data
  # fails instead of silently deleting it.
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  dynamic "lifecycle_rule" {
    for_each = each.value.delete_after_days == null ? [] : [each.value.delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.this]

  lifecycle {
    precondition {
      condition     = length("${var.cluster_name}-${each.key}") <= 63
      error_message = "Bucket name \"${var.cluster_name}-${each.key}\" exceeds 63 characters."
    }
  }
}
