data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  policy_prefix = "arn:${data.aws_partition.current.partition}:iam::aws:policy"
}

data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.cluster_name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "${local.policy_prefix}/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  name     = var.cluster_name
  role_arn = aws_iam_role.cluster.arn
  version  = var.kubernetes_version

  vpc_config {
    subnet_ids              = concat(aws_subnet.private[*].id, aws_subnet.public[*].id)
    endpoint_private_access = true
    endpoint_public_access  = true
  }

  # Access entries only (no aws-auth ConfigMap). Whoever runs the first apply
  # becomes cluster admin; EKS adds the node role's entry for managed groups.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]
}

# IRSA: lets pods exchange their service-account token for IAM credentials.
data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "eks" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]
}

# Managed VPC CNI with its network-policy agent switched on: z2jh ships
# NetworkPolicies for hub, proxy and user pods, and they are inert unless
# something enforces them. Nodes wait for this addon.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  configuration_values        = jsonencode({ enableNetworkPolicy = "true" })
}

# The EBS CSI driver attaches the home volumes. Its controller runs on nodes,
# so the addon only turns healthy once the core group exists.
resource "aws_eks_addon" "ebs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-ebs-csi-driver"
  service_account_role_arn    = aws_iam_role.irsa["ebs-csi"].arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.core, aws_iam_role_policy_attachment.ebs_csi]
}

# The Mountpoint for Amazon S3 CSI driver mounts the uploaded bundle,
# read-only, into the home restore Jobs (blueprints/aws/restore-job.yaml.tera:
# driver s3.csi.aws.com). Its node pods run on every node.
resource "aws_eks_addon" "s3_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-mountpoint-s3-csi-driver"
  service_account_role_arn    = aws_iam_role.irsa["s3-csi"].arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.core, aws_iam_role_policy.s3_csi]
}
