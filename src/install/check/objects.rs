//! Kubernetes objects as the check sees them: parsed from `helm template`
//! output or from the manifests r2r wrote, each with where it came from.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value as Json;

use super::{Finding, Severity};
use crate::install::layout;

/// The most one manifest file of r2r's, or one release's rendering, may
/// hold: far above any real chart (daskhub renders about 1 MiB).
pub(super) const MAX_MANIFEST_BYTES: usize = 64 << 20;
/// The most documents one rendering may hold.
const MAX_DOCUMENTS: usize = 20_000;

/// One rendered object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// The release that renders it, or the manifest file r2r wrote.
    pub origin: String,
    /// The template it came from (`# Source:`), or the file.
    pub source: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub body: Json,
}

impl Object {
    /// `Kind/namespace/name`, as findings name it.
    pub(crate) fn id(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Kinds without a namespace.
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "StorageClass"
            | "IngressClass"
            | "ClusterIssuer"
            | "CustomResourceDefinition"
            | "PriorityClass"
            | "PersistentVolume"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "APIService"
            | "CSIDriver"
            | "RuntimeClass"
            | "Node"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
    )
}

/// Splits a multi-document YAML stream (as `helm template` prints it) and
/// parses each document; `origin` and `namespace` are the release's.
pub(super) fn parse_stream(
    text: &str,
    origin: &str,
    namespace: &str,
    findings: &mut Vec<Finding>,
) -> Vec<Object> {
    let mut out = Vec::new();
    let mut last_source = origin.to_owned();
    for (n, doc) in documents(text).into_iter().enumerate() {
        if n >= MAX_DOCUMENTS {
            findings.push(Finding::new(
                Severity::Error,
                origin,
                "",
                format!("renders more than {MAX_DOCUMENTS} documents; the rest were not checked"),
            ));
            break;
        }
        // Documents split out of one template share its `# Source:`.
        let source = doc
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map_or_else(|| last_source.clone(), str::to_owned);
        last_source.clone_from(&source);
        let value: Json = match crate::values::yaml::from_str(doc) {
            Ok(v) => v,
            Err(e) => {
                findings.push(Finding::new(
                    Severity::Error,
                    origin,
                    source,
                    format!("not valid YAML: {e}"),
                ));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        match object(value, origin, &source, namespace) {
            Some(o) => out.push(o),
            None => findings.push(Finding::new(
                Severity::Error,
                origin,
                source,
                "a document without apiVersion, kind and metadata.name",
            )),
        }
    }
    out
}

/// Splits where Helm does (`releaseutil.SplitManifests`): at every line
/// that starts with `---`; what follows the dashes on that line (cert-manager
/// writes `---# comment`) begins the next document.
fn documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            docs.push(&text[start..pos]);
            start = pos + 3;
        }
        pos += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

fn object(body: Json, origin: &str, source: &str, namespace: &str) -> Option<Object> {
    let s = |v: &Json| v.as_str().map(str::to_owned);
    let kind = s(&body["kind"])?;
    let name = s(&body["metadata"]["name"])?;
    let api_version = s(&body["apiVersion"])?;
    let namespace = if cluster_scoped(&kind) {
        String::new()
    } else {
        s(&body["metadata"]["namespace"]).unwrap_or_else(|| namespace.to_owned())
    };
    Some(Object {
        origin: origin.to_owned(),
        source: source.to_owned(),
        api_version,
        kind,
        name,
        namespace,
        body,
    })
}

/// Every document of the manifests r2r wrote under `kubernetes/`.
pub(super) fn manifests(dir: &Path, findings: &mut Vec<Finding>) -> Result<Vec<Object>> {
    let folder = dir.join(layout::KUBERNETES);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<_> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = format!(
            "{}/{}",
            layout::KUBERNETES,
            f.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        let text = read_bounded(&f).with_context(|| format!("cannot read {}", f.display()))?;
        out.extend(parse_stream(&text, &rel, "default", findings));
    }
    Ok(out)
}

/// A file of at most [`MAX_MANIFEST_BYTES`], as text; not through a symlink.
fn read_bounded(path: &Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut text = String::new();
    f.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > MAX_MANIFEST_BYTES {
        anyhow::bail!("larger than {MAX_MANIFEST_BYTES} bytes");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_splits_into_objects_with_their_source() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: c/templates/empty.yaml\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n";
        let mut f = Vec::new();
        let o = parse_stream(text, "rel", "ns", &mut f);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].id(), "ConfigMap/ns/a");
        assert_eq!(o[0].source, "c/templates/a.yaml");
        assert_eq!(o[1].id(), "Namespace/n");
    }

    #[test]
    fn dashes_with_a_comment_split_like_helm() {
        let text = "---\n# Source: c/templates/rbac.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---# the binding\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let mut f = Vec::new();
        let o = parse_stream(text, "rel", "ns", &mut f);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].id(), "ConfigMap/ns/b");
        assert_eq!(o[1].source, "c/templates/rbac.yaml");
    }
}
