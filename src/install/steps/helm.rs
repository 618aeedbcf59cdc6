//! Installing each hub with Helm: the complete chart the bundle carries
//! (installed offline, every dependency inside it), the hub's
//! values, the target's overlay, and the secrets through a 0600 temporary
//! file removed as soon as Helm is done. Without --apply, or without helm
//! on PATH, the same commands are written to NEXT-STEPS.md instead.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{Done, Planned, files, secrets};
use crate::install::blueprint::StepKind;
use crate::install::layout::{self, PRIVATE};
use crate::install::{HubPlan, Install};
use crate::install::{cluster_layer, tools};

fn context_args(i: &Install) -> Vec<String> {
    match i.answers.str("kubeconfig.context") {
        Some(c) => vec!["--kube-context".into(), c.to_owned()],
        None => Vec::new(),
    }
}

/// One Helm release the install applies: what `helm upgrade --install`
/// gets, and what the replica check (`r2r install --check`) renders. Paths
/// are relative to the install directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Release {
    pub name: String,
    /// The hub it installs; none for the cluster layer's releases.
    pub hub: Option<String>,
    pub namespace: String,
    /// The chart folder, complete (its dependencies' archives inside).
    pub chart: String,
    /// Whether the chart still needs `helm dependency build` (bundles from
    /// before r2r carried complete charts).
    #[serde(default)]
    pub needs_dependency_build: bool,
    /// `--values` files, in order, before the secrets.
    pub values: Vec<String>,
    /// The age-sealed secrets file, opened into a private file for Helm.
    pub sealed_secrets: Option<String>,
}

/// `.r2r-install/releases.json`: the releases in the order they are
/// installed, for the replica check and for people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Releases {
    pub version: u32,
    pub target: String,
    pub releases: Vec<Release>,
}

/// Every release of this install, in install order: the cluster layer
/// (cert-manager, support) in front of the hubs, whose ingresses need it.
pub(crate) fn releases(i: &Install) -> Vec<Release> {
    let mut out = cluster_layer::releases(i);
    out.extend(i.hubs.iter().map(|h| hub_release(i, h)));
    out
}

fn hub_release(i: &Install, h: &HubPlan) -> Release {
    let name = &h.facts.name;
    let mut values = vec![layout::hub_values(name)];
    if has_overlay(i) {
        values.push(layout::hub_overlay(name));
    }
    Release {
        name: name.clone(),
        hub: Some(name.clone()),
        namespace: name.clone(),
        chart: h.facts.chart_path.clone(),
        needs_dependency_build: !h.facts.chart_complete,
        values,
        sealed_secrets: has_secrets(i, h).then(|| layout::hub_secrets(name, true)),
    }
}

/// Writes `.r2r-install/releases.json`; called by the config step, so that
/// the list exists before anything is applied.
pub(crate) fn write_releases(i: &Install) -> Result<bool> {
    let list = Releases {
        version: 1,
        target: i.blueprint.target.clone(),
        releases: releases(i),
    };
    let text = serde_json::to_string_pretty(&list).context("cannot serialise the releases")?;
    files::write_if_changed(
        i.stamp,
        &i.dir.join(layout::RELEASES),
        format!("{text}\n").as_bytes(),
        0o644,
    )
}

/// The commands for one release; `secrets` is the decrypted secrets file.
fn commands(i: &Install, r: &Release, secrets: Option<&str>) -> Vec<Vec<String>> {
    let chart = &r.chart;
    let mut upgrade = tools::strings(&["helm", "upgrade", "--install", &r.name, chart]);
    upgrade.extend(tools::strings(&[
        "--namespace",
        &r.namespace,
        "--create-namespace",
    ]));
    for v in &r.values {
        upgrade.extend(["--values".into(), v.clone()]);
    }
    if let Some(s) = secrets {
        upgrade.extend(["--values".into(), s.to_owned()]);
    }
    upgrade.extend(context_args(i));
    // A complete chart (its dependencies' archives carried) needs no
    // `helm dependency build`: nothing comes from the network. A bundle
    // written before r2r carried complete charts still needs it.
    if r.needs_dependency_build {
        vec![
            tools::strings(&["helm", "dependency", "build", chart]),
            upgrade,
        ]
    } else {
        vec![upgrade]
    }
}

/// Where decrypted secrets live while Helm reads them: inside the install
/// directory, 0700, and emptied at the start of every helm step, so a
/// killed run leaves nothing readable behind for long.
fn private_dir(i: &Install) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = i.dir.join(PRIVATE);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    files::mkdirs(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(dir)
}

fn has_overlay(i: &Install) -> bool {
    i.blueprint
        .templates
        .iter()
        .any(|t| t.per_hub && layout::in_folder(layout::CONFIG, &t.to))
}

fn has_secrets(i: &Install, h: &HubPlan) -> bool {
    secrets::path(i, &h.facts.name).exists() || h.facts.secrets.is_some()
}

/// What a person runs: the secrets opened with stock age into a private
/// file, used, and removed.
fn manual(i: &Install, r: &Release) -> Vec<Vec<String>> {
    let Some(sealed) = &r.sealed_secrets else {
        let mut out = commands(i, r, None);
        out.extend(cluster_layer::after(i, &r.name));
        return out;
    };
    let tmp = layout::private_secrets(&r.name);
    // NEXT-STEPS.md runs after `cd` into the install directory: a path
    // relative to where the install ran would name another file there.
    let identity = match i.answers.str("age_identity") {
        Some(p) => {
            std::path::absolute(p).map_or_else(|_| p.to_owned(), |a| a.display().to_string())
        }
        None => "KEY.txt".to_owned(),
    };
    let mut out = vec![
        tools::strings(&["umask", "077"]),
        tools::strings(&["mkdir", "-p", PRIVATE]),
        tools::strings(&["age", "-d", "-i", &identity, "-o", &tmp, sealed]),
    ];
    out.extend(commands(i, r, Some(&tmp)));
    out.push(tools::strings(&["rm", "-f", &tmp]));
    out.extend(cluster_layer::after(i, &r.name));
    out
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let layer = cluster_layer::releases(i).len();
    let mut p = Planned::new(
        StepKind::Helm,
        if layer > 0 {
            format!(
                "install the cluster layer ({layer} releases) and {} hubs with helm",
                i.hubs.len()
            )
        } else {
            format!("install {} hubs with helm", i.hubs.len())
        },
    );
    for r in releases(i) {
        p.creates.push(format!(
            "helm release {} in namespace {}",
            r.name, r.namespace
        ));
        p.commands.extend(manual(i, &r));
    }
    if let Some(note) = cluster_layer::dns_note(i) {
        p.creates.push(format!("then {note}"));
    }
    p.commands.extend(cluster_layer::address_command(i));
    Ok(p)
}

/// The release's secrets, opened into a 0600 temporary file in the private
/// folder (removed when dropped).
fn secrets_file(
    i: &Install,
    r: &Release,
    ids: &[age::x25519::Identity],
    private: &std::path::Path,
) -> Result<Option<tempfile::NamedTempFile>> {
    let hub = i
        .hubs
        .iter()
        .find(|h| r.hub.as_ref() == Some(&h.facts.name));
    let text = match (hub, &r.sealed_secrets) {
        (Some(h), Some(_)) => secrets::hub_secrets(i, h, ids)?,
        (None, Some(sealed)) => {
            let bytes = secrets::open_file(&i.dir.join(sealed), ids)?;
            String::from_utf8(bytes).with_context(|| format!("{sealed} is not UTF-8"))?
        }
        (_, None) => return Ok(None),
    };
    let mut f = tempfile::Builder::new()
        .prefix("r2r-secrets-")
        .suffix(".yaml")
        .tempfile_in(private)
        .context("cannot create a private temporary file for the secrets")?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .context("cannot write the secrets' temporary file")?;
    Ok(Some(f))
}

/// Nothing is applied while the replica check finds errors, unless the
/// person said --force.
pub(crate) fn gate(i: &Install) -> Result<()> {
    let report = crate::install::check::run(&i.dir, &*i.opts.reporter)?;
    let errors = report.count(crate::install::check::Severity::Error);
    if errors == 0 {
        return Ok(());
    }
    if i.opts.force {
        i.opts.reporter.warn(&format!(
            "--force: installing although {}",
            report.verdict()
        ));
        return Ok(());
    }
    let first = report
        .findings
        .iter()
        .find(|f| f.severity == crate::install::check::Severity::Error)
        .map(|f| format!("{} at {}: {}", f.object, f.path, f.message))
        .unwrap_or_default();
    anyhow::bail!(
        "{}; the first: {}\nhint: `r2r install --check {}` lists every finding; fix them, or add --force to install anyway",
        report.verdict(),
        crate::text::safe(&first),
        i.dir.display()
    )
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let helm = tools::which("helm");
    if !i.opts.apply || helm.is_none() {
        let mut d = Done::new(
            if i.opts.apply {
                format!(
                    "helm is not on PATH: the commands are in {}",
                    layout::NEXT_STEPS
                )
            } else {
                format!(
                    "left for --apply: the helm commands are in {}",
                    layout::NEXT_STEPS
                )
            },
            0,
        );
        d.pending = releases(i).iter().flat_map(|r| manual(i, r)).collect();
        d.pending.extend(cluster_layer::address_command(i));
        if let Some(note) = cluster_layer::dns_note(i) {
            d.summary = format!("{}; then {note}", d.summary);
        }
        return Ok(d);
    }
    // Re-rendered before the check sees them: terraform may have named
    // each hub's identity and volume since the config step.
    for h in &i.hubs {
        if let Some((rel, body)) = super::config::overlay(i, h)? {
            files::write_if_changed(i.stamp, &i.dir.join(rel), body.as_bytes(), 0o644)?;
        }
    }
    gate(i)?;
    let ids = secrets::identities(i)?;
    let private = private_dir(i)?;
    for r in releases(i) {
        let tmp = secrets_file(i, &r, &ids, &private)?;
        let secrets_path = tmp.as_ref().map(|f| f.path().display().to_string());
        for cmd in commands(i, &r, secrets_path.as_deref()) {
            tools::run(&cmd, &i.dir, &*i.opts.reporter)
                .with_context(|| format!("helm release {}", r.name))?;
        }
        drop(tmp);
        for cmd in cluster_layer::after(i, &r.name) {
            tools::run(&cmd, &i.dir, &*i.opts.reporter)
                .with_context(|| format!("after helm release {}", r.name))?;
        }
    }
    let mut d = Done::new(
        format!("{} releases installed with helm", releases(i).len()),
        0,
    );
    // Pointing the domains is the community's DNS, left for a person.
    d.pending.extend(cluster_layer::address_command(i));
    if let Some(note) = cluster_layer::dns_note(i) {
        d.summary = format!("{}; {note}", d.summary);
    }
    Ok(d)
}
