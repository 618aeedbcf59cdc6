# One gp3 volume per hub in the home AZ, attached by the NFS home server.
resource "aws_ebs_volume" "home" {
  for_each = var.home_disks

  availability_zone = local.home_az
  size              = each.value.size_gb
  type              = "gp3"
  encrypted         = true

  tags = {
    Name      = "${var.cluster_name}-home-${each.key}"
    "r2r/hub" = each.key
  }

  lifecycle {
    precondition {
      condition     = contains(var.hubs, each.key)
      error_message = "home_disks key \"${each.key}\" is not listed in hubs."
    }
  }
}

check "every_hub_has_a_home_volume" {
  assert {
    condition     = alltrue([for h in var.hubs : contains(keys(var.home_disks), h)])
    error_message = "Some hubs have no home_disks entry: ${join(", ", setsubtract(var.hubs, keys(var.home_disks)))}."
  }
}

locals {
  # A bucket's name: the installer's answer, else "<cluster_name>-<key>".
  bucket_names = { for k, b in var.buckets : k => coalesce(b.name, "${var.cluster_name}-${k}") }
}

# force_destroy stays false: destroying a bucket that still holds objects
# fails instead of silently deleting data.
resource "aws_s3_bucket" "this" {
  for_each = var.buckets

  bucket = local.bucket_names[each.key]

  lifecycle {
    precondition {
      condition     = length(local.bucket_names[each.key]) <= 63
      error_message = "Bucket name \"${local.bucket_names[each.key]}\" exceeds 63 characters."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = { for k, b in var.buckets : k => b.delete_after_days if b.delete_after_days != null }

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "delete-after-${each.value}-days"
    status = "Enabled"

    filter {} # the whole bucket

    expiration {
      days = each.value
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}
