//! The in-cluster home restore: one Kubernetes Job per hub, rendered from
//! the blueprint, running `r2r restore-homes` against the uploaded bundle
//! into the hub's home volume, so hubs restore in parallel next to the
//! data. Applied with kubectl under --apply, else left in NEXT-STEPS.md.

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
        .filter(|h| h.facts.homes && !h.users.is_empty())
        .collect()
}

fn spec<'a>(i: &'a Install) -> Option<&'a crate::install::blueprint::TemplateSpec> {
    i.blueprint
        .templates
        .iter()
        .find(|t| t.per_hub && layout::in_folder(layout::KUBERNETES, &t.to))
}

fn apply_cmd(i: &Install, rel: &str) -> Vec<String> {
    let mut cmd = tools::strings(&["kubectl", "apply", "-f", rel]);
    if let Some(c) = i.answers.str("kubeconfig.context") {
        cmd.extend(["--context".into(), c.to_owned()]);
    }
    cmd
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
            p.commands.push(apply_cmd(i, &r));
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
    let mut written = Vec::new();
    for h in hubs(i) {
        let mut ctx = i.context(Some(h));
        ctx["bundle"] = bundle.clone();
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
        written.push(r);
    }
    let cmds: Vec<Vec<String>> = written.iter().map(|r| apply_cmd(i, r)).collect();
    if i.opts.apply && tools::which("kubectl").is_some() {
        for c in &cmds {
            tools::run(c, &i.dir, &*i.opts.reporter)?;
        }
        return Ok(Done::new(
            format!("{} restore Jobs applied", written.len()),
            0,
        ));
    }
    let mut d = Done::new(format!("{} restore Jobs rendered", written.len()), 0);
    d.pending = cmds;
    Ok(d)
}
