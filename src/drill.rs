//! The disaster-recovery drill: export, verify, install locally, compare,
//! and report what was carried and how long each phase took. Each phase
//! runs r2r itself as a child process, with the same arguments a person
//! would type, so the drill proves the commands, not a shortcut.

use crate::progress::Reporter;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value as Json;

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
    pub ok: bool,
    /// The command, without secrets (there are none in it).
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Json::is_null")]
    pub result: Json,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub cluster: String,
    pub bundle: PathBuf,
    pub bundle_bytes: u64,
    pub members: u64,
    pub hubs: Vec<String>,
    pub homes: u64,
    pub home_bytes: u64,
    pub images: u64,
    pub phases: Vec<Phase>,
    /// Export to compared replica: how long recovery takes end to end.
    pub recovery_seconds: f64,
    pub differences: Vec<Json>,
    pub ok: bool,
}

/// Runs `r2r ARGS…` (this executable), returning its parsed `--json` output.
pub fn phase(
    name: &str,
    args: &[String],
    report: &mut Report,
    reporter: &dyn Reporter,
) -> Result<Json> {
    let exe = std::env::current_exe().context("cannot find the r2r executable")?;
    reporter.step(&format!("drill: {name}…"));
    let started = Instant::now();
    let out = Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("drill {name}: cannot run r2r"))?;
    let seconds = started.elapsed().as_secs_f64();
    let result: Json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    let ok = out.status.success();
    report.phases.push(Phase {
        name: name.to_owned(),
        seconds,
        ok,
        command: std::iter::once("r2r".to_owned())
            .chain(args.iter().cloned())
            .collect(),
        result: result.clone(),
    });
    if !ok && name != "compare" {
        bail!(
            "drill {name} failed ({}): r2r {}",
            out.status,
            crate::install::tools::shell_line(args)
        );
    }
    Ok(result)
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# r2r drill: {}\n", r.cluster);
    let _ = writeln!(
        s,
        "**{}** — the replica {} the bundle.\n",
        if r.ok { "PASSED" } else { "FAILED" },
        if r.ok { "matches" } else { "differs from" }
    );
    let _ = writeln!(s, "## Carried\n");
    let _ = writeln!(s, "| what | amount |\n|---|---|");
    let _ = writeln!(
        s,
        "| bundle | {} ({} members) |",
        crate::text::bytes(r.bundle_bytes),
        r.members
    );
    let _ = writeln!(s, "| hubs | {} ({}) |", r.hubs.len(), r.hubs.join(", "));
    let _ = writeln!(
        s,
        "| homes | {} ({}) |",
        r.homes,
        crate::text::bytes(r.home_bytes)
    );
    let _ = writeln!(s, "| images | {} |", r.images);
    let _ = writeln!(s, "\n## Time per phase\n");
    let _ = writeln!(
        s,
        "| phase | seconds | result | command |\n|---|---|---|---|"
    );
    for p in &r.phases {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} | `{}` |",
            p.name,
            p.seconds,
            if p.ok { "ok" } else { "failed" },
            crate::install::tools::shell_line(&p.command).replace('|', "\\|")
        );
    }
    let _ = writeln!(
        s,
        "\n**Recovery time** (export to compared replica): {:.2} s\n",
        r.recovery_seconds
    );
    let _ = writeln!(s, "## Differences\n");
    if r.differences.is_empty() {
        let _ = writeln!(
            s,
            "None: every restored path, type, size, sha256, mode, mtime and link target matches the signed index."
        );
    } else {
        for d in &r.differences {
            let _ = writeln!(s, "- `{}`", crate::text::safe(&d.to_string()));
        }
    }
    s
}

/// The scratch directory: new, or refused when it holds anything.
pub fn scratch(dir: &Path) -> Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(anyhow!(
            "{} is not empty; the drill needs a new scratch directory (--work)",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
