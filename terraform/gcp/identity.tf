locals {
  # Service account ids must be 6-30 characters, [a-z][-a-z0-9]*[a-z0-9].
  # "<cluster_name>-<hub>" is used as-is when it fits. Longer names keep their
  # first 21 characters and get "-" plus 8 hex characters of sha1(full name),
  # which is stable across applies and keeps distinct hubs distinct. Names
  # shorter than 6 get a "-user" suffix. The display name always carries the
  # full, untruncated name.
  user_sa_full = { for h in var.hubs : h => "${var.cluster_name}-${h}" }
  user_sa_ids = {
    for h, full in local.user_sa_full : h => (
      length(full) < 6 ? "${full}-user" :
      length(full) <= 30 ? full :
      "${substr(full, 0, 21)}-${substr(sha1(full), 0, 8)}"
    )
  }

  node_sa_full = "${var.cluster_name}-gke-nodes"
  node_sa_id = (
    length(local.node_sa_full) <= 30 ? local.node_sa_full :
    "${substr(local.node_sa_full, 0, 21)}-${substr(sha1(local.node_sa_full), 0, 8)}"
  )

  # hub/bucket pairs: each hub's identity can read and write the buckets
  # listing it in hubs, and those with hubs null (every hub).
  hub_bucket_pairs = {
    for pair in setproduct(var.hubs, keys(var.buckets)) :
    "${pair[0]}/${pair[1]}" => { hub = pair[0], bucket = pair[1] }
    if contains(var.buckets[pair[1]].hubs == null ? [pair[0]] : var.buckets[pair[1]].hubs, pair[0])
  }
}

# Node identity: a dedicated, minimal account instead of the Compute Engine
# default SA (which has project Editor, or is disabled by org policy).
resource "google_service_account" "nodes" {
  account_id   = local.node_sa_id
  display_name = local.node_sa_full
  description  = "GKE nodes of ${var.cluster_name}"

  depends_on = [google_project_service.this]

  lifecycle {
    precondition {
      condition     = !contains(values(local.user_sa_ids), local.node_sa_id)
      error_message = "A hub's service account id collides with the node service account \"${local.node_sa_id}\"; rename that hub."
    }
  }
}

# Logging, monitoring and metadata writes that every GKE node needs.
resource "google_project_iam_member" "nodes_default" {
  project = var.project_id
  role    = "roles/container.defaultNodeServiceAccount"
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

# One Google identity per hub, used by that hub's user pods.
resource "google_service_account" "user" {
  for_each = local.user_sa_ids

  account_id   = each.value
  display_name = local.user_sa_full[each.key]
  description  = "User servers of hub ${each.key} on ${var.cluster_name}"

  depends_on = [google_project_service.this]

  lifecycle {
    precondition {
      condition     = length(distinct(values(local.user_sa_ids))) == length(local.user_sa_ids)
      error_message = "Two hubs derive the same service account id; rename one of them."
    }
  }
}

# Workload identity: the KSA "user-sa" in namespace <hub> may act as the
# hub's Google SA. The identity pool only exists once the cluster does,
# hence the explicit dependency.
resource "google_service_account_iam_member" "user_workload_identity" {
  for_each = google_service_account.user

  service_account_id = each.value.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.key}/user-sa]"

  depends_on = [google_container_cluster.this]
}

resource "google_storage_bucket_iam_member" "user_buckets" {
  for_each = local.hub_bucket_pairs

  bucket = google_storage_bucket.this[each.value.bucket].name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.user[each.value.hub].email}"
}
