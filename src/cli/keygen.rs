//! `r2r keygen`: a minisign key pair for signing bundles.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::output::OutputFlags;
use super::password::EnvOrPrompt;
use super::print;
use crate::bundle::sign::{self, PasswordSource};
use crate::exit;

/// Create a signing key pair: DIR/r2r.key (secret) and DIR/r2r.pub (public).
///
/// Both files are in minisign's own formats: stock `minisign -S -s r2r.key`
/// signs with the secret key and `minisign -V -p r2r.pub` verifies. The
/// password comes from R2R_KEY_PASSWORD or a prompt. Existing keys are never
/// replaced.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r keygen --out ~/.r2r\n  \
    R2R_KEY_PASSWORD=… r2r keygen --out keys\n  \
    r2r keygen --out ci-keys --no-password   # for automation; keep the key file private")]
pub(super) struct Args {
    /// Directory to write r2r.key and r2r.pub into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Leave the secret key unencrypted.
    #[arg(long)]
    no_password: bool,
    #[command(flatten)]
    mode: OutputFlags,
}

#[derive(Serialize)]
struct Output {
    key_id: String,
    secret_key: PathBuf,
    public_key: PathBuf,
    encrypted: bool,
}

pub(super) fn run(args: Args) -> Result<u8> {
    let password = if args.no_password {
        None
    } else {
        Some(EnvOrPrompt { confirm: true }.password("password for the new secret key")?)
    };
    let encrypted = password.is_some();
    let (sk, pk, key_id) = sign::generate(&args.out, password)?;
    if args.mode.json {
        print::json(&Output {
            key_id,
            secret_key: sk,
            public_key: pk,
            encrypted,
        })?;
    } else {
        print::out(&format!("key {key_id}"));
        print::out(&format!(
            "  secret key: {} (keep it private{})",
            sk.display(),
            if encrypted { "" } else { "; not encrypted" }
        ));
        print::out(&format!(
            "  public key: {} (give it to whoever verifies your bundles)",
            pk.display()
        ));
    }
    Ok(exit::OK)
}
