//! The outside tools the installer drives (terraform, helm, kubectl): found
//! on PATH, always run with an argument vector, never through a shell, so
//! no hub name or answer is ever parsed as shell syntax. Commands not run
//! are written out, quoted for a POSIX shell, for a person to run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::progress::Reporter;

/// `name` on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| {
                    m.is_file()
                        && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
                .unwrap_or(false)
        })
}

/// Runs `argv` in `cwd`, its output going to our stderr (stdout is ours
/// for results). Fails naming the command when it fails.
pub(crate) fn run(argv: &[String], cwd: &Path, reporter: &dyn Reporter) -> Result<()> {
    let Some((tool, args)) = argv.split_first() else {
        bail!("internal: an empty command");
    };
    reporter.step(&format!("running: {}", shell_line(argv)));
    let stdout = std::os::fd::AsFd::as_fd(&std::io::stderr())
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::inherit());
    let status = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
        .with_context(|| format!("cannot run {tool}"))?;
    if !status.success() {
        bail!("`{}` failed ({status})", shell_line(argv));
    }
    Ok(())
}

/// Runs `argv` and returns its stdout.
pub(crate) fn output(argv: &[String], cwd: &Path) -> Result<Vec<u8>> {
    let Some((tool, args)) = argv.split_first() else {
        bail!("internal: an empty command");
    };
    let out = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {tool}"))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", shell_line(argv), out.status);
    }
    Ok(out.stdout)
}

/// A command as a person would type it in a POSIX shell.
pub(crate) fn shell_line(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// Bare when every byte is one a shell leaves alone, else single-quoted.
fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\0', "").replace('\'', "'\"'\"'"))
    }
}

pub(crate) fn strings(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_arguments_whole() {
        let argv = strings(&["helm", "-f", "a b", "x;rm -rf /", "it's"]);
        assert_eq!(shell_line(&argv), "helm -f 'a b' 'x;rm -rf /' 'it'\"'\"'s'");
    }
}
