//! Scheduling that matches: every one of the 11 real 2i2c clusters is
//! exported and installed (without --apply) onto its own cloud, and
//! nasa-cryo and 2i2c-uk onto another; the rendered terraform.tfvars is read
//! with the `hcl` crate, and every node selector (and required node
//! affinity on the pool labels) of each hub's values, merged over basehub's
//! chart defaults as Helm merges them, must be met by a declared pool whose
//! taints the pod tolerates. Nothing runs terraform or a cluster: the check
//! is on the files the install writes.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use r2r::values::tree;
use serde_json::Value as Json;

const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";

/// A pool as terraform.tfvars declares it, with the labels its nodes carry
/// (the declared ones plus the kubelet's well-known ones).
#[derive(Debug)]
struct Pool {
    #[allow(dead_code)] // shown when a check fails
    name: String,
    labels: BTreeMap<String, String>,
    taints: Vec<(String, String, String)>,
}

#[derive(Debug)]
struct Demand {
    path: String,
    labels: BTreeMap<String, Vec<String>>,
    tolerations: Vec<Json>,
    gpu: bool,
}

fn bundle(t: &Path, keys: &Keys, cluster: &str) -> std::path::PathBuf {
    let out = t.join(format!("{cluster}.r2r.tar"));
    if out.exists() {
        return out;
    }
    let mut extra: Vec<String> = vec!["--quiet".into()];
    if cluster == "hhmi" {
        extra.extend(hhmi_allowances());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    export(&shared_infra(), cluster, keys, &out, &extra);
    out
}

fn own_cloud(cluster: &str) -> &'static str {
    let text = std::fs::read_to_string(
        shared_infra().join(format!("config/clusters/{cluster}/cluster.yaml")),
    )
    .unwrap();
    if text.contains("provider: aws") {
        "aws"
    } else if text.contains("provider: gcp") {
        "gcp"
    } else {
        // utoronto: a kubeconfig cluster on Azure (its terraform says so).
        "azure"
    }
}

/// Installs `bundle` onto `cloud` in `dir` without --apply, every hub's
/// OAuth client kept; returns its plan as JSON.
fn install(
    t: &Path,
    keys: &Keys,
    bundle: &Path,
    cluster: &str,
    cloud: &str,
) -> (std::path::PathBuf, Json) {
    let template = r2r(&[
        "install",
        "--print-answers-template",
        s(bundle),
        "--pubkey",
        s(&keys.public),
    ]);
    assert_eq!(template.code, 0, "{template:?}");
    let line = template
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("selected_hubs: "))
        .expect("the template names the hubs");
    let hubs: Vec<String> = serde_json::from_str(line).unwrap();
    let dir = t.join(format!("{cluster}-{cloud}"));
    let identity = t.join("community.age");
    if !identity.exists() {
        require("age-keygen", "age");
        let out = run(Command::new("age-keygen").arg("-o").arg(&identity));
        assert_eq!(out.code, 0, "{out:?}");
    }
    let block = match cloud {
        "aws" => format!(
            "aws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: {cluster}}}\n\
             registry: 123456789012.dkr.ecr.us-west-2.amazonaws.com/hub-images\n"
        ),
        "gcp" => format!(
            "gcp: {{project: r2r-test, region: us-central1, zone: us-central1-b, cluster_name: {cluster}}}\n"
        ),
        _ => format!(
            "azure: {{subscription_id: \"00000000-0000-0000-0000-000000000000\", location: canadacentral, cluster_name: {cluster}}}\n"
        ),
    };
    let mut answers = format!(
        "target: {cloud}\ndir: {dir:?}\n{block}age_identity: {identity:?}\nacme_email: ops@example.org\nrestore_image: r2r:test\nhubs:\n"
    );
    for h in &hubs {
        answers.push_str(&format!(
            "  {h}: {{oauth_client_id: keep, domain: {h}.{cluster}.example.org}}\n"
        ));
    }
    let file = t.join(format!("{cluster}-{cloud}.answers.yaml"));
    std::fs::write(&file, answers).unwrap();
    let run_install = |extra: &[&str]| {
        let mut args = vec![
            "install",
            s(bundle),
            "--pubkey",
            s(&keys.public),
            "--answers",
            s(&file),
            "--yes",
        ];
        args.extend(extra);
        let out = r2r(&args);
        assert_eq!(out.code, 0, "{cluster} onto {cloud}: {out:?}");
        out
    };
    // The plan (with its sizes) as JSON, then the install itself.
    let plan = run_install(&["--dry-run", "--json"]).json();
    run_install(&["--quiet"]);
    (dir, plan)
}

/// The pools of terraform.tfvars, the core pool among them.
fn pools(dir: &Path) -> Vec<Pool> {
    let text = std::fs::read_to_string(dir.join("terraform/terraform.tfvars")).unwrap();
    let body = hcl::parse(&text).unwrap_or_else(|e| panic!("terraform.tfvars is not HCL: {e}"));
    let v: Json = hcl::from_body(body).unwrap();
    let node = |labels: &Json, machine: &Json| -> BTreeMap<String, String> {
        let mut l: BTreeMap<String, String> = labels
            .as_object()
            .unwrap_or_else(|| panic!("labels are not a map: {labels}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        l.insert(INSTANCE_TYPE.into(), machine.as_str().unwrap().to_owned());
        l.insert("kubernetes.io/os".into(), "linux".into());
        l
    };
    let mut out = vec![Pool {
        name: "core".into(),
        labels: node(&v["core_node_labels"], &v["core_machine_type"]),
        taints: Vec::new(),
    }];
    for (name, p) in v["user_node_pools"].as_object().expect("user_node_pools") {
        let taints = p["taints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let f = |k: &str| t[k].as_str().unwrap().to_owned();
                let effect = f("effect");
                assert!(
                    ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect.as_str()),
                    "pool {name}: effect {effect} is not Kubernetes' spelling"
                );
                (f("key"), f("value"), effect)
            })
            .collect();
        out.push(Pool {
            name: name.clone(),
            labels: node(&p["labels"], &p["machine_type"]),
            taints,
        });
    }
    out
}

/// A hub's values merged over basehub's chart defaults (at `basehub:` for
/// a daskhub), as JSON, with the components it leaves disabled removed.
fn effective_values(dir: &Path, hub: &str) -> Json {
    let text = std::fs::read_to_string(dir.join("config").join(hub).join("values.yaml")).unwrap();
    let values = tree::parse_yaml(&text).unwrap();
    let json = tree::to_json(&values).unwrap();
    let root = if json.get("basehub").is_some() {
        tree::get(&values, &tree::KeyPath::root().key("basehub"))
            .unwrap()
            .clone()
    } else {
        values
    };
    let chart = shared_infra().join("helm-charts/basehub/values.yaml");
    let mut merged = tree::parse_yaml(&std::fs::read_to_string(chart).unwrap()).unwrap();
    r2r::values::merge::layer(&mut merged, root);
    let mut json = tree::to_json(&merged).unwrap();
    if let Some(m) = json.as_object_mut() {
        m.retain(|k, v| k == "jupyterhub" || v["enabled"] != Json::Bool(false));
    }
    json
}

fn demands(v: &Json, at: &str, out: &mut Vec<Demand>) {
    let Json::Object(m) = v else {
        if let Json::Array(items) = v {
            for (i, item) in items.iter().enumerate() {
                demands(item, &format!("{at}[{i}]"), out);
            }
        }
        return;
    };
    let tolerations: Vec<Json> = ["tolerations", "extraTolerations"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Json::as_array))
        .flatten()
        .cloned()
        .collect();
    let gpu = ["extra_resource_limits", "extraResource", "resources"]
        .iter()
        .any(|k| {
            m.get(*k)
                .is_some_and(|r| r.to_string().contains("nvidia.com/gpu"))
        });
    for (k, child) in m {
        let here = format!("{at}.{k}");
        if (k == "nodeSelector" || k == "node_selector") && child.is_object() {
            let labels: BTreeMap<String, Vec<String>> = child
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), vec![v.as_str()?.to_owned()])))
                .collect();
            out.push(Demand {
                path: here.clone(),
                labels,
                tolerations: tolerations.clone(),
                gpu,
            });
        }
        if k == "requiredDuringSchedulingIgnoredDuringExecution" {
            for term in child["nodeSelectorTerms"].as_array().into_iter().flatten() {
                let labels: BTreeMap<String, Vec<String>> = term["matchExpressions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["operator"] == "In")
                    .filter(|e| {
                        [INSTANCE_TYPE, "k8s.dask.org/node-purpose", "2i2c/hub-name"]
                            .contains(&e["key"].as_str().unwrap_or_default())
                    })
                    .map(|e| {
                        let vals = e["values"].as_array().unwrap();
                        let vals = vals.iter().map(|v| v.as_str().unwrap().to_owned());
                        (e["key"].as_str().unwrap().to_owned(), vals.collect())
                    })
                    .collect();
                if !labels.is_empty() {
                    out.push(Demand {
                        path: here.clone(),
                        labels,
                        tolerations: tolerations.clone(),
                        gpu,
                    });
                }
            }
        }
        demands(child, &here, out);
    }
}

/// The tolerations a pod gets without asking: z2jh's user pods, binderhub's
/// build pods and placeholders tolerate the user taint (both spellings);
/// a pod requesting GPUs tolerates the GPU taint (ExtendedResourceToleration).
fn tolerated(d: &Demand, taint: &(String, String, String)) -> bool {
    let (key, value, effect) = taint;
    if effect == "PreferNoSchedule" || (d.gpu && key == "nvidia.com/gpu") {
        return true;
    }
    let user_pod = [
        "singleuser",
        "profileList",
        "KubernetesBuildExecutor",
        "dockerApi",
    ]
    .iter()
    .any(|p| d.path.contains(p));
    if user_pod
        && (key == "hub.jupyter.org/dedicated" || key == "hub.jupyter.org_dedicated")
        && value == "user"
    {
        return true;
    }
    d.tolerations.iter().any(|t| {
        let k = t["key"].as_str().unwrap_or_default();
        let exists = t["operator"] == "Exists";
        (k == key || (k.is_empty() && exists))
            && (exists || t["value"].as_str() == Some(value))
            && t["effect"].as_str().is_none_or(|e| e == effect)
    })
}

fn meets(d: &Demand, p: &Pool) -> bool {
    d.labels
        .iter()
        .all(|(k, accepted)| p.labels.get(k).is_some_and(|v| accepted.contains(v)))
        && p.taints.iter().all(|t| tolerated(d, t))
}

/// Every selector of every hub of the install in `dir` has a pool; returns
/// how many selectors were checked.
fn every_selector_has_a_pool(dir: &Path, label: &str) -> usize {
    let pools = pools(dir);
    let mut checked = 0;
    for hub in std::fs::read_dir(dir.join("config")).unwrap() {
        let hub = hub.unwrap().file_name().into_string().unwrap();
        if !dir.join("config").join(&hub).join("values.yaml").is_file() {
            continue;
        }
        let v = effective_values(dir, &hub);
        let mut found = Vec::new();
        demands(&v, "", &mut found);
        for d in &found {
            let ok = pools.iter().any(|p| meets(d, p));
            assert!(
                ok,
                "{label}: hub {hub}: no pool meets {} {:?} (tolerations {:?}, gpu {}); pools:\n{pools:#?}",
                d.path, d.labels, d.tolerations, d.gpu
            );
        }
        checked += found.len();
    }
    checked
}

#[test]
fn every_fixture_cluster_gets_a_pool_for_every_selector_on_its_own_cloud() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let mut summary = Vec::new();
    let mut total = 0;
    for cluster in fixture_clusters() {
        let cloud = own_cloud(&cluster);
        let b = bundle(t.path(), &keys, &cluster);
        let (dir, _) = install(t.path(), &keys, &b, &cluster, cloud);
        let n = every_selector_has_a_pool(&dir, &format!("{cluster} onto {cloud}"));
        let declared = pools(&dir);
        match cluster.as_str() {
            // Azure's node_pools = { user = [..] }: both pools carried.
            "utoronto" => {
                for name in ["usere8sv5d", "usere8sv5a"] {
                    let p = declared.iter().find(|p| p.name == name);
                    let p = p.unwrap_or_else(|| panic!("utoronto: no pool {name}: {declared:#?}"));
                    assert_eq!(p.labels[INSTANCE_TYPE], "Standard_E8s_v5");
                }
            }
            // eksctl's node groups, per hub, with the GPU group.
            "nasa-cryo" => {
                let gpu = declared.iter().find(|p| p.name == "nb-prod-g4dn-xlarge-g");
                let gpu = gpu.unwrap_or_else(|| panic!("nasa-cryo: no GPU group: {declared:#?}"));
                assert_eq!(gpu.labels["2i2c/hub-name"], "prod");
                assert!(gpu.taints.iter().any(|t| t.0 == "nvidia.com/gpu"));
            }
            _ => {}
        }
        total += n;
        summary.push(format!(
            "{cluster}->{cloud}: {n} selectors, {} pools",
            declared.len()
        ));
    }
    assert_eq!(summary.len(), 11, "{summary:?}");
    assert!(total > 100, "only {total} selectors checked: {summary:?}");
}

/// Moving clouds maps the machine types and rewrites the selectors: no
/// values file names a type of the source cloud any more.
#[test]
fn nasa_cryo_and_2i2c_uk_move_clouds_with_their_selectors() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    for (cluster, cloud, gone) in [
        ("nasa-cryo", "gcp", ["r5.xlarge", "g4dn.xlarge"]),
        ("2i2c-uk", "aws", ["n2-highmem-4", "n2-highmem-16"]),
        ("nasa-cryo", "azure", ["r5.xlarge", "g4dn.xlarge"]),
    ] {
        let b = bundle(t.path(), &keys, cluster);
        let (dir, result) = install(t.path(), &keys, &b, cluster, cloud);
        let label = format!("{cluster} onto {cloud}");
        let n = every_selector_has_a_pool(&dir, &label);
        assert!(n > 0, "{label}: no selector was checked");
        let sizes = &result["plan"]["sizes"];
        let map = sizes["machine_map"]
            .as_array()
            .expect("the plan maps types");
        for g in gone {
            let m = map
                .iter()
                .find(|m| m["source"] == g)
                .unwrap_or_else(|| panic!("{label}: {g} is not mapped: {map:?}"));
            assert_ne!(m["target"], g, "{label}");
            assert!(m["cpus"].as_u64().unwrap() > 0 && m["gib"].as_u64().unwrap() > 0);
            for hub in std::fs::read_dir(dir.join("config")).unwrap() {
                let f = hub.unwrap().path().join("values.yaml");
                if let Ok(text) = std::fs::read_to_string(&f) {
                    assert!(
                        !text.contains(&format!("\"{INSTANCE_TYPE}\": \"{g}\"")),
                        "{label}: {} still selects {g}",
                        f.display()
                    );
                }
            }
        }
        let rewritten = sizes["rewritten"].as_object().expect("rewritten keys");
        assert!(
            !rewritten.is_empty(),
            "{label}: the plan lists no rewritten key"
        );
        if cluster == "nasa-cryo" {
            // The T4 pool stays a T4 pool.
            let text = std::fs::read_to_string(dir.join("terraform/terraform.tfvars")).unwrap();
            assert!(
                text.contains("nvidia-tesla-t4"),
                "{label}: no GPU pool:\n{text}"
            );
        }
    }
}
