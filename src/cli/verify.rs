//! `r2r verify`: the whole chain, signature → SHA256SUMS → every member.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::output::OutputFlags;
use super::print;
use crate::bundle::sign;
use crate::bundle::verify::{self, Depth, Problem};

/// Verify a bundle: its signature, every member's hash and size, that no
/// member is missing or extra, and that no path is unsafe.
///
/// Exit codes: 0 verified; 1 could not run (e.g. unreadable key);
/// 2 usage error; 3 bad signature or wrong public key; 4 a member is corrupt
/// or missing; 5 an unexpected member; 6 unsafe or malformed bundle (unsafe
/// path, link or device, duplicate name, broken tar, malformed SHA256SUMS or
/// bundle.json). When several apply, the first in the order 6, 3, 4, 5 wins.
///
/// With --restored DIR, instead compares homes restored into DIR (by
/// `r2r restore-homes`) with the bundle's signed indexes: every path, type,
/// size, sha256, mode, owner, mtime and link target. It lists every
/// difference and exits 4 when there is one.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r verify 2i2c-uk.r2r.tar --pubkey r2r.pub\n  \
    r2r verify bundle-dir --pubkey RWQ…   # the base64 key itself\n  \
    r2r verify b.r2r.tar --pubkey r2r.pub --json | jq .problems\n  \
    r2r verify b.r2r.tar --pubkey r2r.pub --restored /srv/homes --hub prod")]
pub(super) struct Args {
    /// The bundle: a .tar file or a directory.
    bundle: PathBuf,
    /// The signer's public key: an r2r.pub / minisign .pub file, or the base64 key.
    #[arg(long, value_name = "PUB")]
    pubkey: String,
    #[command(flatten)]
    mode: OutputFlags,
    /// Compare homes restored into DIR with the bundle's signed indexes.
    #[arg(long, value_name = "DIR")]
    restored: Option<PathBuf>,
    /// With --restored: only this hub; repeatable.
    #[arg(long = "hub", value_name = "HUB", requires = "restored")]
    hubs: Vec<String>,
    /// With --restored: only homes matching this glob; repeatable.
    #[arg(long = "user", value_name = "GLOB", requires = "restored")]
    users: Vec<String>,
    /// With --restored: do not compare owners (the restore did not run as root).
    #[arg(long, requires = "restored")]
    no_owner: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    bundle: &'a PathBuf,
    ok: bool,
    exit_code: u8,
    key_id: Option<&'a str>,
    trusted_comment: Option<&'a str>,
    members: usize,
    bytes: u64,
    problems: &'a [Problem],
}

pub(super) fn run(args: Args) -> Result<u8> {
    let pk = sign::load_public_key(&args.pubkey)?;
    if let Some(dir) = &args.restored {
        return restored(&args, &pk, dir);
    }
    let outcome = verify::check(&args.bundle, Some(&pk), Depth::Full);
    let code = outcome.exit_code();
    let out = Output {
        bundle: &args.bundle,
        ok: outcome.ok(),
        exit_code: code,
        key_id: outcome.signed.as_ref().map(|s| s.key_id.as_str()),
        trusted_comment: outcome.signed.as_ref().map(|s| s.trusted_comment.as_str()),
        members: outcome.members,
        bytes: outcome.bytes,
        problems: &outcome.problems,
    };
    if args.mode.json {
        print::json(&out)?;
        return Ok(code);
    }
    if outcome.ok() {
        print::out(&format!("verified {}", args.bundle.display()));
        if let Some(s) = &outcome.signed {
            print::out(&format!(
                "  signed by key {}: {}",
                print::safe(&s.key_id),
                print::safe(&s.trusted_comment)
            ));
        }
        print::out(&format!(
            "  {} members, {}, every hash and size checked",
            outcome.members,
            print::bytes(outcome.bytes)
        ));
    } else {
        print::out(&format!("FAILED {} (exit {code})", args.bundle.display()));
        for p in &outcome.problems {
            let class = p.class.name();
            match &p.member {
                Some(m) => print::out(&format!(
                    "  {class}: {}: {}",
                    print::safe(m),
                    print::safe(&p.reason)
                )),
                None => print::out(&format!("  {class}: {}", print::safe(&p.reason))),
            }
        }
    }
    Ok(code)
}

fn restored(args: &Args, pk: &minisign::PublicKey, dir: &std::path::Path) -> Result<u8> {
    use crate::data::{compare, restore, select::Selection};
    let trusted = verify::open_trusted(&args.bundle, pk)?;
    let hubs = if args.hubs.is_empty() {
        restore::hubs_in(&trusted)
    } else {
        args.hubs.clone()
    };
    let select = Selection::new(&args.users, &[])?;
    let result = compare::compare(&trusted, dir, &hubs, &select, !args.no_owner)?;
    let code = if result.differences.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::CORRUPT
    };
    if args.mode.json {
        print::json(&result)?;
        return Ok(code);
    }
    for d in &result.differences {
        print::out(&format!(
            "  {}: {}/{}/{}: {}",
            d.what,
            print::safe(&d.hub),
            print::safe(&d.home),
            print::safe(&d.path),
            print::safe(&d.detail)
        ));
    }
    let verdict = if code == crate::exit::OK {
        "matches"
    } else {
        "DIFFERS from"
    };
    print::out(&format!(
        "{} {verdict} the signed indexes: {} homes, {} entries, {} hashed, {} differences",
        dir.display(),
        result.homes,
        result.entries,
        print::bytes(result.bytes_hashed),
        result.differences.len()
    ));
    Ok(code)
}
