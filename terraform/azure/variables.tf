# The names and types below are a contract with the installer's tfvars
# template. Rename nothing without changing the installer too.

variable "location" {
  description = "Azure region, e.g. \"westeurope\"."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group to create; everything in this module goes into it."
  type        = string
}

variable "storage_account_name" {
  description = "Premium FileStorage account that holds the NFS home shares. Globally unique."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "storage_account_name must be 3-24 lowercase letters and digits."
  }
}

variable "blob_storage_account_name" {
  description = "StorageV2 account for the buckets (blob containers). Globally unique. null = storage_account_name cut to 23 characters plus \"b\". Only created when buckets is non-empty."
  type        = string
  default     = null

  validation {
    condition     = var.blob_storage_account_name == null || can(regex("^[a-z0-9]{3,24}$", coalesce(var.blob_storage_account_name, "unset")))
    error_message = "blob_storage_account_name must be 3-24 lowercase letters and digits."
  }
}

variable "registry_name" {
  description = "Azure Container Registry name. Globally unique; becomes <registry_name>.azurecr.io."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9]{5,50}$", var.registry_name))
    error_message = "registry_name must be 5-50 letters and digits."
  }
}

variable "cluster_name" {
  description = "Name of the AKS cluster; also the prefix of other resource names."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 40
    error_message = "cluster_name must be a DNS-1123 label starting with a letter, at most 40 characters."
  }
}

variable "hubs" {
  description = "Hub names. Each hub is a Kubernetes namespace of the same name and gets a home share and a user identity."
  type        = list(string)

  validation {
    condition     = length(var.hubs) > 0 && length(distinct(var.hubs)) == length(var.hubs)
    error_message = "hubs must list at least one hub, without duplicates."
  }

  validation {
    condition     = alltrue([for h in var.hubs : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", h)) && length(h) <= 58 && length(regexall("--", h)) == 0])
    error_message = "Each hub name must be a DNS-1123 label of at most 58 characters without \"--\" (the share home-<hub> must be a valid share name)."
  }
}

variable "core_machine_type" {
  description = "VM size of the system (core) pool: hub, proxy, NFS home server, e.g. \"Standard_D4s_v5\"."
  type        = string
}

variable "user_node_pools" {
  description = "Autoscaled user node pools, keyed by pool name (reduced to at most 12 lowercase letters and digits for AKS). min/max are node counts."
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
  description = "Home share per hub (key = hub name). Premium file shares are at least 100 GiB, so smaller sizes are raised to 100."
  type = map(object({
    size_gb = number
  }))

  validation {
    condition     = alltrue([for d in values(var.home_disks) : d.size_gb >= 1 && d.size_gb <= 102400 && floor(d.size_gb) == d.size_gb])
    error_message = "home_disks size_gb must be a whole number between 1 and 102400."
  }
}

variable "buckets" {
  description = "Blob containers in the blob storage account, named name, or the key without one. hubs: the hubs whose users may read and write it (null = every hub). delete_after_days adds a lifecycle management rule."
  type = map(object({
    name              = optional(string)
    hubs              = optional(list(string))
    delete_after_days = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([
      for k in keys(var.buckets) :
      can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", k)) && length(k) >= 3 && length(k) <= 63 && length(regexall("--", k)) == 0
    ])
    error_message = "Bucket keys are container names: 3-63 lowercase letters, digits and single inner hyphens."
  }

  validation {
    condition     = alltrue([for b in values(var.buckets) : coalesce(b.delete_after_days, 1) >= 1])
    error_message = "delete_after_days must be at least 1 when set."
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (e.g. \"1.31\"). null = the AKS default, with automatic patch upgrades."
  type        = string
  default     = null
}

variable "labels" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}
