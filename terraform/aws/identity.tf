locals {
  oidc_host = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # IAM role names are at most 64 characters. "<cluster_name>-<hub>" is used
  # as-is when it fits; longer names keep 55 characters plus "-" and 8 hex
  # characters of sha1(full name), stable across applies.
  user_role_names = {
    for h in var.hubs : h => (
      length("${var.cluster_name}-${h}") <= 64 ? "${var.cluster_name}-${h}" :
      "${substr("${var.cluster_name}-${h}", 0, 55)}-${substr(sha1("${var.cluster_name}-${h}"), 0, 8)}"
    )
  }

  # Every IRSA role: key => the Kubernetes service account allowed to assume it.
  irsa_subjects = merge(
    {
      "ebs-csi" = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
      "s3-csi"  = "system:serviceaccount:kube-system:s3-csi-driver-sa"
      # The support release's cluster-autoscaler (its service account named
      # so in blueprints/support-overlay.yaml.tera).
      "autoscaler" = "system:serviceaccount:support:cluster-autoscaler"
    },
    { for h in var.hubs : "hub/${h}" => "system:serviceaccount:${h}:user-sa" },
  )

  irsa_role_names = merge(
    {
      "ebs-csi"    = "${var.cluster_name}-ebs-csi"
      "s3-csi"     = "${var.cluster_name}-s3-csi"
      "autoscaler" = "${var.cluster_name}-autoscaler"
    },
    { for h, n in local.user_role_names : "hub/${h}" => n },
  )

  fixed_role_names = [
    "${var.cluster_name}-eks-cluster",
    "${var.cluster_name}-eks-node",
    "${var.cluster_name}-ebs-csi",
    "${var.cluster_name}-s3-csi",
    "${var.cluster_name}-autoscaler",
  ]
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_subjects

  name               = local.irsa_role_names[each.key]
  assume_role_policy = data.aws_iam_policy_document.irsa_assume[each.key].json

  lifecycle {
    precondition {
      condition = (
        !startswith(each.key, "hub/") ||
        !contains(local.fixed_role_names, local.irsa_role_names[each.key])
      )
      error_message = "Hub role \"${local.irsa_role_names[each.key]}\" collides with one of this module's own roles; rename the hub."
    }
  }
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.irsa["ebs-csi"].name
  policy_arn = "${local.policy_prefix}/service-role/AmazonEBSCSIDriverPolicy"
}

# The Mountpoint for Amazon S3 CSI driver mounts the uploaded bundle into the
# home restore Jobs (blueprints/aws/restore-job.yaml.tera) with its own
# credentials: read-only, on the bundle bucket only.
data "aws_iam_policy_document" "s3_csi" {
  count = contains(keys(var.buckets), "r2r-bundle") ? 1 : 0

  statement {
    sid       = "ListBundleBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["r2r-bundle"].arn]
  }

  statement {
    sid       = "ReadBundle"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this["r2r-bundle"].arn}/*"]
  }
}

resource "aws_iam_role_policy" "s3_csi" {
  count = length(data.aws_iam_policy_document.s3_csi)

  name   = "read-r2r-bundle"
  role   = aws_iam_role.irsa["s3-csi"].id
  policy = data.aws_iam_policy_document.s3_csi[0].json
}

# For the Kubernetes cluster autoscaler (installed by the support release
# into namespace support as "cluster-autoscaler"). EKS node groups do not scale on
# their own; without the autoscaler a user pool stays at its min size.
data "aws_iam_policy_document" "autoscaler" {
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
      "eks:DescribeNodegroup",
    ]
    resources = ["*"]
  }

  # Scaling only the groups EKS tagged as belonging to this cluster.
  statement {
    sid = "ScaleOwnGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.irsa["autoscaler"].id
  policy = data.aws_iam_policy_document.autoscaler.json
}

locals {
  # Hub => the buckets its users may read and write: those listing it in
  # hubs, and those with hubs null (every hub).
  hub_buckets = {
    for h in var.hubs : h => [
      for k, b in var.buckets : k if contains(b.hubs == null ? [h] : b.hubs, h)
    ]
  }
}

# Read/write on its own buckets for each hub's user role. No policy for a
# hub without buckets (IAM rejects an empty one).
data "aws_iam_policy_document" "buckets" {
  for_each = { for h, ks in local.hub_buckets : h => ks if length(ks) > 0 }

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [for k in each.value : aws_s3_bucket.this[k].arn]
  }

  statement {
    sid = "ReadWriteObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [for k in each.value : "${aws_s3_bucket.this[k].arn}/*"]
  }
}

resource "aws_iam_policy" "buckets" {
  for_each = data.aws_iam_policy_document.buckets

  name        = "${var.cluster_name}-${each.key}-user-buckets"
  description = "Read/write on hub ${each.key}'s buckets for its user servers"
  policy      = each.value.json
}

resource "aws_iam_role_policy_attachment" "user_buckets" {
  for_each = aws_iam_policy.buckets

  role       = aws_iam_role.irsa["hub/${each.key}"].name
  policy_arn = each.value.arn
}
