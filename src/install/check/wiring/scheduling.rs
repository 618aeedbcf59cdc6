//! Can some declared pool run this pod? A pool fits when its nodes' labels
//! meet the pod's nodeSelector and required node affinity, and the pod
//! tolerates every NoSchedule/NoExecute taint of the pool.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::PodSpec;
use crate::install::check::pools::{Pool, Taint};
use crate::install::check::{Finding, Severity};

pub(super) fn check(s: &PodSpec<'_>, pools: &[Pool], findings: &mut Vec<Finding>) {
    if s.daemon {
        return;
    }
    let spec = &*s.spec;
    let selector: BTreeMap<String, String> = spec["nodeSelector"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"]
        .as_array();
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    tolerations.extend(extended_resource_tolerations(spec));
    let tolerations = tolerations.as_slice();
    let placeable: Vec<&Pool> = pools
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .filter(|p| terms.is_none_or(|t| t.iter().any(|term| term_matches(term, &p.labels))))
        .collect();
    if placeable.is_empty() {
        let wants = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        findings.push(Finding::new(
            Severity::Error,
            &s.object,
            if selector.is_empty() {
                format!("{}.affinity.nodeAffinity", s.path)
            } else {
                format!("{}.nodeSelector", s.path)
            },
            format!(
                "no declared node pool has the labels it selects{}{} (pools: {})",
                if wants.is_empty() {
                    String::new()
                } else {
                    format!(": {wants}")
                },
                if terms.is_some() {
                    " and its required node affinity"
                } else {
                    ""
                },
                pools
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        return;
    }
    if !placeable
        .iter()
        .any(|p| p.taints.iter().all(|t| tolerated(t, tolerations)))
    {
        let untolerated: Vec<String> = placeable
            .iter()
            .flat_map(|p| p.taints.iter().filter(|t| !tolerated(t, tolerations)))
            .map(|t| format!("{}={}:{}", t.key, t.value, t.effect))
            .collect();
        findings.push(Finding::new(
            Severity::Error,
            &s.object,
            format!("{}.tolerations", s.path),
            format!(
                "every pool it selects ({}) is tainted with what it does not tolerate: {}",
                placeable
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                untolerated.join(", ")
            ),
        ));
    }
}

/// Kubernetes' ExtendedResourceToleration admission plugin (on in GKE and
/// EKS) makes a pod that asks for an extended resource (`nvidia.com/gpu`)
/// tolerate the taint of that name, which GPU pools carry.
fn extended_resource_tolerations(spec: &Json) -> Vec<Json> {
    let mut names: Vec<&str> = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            for kind in ["limits", "requests"] {
                for k in c["resources"][kind]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str())
                {
                    if k.contains('/') && !k.contains("kubernetes.io/") && !names.contains(&k) {
                        names.push(k);
                    }
                }
            }
        }
    }
    names
        .into_iter()
        .map(|k| serde_json::json!({"key": k, "operator": "Exists"}))
        .collect()
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn term_matches(term: &Json, labels: &BTreeMap<String, String>) -> bool {
    let exprs = term["matchExpressions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    exprs.iter().all(|e| {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<String> = e["values"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        let have = labels.get(key);
        match e["operator"].as_str().unwrap_or_default() {
            "In" => have.is_some_and(|h| values.contains(h)),
            "NotIn" => have.is_none_or(|h| !values.contains(h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            // Gt/Lt compare numbers no pool label of ours carries.
            _ => false,
        }
    })
}

fn tolerated(t: &Taint, tolerations: &[Json]) -> bool {
    if t.effect == "PreferNoSchedule" {
        return true;
    }
    tolerations.iter().any(|tol| {
        let key = tol["key"].as_str().unwrap_or_default();
        let effect = tol["effect"].as_str().unwrap_or_default();
        let exists = tol["operator"].as_str() == Some("Exists");
        (effect.is_empty() || effect == t.effect)
            && (key.is_empty() && exists
                || key == t.key && (exists || tol["value"].as_str().unwrap_or_default() == t.value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Pool {
        Pool {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            taints: taints
                .iter()
                .map(|(k, v)| Taint {
                    key: (*k).into(),
                    value: (*v).into(),
                    effect: "NoSchedule".into(),
                })
                .collect(),
        }
    }

    fn run(spec: Json, pools: &[Pool]) -> Vec<Finding> {
        let s = PodSpec {
            object: "Deployment/ns/d".into(),
            namespace: "ns".into(),
            path: "spec.template.spec".into(),
            spec: std::borrow::Cow::Owned(spec),
            daemon: false,
        };
        let mut f = Vec::new();
        check(&s, pools, &mut f);
        f
    }

    #[test]
    fn a_selector_no_pool_provides_is_an_error_naming_the_key_path() {
        let pools = [pool(
            "core",
            &[("hub.jupyter.org/node-purpose", "core")],
            &[],
        )];
        let f = run(
            json!({"nodeSelector": {"node.kubernetes.io/instance-type": "r5.xlarge"}}),
            &pools,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, "spec.template.spec.nodeSelector");
        assert!(f[0].message.contains("r5.xlarge"), "{f:?}");
        assert!(
            run(
                json!({"nodeSelector": {"hub.jupyter.org/node-purpose": "core"}}),
                &pools
            )
            .is_empty()
        );
    }

    #[test]
    fn taints_need_tolerations_and_affinity_terms_are_ored() {
        let pools = [pool(
            "user",
            &[("hub.jupyter.org/node-purpose", "user")],
            &[("hub.jupyter.org_dedicated", "user")],
        )];
        let affinity = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["nope"]}]},
            {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}]}]}}});
        let f = run(json!({"affinity": affinity}), &pools);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].path.ends_with("tolerations"));
        let tol = json!([{"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}]);
        assert!(run(json!({"affinity": affinity, "tolerations": tol}), &pools).is_empty());
    }
}
