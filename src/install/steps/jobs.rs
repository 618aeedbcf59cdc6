//! The in-cluster restores: per hub, rendered from the blueprint, a Job
//! running `r2r restore-homes` against the uploaded bundle into the hub's
//! home volume (hubs restore in parallel next to the data), and a Job that
//! copies the hub database into z2jh's `sqlite-pvc` claim while the hub is
//! scaled to zero (helm made the claim; the hub must not hold the file
//! open while it is replaced). Applied with kubectl under --apply, else
//! left in NEXT-STEPS.md.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use super::{Done, Planned, files};
use crate::data::location::{self, Location};
use crate::install::blueprint::StepKind;
use crate::install::render::Renderer;
use crate::install::tools;
use crate::install::{HubPlan, Install, layout};
use crate::values::tree;

fn hubs<'a>(i: &'a Install) -> Vec<&'a HubPlan> {
    i.hubs
        .iter()
        .filter(|h| (h.facts.homes && !h.users.is_empty()) || h.facts.hub_db)
        .collect()
}

/// Where a hub's database goes: z2jh's names for the hub Deployment and
/// its `sqlite-pvc` claim, which follow `fullnameOverride` (a string, ""
/// by z2jh's default, prefixes them; null makes them from the release).
struct HubDb {
    member: String,
    sha256: String,
    pvc: String,
    deployment: String,
}

fn hub_db(i: &Install, h: &HubPlan) -> Result<Option<HubDb>> {
    if !h.facts.hub_db {
        return Ok(None);
    }
    let name = &h.facts.name;
    let values = crate::values::standalone::from_bundle(i.trusted, name)?.values;
    let mut root = tree::KeyPath::root();
    if !h.facts.values_root.is_empty() {
        root = root.key(&h.facts.values_root);
    }
    let z2jh = root.key("jupyterhub");
    let db_type = tree::get(&values, &z2jh.key("hub").key("db").key("type"))
        .and_then(tree::Values::as_str)
        .unwrap_or("sqlite-pvc");
    if db_type != "sqlite-pvc" {
        i.opts.reporter.warn(&format!(
            "hub {name}: its database is of type {db_type}, not sqlite-pvc: the bundle's hub database is not restored"
        ));
        return Ok(None);
    }
    let prefix = match tree::get(&values, &z2jh.key("fullnameOverride")) {
        None => String::new(),
        Some(v) => match v.as_str() {
            Some("") => String::new(),
            Some(s) => format!("{s}-"),
            None => {
                let chart = tree::get(&values, &z2jh.key("nameOverride"))
                    .and_then(tree::Values::as_str)
                    .unwrap_or("jupyterhub");
                if name.contains(chart) {
                    format!("{name}-")
                } else {
                    format!("{name}-{chart}-")
                }
            }
        },
    };
    let member = crate::bundle::layout::hub_db(name)?.to_string();
    let sha256 = i
        .trusted
        .manifest
        .members
        .iter()
        .find(|m| m.path == member)
        .map(|m| m.sha256.clone())
        .with_context(|| format!("hub {name}: the bundle lists no {member}"))?;
    Ok(Some(HubDb {
        member,
        sha256,
        pvc: format!("{prefix}hub-db-dir"),
        deployment: format!("{prefix}hub"),
    }))
}

/// `kubectl ARGS…`, with the answered context when there is one.
pub(crate) fn kubectl(i: &Install, args: &[&str]) -> Vec<String> {
    let mut cmd = tools::strings(&["kubectl"]);
    cmd.extend(tools::strings(args));
    if let Some(c) = i.answers.str("kubeconfig.context") {
        cmd.extend(["--context".into(), c.to_owned()]);
    }
    cmd
}

/// The commands for one hub's manifest: with a database to restore, the
/// hub is scaled to zero first and back to one once the Job is complete.
fn hub_cmds(i: &Install, h: &HubPlan, rel: &str, db: Option<&HubDb>) -> Vec<Vec<String>> {
    let ns = h.facts.name.as_str();
    let Some(db) = db else {
        return vec![apply_cmd(i, rel)];
    };
    let deploy = format!("deployment/{}", db.deployment);
    vec![
        kubectl(i, &["scale", &deploy, "--replicas=0", "--namespace", ns]),
        apply_cmd(i, rel),
        kubectl(
            i,
            &[
                "wait",
                "--for=condition=complete",
                "job/r2r-restore-hub-db",
                "--timeout=1h",
                "--namespace",
                ns,
            ],
        ),
        kubectl(i, &["scale", &deploy, "--replicas=1", "--namespace", ns]),
    ]
}

fn spec<'a>(i: &'a Install) -> Option<&'a crate::install::blueprint::TemplateSpec> {
    i.blueprint
        .templates
        .iter()
        .find(|t| t.per_hub && layout::in_folder(layout::KUBERNETES, &t.to))
}

fn apply_cmd(i: &Install, rel: &str) -> Vec<String> {
    kubectl(i, &["apply", "-f", rel])
}

fn rel(i: &Install, h: &HubPlan) -> Option<String> {
    spec(i).map(|s| s.to.replace("{hub}", &h.facts.name))
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(StepKind::RestoreJobs, "");
    let hs = hubs(i);
    p.title = format!(
        "render {} home restore Jobs and apply them with kubectl",
        hs.len()
    );
    for h in hs {
        if let Some(r) = rel(i, h) {
            let db = hub_db(i, h)?;
            p.commands.extend(hub_cmds(i, h, &r, db.as_ref()));
            p.creates.push(r);
        }
    }
    Ok(p)
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let Some(spec) = spec(i).cloned() else {
        return Ok(Done::new("no restore Job template".into(), 0));
    };
    let bundle = match i.answers.str("bundle_url").map(location::parse) {
        Some(Ok(Location::Object(o))) => json!({"bucket": o.bucket, "prefix": o.prefix}),
        Some(Ok(Location::Local(p))) => json!({"bucket": "", "prefix": p}),
        _ => json!({"bucket": "", "prefix": ""}),
    };
    let renderer = Renderer::new(&i.blueprint.target)?;
    let mut groups = Vec::new();
    let mut written = 0;
    for h in hubs(i) {
        let mut ctx = i.context(Some(h));
        ctx["bundle"] = bundle.clone();
        let db = hub_db(i, h)?;
        ctx["hub_db"] = db.as_ref().map_or(
            serde_json::Value::Null,
            |d| json!({"member": d.member, "sha256": d.sha256, "pvc": d.pvc}),
        );
        let text = renderer.file(&i.blueprint.target, &spec.template, &ctx)?;
        for (n, doc) in text.split("\n---\n").enumerate() {
            tree::parse_yaml(doc).with_context(|| {
                format!(
                    "{} rendered for hub {}: document {} is not valid YAML",
                    spec.template,
                    h.facts.name,
                    n + 1
                )
            })?;
        }
        let r = spec.to.replace("{hub}", &h.facts.name);
        files::write_if_changed(
            i.stamp,
            &i.dir.join(PathBuf::from(&r)),
            text.as_bytes(),
            0o644,
        )?;
        groups.push((
            h.facts.name.clone(),
            hub_cmds(i, h, &r, db.as_ref()),
            db.is_some(),
        ));
        written += 1;
    }
    if i.opts.apply && tools::which("kubectl").is_some() {
        for (hub, cmds, scaled) in &groups {
            apply_group(i, hub, cmds, *scaled)?;
        }
        return Ok(Done::new(
            format!("restore Jobs of {written} hubs applied"),
            0,
        ));
    }
    let mut d = Done::new(format!("restore Jobs of {written} hubs rendered"), 0);
    d.pending = groups.into_iter().flat_map(|(_, c, _)| c).collect();
    Ok(d)
}

/// One hub's commands; when its hub was scaled down for the database and a
/// command fails, the hub is scaled back up (the last command) before the
/// error is returned, so a failed restore does not leave it down.
fn apply_group(i: &Install, hub: &str, cmds: &[Vec<String>], scaled: bool) -> Result<()> {
    let Err(e) = cmds
        .iter()
        .try_for_each(|c| tools::run(c, &i.dir, &*i.opts.reporter))
    else {
        return Ok(());
    };
    if scaled && let Some(up) = cmds.last() {
        if let Err(again) = tools::run(up, &i.dir, &*i.opts.reporter) {
            return Err(e.context(format!(
                "hub {hub}: its restore failed, and scaling the hub back up failed too ({})",
                crate::text::one_line(&again)
            )));
        }
        return Err(e.context(format!(
            "hub {hub}: its restore failed; the hub was scaled back up"
        )));
    }
    Err(e.context(format!("hub {hub}")))
}
