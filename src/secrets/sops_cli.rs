//! Opening a sealed file the way the provider's operators do: `sops
//! --decrypt FILE`, with whatever KMS access their environment grants.
//! Plaintext only ever travels through a pipe into memory; sops' own error
//! text is shown, which names keys and files but not values.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::sops::MAX_SECRET_BYTES;
use crate::values::tree::{self, Values};

/// The program to run; `R2R_SOPS` overrides it (tests point it at a
/// recording stand-in).
fn program() -> String {
    std::env::var("R2R_SOPS").unwrap_or_else(|_| "sops".into())
}

pub(crate) fn open(path: &Path, shown: &str) -> Result<Values> {
    let prog = program();
    let mut child = Command::new(&prog)
        .arg("--decrypt")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("cannot run `{prog}` to open {shown}\nhint: install sops (https://github.com/getsops/sops) or drop --decrypt-with sops")
        })?;
    // stderr drains on its own thread, so neither pipe can fill and stall
    // sops while the other is read.
    let stderr = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut err = Vec::new();
            let _ = e.take(64 << 10).read_to_end(&mut err);
            err
        })
    });
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_SECRET_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("reading `{prog} --decrypt {shown}`"))?;
    }
    if out.len() as u64 > MAX_SECRET_BYTES {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if out.len() as u64 > MAX_SECRET_BYTES {
        bail!("`{prog} --decrypt {shown}` printed more than {MAX_SECRET_BYTES} bytes");
    }
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        bail!(
            "`{prog} --decrypt {shown}` failed ({status}): {}",
            crate::text::safe(err.trim())
        );
    }
    let text = String::from_utf8(out)
        .map_err(|_| anyhow::anyhow!("`{prog} --decrypt {shown}` printed non-UTF-8 output"))?;
    // The parser's message could quote the plaintext; only its position is kept.
    tree::parse_yaml(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}", l.line()))
            .unwrap_or_default();
        anyhow::anyhow!("`{prog} --decrypt {shown}` printed something that is not YAML or JSON{at}")
    })
}
