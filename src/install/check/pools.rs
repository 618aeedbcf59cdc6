//! The node pools the install's terraform declares, as the labels and
//! taints their nodes will carry (contract with the modules'
//! `user_node_pools` and `core_node_labels` variables, see
//! blueprints/hubs.tfvars.tera).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value as Json;

use super::{Finding, Severity};
use crate::install::layout;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

/// The pools of `terraform/terraform.tfvars`; none (with a not-checked
/// finding) when the install renders no terraform (an existing cluster).
pub(super) fn declared(
    dir: &Path,
    target: &str,
    findings: &mut Vec<Finding>,
) -> Result<Option<Vec<Pool>>> {
    let path = dir.join(layout::TERRAFORM).join("terraform.tfvars");
    if !path.exists() {
        findings.push(Finding::new(
            Severity::NotChecked,
            "node pools",
            "",
            format!("target {target} declares no node pools (no terraform.tfvars): whether pods can be scheduled is not checked"),
        ));
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let tf: Json =
        hcl::from_str(&text).with_context(|| format!("{} is not HCL", path.display()))?;
    Ok(Some(from_tfvars(&tf)))
}

fn strings(v: &Json) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Well-known labels every node carries, from its machine type.
fn well_known(labels: &mut BTreeMap<String, String>, machine_type: &str) {
    labels.insert(
        "node.kubernetes.io/instance-type".into(),
        machine_type.into(),
    );
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert(
        "kubernetes.io/arch".into(),
        if graviton(machine_type) {
            "arm64"
        } else {
            "amd64"
        }
        .into(),
    );
}

/// AWS Graviton families (m7g, c6gn, t4g, r8gd …) are arm64.
fn graviton(machine_type: &str) -> bool {
    let Some((family, _)) = machine_type.split_once('.') else {
        return false;
    };
    let rest = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.len() < family.len()
        && rest.starts_with('g')
        && family.starts_with(|c: char| c.is_ascii_lowercase())
}

pub(crate) fn from_tfvars(tf: &Json) -> Vec<Pool> {
    let mut pools = Vec::new();
    let mut core = strings(&tf["core_node_labels"]);
    core.entry("hub.jupyter.org/node-purpose".into())
        .or_insert_with(|| "core".into());
    well_known(
        &mut core,
        tf["core_machine_type"].as_str().unwrap_or_default(),
    );
    pools.push(Pool {
        name: "core".into(),
        labels: core,
        taints: Vec::new(),
    });
    if let Some(user) = tf["user_node_pools"].as_object() {
        for (name, p) in user {
            let mut labels = strings(&p["labels"]);
            well_known(&mut labels, p["machine_type"].as_str().unwrap_or_default());
            let taints = p["taints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| Taint {
                            key: t["key"].as_str().unwrap_or_default().into(),
                            value: t["value"].as_str().unwrap_or_default().into(),
                            effect: t["effect"].as_str().unwrap_or("NoSchedule").into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            pools.push(Pool {
                name: name.clone(),
                labels,
                taints,
            });
        }
    }
    pools
}
