//! The pods Helm does not render but the hub starts: user servers (from
//! the values z2jh keeps in its hub Secret, the same values KubeSpawner
//! reads) for every profile and option choice, and dask-gateway's
//! schedulers and workers (from the values its chart puts in the
//! gateway's ConfigMap).

use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

use super::PodSpec;
use crate::install::check::objects::Object;
use crate::install::check::{Finding, Severity};

pub(super) fn specs<'a>(objects: &[Object], findings: &mut Vec<Finding>) -> Vec<PodSpec<'a>> {
    let mut out = Vec::new();
    for o in objects {
        if o.kind == "Secret" && o.source.ends_with("jupyterhub/templates/hub/secret.yaml") {
            match z2jh_values(o) {
                Some(v) => out.extend(user_servers(o, &v)),
                None => findings.push(Finding::new(
                    Severity::NotChecked,
                    o.id(),
                    "data.values.yaml",
                    "the hub's values cannot be read from it: user servers' scheduling is not checked",
                )),
            }
        }
        if o.kind == "ConfigMap"
            && o.source
                .ends_with("dask-gateway/templates/gateway/configmap.yaml")
        {
            match gateway_values(o) {
                Some(v) => out.extend(dask_pods(o, &v)),
                None => findings.push(Finding::new(
                    Severity::NotChecked,
                    o.id(),
                    "data",
                    "dask-gateway's values cannot be read from it: dask pods' scheduling is not checked",
                )),
            }
        }
    }
    out
}

fn z2jh_values(o: &Object) -> Option<Json> {
    let encoded = o.body["data"]["values.yaml"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    crate::values::yaml::from_str(std::str::from_utf8(&bytes).ok()?).ok()
}

/// The JSON inside `_PROPERTIES = json.loads("…")`, a Go-quoted string.
fn gateway_values(o: &Object) -> Option<Json> {
    let data = o.body["data"].as_object()?;
    data.values().filter_map(Json::as_str).find_map(|text| {
        let start = text.find("json.loads(\"")? + "json.loads(".len();
        let quoted = &text[start..];
        let end = quoted.find("\")")? + 1;
        let inner: String = serde_json::from_str(&quoted[..end]).ok()?;
        serde_json::from_str(&inner).ok()
    })
}

fn merged(base: &Json, over: &Json) -> Json {
    match (base, over) {
        (Json::Object(a), Json::Object(b)) => {
            let mut m: Map<String, Json> = a.clone();
            m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
            Json::Object(m)
        }
        (_, Json::Null) => base.clone(),
        _ => over.clone(),
    }
}

/// One user server's pod spec parts for a KubeSpawner override chain.
fn spawner_spec(base: &Json, overrides: &[&Json]) -> Json {
    let mut node_selector = base["nodeSelector"].clone();
    let mut tolerations = base["tolerations"].clone();
    let mut terms = base["terms"].clone();
    let mut image = base["image"].clone();
    let mut limits = base["limits"].clone();
    for o in overrides {
        limits = merged(&limits, &o["extra_resource_limits"]);
        if o["image"].is_string() {
            image = o["image"].clone();
        }
        node_selector = merged(&node_selector, &o["node_selector"]);
        if let Some(t) = o["tolerations"].as_array() {
            tolerations = Json::Array(t.clone());
        }
        if let Some(extra) = o["extra_tolerations"].as_array() {
            let mut all = tolerations.as_array().cloned().unwrap_or_default();
            all.extend(extra.iter().cloned());
            tolerations = Json::Array(all);
        }
        if let Some(t) = o["node_affinity_required"].as_array() {
            terms = Json::Array(t.clone());
        }
    }
    let mut spec = json!({"nodeSelector": node_selector, "tolerations": tolerations});
    if image.is_string() || limits.is_object() {
        spec["containers"] =
            json!([{"name": "notebook", "image": image, "resources": {"limits": limits}}]);
    }
    if terms.as_array().is_some_and(|t| !t.is_empty()) {
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}});
    }
    spec
}

fn user_servers<'a>(o: &Object, v: &Json) -> Vec<PodSpec<'a>> {
    let su = &v["singleuser"];
    let mut tolerations = v["scheduling"]["userPods"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    tolerations.extend(
        su["extraTolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    // z2jh appends the node-purpose term and extraNodeAffinity.required to
    // KubeSpawner's node_affinity_required: terms, any one of which fits.
    let mut terms: Vec<Json> = Vec::new();
    if v["scheduling"]["userPods"]["nodeAffinity"]["matchNodePurpose"].as_str() == Some("require") {
        terms.push(json!({"matchExpressions": [
            {"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}
        ]}));
    }
    terms.extend(
        su["extraNodeAffinity"]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let image = match (su["image"]["name"].as_str(), &su["image"]["tag"]) {
        (Some(name), Json::String(tag)) => json!(format!("{name}:{tag}")),
        (Some(name), Json::Null) => json!(name),
        (Some(name), tag) => json!(format!("{name}:{tag}")),
        _ => Json::Null,
    };
    let base = json!({
        "nodeSelector": su["nodeSelector"],
        "tolerations": tolerations,
        "terms": terms,
        "image": image,
        "limits": su["extraResource"]["limits"],
    });
    let hub = &o.namespace;
    let mut out = vec![spec(
        o,
        format!("user server of hub {hub}"),
        "singleuser",
        spawner_spec(&base, &[]),
    )];
    for (n, p) in su["profileList"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let name = p["slug"]
            .as_str()
            .or(p["display_name"].as_str())
            .unwrap_or("?");
        let at = format!("singleuser.profileList[{n}]");
        let over = &p["kubespawner_override"];
        out.push(spec(
            o,
            format!("user server of hub {hub}, profile {name:?}"),
            &format!("{at}.kubespawner_override"),
            spawner_spec(&base, &[over]),
        ));
        for (opt, option) in p["profile_options"].as_object().into_iter().flatten() {
            for (choice, c) in option["choices"].as_object().into_iter().flatten() {
                let o2 = &c["kubespawner_override"];
                if o2.is_null() {
                    continue;
                }
                out.push(spec(
                    o,
                    format!("user server of hub {hub}, profile {name:?}, {opt}={choice}"),
                    &format!("{at}.profile_options.{opt}.choices.{choice}.kubespawner_override"),
                    spawner_spec(&base, &[over, o2]),
                ));
            }
        }
    }
    out
}

fn spec<'a>(o: &Object, what: String, path: &str, spec: Json) -> PodSpec<'a> {
    PodSpec {
        object: format!("{what} ({})", o.id()),
        namespace: o.namespace.clone(),
        path: path.to_owned(),
        spec: std::borrow::Cow::Owned(spec),
        daemon: false,
    }
}

fn dask_pods<'a>(o: &Object, v: &Json) -> Vec<PodSpec<'a>> {
    ["scheduler", "worker"]
        .iter()
        .map(|role| {
            let pod = &v["gateway"]["backend"][role]["extraPodConfig"];
            let s = json!({
                "nodeSelector": pod["nodeSelector"],
                "tolerations": pod["tolerations"],
                "affinity": pod["affinity"],
                "serviceAccountName": pod["serviceAccountName"],
            });
            spec(
                o,
                format!("dask {role}s of {}", o.namespace),
                &format!("gateway.backend.{role}.extraPodConfig"),
                s,
            )
        })
        .collect()
}
