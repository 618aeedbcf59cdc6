resource "google_container_cluster" "this" {
  name = var.cluster_name
  # Zonal on purpose: a zonal persistent disk can only attach to nodes in its
  # own zone, and the home disks live in var.zone.
  location = var.zone

  network         = google_compute_network.this.self_link
  subnetwork      = google_compute_subnetwork.nodes.self_link
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  # Dataplane V2 enforces NetworkPolicy, which z2jh ships for the hub, proxy
  # and user pods. Without an enforcing dataplane those policies are inert.
  datapath_provider = "ADVANCED_DATAPATH"

  # Node pools are managed as separate resources below; GKE insists on
  # creating a default pool first, so create one node and remove it.
  remove_default_node_pool = true
  initial_node_count       = 1
  node_config {
    # The throwaway default pool must not use the Compute Engine default SA,
    # which org policies often disable.
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
  }

  release_channel {
    channel = "REGULAR"
  }
  # A minimum, not a pin: the release channel still upgrades past it.
  min_master_version = var.kubernetes_version

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  addons_config {
    # The NFS home server mounts its home disk through the PD CSI driver.
    gce_persistent_disk_csi_driver_config {
      enabled = true
    }
    # The home restore Jobs mount the uploaded bundle read-only through the
    # GCS FUSE CSI driver (blueprints/gcp/restore-job.yaml.tera), as the
    # hub's user-sa, whose Google service account reads every bucket
    # (identity.tf). Homes are on PD behind the NFS server: no Filestore.
    gcs_fuse_csi_driver_config {
      enabled = true
    }
  }

  # The cluster holds no data (homes are on separate disks, objects in
  # buckets), and the installer must be able to tear a failed attempt down.
  deletion_protection = false

  lifecycle {
    # node_config only describes the removed default pool.
    ignore_changes = [node_config, initial_node_count]
  }

  depends_on = [google_project_service.this]
}
