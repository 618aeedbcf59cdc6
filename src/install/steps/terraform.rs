//! The terraform workspace: our module for the target cloud, a tfvars file
//! sized from the source cluster, and a backend keeping state in the
//! community's own account. With --apply and terraform on PATH it runs
//! init, plan and apply; otherwise the commands go to NEXT-STEPS.md.
//!
//! The local target renders the workspace for the source's cloud too, with
//! the cloud's derived defaults and `CHANGE-ME` where nothing could be
//! derived, and local state: it is the starting point of a move.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use serde_json::Value as Json;

use super::{Done, Planned, files};
use crate::install::answers::NoAsk;
use crate::install::answers::{Answers, Resolver};
use crate::install::blueprint::{self, Blueprint, StepKind};
use crate::install::facts::Facts;
use crate::install::layout::{self, TERRAFORM, TERRAFORM_OUTPUTS, TERRAFORM_PLAN};
use crate::install::render::Renderer;
use crate::install::{Install, tools};

pub(crate) const PLACEHOLDER: &str = "CHANGE-ME";

/// The blueprint whose module and templates make the workspace.
fn source_of(i: &Install) -> Result<Option<Blueprint>> {
    workspace(&i.blueprint, &i.facts)
}

/// The blueprint whose module and templates make the workspace of target
/// `bp`: its own, or for the local target the source cloud's; none when
/// the install renders no terraform.
pub(crate) fn workspace(bp: &Blueprint, facts: &Facts) -> Result<Option<Blueprint>> {
    if bp.module.is_some() {
        return Ok(Some(bp.clone()));
    }
    if bp.target != "local" {
        return Ok(None);
    }
    let cloud = &facts.source.cloud;
    if blueprint::targets().contains(&cloud.as_str()) {
        let source = blueprint::load(cloud)?;
        return Ok(source.module.is_some().then_some(source));
    }
    Ok(None)
}

/// `-chdir=terraform`: every command runs in the workspace.
fn chdir() -> String {
    format!("-chdir={TERRAFORM}")
}

fn commands() -> Vec<Vec<String>> {
    let chdir = chdir();
    let out = format!("-out={TERRAFORM_PLAN}");
    vec![
        tools::strings(&["terraform", &chdir, "init", "-input=false"]),
        tools::strings(&["terraform", &chdir, "plan", "-input=false", &out]),
        tools::strings(&["terraform", &chdir, "apply", "-input=false", TERRAFORM_PLAN]),
    ]
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(StepKind::Terraform, "");
    match source_of(i)? {
        Some(bp) => {
            p.title = format!(
                "render a terraform workspace for {} ({})",
                bp.title,
                bp.module.as_deref().unwrap_or_default()
            );
            p.creates.push(format!("{TERRAFORM}/"));
            if i.blueprint.target != "local" {
                p.commands = commands();
            }
        }
        None => p.title = "no terraform for this target".into(),
    }
    Ok(p)
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let Some(bp) = source_of(i)? else {
        return Ok(Done::new(
            "no terraform workspace for this target".into(),
            0,
        ));
    };
    let local = i.blueprint.target == "local";
    let module = bp
        .module
        .clone()
        .ok_or_else(|| anyhow!("internal: no module"))?;
    let ws = i.dir.join(TERRAFORM);
    for (rel, bytes) in blueprint::module_files(&module)? {
        files::write_if_changed(i.stamp, &ws.join(rel), bytes, 0o644)?;
    }
    let ctx = if local {
        local_context(i, &bp)?
    } else {
        i.context(None)
    };
    let renderer = Renderer::new(&bp.target)?;
    let mut rendered = 0;
    for spec in bp
        .templates
        .iter()
        .filter(|t| !t.per_hub && layout::in_folder(TERRAFORM, &t.to))
    {
        // A local workspace keeps its state locally until it is moved.
        if local && spec.to.ends_with("backend.tf") {
            continue;
        }
        let text = renderer.file(&bp.target, &spec.template, &ctx)?;
        hcl::parse(&text).map_err(|e| {
            anyhow!(
                "blueprint {}: {} did not render to valid HCL: {e}",
                bp.target,
                spec.template
            )
        })?;
        files::write_if_changed(
            i.stamp,
            &i.dir.join(PathBuf::from(&spec.to)),
            text.as_bytes(),
            0o644,
        )?;
        rendered += 1;
    }
    let summary = format!("workspace {TERRAFORM}/ ({module} module, {rendered} files rendered)");
    if local {
        return Ok(Done::new(summary, 0));
    }
    if i.opts.apply && tools::which("terraform").is_some() {
        // Before anything costs money: a workspace the replica check finds
        // errors in is not applied (its terraform outputs are stand-ins
        // here; the helm step checks again with them filled in).
        super::helm::gate(i)?;
        for c in commands() {
            tools::run(&c, &i.dir, &*i.opts.reporter)?;
        }
        read_outputs(i)?;
        return Ok(Done::new(format!("{summary}; applied"), 0));
    }
    let mut d = Done::new(summary, 0);
    d.pending = commands();
    Ok(d)
}

/// After apply: each hub's identity and home volume, for the overlays.
fn read_outputs(i: &mut Install) -> Result<()> {
    let out = tools::output(
        &tools::strings(&["terraform", &chdir(), "output", "-json"]),
        &i.dir,
    )?;
    let json: Json = serde_json::from_slice(&out).context("terraform output -json is not JSON")?;
    files::write_if_changed(i.stamp, &i.dir.join(TERRAFORM_OUTPUTS), &out, 0o644)?;
    for h in &mut i.hubs {
        h.identity = output(&json, "user_identities", &h.facts.name);
        h.volume_id = output(&json, "home_volume_ids", &h.facts.name);
    }
    Ok(())
}

/// The outputs an earlier `apply` saved, so a resumed install still has them.
pub(crate) fn saved_outputs(dir: &std::path::Path) -> Json {
    crate::source::repo::read_text(&dir.join(TERRAFORM_OUTPUTS), 16 << 20)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Json::Null)
}

/// One hub's value of a map output; only printable text is taken.
pub(crate) fn output(outputs: &Json, name: &str, hub: &str) -> Option<String> {
    outputs[name]["value"][hub]
        .as_str()
        .filter(|s| crate::install::names::printable(s).is_ok())
        .map(str::to_owned)
}

/// The context of the source cloud's templates: its questions answered by
/// their derived defaults.
fn local_context(i: &Install, bp: &Blueprint) -> Result<Json> {
    let common = blueprint::Common {
        questions: Vec::new(),
        hub_questions: Vec::new(),
    };
    let mut r = Resolver {
        blueprint: bp,
        common: &common,
        facts: &i.facts,
        renderer: Renderer::new(&bp.target)?,
        accept_defaults: true,
        placeholder: Some(PLACEHOLDER.into()),
        record: Vec::new(),
        ignored: Vec::new(),
    };
    let answers = r.resolve(&Answers::default(), &mut NoAsk)?;
    // The install's sizes are already the source cloud's (sizes::of_install).
    let mut ctx = i.context(None);
    ctx["answers"] = answers.public();
    Ok(ctx)
}
