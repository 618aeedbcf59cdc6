# ECR has one repository per image and, by default, refuses pushes to
# repositories that do not exist. A creation template applied for
# CREATE_ON_PUSH makes ECR create "<registry_name>/<image>" on first push, so
# the installer needs no list of image names. The pusher still needs
# ecr:CreateRepository.
#
# Templates are per account and region: two clusters sharing an account must
# use different registry_name values. No resource_tags: ECR then requires a
# custom_role_arn, which is not worth a role of its own here.
resource "aws_ecr_repository_creation_template" "images" {
  prefix               = var.registry_name
  description          = "Hub images for ${var.cluster_name}, created on first push"
  applied_for          = ["CREATE_ON_PUSH"]
  image_tag_mutability = "MUTABLE"

  encryption_configuration {
    encryption_type = "AES256"
  }

  # Untagged layers from rebuilt tags would otherwise accumulate forever.
  lifecycle_policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Expire untagged images after 30 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}
