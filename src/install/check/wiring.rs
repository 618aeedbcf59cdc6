//! The wiring between what the install creates: every pod can land on a
//! declared node pool; what a pod needs exists; the classes and issuers
//! named exist; every image is pushed or mapped.

mod refs;
mod scheduling;
mod user_pods;

use std::path::Path;

use super::Finding;
use super::objects::Object;
use super::pools::Pool;

/// A pod spec and where it sits: the object and the key path of the spec.
pub(super) struct PodSpec<'a> {
    pub object: String,
    pub namespace: String,
    pub path: String,
    pub spec: std::borrow::Cow<'a, serde_json::Value>,
    /// DaemonSets run wherever they fit; they need no pool of their own.
    pub daemon: bool,
}

/// The pod specs of workload objects.
pub(super) fn pod_specs(objects: &[Object]) -> Vec<PodSpec<'_>> {
    objects
        .iter()
        .filter_map(|o| {
            let (path, spec) = match o.kind.as_str() {
                "Pod" => ("spec", &o.body["spec"]),
                "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" | "Job" => {
                    ("spec.template.spec", &o.body["spec"]["template"]["spec"])
                }
                "CronJob" => (
                    "spec.jobTemplate.spec.template.spec",
                    &o.body["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                ),
                _ => return None,
            };
            spec.is_object().then(|| PodSpec {
                object: o.id(),
                namespace: o.namespace.clone(),
                path: path.to_owned(),
                spec: std::borrow::Cow::Borrowed(spec),
                daemon: o.kind == "DaemonSet",
            })
        })
        .collect()
}

pub(super) fn check(
    objects: &[Object],
    pools: &Option<Vec<Pool>>,
    target: &str,
    dir: &Path,
    findings: &mut Vec<Finding>,
) {
    let mut specs = pod_specs(objects);
    specs.extend(user_pods::specs(objects, findings));
    if let Some(pools) = pools {
        for s in &specs {
            scheduling::check(s, pools, findings);
        }
    }
    refs::pods(&specs, objects, findings);
    refs::classes(objects, target, findings);
    refs::images(&specs, dir, findings);
}
