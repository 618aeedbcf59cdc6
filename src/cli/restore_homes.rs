//! `r2r restore-homes`: bundle → home directories.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::Serialize;

use super::output::OutputFlags;
use super::print;
use crate::bundle::sign;
use crate::bundle::verify::open_trusted;
use crate::data::location::{self, Location};
use crate::data::restore::{self, Restored};
use crate::data::select::Selection;
use crate::data::target::Target;
use crate::exit;
use crate::progress::Progress;

/// Restore home directories from a bundle into a directory or object
/// storage.
///
/// The bundle's signature and manifest are checked first. Then every chunk
/// entry is checked against the signed index of its home as it is written:
/// its name, type, size and link target, and every file's sha256 before
/// the file gets its final name. Nothing is written outside the
/// destination, nothing existing is overwritten, and a file already there
/// with the right content is kept, so an interrupted restore can simply be
/// run again. Owners are restored when running as root.
///
/// The destination gets HUB/HOME/ for each home, as the export found it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r restore-homes community.r2r.tar --pubkey r2r.pub --to /srv/homes\n  \
    r2r restore-homes b.tar --pubkey r2r.pub --to /mnt/nfs --hub prod --user 'jovyan-*'\n  \
    r2r restore-homes b.tar --pubkey r2r.pub --bucket scratch --to s3://new-scratch\n  \
    AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \\\n      \
    r2r restore-homes b.tar --pubkey r2r.pub --to s3://community-homes/prod")]
pub(super) struct Args {
    /// The bundle: a .tar file or a directory.
    bundle: PathBuf,
    /// The signer's public key: an r2r.pub / minisign .pub file, or the base64 key.
    #[arg(long, value_name = "PUB")]
    pubkey: String,
    /// Where to restore: a directory, file://, s3://BUCKET/PREFIX, gs://… or azblob://…
    #[arg(long, value_name = "URL")]
    to: String,
    /// Restore only this hub's homes; repeatable. Default: every hub.
    #[arg(long = "hub", value_name = "HUB")]
    hubs: Vec<String>,
    /// Restore only homes whose directory name matches this glob; repeatable.
    #[arg(long = "user", value_name = "GLOB")]
    users: Vec<String>,
    /// Restore this bucket's objects (from `export --bucket NAME=…`) into
    /// the root of --to, instead of homes; repeatable.
    #[arg(long = "bucket", value_name = "NAME", conflicts_with_all = ["hubs", "users"])]
    buckets: Vec<String>,
    /// Homes restored at once. Default: one per core.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    mode: OutputFlags,
}

#[derive(Serialize)]
struct Output<'a> {
    bundle: &'a PathBuf,
    to: &'a str,
    key_id: &'a str,
    #[serde(flatten)]
    restored: &'a Restored,
}

pub(super) fn run(args: Args) -> Result<u8> {
    let pk = sign::load_public_key(&args.pubkey)?;
    let trusted = open_trusted(&args.bundle, &pk)?;
    if !args.buckets.is_empty() {
        return buckets(&args, &trusted);
    }
    let available = restore::hubs_in(&trusted);
    if available.is_empty() {
        bail!("{} carries no homes", args.bundle.display());
    }
    let hubs = if args.hubs.is_empty() {
        available.clone()
    } else {
        for h in &args.hubs {
            if !available.contains(h) {
                bail!(
                    "the bundle has no homes for hub {h:?}; it has: {}",
                    available.join(", ")
                );
            }
        }
        args.hubs.clone()
    };
    let select = Selection::new(&args.users, &[])?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
        .max(1);
    let mut targets = (0..jobs)
        .map(|_| open_target(&args.to))
        .collect::<Result<Vec<_>>>()?;
    let total = restore::total_bytes(&trusted, &hubs, &select)?;
    let progress = Progress::start(&*args.mode.printer(), "restoring homes", Some(total));
    let restored = restore::restore(&trusted, &hubs, &select, &mut targets, &progress);
    progress.finish();
    let restored = restored?;
    if !restored.owners_restored && args.to.find("://").is_none() {
        print::warn(
            "not running as root: owners (uid/gid) were not restored; `r2r verify --restored` reports them",
        );
    }
    let out = Output {
        bundle: &args.bundle,
        to: &args.to,
        key_id: &trusted.key_id,
        restored: &restored,
    };
    if args.mode.json {
        print::json(&out)?;
    } else {
        print::out(&format!(
            "restored {} homes of {} hubs into {}: {} files ({}), {} directories, {} symlinks, {} hard links{}",
            restored.homes,
            restored.hubs,
            targets[0].shown(),
            restored.files,
            print::bytes(restored.bytes),
            restored.dirs,
            restored.symlinks,
            restored.hardlinks,
            if restored.already_there > 0 {
                format!("; {} files were already there", restored.already_there)
            } else {
                String::new()
            }
        ));
    }
    Ok(exit::OK)
}

pub(super) fn open_target(url: &str) -> Result<Box<dyn Target>> {
    match location::parse(url)? {
        Location::Local(p) => Ok(Box::new(crate::data::local_target::LocalTarget::open(&p)?)),
        Location::Object(o) => crate::data::object_target::ObjectTarget::open(&o),
    }
}

fn buckets(args: &Args, trusted: &crate::bundle::verify::Trusted) -> Result<u8> {
    let available = restore::buckets_in(trusted);
    let mut target = open_target(&args.to)?;
    let mut all = Vec::new();
    for name in &args.buckets {
        if !available.contains(name) {
            bail!(
                "the bundle carries no bucket {name:?}; it has: {}",
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                }
            );
        }
        let progress = Progress::start(
            &*args.mode.printer(),
            &format!("restoring bucket {name}"),
            None,
        );
        let r = restore::restore_bucket(trusted, name, target.as_mut(), &progress);
        progress.finish();
        let r = r?;
        if !args.mode.json {
            print::out(&format!(
                "restored bucket {name} into {}: {} objects ({})",
                target.shown(),
                r.files,
                print::bytes(r.bytes)
            ));
        }
        all.push(serde_json::json!({"bucket": name, "objects": r.files, "bytes": r.bytes, "already_there": r.already_there}));
    }
    if args.mode.json {
        print::json(&all)?;
    }
    Ok(exit::OK)
}
