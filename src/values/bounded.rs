//! Jsonnet from a bundle, evaluated where it cannot take the installer's
//! time or memory: jsonnet is a programming language, and a hostile file
//! can loop or build a list of a billion items. r2r evaluates it in a
//! child process of itself (`r2r __render-jsonnet`), which caps its own CPU
//! time and address space before it reads anything, while this side caps
//! the wall time and the output it reads.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// CPU seconds and bytes of address space the child may use; real files
/// (2i2c's eksctl configs, support's values.jsonnet) take well under a
/// second and 100 MiB.
pub const MAX_CPU_SECONDS: u64 = 20;
pub const MAX_ADDRESS_SPACE: u64 = 2 << 30;
/// Wall time, for a child that sleeps instead of computing.
const MAX_WALL: Duration = Duration::from_secs(60);
/// The most JSON it may print.
const MAX_OUTPUT: u64 = 64 << 20;

/// Evaluates `file` (relative to `root`, whose files are its only
/// imports) with the external strings `ext`, in a bounded child; returns
/// the JSON text. `shown` names the file in errors.
pub fn render(root: &Path, file: &str, ext: &[(String, String)], shown: &str) -> Result<String> {
    let exe = std::env::current_exe().context("cannot find the r2r executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("__render-jsonnet")
        .arg("--root")
        .arg(root)
        .arg(file);
    for (k, v) in ext {
        cmd.arg("--ext-str").arg(format!("{k}={v}"));
    }
    let done = crate::process::run(cmd, MAX_OUTPUT, MAX_WALL)
        .with_context(|| format!("{shown}: jsonnet evaluation"))?;
    if !done.status.success() {
        // Killed (SIGXCPU, SIGKILL) or aborted (an allocation refused at
        // the address-space limit): its limits, not its message, say why.
        let why = match done.stderr.trim() {
            m if m.is_empty() || done.status.code().is_none() => format!(
                "the evaluator stopped ({}): past its limits of {MAX_CPU_SECONDS} s of CPU or {} of memory",
                done.status,
                crate::text::bytes(MAX_ADDRESS_SPACE)
            ),
            m => crate::text::safe(m.trim_start_matches("error: ")),
        };
        bail!("{shown}: {why}");
    }
    let text = done.stdout;
    if text.len() as u64 > MAX_OUTPUT {
        bail!(
            "{shown}: renders to more than {}",
            crate::text::bytes(MAX_OUTPUT)
        );
    }
    String::from_utf8(text).with_context(|| format!("{shown}: rendered output is not UTF-8"))
}

/// The child's side: caps itself, then evaluates.
pub fn child(root: &Path, file: &str, ext: &[(String, String)]) -> Result<String> {
    rlimit::setrlimit(rlimit::Resource::CPU, MAX_CPU_SECONDS, MAX_CPU_SECONDS)
        .context("cannot limit CPU time")?;
    rlimit::setrlimit(rlimit::Resource::AS, MAX_ADDRESS_SPACE, MAX_ADDRESS_SPACE)
        .context("cannot limit memory")?;
    let repo = crate::source::repo::InfraRepo::folder(root)?;
    super::jsonnet::evaluate(&repo, &repo.root().join(file), ext)
}
