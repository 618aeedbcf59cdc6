# Output names are a contract with the installer, like the variable names.

locals {
  registry_host = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "registry_url" {
  description = "Docker registry prefix for hub images; repositories under it are created on first push."
  value       = "${local.registry_host}/${aws_ecr_repository_creation_template.images.prefix}"
}

output "bucket_names" {
  description = "Bucket key => real bucket name."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "home_volume_ids" {
  description = "Hub => EBS volume id, the EBS CSI driver's static volumeHandle."
  value       = { for h, v in aws_ebs_volume.home : h => v.id }
}

output "user_identities" {
  description = "Hub => IAM role ARN, for the eks.amazonaws.com/role-arn annotation on the hub's user-sa."
  value       = { for h in var.hubs : h => aws_iam_role.irsa["hub/${h}"].arn }
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"
}

# Beyond the contract: the installer needs these for the cluster autoscaler
# and to know which AZ the home volumes (and all nodes) are in.
output "autoscaler_role_arn" {
  description = "IAM role for support/cluster-autoscaler, the support release's (blueprints/support-overlay.yaml.tera annotates it)."
  value       = aws_iam_role.irsa["autoscaler"].arn
}

output "home_availability_zone" {
  description = "Availability zone of the home volumes and of every node group."
  value       = local.home_az
}
