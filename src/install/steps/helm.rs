//! Installing each hub with Helm: the complete chart the bundle carries
//! (installed offline, every dependency inside it), the hub's
//! values, the target's overlay, and the secrets through a 0600 temporary
//! file removed as soon as Helm is done. Without --apply, or without helm
//! on PATH, the same commands are written to NEXT-STEPS.md instead.

use anyhow::{Context, Result};

use super::{Done, Planned, files, secrets};
use crate::install::blueprint::StepKind;
use crate::install::layout::{self, PRIVATE};
use crate::install::tools;
use crate::install::{HubPlan, Install};

fn context_args(i: &Install) -> Vec<String> {
    match i.answers.str("kubeconfig.context") {
        Some(c) => vec!["--kube-context".into(), c.to_owned()],
        None => Vec::new(),
    }
}

/// The commands for one hub; `secrets` is the decrypted secrets file.
fn commands(i: &Install, h: &HubPlan, secrets: Option<&str>) -> Vec<Vec<String>> {
    let name = &h.facts.name;
    let chart = &h.facts.chart_path;
    let mut upgrade = tools::strings(&["helm", "upgrade", "--install", name, chart]);
    upgrade.extend(tools::strings(&["--namespace", name, "--create-namespace"]));
    upgrade.extend(["--values".into(), layout::hub_values(name)]);
    if has_overlay(i) {
        upgrade.extend(["--values".into(), layout::hub_overlay(name)]);
    }
    if let Some(s) = secrets {
        upgrade.extend(["--values".into(), s.to_owned()]);
    }
    upgrade.extend(context_args(i));
    // A complete chart (its dependencies' archives carried) needs no
    // `helm dependency build`: nothing comes from the network. A bundle
    // written before r2r carried complete charts still needs it.
    if h.facts.chart_complete {
        vec![upgrade]
    } else {
        vec![
            tools::strings(&["helm", "dependency", "build", chart]),
            upgrade,
        ]
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
fn manual(i: &Install, h: &HubPlan) -> Vec<Vec<String>> {
    let name = &h.facts.name;
    if !has_secrets(i, h) {
        return commands(i, h, None);
    }
    let tmp = layout::private_secrets(name);
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
        tools::strings(&[
            "age",
            "-d",
            "-i",
            &identity,
            "-o",
            &tmp,
            &layout::hub_secrets(name, true),
        ]),
    ];
    out.extend(commands(i, h, Some(&tmp)));
    out.push(tools::strings(&["rm", "-f", &tmp]));
    out
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(
        StepKind::Helm,
        format!("install {} hubs with helm", i.hubs.len()),
    );
    for h in &i.hubs {
        p.creates
            .push(format!("helm release {0} in namespace {0}", h.facts.name));
        p.commands.extend(manual(i, h));
    }
    Ok(p)
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
        d.pending = i.hubs.iter().flat_map(|h| manual(i, h)).collect();
        return Ok(d);
    }
    let ids = secrets::identities(i)?;
    let private = private_dir(i)?;
    for h in &i.hubs {
        // Re-rendered: terraform may have named the hub's identity and volume.
        if let Some((rel, body)) = super::config::overlay(i, h)? {
            files::write_if_changed(i.stamp, &i.dir.join(rel), body.as_bytes(), 0o644)?;
        }
        let tmp = if has_secrets(i, h) {
            let text = secrets::hub_secrets(i, h, &ids)?;
            let mut f = tempfile::Builder::new()
                .prefix("r2r-secrets-")
                .suffix(".yaml")
                .tempfile_in(&private)
                .context("cannot create a private temporary file for the secrets")?;
            std::io::Write::write_all(&mut f, text.as_bytes())
                .context("cannot write the secrets' temporary file")?;
            Some(f)
        } else {
            None
        };
        let secrets_path = tmp.as_ref().map(|f| f.path().display().to_string());
        for cmd in commands(i, h, secrets_path.as_deref()) {
            tools::run(&cmd, &i.dir, &*i.opts.reporter)
                .with_context(|| format!("hub {}", h.facts.name))?;
        }
        drop(tmp);
    }
    Ok(Done::new(
        format!("{} hubs installed with helm", i.hubs.len()),
        0,
    ))
}
