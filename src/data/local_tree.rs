//! Homes on a local or mounted filesystem (the provider's NFS volume).
//!
//! Nothing is followed: symlinks are carried as links, and every open
//! refuses a final symlink, so a file swapped for a link mid-export is
//! refused rather than read through.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::index::{Entry, RawPath, Skipped, Type};
use super::sparse;
use super::tree::{Exclude, Node, Tree};
use crate::fsutil;

/// Hard-link groups of one home: (device, inode) → (group, first path).
type LinkGroups = HashMap<(u64, u64), (u64, Vec<u8>)>;

pub struct LocalTree {
    root: PathBuf,
    links: Mutex<LinkGroups>,
}

impl LocalTree {
    pub fn open(root: &Path) -> Result<LocalTree> {
        let meta = fs::metadata(root)
            .with_context(|| format!("cannot read the homes at {}", root.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("the homes at {} are not a directory", root.display());
        }
        Ok(LocalTree {
            root: root.to_owned(),
            links: Mutex::new(HashMap::new()),
        })
    }
}

fn join(base: &Path, name: &[u8]) -> PathBuf {
    base.join(OsStr::from_bytes(name))
}

fn rel_join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix == b"." {
        return name.to_vec();
    }
    let mut out = Vec::with_capacity(prefix.len() + 1 + name.len());
    out.extend_from_slice(prefix);
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

fn entry_from(path: Vec<u8>, kind: Type, meta: &Metadata) -> Entry {
    Entry {
        path: RawPath(path),
        kind,
        size: if kind == Type::File { meta.len() } else { 0 },
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        target: None,
        link_group: 0,
        sha256: None,
        chunk: 0,
        content_type: None,
    }
}

fn special(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_fifo() {
        Some("a FIFO (named pipe); not carried")
    } else if t.is_socket() {
        Some("a socket; not carried")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device node; not carried")
    } else {
        None
    }
}

fn sorted_children(dir: &Path) -> io::Result<Vec<(Vec<u8>, Metadata)>> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        // DirEntry::metadata is an fstatat on the open directory that does
        // not follow symlinks: one syscall per entry, no path resolution.
        let meta = item.metadata()?;
        out.push((item.file_name().as_bytes().to_vec(), meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl Tree for LocalTree {
    fn shown(&self) -> String {
        self.root.display().to_string()
    }

    fn hub(&self, hub: &str) -> Result<Option<Entry>> {
        let path = self.root.join(hub);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(Some(entry_from(b".".to_vec(), Type::Dir, &m))),
            Ok(_) => anyhow::bail!("{} is not a directory", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn homes(&self, hub: &str) -> Result<(Vec<RawPath>, Vec<Skipped>)> {
        let dir = self.root.join(hub);
        let mut homes = Vec::new();
        let mut skipped = Vec::new();
        for (name, meta) in
            sorted_children(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            if meta.is_dir() {
                homes.push(RawPath(name));
            } else {
                skipped.push(Skipped {
                    path: RawPath(name),
                    reason: "lies directly under the hub, not in a home; not carried".into(),
                });
            }
        }
        Ok((homes, skipped))
    }

    fn walk(
        &self,
        hub: &str,
        home: &RawPath,
        exclude: &dyn Exclude,
        visit: &mut dyn FnMut(Node) -> Result<()>,
    ) -> Result<Vec<Skipped>> {
        let top = join(&self.root.join(hub), &home.0);
        let meta =
            fs::symlink_metadata(&top).with_context(|| format!("cannot read {}", top.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("{} is not a directory", top.display());
        }
        self.links.lock().map(|mut l| l.clear()).ok();
        let mut skipped = Vec::new();
        visit(node(entry_from(b".".to_vec(), Type::Dir, &meta), &top))?;
        // Depth first, each directory's children sorted by name bytes; the
        // stack holds one sorted listing per level, never the whole tree.
        let mut stack = vec![(
            top.clone(),
            b".".to_vec(),
            sorted_children(&top)
                .with_context(|| format!("cannot list {}", top.display()))?
                .into_iter(),
        )];
        while let Some((dir, rel_dir, children)) = stack.last_mut() {
            let Some((name, meta)) = children.next() else {
                stack.pop();
                continue;
            };
            let rel = rel_join(rel_dir, &name);
            let abs = join(dir, &name);
            if exclude.excluded(&rel, meta.is_dir()) {
                continue;
            }
            let ft = meta.file_type();
            if ft.is_dir() {
                match sorted_children(&abs) {
                    Ok(list) => {
                        visit(node(entry_from(rel.clone(), Type::Dir, &meta), &abs))?;
                        stack.push((abs, rel, list.into_iter()));
                    }
                    Err(e) => skipped.push(Skipped {
                        path: RawPath(rel),
                        reason: format!("cannot list this directory: {e}"),
                    }),
                }
            } else if ft.is_symlink() {
                match fs::read_link(&abs) {
                    Ok(target) => {
                        let mut e = entry_from(rel, Type::Symlink, &meta);
                        e.target = Some(RawPath(target.as_os_str().as_bytes().to_vec()));
                        visit(node(e, &abs))?;
                    }
                    Err(e) => skipped.push(Skipped {
                        path: RawPath(rel),
                        reason: format!("cannot read this symlink: {e}"),
                    }),
                }
            } else if ft.is_file() {
                let n = self.file_node(rel, &abs, &meta);
                if let Some(n) = n {
                    visit(n)?;
                }
            } else if let Some(why) = special(&meta) {
                skipped.push(Skipped {
                    path: RawPath(rel),
                    reason: why.into(),
                });
            }
        }
        Ok(skipped)
    }

    fn open(&self, node: &Node, offset: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        let path = PathBuf::from(OsStr::from_bytes(&node.source));
        let mut file = fsutil::open_nofollow(&path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("is no longer a regular file"));
        }
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(Box::new(file))
    }
}

impl LocalTree {
    fn file_node(&self, rel: Vec<u8>, abs: &Path, meta: &Metadata) -> Option<Node> {
        if meta.nlink() > 1 {
            let mut links = self.links.lock().ok()?;
            let next = links.len() as u64 + 1;
            let key = (meta.dev(), meta.ino());
            if let Some((group, first)) = links.get(&key) {
                let mut e = entry_from(rel, Type::Hardlink, meta);
                e.target = Some(RawPath(first.clone()));
                e.link_group = *group;
                return Some(node(e, abs));
            }
            links.insert(key, (next, rel.clone()));
            let mut e = entry_from(rel, Type::File, meta);
            e.link_group = next;
            return Some(self.with_segments(e, abs, meta));
        }
        Some(self.with_segments(entry_from(rel, Type::File, meta), abs, meta))
    }

    fn with_segments(&self, entry: Entry, abs: &Path, meta: &Metadata) -> Node {
        let mut n = node(entry, abs);
        // Fewer allocated bytes than the size says: there are holes. When
        // they cannot be mapped the file is carried in full, zeros and all.
        if meta.blocks() * 512 < meta.len() {
            n.sparse = fsutil::open_nofollow(abs)
                .and_then(|f| sparse::data_segments(&f, meta.len()))
                .ok();
        }
        n
    }
}

fn node(entry: Entry, abs: &Path) -> Node {
    Node {
        entry,
        source: abs.as_os_str().as_bytes().to_vec(),
        sparse: None,
    }
}
