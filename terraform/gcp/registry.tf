resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = var.registry_name
  format        = "DOCKER"
  description   = "Hub images for ${var.cluster_name}"

  depends_on = [google_project_service.this]
}

# Nodes pull hub images with their own service account.
resource "google_artifact_registry_repository_iam_member" "nodes_reader" {
  project    = google_artifact_registry_repository.images.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}
