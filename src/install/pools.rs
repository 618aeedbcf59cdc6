//! The source cluster's node pools with the labels and taints its nodes
//! carry, read from its terraform variables (GCP `notebook_nodes` and
//! `dask_nodes`, Azure `node_pools`) or its rendered eksctl config (AWS
//! `managedNodeGroups`). The labels and taints are the ones 2i2c's modules
//! put on each kind of pool, so that the hub values' node selectors and
//! tolerations find the same pools on the replica.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

/// Set on every node by the kubelet; never declared on a pool.
pub(crate) const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub(crate) const HUB_PURPOSE: &str = "hub.jupyter.org/node-purpose";
pub(crate) const DASK_PURPOSE: &str = "k8s.dask.org/node-purpose";
pub(crate) const HUB_NAME: &str = "2i2c/hub-name";
/// The taint key of GPU nodes (GKE adds it itself; EKS and AKS pools
/// declare it), tolerated by pods that request `nvidia.com/gpu`.
pub(crate) const GPU_TAINT: &str = "nvidia.com/gpu";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Pool {
    pub name: String,
    pub machine_type: String,
    pub min: u64,
    pub max: u64,
    /// Node labels besides the well-known ones the kubelet sets.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub gpu: Option<Gpu>,
}

/// A taint, its effect spelled the Kubernetes way (`NoSchedule`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

/// GPUs per node: GKE's accelerator name (`nvidia-tesla-t4`) on every cloud.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Gpu {
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
}

impl Taint {
    pub(crate) fn new(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            value: value.to_owned(),
            effect: effect.to_owned(),
        }
    }
}

/// Kubernetes' label syntax (a DNS prefix, `/`, a name of at most 63
/// letters, digits, `-`, `_`, `.`): what a node can carry. Anything else in
/// a bundle is dropped, so it never reaches a cloud API.
fn label_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').unwrap_or(("", k));
    let prefix_ok = prefix.len() <= 253
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    prefix_ok && !name.is_empty() && label_value(name)
}

fn label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Drops labels and taints a node could not carry (see [`label_key`]).
pub(crate) fn tidy(p: &mut Pool) {
    p.labels.retain(|k, v| label_key(k) && label_value(v));
    p.taints.retain(|t| {
        label_key(&t.key)
            && label_value(&t.value)
            && ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str())
    });
    p.taints.sort();
    p.taints.dedup();
}

/// The pools and the core pool's type found in a source.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    pub core_machine_type: Option<String>,
    pub user: Vec<Pool>,
}

/// The labels and taints of a pool for user servers (which also hosts dask
/// schedulers) in 2i2c's modules.
fn user_kind() -> (BTreeMap<String, String>, Vec<Taint>) {
    (
        BTreeMap::from([
            (HUB_PURPOSE.to_owned(), "user".to_owned()),
            (DASK_PURPOSE.to_owned(), "scheduler".to_owned()),
        ]),
        vec![Taint::new(
            "hub.jupyter.org_dedicated",
            "user",
            "NoSchedule",
        )],
    )
}

/// The labels and taints of a dask worker pool in 2i2c's modules.
fn dask_kind() -> (BTreeMap<String, String>, Vec<Taint>) {
    (
        BTreeMap::from([(DASK_PURPOSE.to_owned(), "worker".to_owned())]),
        vec![Taint::new("k8s.dask.org_dedicated", "worker", "NoSchedule")],
    )
}

/// `NO_SCHEDULE` (GKE, terraform) or `NoSchedule`: the Kubernetes spelling.
pub(crate) fn effect(e: &str) -> String {
    match e.to_ascii_uppercase().replace('_', "").as_str() {
        "NOSCHEDULE" => "NoSchedule".into(),
        "PREFERNOSCHEDULE" => "PreferNoSchedule".into(),
        "NOEXECUTE" => "NoExecute".into(),
        _ => e.to_owned(),
    }
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn machine_type(p: &Json) -> Option<String> {
    ["machine_type", "vm_size", "instance_type", "instanceType"]
        .iter()
        .find_map(|k| text(&p[*k]))
        .or_else(|| p["instanceTypes"].get(0).and_then(text))
}

fn string_map(v: &Json) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Taints as objects (`{key, value, effect}`) or AKS strings (`k=v:Effect`).
fn taints(v: &Json) -> Vec<Taint> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|t| match t {
            Json::String(s) => {
                let (kv, e) = s.rsplit_once(':')?;
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                Some(Taint::new(k, v, &effect(e)))
            }
            Json::Object(_) => Some(Taint::new(
                &text(&t["key"])?,
                &text(&t["value"]).unwrap_or_default(),
                &effect(&text(&t["effect"])?),
            )),
            _ => None,
        })
        .collect()
}

/// One pool of the given kind from a tfvars entry.
fn tf_pool(name: &str, p: &Json, dask: bool) -> Option<Pool> {
    let (mut labels, mut pool_taints) = if dask { dask_kind() } else { user_kind() };
    let gpu = if p["gpu"]["enabled"] == Json::Bool(true) {
        pool_taints.push(Taint::new(GPU_TAINT, "present", "NoSchedule"));
        Some(Gpu {
            kind: text(&p["gpu"]["type"])?,
            count: p["gpu"]["count"].as_u64().unwrap_or(1),
        })
    } else {
        None
    };
    labels.extend(string_map(&p["labels"]));
    labels.remove(INSTANCE_TYPE);
    pool_taints.extend(taints(&p["taints"]));
    Some(Pool {
        name: text(&p["name"]).unwrap_or_else(|| name.to_owned()),
        machine_type: machine_type(p)?,
        min: p["min"].as_u64().unwrap_or(0),
        max: p["max"].as_u64().unwrap_or(10),
        labels,
        taints: pool_taints,
        gpu,
    })
}

/// GCP's (and older Azure's) `notebook_nodes` and `dask_nodes` maps, and
/// 2i2c's Azure `node_pools = { core = [..], user = [..], dask = [..] }`.
pub(crate) fn from_tfvars(tf: &Json) -> Found {
    let mut user = Vec::new();
    for (key, dask) in [("notebook_nodes", false), ("dask_nodes", true)] {
        if let Some(m) = tf[key].as_object() {
            user.extend(m.iter().filter_map(|(n, p)| tf_pool(n, p, dask)));
        }
    }
    let azure = &tf["node_pools"];
    for (key, dask) in [("user", false), ("dask", true)] {
        if let Some(list) = azure[key].as_array() {
            user.extend(
                list.iter()
                    .enumerate()
                    .filter_map(|(i, p)| tf_pool(&format!("{key}-{i}"), p, dask)),
            );
        }
    }
    let core = ["core_node_machine_type", "core_node_vm_size"]
        .iter()
        .find_map(|k| text(&tf[*k]))
        .or_else(|| azure["core"].get(0).and_then(machine_type));
    Found {
        core_machine_type: core,
        user,
    }
}

/// The node groups of a rendered eksctl ClusterConfig: the core group is
/// the one labelled `hub.jupyter.org/node-purpose: core`; every other is a
/// user (or dask) pool, its GPUs from the cluster autoscaler's resource tag
/// and the `k8s.amazonaws.com/accelerator` label.
pub(crate) fn from_eksctl(config: &Json) -> Found {
    let mut found = Found::default();
    let groups = ["managedNodeGroups", "nodeGroups"]
        .iter()
        .filter_map(|k| config[*k].as_array())
        .flatten();
    for g in groups {
        let Some(machine_type) = machine_type(g) else {
            continue;
        };
        let mut labels = string_map(&g["labels"]);
        if labels.get(HUB_PURPOSE).map(String::as_str) == Some("core") {
            found.core_machine_type.get_or_insert(machine_type);
            continue;
        }
        labels.remove(INSTANCE_TYPE);
        let gpus =
            text(&g["tags"]["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"])
                .and_then(|n| n.parse().ok());
        let gpu = gpus.map(|count| Gpu {
            kind: labels
                .get("k8s.amazonaws.com/accelerator")
                .cloned()
                .unwrap_or_else(|| "nvidia-tesla-t4".into()),
            count,
        });
        found.user.push(Pool {
            name: text(&g["name"]).unwrap_or_else(|| format!("group-{}", found.user.len())),
            machine_type,
            min: g["minSize"].as_u64().unwrap_or(0),
            max: g["maxSize"].as_u64().unwrap_or(10),
            labels,
            taints: taints(&g["taints"]),
            gpu,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gcp_pools_carry_2i2c_labels_taints_and_gpus() {
        let tf = json!({
            "core_node_machine_type": "n2-highmem-4",
            "notebook_nodes": {
                "gpu-t4": {"min": 0, "max": 20, "machine_type": "n1-highmem-8",
                    "gpu": {"enabled": true, "type": "nvidia-tesla-t4", "count": 1}},
                "old": {"min": 0, "max": 3, "machine_type": "n2-highmem-4",
                    "taints": [{"key": "manual-phaseout", "value": "noop", "effect": "NO_SCHEDULE"}]}
            },
            "dask_nodes": {"n2-highmem-16": {"min": 0, "max": 200, "machine_type": "n2-highmem-16"}}
        });
        let f = from_tfvars(&tf);
        assert_eq!(f.core_machine_type.as_deref(), Some("n2-highmem-4"));
        let gpu = f.user.iter().find(|p| p.name == "gpu-t4").unwrap();
        assert_eq!(gpu.gpu.as_ref().unwrap().kind, "nvidia-tesla-t4");
        assert!(gpu.taints.iter().any(|t| t.key == GPU_TAINT));
        assert_eq!(gpu.labels[DASK_PURPOSE], "scheduler");
        let old = f.user.iter().find(|p| p.name == "old").unwrap();
        assert!(
            old.taints
                .contains(&Taint::new("manual-phaseout", "noop", "NoSchedule"))
        );
        let dask = f.user.iter().find(|p| p.name == "n2-highmem-16").unwrap();
        assert_eq!(dask.labels[DASK_PURPOSE], "worker");
        assert_eq!(dask.taints[0].key, "k8s.dask.org_dedicated");
        assert_eq!(dask.max, 200);
    }

    #[test]
    fn azure_node_pools_and_string_taints() {
        let tf = json!({"node_pools": {
            "core": [{"name": "core", "vm_size": "Standard_E4s_v3", "min": 1, "max": 10}],
            "user": [{"name": "usere8sv5d", "vm_size": "Standard_E8s_v5", "min": 1, "max": 20,
                      "taints": ["a=b:NoExecute"]}],
            "dask": []
        }});
        let f = from_tfvars(&tf);
        assert_eq!(f.core_machine_type.as_deref(), Some("Standard_E4s_v3"));
        assert_eq!(f.user.len(), 1);
        assert_eq!(f.user[0].name, "usere8sv5d");
        assert!(
            f.user[0]
                .taints
                .contains(&Taint::new("a", "b", "NoExecute"))
        );
    }

    #[test]
    fn eksctl_groups_give_the_core_type_and_user_gpu_and_dask_pools() {
        let config = json!({"managedNodeGroups": [
            {"name": "core-r8i-flex-large-g", "instanceType": "r8i-flex.large", "minSize": 1, "maxSize": 1,
             "labels": {"hub.jupyter.org/node-purpose": "core", "node.kubernetes.io/instance-type": "r8i-flex.large"}},
            {"name": "nb-prod-g4dn-xlarge-g", "instanceType": "g4dn.xlarge", "minSize": 0, "maxSize": 100,
             "labels": {"2i2c/hub-name": "prod", "k8s.amazonaws.com/accelerator": "nvidia-tesla-t4",
                        "node.kubernetes.io/instance-type": "g4dn.xlarge"},
             "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
             "tags": {"k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "1"}},
            {"name": "dask-prod-r5-4xlarge-g", "instanceTypes": ["r5.4xlarge", "r7i.4xlarge"], "minSize": 0, "maxSize": 100,
             "labels": {"k8s.dask.org/node-purpose": "worker"}}
        ]});
        let f = from_eksctl(&config);
        assert_eq!(f.core_machine_type.as_deref(), Some("r8i-flex.large"));
        assert_eq!(f.user.len(), 2);
        let gpu = &f.user[0];
        assert_eq!(
            gpu.gpu,
            Some(Gpu {
                kind: "nvidia-tesla-t4".into(),
                count: 1
            })
        );
        assert!(
            !gpu.labels.contains_key(INSTANCE_TYPE),
            "the kubelet sets it"
        );
        assert_eq!(gpu.taints[0].key, GPU_TAINT);
        assert_eq!(f.user[1].machine_type, "r5.4xlarge");
        assert_eq!(f.user[1].gpu, None);
    }

    #[test]
    fn labels_a_node_cannot_carry_are_dropped() {
        let mut p = Pool {
            labels: BTreeMap::from([
                ("2i2c/hub-name".into(), "prod".into()),
                ("bad key\"".into(), "x".into()),
                ("k".into(), "a\nb".into()),
            ]),
            taints: vec![
                Taint::new("t", "v", "Sometimes"),
                Taint::new("nvidia.com/gpu", "present", "NoSchedule"),
            ],
            ..Pool::default()
        };
        tidy(&mut p);
        assert_eq!(p.labels.len(), 1);
        assert_eq!(
            p.taints,
            vec![Taint::new("nvidia.com/gpu", "present", "NoSchedule")]
        );
    }
}
