# A community's fresh project usually has none of these APIs on. Enabling them
# here makes the first apply work without a manual console step.
# disable_on_destroy = false: turning an API off on destroy would break anything
# else in the project that uses it.
resource "google_project_service" "this" {
  for_each = toset([
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # workload identity token exchange
    "storage.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
