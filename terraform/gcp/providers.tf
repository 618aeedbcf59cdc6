provider "google" {
  project = var.project_id
  region  = var.region
  zone    = var.zone

  # Stamped onto every resource that carries GCP labels (cluster, disks,
  # buckets, registry). Node VMs get them through node_config.resource_labels.
  default_labels = var.labels
}
