//! Restoring homes from a bundle, checking everything against the signed
//! index as it goes.
//!
//! Every member is read from the store once: the index and each chunk are
//! copied into a private temporary file and checked in full against their
//! signed digests before anything acts on them (`Trusted::spool`), so a
//! store that serves other bytes on a later read has no later read to
//! serve, and nothing of a chunk lands before all of it checked.
//!
//! The signer is not trusted to be honest, only to be the signer. So every
//! chunk entry must be the next line of the signed index, with the same
//! name, type, size and link target; every file's content must hash to the
//! index's sha256 before it gets its final name; a chunk may not
//! decompress to more than its index entries account for; and the target
//! refuses any path that leaves the destination or passes through a
//! symlink. Each refusal names the hub, the home and the path.

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Seek};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tar::EntryType;

use super::index::{Entry, Header, IndexReader, RawPath, Type};
use super::names::{self, Folder};
use super::pack::{HomeRecord, HubRecord, hub_dir_entry};
use super::select::Selection;
use super::tarball;
use super::target::{Existing, Target};
use crate::bundle::digest::hex;
use crate::bundle::layout::{self, Kind};
use crate::bundle::verify::Trusted;
use crate::progress::Progress;

/// Largest `_hub.json` read.
const MAX_HUB_RECORD: u64 = 64 << 20;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Restored {
    pub hubs: usize,
    pub homes: usize,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub bytes: u64,
    /// Files already present with the right content (an earlier run).
    pub already_there: u64,
    pub owners_restored: bool,
}

/// The hubs that have homes in the bundle.
pub fn hubs_in(trusted: &Trusted) -> Vec<String> {
    trusted
        .members_under(&Kind::Home.prefix())
        .filter_map(|p| layout::group_of(Kind::Home, p, layout::HUB_RECORD))
        .map(str::to_owned)
        .collect()
}

pub fn hub_record(trusted: &Trusted, hub: &str) -> Result<HubRecord> {
    let member = layout::hub_record(hub)?;
    let bytes = trusted.read_small(member.as_str(), MAX_HUB_RECORD)?;
    let rec: HubRecord =
        serde_json::from_slice(&bytes).with_context(|| format!("member {member} is malformed"))?;
    if rec.hub != hub {
        bail!("member {member} describes hub {:?}", rec.hub);
    }
    Ok(rec)
}

/// Total file bytes of the selected homes, for progress.
pub fn total_bytes(trusted: &Trusted, hubs: &[String], select: &Selection) -> Result<u64> {
    let mut total = 0;
    for hub in hubs {
        total += hub_record(trusted, hub)?
            .homes
            .iter()
            .filter(|h| select.wants_home(&h.home.0))
            .map(|h| h.bytes)
            .sum::<u64>();
    }
    Ok(total)
}

impl Restored {
    pub fn merge(&mut self, o: &Restored) {
        self.homes += o.homes;
        self.files += o.files;
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.hardlinks += o.hardlinks;
        self.bytes += o.bytes;
        self.already_there += o.already_there;
    }
}

/// Restores the selected homes of `hubs`, one home per target at a time:
/// homes are independent, so `targets.len()` of them are restored in
/// parallel (each target is one connection to the destination).
pub fn restore(
    trusted: &Trusted,
    hubs: &[String],
    select: &Selection,
    targets: &mut [Box<dyn Target>],
    progress: &Progress,
) -> Result<Restored> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let first = targets
        .first()
        .ok_or_else(|| anyhow!("internal: no target"))?;
    let mut out = Restored {
        owners_restored: first.restores_owners(),
        ..Restored::default()
    };
    for hub in hubs {
        let rec = hub_record(trusted, hub)?;
        let dir = hub_dir_entry(&rec).map_err(|e| {
            let record = layout::shown(Kind::Home, hub, layout::HUB_RECORD);
            anyhow!("{record}: the hub directory entry {e}")
        })?;
        let homes: Vec<&HomeRecord> = rec
            .homes
            .iter()
            .filter(|h| select.wants_home(&h.home.0))
            .collect();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Vec<Result<Restored>> = std::thread::scope(|s| {
            let workers: Vec<_> = targets
                .iter_mut()
                .map(|target| {
                    let (next, stop, homes) = (&next, &stop, &homes);
                    s.spawn(move || -> Result<Restored> {
                        let mut mine = Restored::default();
                        while !stop.load(Ordering::Relaxed) {
                            let Some(home) = homes.get(next.fetch_add(1, Ordering::Relaxed)) else {
                                break;
                            };
                            let done = restore_home(
                                trusted,
                                Folder::Homes,
                                hub,
                                home,
                                target.as_mut(),
                                progress,
                                &mut mine,
                            )
                            .with_context(|| format!("hub {hub}, home {}", home.home.shown()));
                            if let Err(e) = done {
                                stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                            mine.homes += 1;
                        }
                        Ok(mine)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for r in results {
            out.merge(&r?);
        }
        if let Some(t) = targets.first_mut() {
            t.finish_hub(hub, &dir)?;
        }
        out.hubs += 1;
    }
    Ok(out)
}

/// The buckets the bundle carries.
pub fn buckets_in(trusted: &Trusted) -> Vec<String> {
    let index = layout::index_file(layout::BUCKET_STEM);
    trusted
        .members_under(&Kind::Bucket.prefix())
        .filter_map(|p| layout::group_of(Kind::Bucket, p, &index))
        .map(str::to_owned)
        .collect()
}

/// The record `_hub.json` would hold for a bucket, which has none.
fn bucket_record(trusted: &Trusted, name: &str) -> Result<HomeRecord> {
    let index = layout::chunk_index(Kind::Bucket, name, layout::BUCKET_STEM)?;
    if !trusted.has(index.as_str()) {
        bail!("the bundle carries no bucket {name:?}");
    }
    Ok(HomeRecord {
        home: RawPath(layout::BUCKET_STEM.as_bytes().to_vec()),
        stem: layout::BUCKET_STEM.to_owned(),
        index: index.to_string(),
        chunks: 0,
        entries: 0,
        bytes: 0,
    })
}

/// Restores bucket `name`'s objects into the root of `target`.
pub fn restore_bucket(
    trusted: &Trusted,
    name: &str,
    target: &mut dyn Target,
    progress: &Progress,
) -> Result<Restored> {
    let mut out = Restored {
        owners_restored: target.restores_owners(),
        ..Restored::default()
    };
    let rec = bucket_record(trusted, name)?;
    restore_home(
        trusted,
        Folder::Buckets,
        name,
        &rec,
        target,
        progress,
        &mut out,
    )
    .with_context(|| format!("bucket {name}"))?;
    Ok(out)
}

/// What the first pass over an index learns: the header, how many
/// decompressed bytes each chunk may hold at most, and the verified private
/// copy of the index that the restore then follows.
pub struct Plan {
    pub header: Header,
    bounds: Vec<u64>,
    index: std::fs::File,
}

impl Plan {
    /// The verified copy of the index, from its start: the only way to read
    /// the index again.
    pub fn into_index(self) -> std::fs::File {
        self.index
    }
}

/// Copies a home's index once, checked in full against its signed digest,
/// and reads the copy through against `_hub.json` before anything acts on
/// it. The restore reads only that copy, never the store again.
pub fn plan(trusted: &Trusted, folder: Folder, hub: &str, home: &HomeRecord) -> Result<Plan> {
    let stem = match folder {
        Folder::Homes => names::stem(&home.home.0),
        Folder::Buckets => layout::BUCKET_STEM.to_owned(),
    };
    let index = layout::chunk_index(folder.kind(), hub, &stem)?;
    if home.stem != stem || home.index != index.as_str() {
        bail!(
            "{} names {} for this home; expected {index}",
            layout::HUB_RECORD,
            home.index
        );
    }
    let mut copy = trusted.spool(index.as_str())?;
    let (header, bounds) = {
        let (header, mut lines) = IndexReader::open(BufReader::new(&mut copy))
            .map_err(|e| anyhow!("member {index}: {e}"))?;
        let expected: Vec<String> = (0..header.chunks.len() as u32)
            .map(|n| layout::chunk(folder.kind(), hub, &stem, n).map(|p| p.to_string()))
            .collect::<Result<_, _>>()?;
        if header.chunks != expected || header.home != home.home || header.hub != hub {
            bail!("member {index}: its header names another hub, home or chunk list");
        }
        let mut bounds = vec![2048u64 + (1 << 20); header.chunks.len()];
        let mut entries = 0u64;
        while let Some(e) = lines
            .next_entry()
            .map_err(|e| anyhow!("member {index}: {e}"))?
        {
            let slot = bounds
                .get_mut(e.chunk as usize)
                .ok_or_else(|| anyhow!("member {index}: an entry names chunk {}", e.chunk))?;
            let names_len = e.path.0.len() + e.target.as_ref().map_or(0, |t| t.0.len());
            // Data, its padding, a sparse map (at most 1/16 of the data),
            // the header and PAX records for long names.
            *slot = slot.saturating_add(e.size + e.size / 16 + 4096 + 2 * names_len as u64);
            entries += 1;
        }
        if entries != header.entries {
            bail!(
                "member {index}: header says {} entries, the index has {entries}",
                header.entries
            );
        }
        (header, bounds)
    };
    copy.rewind()
        .with_context(|| format!("cannot reread the copy of member {index}"))?;
    Ok(Plan {
        header,
        bounds,
        index: copy,
    })
}

fn restore_home(
    trusted: &Trusted,
    folder: Folder,
    hub: &str,
    home: &HomeRecord,
    target: &mut dyn Target,
    progress: &Progress,
    out: &mut Restored,
) -> Result<()> {
    let plan = plan(trusted, folder, hub, home)?;
    let index_name = layout::chunk_index(folder.kind(), hub, &home.stem)?;
    // `plan` verified this copy in full; follow it in lockstep.
    let (_, mut lines) = IndexReader::open(BufReader::new(plan.index))
        .map_err(|e| anyhow!("member {index_name}: {e}"))?;
    match folder {
        Folder::Homes => target.begin_home(hub, &home.home)?,
        // A bucket's objects go to the destination's root.
        Folder::Buckets => target.begin_home("", &RawPath(Vec::new()))?,
    }
    let mut pending: Option<Entry> = None;
    let mut linked: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut dirs: Vec<Entry> = Vec::new();
    for (n, chunk) in plan.header.chunks.iter().enumerate() {
        // Nothing of a chunk lands before all of it matched its digest.
        let raw = trusted.spool(chunk)?;
        let limited = Limit {
            inner: flate2::read::MultiGzDecoder::new(BufReader::with_capacity(256 << 10, raw)),
            left: plan.bounds[n],
            member: chunk,
        };
        let mut archive = tar::Archive::new(tarball::HeaderGuard::new(limited));
        let entries = archive
            .entries()
            .with_context(|| format!("member {chunk} is not a tar archive"))?;
        for item in entries {
            let mut item = item.with_context(|| format!("member {chunk} is malformed"))?;
            let expected = match pending.take() {
                Some(e) => Some(e),
                None => lines
                    .next_entry()
                    .map_err(|e| anyhow!("member {index_name}: {e}"))?,
            };
            let name = item.path_bytes().into_owned();
            let shown = RawPath(name.clone()).shown();
            let Some(expected) = expected.filter(|e| e.chunk as usize == n) else {
                bail!("member {chunk}: entry {shown} is not listed in the signed index");
            };
            check_entry(&mut item, &expected, &name)
                .with_context(|| format!("member {chunk}: entry {shown}"))?;
            match expected.kind {
                Type::Dir => {
                    target.dir(&expected)?;
                    out.dirs += 1;
                    dirs.push(expected);
                }
                Type::Symlink => {
                    target.symlink(&expected)?;
                    out.symlinks += 1;
                }
                Type::Hardlink => {
                    let t = expected
                        .target
                        .as_ref()
                        .map(|t| t.0.clone())
                        .unwrap_or_default();
                    if linked.get(&t) != Some(&expected.link_group) {
                        bail!(
                            "member {chunk}: hard link {shown} names {}, which is not a file of this home restored earlier",
                            RawPath(t).shown()
                        );
                    }
                    target.hardlink(&expected)?;
                    out.hardlinks += 1;
                }
                Type::File => {
                    write_file(&mut item, &expected, target, progress)
                        .with_context(|| format!("member {chunk}: file {shown}"))?
                        .then(|| out.already_there += 1);
                    if expected.link_group != 0 {
                        linked.insert(expected.path.0.clone(), expected.link_group);
                    }
                    out.files += 1;
                    out.bytes += expected.size;
                }
            }
        }
        drop(archive);
        // The tar ended; what follows in the index must be in later chunks.
        pending = lines
            .next_entry()
            .map_err(|e| anyhow!("member {index_name}: {e}"))?;
        if let Some(p) = pending.as_ref().filter(|p| p.chunk as usize <= n) {
            bail!(
                "member {chunk} ends before {}, which the signed index lists in it",
                p.path.shown()
            );
        }
    }
    if let Some(p) = pending {
        bail!("the signed index lists {} in no chunk", p.path.shown());
    }
    // Innermost first, so a read-only parent does not stop a child.
    for d in dirs.iter().rev() {
        // A bucket's root is the destination itself, which keeps its own.
        if folder == Folder::Buckets && d.path.0 == b"." {
            continue;
        }
        target.finish_dir(d)?;
    }
    progress.note(&format!("{hub}/{}: restored", home.home.shown()));
    Ok(())
}

/// The chunk entry must be exactly the index line: name, type, size, link.
fn check_entry<R: Read>(item: &mut tar::Entry<R>, e: &Entry, name: &[u8]) -> Result<()> {
    let want = tarball::tar_name(e);
    if name != want.as_slice() {
        bail!(
            "is not listed in the signed index (the index's next entry is {})",
            e.path.shown()
        );
    }
    let t = item.header().entry_type();
    let kind = match t {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Type::File,
        EntryType::Directory => Type::Dir,
        EntryType::Symlink => Type::Symlink,
        EntryType::Link => Type::Hardlink,
        EntryType::Char | EntryType::Block => bail!("is a device node; refused"),
        EntryType::Fifo => bail!("is a FIFO; refused"),
        other => bail!("has entry type {:?}; refused", other.as_byte() as char),
    };
    if kind != e.kind {
        bail!(
            "is a {kind:?} in the archive but a {:?} in the signed index",
            e.kind
        );
    }
    if item.size() != e.size {
        bail!(
            "holds {} bytes but the signed index says {}",
            item.size(),
            e.size
        );
    }
    let link = item.link_name_bytes().map(std::borrow::Cow::into_owned);
    if matches!(kind, Type::Symlink | Type::Hardlink)
        && link.as_deref() != e.target.as_ref().map(|t| t.0.as_slice())
    {
        bail!("links to something other than what the signed index says");
    }
    Ok(())
}

/// Streams one file to the target, hashing it; only a matching file gets
/// its final name. Returns true when it was already there.
fn write_file<R: Read>(
    item: &mut tar::Entry<R>,
    e: &Entry,
    target: &mut dyn Target,
    progress: &Progress,
) -> Result<bool> {
    if let Existing::Same = target.existing(e)? {
        progress.add(e.size);
        return Ok(true);
    }
    let mut sink = target.file(e)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    let result = (|| -> io::Result<()> {
        loop {
            let k = item.read(&mut buf)?;
            if k == 0 {
                return Ok(());
            }
            hasher.update(&buf[..k]);
            sink.write_all(&buf[..k])?;
            n += k as u64;
            progress.add(k as u64);
        }
    })();
    let actual = hex(&hasher.finalize());
    match result {
        Err(err) => {
            sink.abort();
            Err(err).context("cannot be restored")
        }
        Ok(()) if n != e.size || Some(&actual) != e.sha256.as_ref() => {
            sink.abort();
            bail!(
                "content does not match the signed index (sha256 {actual}, {n} bytes); not restored"
            )
        }
        Ok(()) => sink.commit().map(|()| false),
    }
}

/// Fails a chunk that decompresses to more than its entries account for.
struct Limit<'a, R> {
    inner: R,
    left: u64,
    member: &'a str,
}

impl<R: Read> Read for Limit<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other(format!(
                "member {} decompresses to more than its signed index accounts for; refusing it (a decompression bomb?)",
                self.member
            ))
        })?;
        Ok(n)
    }
}
