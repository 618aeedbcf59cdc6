//! Homes in object storage, laid out as `<hub>/<home>/…` under a prefix,
//! read with the s3fs mapping of [`super::objects`]. Objects without that
//! metadata get mode 0644 (directories 0755), owner 1000:1000 (jovyan) and
//! the object's last-modified time.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use anyhow::{Context, Result, bail};
use opendal::options::ListOptions;
use opendal::{EntryMode, ErrorKind, blocking};

use super::index::{Entry, RawPath, Skipped, Type, check_relative, walk_order};
use super::location::ObjectUrl;
use super::objects::{self, ESCAPED};
use super::tree::{Exclude, Node, Tree};

/// Largest symlink target or `.path` object read.
const MAX_SMALL: u64 = 64 << 10;
const DEFAULT_OWNER: u32 = 1000;

pub struct ObjectTree {
    url: ObjectUrl,
    op: blocking::Operator,
}

impl ObjectTree {
    pub fn open(url: &ObjectUrl) -> Result<Box<dyn Tree>> {
        Ok(Box::new(ObjectTree {
            op: objects::operator(url)?,
            url: url.clone(),
        }))
    }

    fn small(&self, key: &str) -> Result<Vec<u8>> {
        let meta = self.op.stat(key)?;
        if meta.content_length() > MAX_SMALL {
            bail!(
                "{key} is {} bytes, more than a path or link target can be",
                meta.content_length()
            );
        }
        Ok(self.op.read(key)?.to_vec())
    }

    /// The metadata of an entry from its object's metadata, or defaults.
    fn entry(&self, rel: Vec<u8>, key: &str, dir: bool) -> Result<Entry> {
        let meta = match self.op.stat(key) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot stat {key}")),
        };
        let um: HashMap<String, String> = meta
            .as_ref()
            .and_then(opendal::Metadata::user_metadata)
            .map(|u| {
                u.into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let num = |k: &str| um.get(k).and_then(|v| v.parse::<i64>().ok());
        let mode = num("mode").map(|m| m as u32);
        let kind = match mode.map(|m| m & libc::S_IFMT) {
            Some(libc::S_IFDIR) => Type::Dir,
            Some(libc::S_IFLNK) => Type::Symlink,
            _ if dir => Type::Dir,
            _ => Type::File,
        };
        let mtime = num("mtime").unwrap_or_else(|| {
            meta.as_ref()
                .and_then(opendal::Metadata::last_modified)
                .map_or(0, |t| t.into_inner().as_second())
        });
        let mut e = Entry {
            path: RawPath(rel),
            kind,
            size: 0,
            mode: mode.map_or(if dir { 0o755 } else { 0o644 }, |m| m & 0o7777),
            uid: num("uid").map_or(DEFAULT_OWNER, |v| v as u32),
            gid: num("gid").map_or(DEFAULT_OWNER, |v| v as u32),
            mtime,
            mtime_nsec: num("r2r-mtime-nsec")
                .map_or(0, |v| v as u32)
                .min(999_999_999),
            target: None,
            link_group: num("r2r-link-group").map_or(0, |v| v as u64),
            sha256: None,
            chunk: 0,
            content_type: None,
        };
        match e.kind {
            Type::File => {
                e.content_type = meta
                    .as_ref()
                    .and_then(|m| m.content_type())
                    .map(str::to_owned);
                e.size = meta.map_or(0, |m| m.content_length());
            }
            Type::Symlink => e.target = Some(RawPath(self.small(key)?)),
            _ => e.link_group = 0,
        }
        Ok(e)
    }

    fn dir_meta_key(home_prefix: &str, rel: &[u8]) -> String {
        format!(
            "{home_prefix}{ESCAPED}/{}.dir",
            crate::bundle::digest::sha256_bytes(rel)
        )
    }
}

impl Tree for ObjectTree {
    fn shown(&self) -> String {
        self.url.to_string()
    }

    fn hub(&self, hub: &str) -> Result<Option<Entry>> {
        let prefix = format!("{hub}/");
        let any = self
            .op
            .lister(&prefix)?
            .filter_map(std::result::Result::ok)
            .any(|e| e.path() != prefix);
        if !any {
            return Ok(None);
        }
        self.entry(b".".to_vec(), &Self::dir_meta_key(&prefix, b"."), true)
            .map(Some)
    }

    fn homes(&self, hub: &str) -> Result<(Vec<RawPath>, Vec<Skipped>)> {
        let prefix = format!("{hub}/");
        let mut homes = Vec::new();
        let mut skipped = Vec::new();
        for e in self.op.lister(&prefix)? {
            let e = e.with_context(|| format!("cannot list {}/{prefix}", self.url))?;
            let Some(name) = e.path().strip_prefix(&prefix) else {
                continue;
            };
            if name.is_empty() || name.starts_with(".r2r-") {
                continue;
            }
            match (e.metadata().mode(), name.strip_suffix('/')) {
                (EntryMode::DIR, Some(n)) => homes.push(RawPath(n.as_bytes().to_vec())),
                _ => skipped.push(Skipped {
                    path: RawPath(name.as_bytes().to_vec()),
                    reason: "lies directly under the hub, not in a home; not carried".into(),
                }),
            }
        }
        homes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((homes, skipped))
    }

    fn walk(
        &self,
        hub: &str,
        home: &RawPath,
        exclude: &dyn Exclude,
        visit: &mut dyn FnMut(Node) -> Result<()>,
    ) -> Result<Vec<Skipped>> {
        let home_name = std::str::from_utf8(&home.0).context("home name is not UTF-8")?;
        // An empty hub and home walk the whole tree: a bucket.
        let prefix = if hub.is_empty() {
            String::new()
        } else {
            format!("{hub}/{home_name}/")
        };
        // (path in the home, object key, is a directory)
        let mut found: Vec<(Vec<u8>, String, bool)> = Vec::new();
        let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut skipped = Vec::new();
        let listing = self.op.lister_options(
            &prefix,
            ListOptions {
                recursive: true,
                ..Default::default()
            },
        )?;
        for item in listing {
            let item = item.with_context(|| format!("cannot list {}/{prefix}", self.url))?;
            let Some(rel) = item.path().strip_prefix(&prefix) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            let (rel, key, is_dir) = if let Some(hex) = rel.strip_prefix(&format!("{ESCAPED}/")) {
                if hex.contains('.') {
                    continue; // a `.path` or `.dir` sibling
                }
                let raw = self.small(&format!("{prefix}{ESCAPED}/{hex}.path"))?;
                if crate::bundle::digest::sha256_bytes(&raw) != hex || check_relative(&raw).is_err()
                {
                    bail!("{prefix}{ESCAPED}/{hex}.path does not hold the path its name promises");
                }
                (raw, item.path().to_owned(), false)
            } else {
                let is_dir = item.metadata().mode() == EntryMode::DIR;
                let rel = rel.strip_suffix('/').unwrap_or(rel);
                (rel.as_bytes().to_vec(), item.path().to_owned(), is_dir)
            };
            // A key is any string: one with `..` or empty components would
            // become a path that leaves the home when restored.
            if let Err(why) = check_relative(&rel) {
                skipped.push(Skipped {
                    path: RawPath(rel),
                    reason: format!("the object key {why}; not carried"),
                });
                continue;
            }
            let mut parent = rel.as_slice();
            while let Some(i) = parent.iter().rposition(|&b| b == b'/') {
                parent = &parent[..i];
                dirs.insert(parent.to_vec());
            }
            if is_dir {
                dirs.insert(rel);
            } else {
                found.push((rel, key, false));
            }
        }
        for d in dirs {
            let key = Self::dir_meta_key(&prefix, &d);
            found.push((d, key, true));
        }
        found.push((b".".to_vec(), Self::dir_meta_key(&prefix, b"."), true));
        found.sort_by(|a, b| walk_order(&a.0, &b.0));
        let mut firsts: HashMap<u64, Vec<u8>> = HashMap::new();
        let mut skipped_dirs: Vec<Vec<u8>> = Vec::new();
        for (rel, key, is_dir) in found {
            if skipped_dirs
                .iter()
                .any(|d| rel.starts_with(d) && rel.get(d.len()) == Some(&b'/'))
            {
                continue;
            }
            if rel != b"." && exclude.excluded(&rel, is_dir) {
                if is_dir {
                    skipped_dirs.push(rel);
                }
                continue;
            }
            let mut e = self.entry(rel, &key, is_dir)?;
            if e.kind == Type::File && e.link_group != 0 {
                match firsts.get(&e.link_group) {
                    Some(first) => {
                        e.kind = Type::Hardlink;
                        e.size = 0;
                        e.target = Some(RawPath(first.clone()));
                    }
                    None => {
                        firsts.insert(e.link_group, e.path.0.clone());
                    }
                }
            }
            visit(Node {
                entry: e,
                source: key.into_bytes(),
                sparse: None,
            })?;
        }
        Ok(skipped)
    }

    fn open(&self, node: &Node, offset: u64) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let key = String::from_utf8_lossy(&node.source).into_owned();
        let reader = self.op.reader(&key).map_err(std::io::Error::other)?;
        let r = reader
            .into_std_read(offset..node.entry.size)
            .map_err(std::io::Error::other)?;
        Ok(Box::new(r))
    }
}
