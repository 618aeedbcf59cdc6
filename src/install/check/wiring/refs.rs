//! What pods refer to by name, and the cluster-wide names objects use.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value as Json;

use super::PodSpec;
use crate::install::check::objects::Object;
use crate::install::check::{Finding, Severity};
use crate::install::layout;

/// Names that exist in every namespace without anyone creating them.
fn always(kind: &str, name: &str) -> bool {
    matches!(
        (kind, name),
        ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt")
    )
}

/// Every Secret, ConfigMap, PVC and ServiceAccount a pod needs (not
/// optional) is rendered by a release, written by r2r, or always there.
pub(super) fn pods(specs: &[PodSpec<'_>], objects: &[Object], findings: &mut Vec<Finding>) {
    let have: BTreeSet<(&str, &str, &str)> = objects
        .iter()
        .map(|o| (o.kind.as_str(), o.namespace.as_str(), o.name.as_str()))
        .collect();
    for s in specs {
        for (kind, name, path, optional) in needs(&s.spec, &s.path) {
            if optional
                || always(kind, &name)
                || have.contains(&(kind, s.namespace.as_str(), name.as_str()))
            {
                continue;
            }
            findings.push(Finding::new(
                Severity::Error,
                &s.object,
                path,
                format!("needs {kind} {name:?} in namespace {}, which nothing the install applies creates", s.namespace),
            ));
        }
    }
}

/// (kind, name, key path, optional): one thing a pod spec refers to.
type Need = (&'static str, String, String, bool);

/// (kind, name, key path, optional) of everything a pod spec refers to.
fn needs(spec: &Json, at: &str) -> Vec<Need> {
    let mut out = Vec::new();
    let opt = |v: &Json| v["optional"].as_bool() == Some(true);
    if let Some(sa) = spec["serviceAccountName"].as_str() {
        out.push((
            "ServiceAccount",
            sa.to_owned(),
            format!("{at}.serviceAccountName"),
            false,
        ));
    }
    for (n, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let p = format!("{at}.volumes[{n}]");
        if let Some(name) = v["secret"]["secretName"].as_str() {
            out.push((
                "Secret",
                name.into(),
                format!("{p}.secret.secretName"),
                opt(&v["secret"]),
            ));
        }
        if let Some(name) = v["configMap"]["name"].as_str() {
            out.push((
                "ConfigMap",
                name.into(),
                format!("{p}.configMap.name"),
                opt(&v["configMap"]),
            ));
        }
        if let Some(name) = v["persistentVolumeClaim"]["claimName"].as_str() {
            out.push((
                "PersistentVolumeClaim",
                name.into(),
                format!("{p}.persistentVolumeClaim.claimName"),
                false,
            ));
        }
        for (m, src) in v["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let q = format!("{p}.projected.sources[{m}]");
            if let Some(name) = src["secret"]["name"].as_str() {
                out.push((
                    "Secret",
                    name.into(),
                    format!("{q}.secret.name"),
                    opt(&src["secret"]),
                ));
            }
            if let Some(name) = src["configMap"]["name"].as_str() {
                out.push((
                    "ConfigMap",
                    name.into(),
                    format!("{q}.configMap.name"),
                    opt(&src["configMap"]),
                ));
            }
        }
    }
    out.extend(container_needs(spec, at));
    out
}

/// What the containers' env and envFrom refer to.
fn container_needs(spec: &Json, at: &str) -> Vec<Need> {
    let mut out = Vec::new();
    let opt = |v: &Json| v["optional"].as_bool() == Some(true);
    for list in ["initContainers", "containers"] {
        for (n, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let p = format!("{at}.{list}[{n}]");
            for (m, e) in c["env"].as_array().into_iter().flatten().enumerate() {
                let from = &e["valueFrom"];
                if let Some(name) = from["secretKeyRef"]["name"].as_str() {
                    out.push((
                        "Secret",
                        name.into(),
                        format!("{p}.env[{m}].valueFrom.secretKeyRef"),
                        opt(&from["secretKeyRef"]),
                    ));
                }
                if let Some(name) = from["configMapKeyRef"]["name"].as_str() {
                    out.push((
                        "ConfigMap",
                        name.into(),
                        format!("{p}.env[{m}].valueFrom.configMapKeyRef"),
                        opt(&from["configMapKeyRef"]),
                    ));
                }
            }
            for (m, e) in c["envFrom"].as_array().into_iter().flatten().enumerate() {
                if let Some(name) = e["secretRef"]["name"].as_str() {
                    out.push((
                        "Secret",
                        name.into(),
                        format!("{p}.envFrom[{m}].secretRef"),
                        opt(&e["secretRef"]),
                    ));
                }
                if let Some(name) = e["configMapRef"]["name"].as_str() {
                    out.push((
                        "ConfigMap",
                        name.into(),
                        format!("{p}.envFrom[{m}].configMapRef"),
                        opt(&e["configMapRef"]),
                    ));
                }
            }
        }
    }
    out
}

/// StorageClasses each cloud's clusters come with.
fn default_storage_classes(target: &str) -> &'static [&'static str] {
    match target {
        "gcp" => &[
            "standard",
            "standard-rwo",
            "premium-rwo",
            "standard-rwx",
            "premium-rwx",
        ],
        "aws" => &["gp2"],
        "azure" => &[
            "default",
            "managed",
            "managed-csi",
            "managed-premium",
            "managed-csi-premium",
            "azurefile",
            "azurefile-csi",
            "azurefile-premium",
            "azurefile-csi-premium",
        ],
        _ => &[],
    }
}

/// IngressClasses, ClusterIssuers and StorageClasses named exist.
pub(super) fn classes(objects: &[Object], target: &str, findings: &mut Vec<Finding>) {
    let named = |kind: &str| -> BTreeSet<&str> {
        objects
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect()
    };
    let ingress_classes = named("IngressClass");
    let issuers = named("ClusterIssuer");
    let mut storage = named("StorageClass");
    let known_target = !default_storage_classes(target).is_empty();
    storage.extend(default_storage_classes(target));
    for o in objects {
        let annotations = &o.body["metadata"]["annotations"];
        if o.kind == "Ingress" {
            let class = o.body["spec"]["ingressClassName"]
                .as_str()
                .map(|c| (c, "spec.ingressClassName"))
                .or_else(|| {
                    annotations["kubernetes.io/ingress.class"]
                        .as_str()
                        .map(|c| (c, "metadata.annotations.kubernetes.io/ingress.class"))
                });
            if let Some((class, path)) = class.filter(|(c, _)| !ingress_classes.contains(c)) {
                findings.push(missing(
                    target,
                    o,
                    path,
                    &format!("IngressClass {class:?}"),
                    &format!("kubectl get ingressclass {class}"),
                ));
            }
            if let Some(issuer) = annotations["cert-manager.io/cluster-issuer"]
                .as_str()
                .filter(|i| !issuers.contains(i))
            {
                findings.push(missing(
                    target,
                    o,
                    "metadata.annotations.cert-manager.io/cluster-issuer",
                    &format!("ClusterIssuer {issuer:?}"),
                    &format!("kubectl get clusterissuer {issuer}"),
                ));
            }
        }
        let claims: Vec<(String, &Json)> = match o.kind.as_str() {
            "PersistentVolumeClaim" => vec![("spec".to_owned(), &o.body["spec"])],
            "StatefulSet" => o.body["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(n, t)| (format!("spec.volumeClaimTemplates[{n}].spec"), &t["spec"]))
                .collect(),
            _ => Vec::new(),
        };
        for (path, spec) in claims {
            match spec["storageClassName"].as_str() {
                // "" binds to a PersistentVolume made for it: no class.
                Some("") => {}
                Some(class) if !storage.contains(class) => findings.push(Finding::new(
                    if known_target { Severity::Error } else { Severity::Warning },
                    o.id(),
                    format!("{path}.storageClassName"),
                    format!("StorageClass {class:?} is neither created by the install nor one {target} clusters come with"),
                )),
                Some(_) => {}
                None if target == "aws" && !objects.iter().any(is_default_class) => findings.push(Finding::new(
                    Severity::Warning,
                    o.id(),
                    format!("{path}.storageClassName"),
                    "no StorageClass named: EKS clusters since Kubernetes 1.30 have no default StorageClass",
                )),
                None => {}
            }
        }
    }
}

/// A cluster-wide object the install does not create: an error where r2r
/// makes the cluster; on an existing one (kubeconfig) it may already be
/// there, which cannot be known offline, and is said so with the command
/// that tells.
fn missing(target: &str, o: &Object, path: &str, what: &str, probe: &str) -> Finding {
    if target == "kubeconfig" {
        Finding::new(
            Severity::NotChecked,
            o.id(),
            path,
            format!(
                "{what} is not created by the install; the existing cluster must have it (`{probe}`)"
            ),
        )
    } else {
        Finding::new(
            Severity::Error,
            o.id(),
            path,
            format!("{what} is not created by anything the install applies"),
        )
    }
}

fn is_default_class(o: &Object) -> bool {
    o.kind == "StorageClass"
        && o.body["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"].as_str()
            == Some("true")
}

/// Every image is pushed (in images-mapping.json) or pulled from where the
/// values name it, which is said.
pub(super) fn images(specs: &[PodSpec<'_>], dir: &Path, findings: &mut Vec<Finding>) {
    let mapping: Option<crate::images::mapping::Mapping> =
        std::fs::read(dir.join(layout::IMAGES_MAPPING))
            .ok()
            .filter(|b| b.len() < 16 << 20)
            .and_then(|b| serde_json::from_slice(&b).ok());
    let pushed: BTreeSet<&str> = mapping
        .iter()
        .flat_map(|m| {
            m.images
                .iter()
                .flat_map(|i| [i.to.as_str(), i.pinned.as_str()])
        })
        .collect();
    let mut pulled: BTreeSet<String> = BTreeSet::new();
    for s in specs {
        for list in ["initContainers", "containers"] {
            for c in s.spec[list].as_array().into_iter().flatten() {
                if let Some(image) = c["image"].as_str().filter(|i| !pushed.contains(i)) {
                    pulled.insert(image.to_owned());
                }
            }
        }
    }
    if pulled.is_empty() {
        return;
    }
    let list: Vec<String> = pulled.iter().take(12).cloned().collect();
    findings.push(Finding::new(
        Severity::Warning,
        "images",
        "",
        format!(
            "{} not pushed by this install: the replica pulls {} from the registries the values name ({}{})",
            crate::text::count(pulled.len(), "image"),
            if pulled.len() == 1 { "it" } else { "them" },
            list.join(", "),
            if pulled.len() > list.len() { ", …" } else { "" }
        ),
    ));
}
