//! The replica check (`r2r install --check DIR`): does the install
//! directory describe a replica that can run? It renders every release the
//! installer applies with `helm template` (offline, from the carried
//! charts), validates every rendered manifest and every manifest r2r wrote
//! against Kubernetes' OpenAPI schemas (`kubernetes-validate`), and checks
//! the wiring between them: pods that a declared node pool can run, the
//! Secrets, ConfigMaps, PVCs and ServiceAccounts pods need, the
//! IngressClasses, ClusterIssuers and StorageClasses they name, and the
//! images they pull.
//!
//! What it could not check is a finding too (`not-checked`, with the
//! reason), so its verdict is never stronger than what was checked.

mod objects;
mod pools;
mod render;
mod schema;
mod wiring;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::layout;
use super::steps::helm::Releases;
use crate::progress::Reporter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Severity {
    /// The replica would not run as written.
    Error,
    /// It may run, but something depends on what r2r cannot see.
    Warning,
    /// A part the check could not check, and why.
    NotChecked,
}

impl Severity {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::NotChecked => "not checked",
        }
    }
}

/// One finding: the object (`Kind/namespace/name`, or a file) and the key
/// path in it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub object: String,
    pub path: String,
    pub message: String,
}

impl Finding {
    pub(crate) fn new(
        severity: Severity,
        object: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            object: object.into(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What was rendered of one release.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rendered {
    pub release: String,
    pub namespace: String,
    pub chart: String,
    pub objects: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    pub dir: PathBuf,
    pub target: String,
    pub releases: Vec<Rendered>,
    /// Documents of the manifests r2r wrote under `kubernetes/`.
    pub manifests: usize,
    /// Objects the schemas validated, and the Kubernetes version of them.
    pub validated: usize,
    pub schema_version: Option<String>,
    /// The node pools the terraform declares.
    pub pools: Vec<String>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub(crate) fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// No errors: what was checked would run.
    pub(crate) fn passed(&self) -> bool {
        self.count(Severity::Error) == 0
    }

    /// One line that never claims more than was checked.
    pub(crate) fn verdict(&self) -> String {
        let (e, w, n) = (
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::NotChecked),
        );
        let head = if e > 0 {
            format!("replica check FAILED: {}", crate::text::count(e, "error"))
        } else if w > 0 || n > 0 {
            "replica check: no errors in what was checked".to_owned()
        } else {
            "replica check: clean".to_owned()
        };
        let objects: usize = self.releases.iter().map(|r| r.objects).sum();
        let c = crate::text::count;
        format!(
            "{head} ({}, {}); {} rendered ({objects} objects) and {} validated against \
             Kubernetes {} schemas; {} declared",
            c(w, "warning"),
            c(n, "unchecked part"),
            c(self.releases.len(), "release"),
            c(self.validated, "object"),
            self.schema_version.as_deref().unwrap_or("(no)"),
            c(self.pools.len(), "node pool"),
        )
    }
}

/// Checks the install directory `dir`.
pub(crate) fn run(dir: &Path, reporter: &dyn Reporter) -> Result<CheckReport> {
    let path = dir.join(layout::RELEASES);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: is {} an r2r install directory?",
            path.display(),
            dir.display()
        )
    })?;
    if text.len() > 1 << 20 {
        anyhow::bail!("{}: larger than 1 MiB", path.display());
    }
    let releases: Releases = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a releases list", path.display()))?;
    let mut findings = Vec::new();
    let mut objects = Vec::new();
    let mut rendered = Vec::new();
    for r in &releases.releases {
        reporter.step(&format!("check: rendering release {}", r.name));
        let out = render::release(dir, r, &mut findings)?;
        rendered.push(Rendered {
            release: r.name.clone(),
            namespace: r.namespace.clone(),
            chart: r.chart.clone(),
            objects: out.len(),
        });
        objects.extend(out);
    }
    let own = objects::manifests(dir, &mut findings)?;
    let manifests = own.len();
    objects.extend(own);
    reporter.step(&format!(
        "check: validating {} objects against Kubernetes' schemas",
        objects.len()
    ));
    let (validated, schema_version) = schema::validate(&objects, &mut findings)?;
    let pools = pools::declared(dir, &releases.target, &mut findings)?;
    wiring::check(&objects, &pools, &releases.target, dir, &mut findings);
    findings.sort();
    findings.dedup();
    Ok(CheckReport {
        dir: dir.to_path_buf(),
        target: releases.target,
        releases: rendered,
        manifests,
        validated,
        schema_version,
        pools: pools
            .as_ref()
            .map(|p| p.iter().map(|p| p.name.clone()).collect())
            .unwrap_or_default(),
        findings,
    })
}
