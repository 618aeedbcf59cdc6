# Output names are a contract with the installer, like the variable names.

output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.this.name
}

output "registry_url" {
  description = "Docker registry prefix for hub images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "bucket_names" {
  description = "Bucket key => real bucket name."
  value       = { for k, b in google_storage_bucket.this : k => b.name }
}

output "home_volume_ids" {
  description = "Hub => persistent disk id, as the GCE PD CSI driver expects for a static volumeHandle."
  value       = { for h, d in google_compute_disk.home : h => "projects/${var.project_id}/zones/${var.zone}/disks/${d.name}" }
}

output "user_identities" {
  description = "Hub => Google service account email, for the iam.gke.io/gcp-service-account annotation on the hub's user-sa."
  value       = { for h, sa in google_service_account.user : h => sa.email }
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.this.name} --zone ${var.zone} --project ${var.project_id}"
}
