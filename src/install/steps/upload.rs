//! Cloud targets restore homes inside the cluster, next to the data: the
//! bundle goes to the community's bucket in its directory form (one object
//! per member, control members included), where each hub's restore Job
//! reads it through a read-only bucket mount and checks it as
//! `r2r restore-homes` always does. Each object records the sha256 it was
//! uploaded with; a member is sent again unless its object records the
//! signed one (a stale or planted object of the right size is replaced,
//! never kept for a restore Job to fail on).

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use opendal::options::WriteOptions;

use super::{Done, Planned};
use crate::bundle::layout::{MANIFEST, SIGNATURE, SUMS};
use crate::bundle::manifest::MemberRecord;
use crate::data::location::{self, Location};
use crate::data::objects;
use crate::install::Install;
use crate::install::blueprint::StepKind;
use crate::progress::Progress;

/// The object metadata key holding the sha256 a member was uploaded with.
const SHA256_KEY: &str = "r2r-sha256";

fn url<'a>(i: &'a Install) -> Option<&'a str> {
    i.answers.str("bundle_url")
}

/// Whether anything restores from the uploaded bundle: homes, or a hub
/// database (the restore Jobs read both from it).
fn wanted(i: &Install) -> bool {
    i.hubs.iter().any(|h| !h.users.is_empty() || h.facts.hub_db)
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(StepKind::UploadBundle, "");
    match url(i) {
        Some(u) if wanted(i) => {
            p.title = format!("upload the bundle to {u} for the in-cluster home restore");
            p.bytes = i.trusted.manifest.members.iter().map(|m| m.size).sum();
            p.creates.push(u.to_owned());
            if !i.opts.apply {
                p.commands.push(super::images::resume_command(i));
            }
        }
        _ => p.title = "no homes to restore: nothing to upload".into(),
    }
    Ok(p)
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let Some(u) = url(i).map(str::to_owned) else {
        return Ok(Done::new("nothing to upload".into(), 0));
    };
    if !wanted(i) {
        return Ok(Done::new("nothing to upload".into(), 0));
    }
    if !i.opts.apply {
        let mut d = Done::new(format!("left for --apply: upload to {u}"), 0);
        d.pending.push(super::images::resume_command(i));
        return Ok(d);
    }
    let Location::Object(obj) = location::parse(&u)? else {
        bail!("bundle_url {u} is not object storage (s3://, gs://, azblob://)");
    };
    let op = objects::operator(&obj)?;
    let total: u64 = i.trusted.manifest.members.iter().map(|m| m.size).sum();
    let progress = Progress::start(&*i.opts.reporter, "upload", Some(total));
    let mut sent = 0u64;
    let mut kept = 0usize;
    for m in &i.trusted.manifest.members {
        let key = m.path.as_str();
        if already_there(&op, m) {
            progress.add(m.size);
            kept += 1;
            continue;
        }
        let mut r = i.trusted.open(key)?;
        let mut w = op
            .writer_options(
                key,
                WriteOptions {
                    chunk: Some(8 << 20),
                    concurrent: 2,
                    user_metadata: Some(HashMap::from([(SHA256_KEY.to_owned(), m.sha256.clone())])),
                    ..Default::default()
                },
            )
            .with_context(|| format!("cannot start uploading member {key} to {u}"))?;
        let mut copy = || -> Result<u64> {
            let mut buf = vec![0u8; 4 << 20];
            let mut all = 0;
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| anyhow!("member {key} cannot be read: {e}"))?;
                if n == 0 {
                    break;
                }
                w.write(buf[..n].to_vec())
                    .with_context(|| format!("cannot upload member {key} to {u}"))?;
                progress.add(n as u64);
                all += n as u64;
            }
            Ok(all)
        };
        // Close only once the bytes proved to be the signed ones; else the
        // upload is dropped unfinished.
        match copy().and_then(|n| r.finish().map(|()| n)) {
            Ok(n) => sent += n,
            Err(e) => {
                drop(w); // an unclosed writer never completes the upload
                return Err(e);
            }
        }
        w.close()
            .with_context(|| format!("cannot finish uploading member {key} to {u}"))?;
    }
    // The control members last: a bundle without its signature is never
    // mistaken for a complete one.
    for name in [MANIFEST, SUMS, SIGNATURE] {
        let entry = i
            .trusted
            .bundle
            .get(name)
            .ok_or_else(|| anyhow!("the bundle lacks {name}"))?;
        let bytes = i
            .trusted
            .bundle
            .read_small(entry, 64 << 20)
            .map_err(|e| anyhow!("{name}: {e}"))?;
        op.write(name, bytes)
            .with_context(|| format!("cannot upload {name} to {u}"))?;
    }
    progress.finish();
    Ok(Done::new(
        format!(
            "bundle uploaded to {u}: {} members, {kept} already there",
            i.trusted.manifest.members.len()
        ),
        sent,
    ))
}

/// Whether the object at the member's key is the member: its size, and the
/// sha256 recorded when r2r uploaded it, are the signed ones. An object
/// without the record (another tool's, or a planted one) is not trusted.
fn already_there(op: &opendal::blocking::Operator, m: &MemberRecord) -> bool {
    op.stat(&m.path).is_ok_and(|s| {
        s.content_length() == m.size
            && s.user_metadata()
                .and_then(|u| u.get(SHA256_KEY))
                .is_some_and(|d| d == m.sha256)
    })
}
