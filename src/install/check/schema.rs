//! Every object against Kubernetes' OpenAPI schemas, offline, with
//! `kubernetes-validate` (PyPI; it ships the schemas of every Kubernetes
//! release it knows, strict: unknown fields are errors). Kinds it has no
//! schema for (custom resources such as cert-manager's ClusterIssuer) are
//! recorded as not checked, by kind.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::objects::Object;
use super::{Finding, Severity};
use crate::install::tools;

const TOOL: &str = "kubernetes-validate";
/// Files per run of the tool.
const BATCH: usize = 500;

/// Validates `objects`; returns how many passed or failed a schema (not
/// those without one) and the Kubernetes version of the schemas.
pub(super) fn validate(
    objects: &[Object],
    findings: &mut Vec<Finding>,
) -> Result<(usize, Option<String>)> {
    if objects.is_empty() {
        return Ok((0, None));
    }
    if tools::which(TOOL).is_none() {
        findings.push(Finding::new(
            Severity::NotChecked,
            "every object",
            "",
            format!("not validated against Kubernetes' schemas: no `{TOOL}` on PATH (pip install {TOOL})"),
        ));
        return Ok((0, None));
    }
    let tmp = tempfile::Builder::new()
        .prefix("r2r-check-")
        .tempdir()
        .context("cannot make a temporary folder")?;
    let mut files = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        let path = tmp.path().join(format!("{n:05}.json"));
        std::fs::write(&path, serde_json::to_vec(&o.body)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
    }
    // In batches: tens of thousands of paths would pass the argv limit.
    let mut text = String::new();
    let mut failed_runs = 0;
    for batch in files.chunks(BATCH) {
        let out = Command::new(TOOL)
            .arg("--strict")
            .args(batch)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {TOOL}"))?;
        // Exit 1 is "some object failed"; anything else is the tool failing.
        if !matches!(out.status.code(), Some(0 | 1)) {
            failed_runs += 1;
        }
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let (checked, version, unknown) = read_output(&text, objects, findings);
    // Every object must have had an answer: validated, failed, or of a
    // kind without schema. The rest were not checked, and are said to be.
    let unanswered = objects.len().saturating_sub(checked + unknown);
    if unanswered > 0 || failed_runs > 0 {
        findings.push(Finding::new(
            Severity::NotChecked,
            "every object",
            "",
            format!(
                "{} got no answer from {TOOL} ({failed_runs} of its runs failed)",
                crate::text::count(unanswered, "object")
            ),
        ));
    }
    Ok((checked, version))
}

/// Reads the tool's lines (`INFO|ERROR|WARN FILE …`) back to objects.
/// Returns the objects validated (passed or failed), the schemas' version,
/// and the objects of kinds without a schema.
fn read_output(
    text: &str,
    objects: &[Object],
    findings: &mut Vec<Finding>,
) -> (usize, Option<String>, usize) {
    let mut checked = 0;
    let mut version = None;
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(3, ' ');
        let (Some(level), Some(file), Some(rest)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(o) = index(file).and_then(|n| objects.get(n)) else {
            continue;
        };
        match level {
            "INFO" => {
                checked += 1;
                if version.is_none() {
                    version = rest.rsplit("against version ").next().map(str::to_owned);
                }
            }
            "ERROR" => {
                checked += 1;
                let detail = rest.split_once(": ").map_or(rest, |(_, d)| d);
                let (path, message) = detail.split_once(": ").unwrap_or(("", detail));
                findings.push(Finding::new(
                    Severity::Error,
                    o.id(),
                    path,
                    format!(
                        "{} (from {}, {})",
                        crate::text::safe(message),
                        o.origin,
                        o.source
                    ),
                ));
            }
            "WARN" if rest.starts_with("Couldn't find schema") => {
                *unknown
                    .entry(format!("{} {}", o.api_version, o.kind))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    let without_schema = unknown.values().sum();
    for (kind, n) in unknown {
        findings.push(Finding::new(
            Severity::NotChecked,
            kind.clone(),
            "",
            format!(
                "{}: Kubernetes' schemas do not describe this kind (a custom resource)",
                crate::text::count(n, "object")
            ),
        ));
    }
    (checked, version, without_schema)
}

/// `…/00042.json` → 42.
fn index(file: &str) -> Option<usize> {
    std::path::Path::new(file)
        .file_stem()?
        .to_str()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str) -> Object {
        Object {
            origin: "release r".into(),
            source: "t.yaml".into(),
            api_version: "v1".into(),
            kind: kind.into(),
            name: "n".into(),
            namespace: "ns".into(),
            body: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_tools_lines_become_findings_on_their_objects() {
        let objects = [obj("ConfigMap"), obj("Deployment"), obj("ClusterIssuer")];
        let text = "INFO /t/00000.json passed for resource configmap/n against version 1.37\n\
            ERROR /t/00001.json did not validate for resource deployment/n against version 1.37: spec.template: Additional properties are not allowed ('bogus' was unexpected)\n\
            WARN /t/00002.json Couldn't find schema for kind ClusterIssuer with api version cert-manager.io/v1\n";
        let mut f = Vec::new();
        let (n, v, unknown) = read_output(text, &objects, &mut f);
        assert_eq!(unknown, 1);
        assert_eq!((n, v.as_deref()), (2, Some("1.37")));
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].object, "Deployment/ns/n");
        assert_eq!(f[0].path, "spec.template");
        assert!(f[0].message.contains("'bogus' was unexpected"));
        assert_eq!(f[1].severity, Severity::NotChecked);
    }
}
