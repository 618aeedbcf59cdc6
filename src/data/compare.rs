//! `r2r verify --restored`: a restored tree against the signed indexes.
//!
//! Both sides are in the same order (directory first, children sorted by
//! name bytes), so they are merged in one pass with constant memory, like
//! `comm` over two sorted lists.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::index::{Entry, IndexReader, Type, walk_order};
use super::local_tree::LocalTree;
use super::names::Folder;
use super::restore::{hub_record, plan};
use super::select::Selection;
use super::tree::{Exclude, Node, Tree};
use crate::bundle::digest::hex;
use crate::bundle::layout::{self, Kind};
use crate::bundle::verify::Trusted;

#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub hub: String,
    pub home: String,
    pub path: String,
    /// missing, extra, type, size, content, mode, owner, mtime, target.
    pub what: &'static str,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Comparison {
    pub homes: usize,
    pub entries: u64,
    pub bytes_hashed: u64,
    pub differences: Vec<Difference>,
}

struct Nothing;
impl Exclude for Nothing {
    fn excluded(&self, _: &[u8], _: bool) -> bool {
        false
    }
}

pub fn compare(
    trusted: &Trusted,
    root: &Path,
    hubs: &[String],
    select: &Selection,
    owners: bool,
) -> Result<Comparison> {
    let tree = LocalTree::open(root)?;
    let mut out = Comparison::default();
    for hub in hubs {
        let rec = hub_record(trusted, hub)?;
        for home in rec.homes.iter().filter(|h| select.wants_home(&h.home.0)) {
            // The copy `plan` checked, never a second read of the store.
            let copy = plan(trusted, Folder::Homes, hub, home)?.into_index();
            let index = layout::chunk_index(Kind::Home, hub, &home.stem)?;
            let (_, mut lines) = IndexReader::open(BufReader::new(copy))
                .map_err(|e| anyhow!("member {index}: {e}"))?;
            let shown_home = home.home.shown();
            let mut diff = |path: &[u8], what: &'static str, detail: String| {
                out.differences.push(Difference {
                    hub: hub.clone(),
                    home: shown_home.clone(),
                    path: super::index::RawPath(path.to_vec()).shown(),
                    what,
                    detail,
                });
            };
            let mut next = lines
                .next_entry()
                .map_err(|e| anyhow!("member {index}: {e}"))?;
            let mut hashed = 0u64;
            let mut entries = 0u64;
            let home_dir = root.join(hub).join(OsStr::from_bytes(&home.home.0));
            if home_dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                tree.walk(hub, &home.home, &Nothing, &mut |node: Node| {
                    loop {
                        let Some(want) = next.as_ref() else {
                            diff(
                                &node.entry.path.0,
                                "extra",
                                "not in the signed index".into(),
                            );
                            return Ok(());
                        };
                        match walk_order(&want.path.0, &node.entry.path.0) {
                            Ordering::Greater => {
                                diff(
                                    &node.entry.path.0,
                                    "extra",
                                    "not in the signed index".into(),
                                );
                                return Ok(());
                            }
                            Ordering::Less => {
                                let detail = "in the signed index, not restored".into();
                                diff(&want.path.0, "missing", detail);
                            }
                            Ordering::Equal => {
                                entries += 1;
                                hashed += same(want, &node, &tree, owners, &mut diff)?;
                                next = lines
                                    .next_entry()
                                    .map_err(|e| anyhow!("member {index}: {e}"))?;
                                return Ok(());
                            }
                        }
                        next = lines
                            .next_entry()
                            .map_err(|e| anyhow!("member {index}: {e}"))?;
                    }
                })
                .with_context(|| format!("cannot read the restored home {hub}/{shown_home}"))?;
            }
            while let Some(want) = next {
                diff(
                    &want.path.0,
                    "missing",
                    "in the signed index, not restored".into(),
                );
                next = lines
                    .next_entry()
                    .map_err(|e| anyhow!("member {index}: {e}"))?;
            }
            out.entries += entries;
            out.bytes_hashed += hashed;
            out.homes += 1;
        }
    }
    Ok(out)
}

/// Compares one restored entry with its index line; returns bytes hashed.
fn same(
    want: &Entry,
    node: &Node,
    tree: &LocalTree,
    owners: bool,
    diff: &mut dyn FnMut(&[u8], &'static str, String),
) -> Result<u64> {
    let got = &node.entry;
    let p = &want.path.0;
    if got.kind != want.kind {
        diff(
            p,
            "type",
            format!("is a {:?}, the index says {:?}", got.kind, want.kind),
        );
        return Ok(0);
    }
    if got.target != want.target {
        let shown = |t: &Option<super::index::RawPath>| {
            t.as_ref()
                .map(super::index::RawPath::shown)
                .unwrap_or_default()
        };
        diff(
            p,
            "target",
            format!(
                "links to {:?}, the index says {:?}",
                shown(&got.target),
                shown(&want.target)
            ),
        );
    }
    // Symlink modes are not settable on Linux; hard links share their
    // file's metadata, compared there.
    if matches!(want.kind, Type::File | Type::Dir) && got.mode != want.mode {
        diff(
            p,
            "mode",
            format!("{:04o}, the index says {:04o}", got.mode, want.mode),
        );
    }
    if owners && want.kind != Type::Hardlink && (got.uid, got.gid) != (want.uid, want.gid) {
        diff(
            p,
            "owner",
            format!(
                "{}:{}, the index says {}:{}",
                got.uid, got.gid, want.uid, want.gid
            ),
        );
    }
    if want.kind != Type::Hardlink && (got.mtime, got.mtime_nsec) != (want.mtime, want.mtime_nsec) {
        diff(
            p,
            "mtime",
            format!(
                "{}.{:09}, the index says {}.{:09}",
                got.mtime, got.mtime_nsec, want.mtime, want.mtime_nsec
            ),
        );
    }
    if want.kind != Type::File {
        return Ok(0);
    }
    if got.size != want.size {
        diff(
            p,
            "size",
            format!("{} bytes, the index says {}", got.size, want.size),
        );
        return Ok(0);
    }
    let mut h = Sha256::new();
    let mut r = tree
        .open(node, 0)
        .with_context(|| format!("cannot read {}", want.path.shown()))?;
    let n = std::io::copy(&mut r, &mut h)?;
    let actual = hex(&h.finalize());
    if Some(&actual) != want.sha256.as_ref() {
        diff(
            p,
            "content",
            format!(
                "sha256 {actual}, the index says {}",
                want.sha256.as_deref().unwrap_or("")
            ),
        );
    }
    Ok(n)
}
