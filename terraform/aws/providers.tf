provider "aws" {
  region = var.region

  # Tags every taggable resource this module creates. Note that EC2 instances
  # launched by managed node groups do not inherit them.
  default_tags {
    tags = var.labels
  }
}
