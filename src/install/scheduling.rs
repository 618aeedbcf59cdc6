//! Where a hub's pods may run: every node selector (and required node
//! affinity) in its values is a [`Demand`], which some node pool of the
//! replica must meet (its labels, plus the well-known instance type), with
//! the pod tolerating that pool's taints. Moving clouds changes the machine
//! types, so the `node.kubernetes.io/instance-type` selectors are rewritten
//! to the mapped types ([`rewrite`]), and a selector no pool meets gets a
//! pool of its own (sizes.rs) rather than leaving pods Pending.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

use super::pools::{DASK_PURPOSE, GPU_TAINT, HUB_PURPOSE, INSTANCE_TYPE, Pool, Taint};
use crate::values::tree::{self, KeyPath, Values};

/// Who the selected pod is, as far as the charts' default tolerations go.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Role {
    /// A user server, a build pod or a placeholder: z2jh (and binderhub)
    /// give them the `hub.jupyter.org/dedicated=user` tolerations.
    User,
    /// A dask scheduler: basehub tolerates the user taint for it.
    DaskScheduler,
    /// A dask worker: basehub tolerates `k8s.dask.org/dedicated=worker`.
    DaskWorker,
    /// Anything else: only the tolerations written beside the selector.
    Other,
}

/// One toleration, as a pod spec writes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Toleration {
    pub key: String,
    /// `Exists` tolerates any value.
    pub exists: bool,
    pub value: String,
    /// Empty: any effect.
    pub effect: String,
}

/// A node selector in a hub's values.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Demand {
    /// The values key of the selector (or of the affinity term).
    pub path: String,
    /// Label → the values accepted (one for a selector; an affinity's `In`
    /// may accept several).
    pub labels: BTreeMap<String, Vec<String>>,
    pub role: Role,
    /// Tolerations written beside the selector.
    pub tolerations: Vec<Toleration>,
    /// The pod requests `nvidia.com/gpu`, so Kubernetes tolerates the GPU
    /// taint for it (the ExtendedResourceToleration admission plugin, on in
    /// GKE, EKS and AKS).
    pub gpu: bool,
}

/// A demand no pool meets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Unmet {
    pub hub: String,
    pub path: String,
    pub labels: BTreeMap<String, Vec<String>>,
}

/// The label keys whose required affinity terms count as selectors.
const AFFINITY_KEYS: [&str; 3] = [INSTANCE_TYPE, DASK_PURPOSE, super::pools::HUB_NAME];

/// Every demand in a hub's values. `root` is where basehub's values sit;
/// `dask` says the hub runs dask-gateway, whose chart selects the dask
/// purpose labels itself (merged with any selector the values add).
pub(crate) fn demands(values: &Values, root: &KeyPath, dask: bool) -> Vec<Demand> {
    let Ok(json) = tree::to_json(values) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&json, &KeyPath::root(), &mut out);
    // A component basehub leaves disabled (`nodePlaceholder`,
    // `binderhub-service`, … with `enabled: false`) schedules nothing.
    let disabled: Vec<String> = tree::get(values, root)
        .and_then(Values::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = k.as_str()?;
            let off = v.get("enabled").and_then(Values::as_bool) == Some(false)
                || (name == "dask-gateway" && !dask);
            (off && name != "jupyterhub").then(|| format!("{}.", root.key(name)))
        })
        .collect();
    out.retain(|d| !disabled.iter().any(|p| d.path.starts_with(p.as_str())));
    if dask {
        for (who, purpose) in [
            (Role::DaskWorker, "worker"),
            (Role::DaskScheduler, "scheduler"),
        ] {
            let at = root
                .key("dask-gateway")
                .key("gateway")
                .key("backend")
                .key(if who == Role::DaskWorker {
                    "worker"
                } else {
                    "scheduler"
                })
                .key("extraPodConfig")
                .key("nodeSelector");
            let shown = at.to_string();
            match out.iter_mut().find(|d| d.path == shown) {
                Some(d) => {
                    d.labels
                        .entry(DASK_PURPOSE.into())
                        .or_insert_with(|| vec![purpose.into()]);
                }
                None => out.push(Demand {
                    path: shown,
                    labels: BTreeMap::from([(DASK_PURPOSE.into(), vec![purpose.into()])]),
                    role: who,
                    tolerations: Vec::new(),
                    gpu: false,
                }),
            }
        }
    }
    out
}

fn role_of(path: &str) -> Role {
    if path.contains("dask-gateway") || path.contains("gateway.backend") {
        if path.contains(".worker.") {
            return Role::DaskWorker;
        }
        if path.contains(".scheduler.") {
            return Role::DaskScheduler;
        }
    }
    let user = [
        "singleuser",
        "profileList",
        "kubespawner_override",
        "KubernetesBuildExecutor",
        "dockerApi",
        "Placeholder",
        "placeholder",
    ];
    if user.iter().any(|u| path.contains(u)) {
        Role::User
    } else {
        Role::Other
    }
}

fn walk(v: &Json, at: &KeyPath, out: &mut Vec<Demand>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m {
                let here = at.key(k);
                let lower = k.to_ascii_lowercase();
                if (lower == "nodeselector" || lower == "node_selector")
                    && let Some(sel) = child.as_object()
                {
                    let labels: BTreeMap<String, Vec<String>> = sel
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), vec![v.as_str()?.to_owned()])))
                        .collect();
                    if !labels.is_empty() {
                        out.push(demand(here.to_string(), labels, v));
                    }
                    continue;
                }
                if k == "requiredDuringSchedulingIgnoredDuringExecution" {
                    affinity(child, &here, v, out);
                }
                walk(child, &here, out);
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &at.index(i), out);
            }
        }
        _ => {}
    }
}

/// A required node affinity's `In` terms on the label keys that name pools.
fn affinity(term: &Json, at: &KeyPath, parent: &Json, out: &mut Vec<Demand>) {
    let Some(terms) = term["nodeSelectorTerms"].as_array() else {
        return;
    };
    for t in terms {
        let Some(exprs) = t["matchExpressions"].as_array() else {
            continue;
        };
        let labels: BTreeMap<String, Vec<String>> = exprs
            .iter()
            .filter(|e| e["operator"] == "In")
            .filter_map(|e| {
                let key = e["key"].as_str()?;
                AFFINITY_KEYS.contains(&key).then_some(())?;
                let values = e["values"].as_array()?;
                let values: Vec<String> = values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                Some((key.to_owned(), values))
            })
            .collect();
        if !labels.is_empty() {
            out.push(demand(at.to_string(), labels, parent));
        }
    }
}

/// A demand at `path`, its tolerations and GPU request read from the pod
/// spec (`parent`) that holds the selector.
fn demand(path: String, labels: BTreeMap<String, Vec<String>>, parent: &Json) -> Demand {
    let mut tolerations = Vec::new();
    for key in ["tolerations", "extraTolerations", "extra_tolerations"] {
        if let Some(list) = parent[key].as_array() {
            tolerations.extend(list.iter().filter_map(toleration));
        }
    }
    Demand {
        role: role_of(&path),
        path,
        labels,
        tolerations,
        gpu: requests_gpu(parent),
    }
}

/// Whether the pod spec's own resource requests (kubespawner's
/// `extra_resource_limits`, z2jh's `extraResource`, a container's
/// `resources`) name `nvidia.com/gpu`; a nested profile's do not count.
fn requests_gpu(spec: &Json) -> bool {
    [
        "extra_resource_limits",
        "extra_resource_guarantees",
        "extraResource",
        "resources",
    ]
    .iter()
    .any(|k| spec[*k].to_string().contains(GPU_TAINT))
}

fn toleration(t: &Json) -> Option<Toleration> {
    let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
    t.is_object().then(|| Toleration {
        key: s("key"),
        exists: t["operator"] == "Exists",
        value: s("value"),
        effect: s("effect"),
    })
}

/// The tolerations the charts give a role's pods without being asked.
fn defaults(role: Role) -> Vec<Toleration> {
    let t = |key: &str, value: &str| Toleration {
        key: key.into(),
        exists: false,
        value: value.into(),
        effect: "NoSchedule".into(),
    };
    match role {
        Role::User | Role::DaskScheduler => vec![
            t("hub.jupyter.org/dedicated", "user"),
            t("hub.jupyter.org_dedicated", "user"),
        ],
        Role::DaskWorker => vec![
            t("k8s.dask.org/dedicated", "worker"),
            t("k8s.dask.org_dedicated", "worker"),
        ],
        Role::Other => Vec::new(),
    }
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let key = t.key == taint.key || (t.key.is_empty() && t.exists);
    let value = t.exists || t.value == taint.value;
    let effect = t.effect.is_empty() || t.effect == taint.effect;
    key && value && effect
}

/// Whether `pool` (with its machine type as the instance-type label) meets
/// the demand and the pod tolerates every taint that would keep it off.
pub(crate) fn meets(d: &Demand, pool: &Pool) -> bool {
    let labels_ok = d.labels.iter().all(|(k, accepted)| {
        let have = if k == INSTANCE_TYPE {
            Some(&pool.machine_type)
        } else if k == "kubernetes.io/os" {
            return accepted.iter().any(|a| a == "linux");
        } else {
            pool.labels.get(k)
        };
        have.is_some_and(|h| accepted.contains(h))
    });
    let tolerations: Vec<Toleration> = defaults(d.role)
        .into_iter()
        .chain(d.tolerations.iter().cloned())
        .collect();
    let taints_ok = pool
        .taints
        .iter()
        .filter(|t| t.effect != "PreferNoSchedule")
        .all(|taint| {
            (d.gpu && taint.key == GPU_TAINT) || tolerations.iter().any(|t| tolerates(t, taint))
        });
    labels_ok && taints_ok
}

/// The core pool as a [`Pool`], so that selectors of core pods check the
/// same way.
pub(crate) fn core_pool(machine_type: &str, labels: &BTreeMap<String, String>) -> Pool {
    Pool {
        name: "core".into(),
        machine_type: machine_type.into(),
        min: 1,
        max: 1,
        labels: labels.clone(),
        taints: Vec::new(),
        gpu: None,
    }
}

/// The demands of `hub` that no pool meets.
pub(crate) fn unmet(hub: &str, demands: &[Demand], pools: &[Pool]) -> Vec<Unmet> {
    demands
        .iter()
        .filter(|d| !pools.iter().any(|p| meets(d, p)))
        .map(|d| Unmet {
            hub: hub.into(),
            path: d.path.clone(),
            labels: d.labels.clone(),
        })
        .collect()
}

/// The labels and taints of a pool made for a demand no pool met: the
/// demand's labels (its first accepted value each, not the instance type,
/// which the machine type gives), and the taints the role's pods tolerate
/// by default, so that other pods stay off it.
pub(crate) fn pool_for(d: &Demand) -> (BTreeMap<String, String>, Vec<Taint>) {
    let mut labels: BTreeMap<String, String> = d
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != INSTANCE_TYPE && !k.starts_with("kubernetes.io/"))
        .filter_map(|(k, v)| Some((k.clone(), v.first()?.clone())))
        .collect();
    let mut taints = Vec::new();
    match d.role {
        Role::User | Role::DaskScheduler => {
            labels.entry(HUB_PURPOSE.into()).or_insert("user".into());
            labels
                .entry(DASK_PURPOSE.into())
                .or_insert("scheduler".into());
            taints.push(Taint::new(
                "hub.jupyter.org_dedicated",
                "user",
                "NoSchedule",
            ));
        }
        Role::DaskWorker => {
            labels.entry(DASK_PURPOSE.into()).or_insert("worker".into());
            taints.push(Taint::new("k8s.dask.org_dedicated", "worker", "NoSchedule"));
        }
        Role::Other => {}
    }
    if d.gpu {
        taints.push(Taint::new(GPU_TAINT, "present", "NoSchedule"));
    }
    (labels, taints)
}

/// Every instance-type value in a selector or a required affinity term of
/// `values`: the key path of the string and the type it names.
fn instance_type_leaves(values: &Values) -> Vec<(KeyPath, String)> {
    let Ok(json) = tree::to_json(values) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut found = Vec::new();
    walk(&json, &KeyPath::root(), &mut found);
    for d in found {
        let Some(path) = KeyPath::parse(&d.path) else {
            continue;
        };
        let Some(types) = d.labels.get(INSTANCE_TYPE) else {
            continue;
        };
        if path.last_key() == Some("requiredDuringSchedulingIgnoredDuringExecution") {
            affinity_leaves(&json, &path, &mut out);
        } else {
            out.extend(types.iter().map(|t| (path.key(INSTANCE_TYPE), t.clone())));
        }
    }
    out.sort_by_key(|(p, _)| p.to_string());
    out.dedup();
    out
}

fn affinity_leaves(json: &Json, path: &KeyPath, out: &mut Vec<(KeyPath, String)>) {
    let Some(Json::Array(terms)) = json_at(json, path).map(|t| &t["nodeSelectorTerms"]) else {
        return;
    };
    for (i, t) in terms.iter().enumerate() {
        let Some(exprs) = t["matchExpressions"].as_array() else {
            continue;
        };
        for (j, e) in exprs.iter().enumerate() {
            if e["key"] != INSTANCE_TYPE || e["operator"] != "In" {
                continue;
            }
            for (k, v) in e["values"].as_array().into_iter().flatten().enumerate() {
                if let Some(v) = v.as_str() {
                    let at = path
                        .key("nodeSelectorTerms")
                        .index(i)
                        .key("matchExpressions")
                        .index(j)
                        .key("values")
                        .index(k);
                    out.push((at, v.to_owned()));
                }
            }
        }
    }
}

fn json_at<'a>(json: &'a Json, path: &KeyPath) -> Option<&'a Json> {
    let mut cur = json;
    for step in path.steps() {
        cur = match step {
            tree::Step::Key(k) => cur.get(k)?,
            tree::Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// The instance-type selectors `types` maps (source type → target type),
/// rewritten in place: the key paths changed, as `path: old -> new`.
pub(crate) fn rewrite(values: &mut Values, types: &BTreeMap<String, String>) -> Vec<String> {
    let mut done = Vec::new();
    for (path, old) in instance_type_leaves(values) {
        let Some(new) = types.get(&old).filter(|n| **n != old) else {
            continue;
        };
        if tree::set(values, &path, Values::String(new.clone())) {
            done.push(format!("{path}: {old} -> {new}"));
        }
    }
    done
}

/// The instance types a hub's values select.
pub(crate) fn selected_types(demands: &[Demand]) -> Vec<String> {
    let mut out: Vec<String> = demands
        .iter()
        .filter_map(|d| d.labels.get(INSTANCE_TYPE))
        .flatten()
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::pools;

    fn values(text: &str) -> Values {
        tree::parse_yaml(text).unwrap()
    }

    fn user_pool(t: &str) -> Pool {
        Pool {
            name: "u".into(),
            machine_type: t.into(),
            min: 0,
            max: 1,
            labels: BTreeMap::from([
                (HUB_PURPOSE.into(), "user".into()),
                (pools::HUB_NAME.into(), "prod".into()),
            ]),
            taints: vec![Taint::new(
                "hub.jupyter.org_dedicated",
                "user",
                "NoSchedule",
            )],
            gpu: None,
        }
    }

    const HUB: &str = "jupyterhub:
  singleuser:
    nodeSelector: {2i2c/hub-name: prod, node.kubernetes.io/instance-type: r5.xlarge}
    profileList:
      - kubespawner_override:
          node_selector: {node.kubernetes.io/instance-type: g4dn.xlarge}
          extra_resource_limits: {nvidia.com/gpu: '1'}
  hub:
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions:
                - {key: node.kubernetes.io/instance-type, operator: In, values: [r5.xlarge, r5.large]}
";

    #[test]
    fn selectors_affinities_and_their_rewrite() {
        let mut v = values(HUB);
        let d = demands(&v, &KeyPath::root(), false);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0].role, Role::Other);
        assert!(d.iter().any(|d| d.gpu && d.role == Role::User));
        let map = BTreeMap::from([
            ("r5.xlarge".to_owned(), "n2-highmem-4".to_owned()),
            ("g4dn.xlarge".to_owned(), "n1-standard-4".to_owned()),
        ]);
        let changed = rewrite(&mut v, &map);
        assert_eq!(changed.len(), 3, "{changed:?}");
        let text = tree::to_helm_text(&v).unwrap();
        assert!(
            !text.contains("r5.xlarge") && !text.contains("g4dn"),
            "{text}"
        );
        assert!(text.contains("r5.large"), "an unmapped type stays");
    }

    #[test]
    fn a_selector_no_pool_provides_is_reported() {
        let v = values(HUB);
        let d = demands(&v, &KeyPath::root(), true);
        let pools = vec![user_pool("r5.xlarge")];
        let unmet = unmet("prod", &d, &pools);
        let paths: Vec<&str> = unmet.iter().map(|u| u.path.as_str()).collect();
        assert!(
            paths
                .iter()
                .any(|p| p.ends_with("kubespawner_override.node_selector")),
            "the GPU type has no pool: {paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.contains("worker")),
            "no dask worker pool"
        );
        assert!(
            !paths
                .iter()
                .any(|p| p == &"jupyterhub.singleuser.nodeSelector"),
            "the r5.xlarge pool of hub prod meets singleuser: {paths:?}"
        );
        // A taint the pod does not tolerate keeps it off a pool that matches.
        let mut tainted = user_pool("r5.xlarge");
        tainted
            .taints
            .push(Taint::new("manual-phaseout", "noop", "NoSchedule"));
        assert!(!meets(&d[1], &tainted) || d[1].path.contains("hub."));
        let singleuser = d
            .iter()
            .find(|d| d.path == "jupyterhub.singleuser.nodeSelector")
            .unwrap();
        assert!(meets(singleuser, &user_pool("r5.xlarge")));
        assert!(!meets(singleuser, &tainted));
        // A pool made for the GPU demand meets it.
        let gpu = d.iter().find(|d| d.gpu).unwrap();
        let (labels, taints) = pool_for(gpu);
        let made = Pool {
            machine_type: "g4dn.xlarge".into(),
            labels,
            taints,
            ..user_pool("x")
        };
        assert!(meets(gpu, &made));
    }
}
