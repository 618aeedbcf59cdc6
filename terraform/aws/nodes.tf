data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.cluster_name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

# Worker basics, the VPC CNI, and pulling hub images from this account's ECR.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "${local.policy_prefix}/${each.value}"
}

locals {
  # Node group names: letters, digits, '-' and '_', at most 63 characters.
  user_pool_names = {
    for k, _ in var.user_node_pools :
    k => "user-${trim(substr(replace(lower(k), "/[^a-z0-9-]/", "-"), 0, 50), "-")}"
  }

  # Graviton families ("m7g", "c6gn", "t4g", "r8gd", ...) need the ARM AMI,
  # a pool with GPUs the NVIDIA AMI (its driver and device plugin); for
  # everything else EKS's default AMI for the cluster version is right.
  ami_types = merge(
    { for k, t in merge({ core = var.core_machine_type }, { for name, p in var.user_node_pools : "user/${name}" => p.machine_type }) :
      k => can(regex("^[a-z]+[0-9]+g", split(".", t)[0])) ? "AL2023_ARM_64_STANDARD" : null
    },
    { for name, p in var.user_node_pools : "user/${name}" => "AL2023_x86_64_NVIDIA" if p.gpu != null },
  )

  # EKS spells taint effects its own way.
  taint_effects = {
    NoSchedule       = "NO_SCHEDULE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
  }
}

resource "aws_eks_node_group" "core" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "core"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = [aws_subnet.private[0].id] # the home AZ, see network.tf
  instance_types  = [var.core_machine_type]
  ami_type        = local.ami_types["core"]
  disk_size       = 100

  scaling_config {
    min_size     = 1
    max_size     = 3
    desired_size = 1
  }

  update_config {
    max_unavailable = 1
  }

  labels = var.core_node_labels

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.vpc_cni]

  lifecycle {
    # The cluster autoscaler owns the current size.
    ignore_changes = [scaling_config[0].desired_size]
  }
}

resource "aws_eks_node_group" "user" {
  for_each = var.user_node_pools

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = local.user_pool_names[each.key]
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = [aws_subnet.private[0].id]
  instance_types  = [each.value.machine_type]
  ami_type        = local.ami_types["user/${each.key}"]
  disk_size       = 100 # user images are often several GB

  # EKS accepts desired = min = 0. Scaling up from there is the cluster
  # autoscaler's job (see the autoscaler role in identity.tf); EKS tags the
  # groups' ASGs for its auto-discovery.
  scaling_config {
    min_size     = each.value.min
    max_size     = each.value.max
    desired_size = each.value.min
  }

  update_config {
    max_unavailable = 1
  }

  # The source pool's labels and taints (r2r install carries them): user
  # pools are tainted hub.jupyter.org_dedicated=user, dask worker pools
  # k8s.dask.org_dedicated=worker, GPU pools nvidia.com/gpu. The cluster
  # autoscaler reads them from the node group to scale up from zero.
  labels = each.value.labels

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = local.taint_effects[taint.value.effect]
    }
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.vpc_cni]

  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = length(distinct(values(local.user_pool_names))) == length(local.user_pool_names)
      error_message = "Two user_node_pools keys sanitise to the same node group name; rename one."
    }
  }
}
