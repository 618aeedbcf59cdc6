//! NEXT-STEPS.md: every command the install left for a person, in order,
//! quoted for a POSIX shell, run from the install directory.

use std::fmt::Write as _;

use anyhow::Result;

use super::{Done, files};
use crate::install::Install;
use crate::install::journal::Journal;
use crate::install::layout::NEXT_STEPS;
use crate::install::tools::shell_line;

pub(crate) fn run(i: &mut Install, journal: &Journal) -> Result<Done> {
    let mut text = format!(
        "# Next steps\n\nWritten by `r2r install --target {}` for bundle {} (signed by key {}).\n\n",
        i.blueprint.target, i.facts.bundle_id, i.trusted.key_id
    );
    let mut count = 0;
    let mut pre = Vec::new();
    for (name, argv) in &i.blueprint.commands {
        let mut r = crate::install::render::Renderer::new(&i.blueprint.target)?;
        let ctx = i.context(None);
        let cmd: Vec<String> = argv
            .iter()
            .map(|a| r.text(a, &ctx))
            .collect::<Result<_>>()?;
        pre.push((name.clone(), cmd));
    }
    let order = ["state_bucket", "credentials", "registry_login"];
    let pending: Vec<_> = journal
        .steps
        .iter()
        .filter(|e| !e.pending.is_empty())
        .collect();
    if !pending.is_empty() {
        text.push_str("Run these from this directory, in order:\n\n```sh\n");
        text.push_str(&format!(
            "cd {}\n",
            shell_line(&[i.dir.display().to_string()])
        ));
        for key in order {
            if let Some((_, cmd)) = pre.iter().find(|(n, _)| n == key) {
                let _ = writeln!(text, "# {}\n{}", key.replace('_', " "), shell_line(cmd));
            }
        }
        let mut seen: Vec<&Vec<String>> = Vec::new();
        for e in pending {
            let _ = writeln!(text, "# step {}: {}", e.step.name(), e.summary);
            for cmd in &e.pending {
                if cmd.first().is_some_and(|c| c == "r2r") && seen.contains(&cmd) {
                    let _ = writeln!(text, "# (the r2r command above does this too)");
                    continue;
                }
                seen.push(cmd);
                if cmd.first().is_some_and(|c| c == "umask") {
                    // A shell builtin; `umask 077` must stay unquoted.
                    let _ = writeln!(text, "{}", cmd.join(" "));
                } else {
                    let _ = writeln!(text, "{}", shell_line(cmd));
                }
                count += 1;
            }
        }
        text.push_str("```\n");
    } else {
        text.push_str("Nothing is left to run: every step was done.\n");
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
        format!("{NEXT_STEPS}: {count} commands left to run"),
        0,
    ))
}
