# The names and types below are a contract with the installer's tfvars
# template. Rename nothing without changing the installer too.

variable "project_id" {
  description = "GCP project the hub moves into."
  type        = string
}

variable "region" {
  description = "Region for the registry, buckets and the cluster's subnet."
  type        = string
}

variable "zone" {
  description = "Zone of the (zonal) cluster. Home disks are zonal persistent disks, so the nodes that mount them must live in the same zone."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must be a zone such as \"us-central1-b\", not a region."
  }
}

variable "cluster_name" {
  description = "Name of the GKE cluster; also the prefix of every other resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 40
    error_message = "cluster_name must be a DNS-1123 label starting with a letter, at most 40 characters."
  }
}

variable "hubs" {
  description = "Hub names. Each hub is a Kubernetes namespace of the same name and gets a home disk and a user identity."
  type        = list(string)

  validation {
    condition     = length(var.hubs) > 0 && length(distinct(var.hubs)) == length(var.hubs)
    error_message = "hubs must list at least one hub, without duplicates."
  }

  validation {
    condition     = alltrue([for h in var.hubs : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", h)) && length(h) <= 63])
    error_message = "Each hub name must be a DNS-1123 label (it is used as a namespace name)."
  }
}

variable "core_machine_type" {
  description = "Machine type of the core pool (hub, proxy, NFS home server), e.g. \"e2-standard-4\"."
  type        = string
}

variable "user_node_pools" {
  description = "Autoscaled pools for user servers, keyed by pool name. min/max are node counts."
  type = map(object({
    machine_type = string
    min          = number
    max          = number
    # The pool's node labels, besides the well-known ones (instance type,
    # os, arch) the kubelet sets: what the hubs' node selectors match.
    labels = optional(map(string), {})
    # Kubernetes' spelling of the effect: NoSchedule, PreferNoSchedule or
    # NoExecute; translated for the cloud's API here.
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
    gpu = optional(object({
      type  = string
      count = number
    }))
  }))

  validation {
    condition     = alltrue([for p in values(var.user_node_pools) : p.min >= 0 && p.max >= 1 && p.max >= p.min])
    error_message = "Each user pool needs 0 <= min <= max and max >= 1."
  }

  validation {
    condition     = alltrue(flatten([for p in values(var.user_node_pools) : [for t in p.taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], t.effect)]]))
    error_message = "A taint's effect is NoSchedule, PreferNoSchedule or NoExecute."
  }
}

variable "core_node_labels" {
  description = "Node labels of the core pool: the hub, the proxy and dask-gateway's own pods select them."
  type        = map(string)
  default     = { "hub.jupyter.org/node-purpose" = "core" }
}

variable "home_disks" {
  description = "Home disk per hub (key = hub name), served by the in-cluster NFS home server."
  type = map(object({
    size_gb = number
  }))

  validation {
    condition     = alltrue([for d in values(var.home_disks) : d.size_gb >= 10 && floor(d.size_gb) == d.size_gb])
    error_message = "home_disks size_gb must be a whole number of at least 10 (the pd-balanced minimum)."
  }
}

variable "buckets" {
  description = "Object storage buckets, keyed by suffix; the bucket is named name, or \"<cluster_name>-<key>\" without one. hubs: the hubs whose users may read and write it (null = every hub). delete_after_days adds a lifecycle delete rule."
  type = map(object({
    name              = optional(string)
    hubs              = optional(list(string))
    delete_after_days = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.buckets) : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", k))])
    error_message = "Bucket keys may hold lowercase letters, digits and inner hyphens only."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : coalesce(b.delete_after_days, 1) >= 1])
    error_message = "delete_after_days must be at least 1 when set."
  }
}

variable "kubernetes_version" {
  description = "Minimum GKE control-plane version (e.g. \"1.30\"). null lets the REGULAR release channel choose."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels applied to every resource that supports them."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "GCP labels: keys start with a lowercase letter; keys and values use lowercase letters, digits, '_' and '-', at most 63 characters."
  }
}

variable "registry_name" {
  description = "Artifact Registry docker repository for the hub images."
  type        = string
  default     = "hub-images"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.registry_name)) && length(var.registry_name) <= 63
    error_message = "registry_name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}
