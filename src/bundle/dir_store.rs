//! The directory form of a bundle: the members as plain files, as an auditor
//! gets them after `tar -xf`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::layout::MemberPath;
use super::store::{Entry, Sink, StoreError};
use crate::fsutil;

pub struct DirSink {
    tmp: PathBuf,
    output: PathBuf,
    keep: bool,
}

impl DirSink {
    pub fn create(output: &Path) -> Result<DirSink> {
        let dir = fsutil::parent_of(output);
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempdir_in(dir)
            .with_context(|| format!("cannot create a temporary directory in {}", dir.display()))?
            .keep();
        Ok(DirSink {
            tmp,
            output: output.to_owned(),
            keep: false,
        })
    }

    /// Starts the partial of a resumable export at `partial`. Refuses to
    /// start over an existing one.
    pub fn create_resumable(partial: &Path, output: &Path) -> Result<DirSink> {
        fs::create_dir(partial).with_context(|| {
            format!("cannot create {} (an interrupted export? pass --resume to continue it, or --force to start over)", partial.display())
        })?;
        Ok(DirSink {
            tmp: partial.to_owned(),
            output: output.to_owned(),
            keep: false,
        })
    }

    /// Continues a partial, removing every file the journal does not vouch
    /// for.
    pub fn resume(
        partial: &Path,
        output: &Path,
        kept: &std::collections::HashSet<String>,
    ) -> Result<DirSink> {
        let tmp = partial.to_owned();
        let mut present = Vec::new();
        walk(&tmp, &tmp, &mut present).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
        for e in present {
            if !kept.contains(e.path.as_str()) {
                let stale = tmp.join(e.path.as_str());
                fs::remove_file(&stale)
                    .with_context(|| format!("cannot remove {}", stale.display()))?;
            }
        }
        Ok(DirSink {
            tmp,
            output: output.to_owned(),
            keep: false,
        })
    }
}

impl Sink for DirSink {
    fn put(&mut self, path: &MemberPath, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        let dest = self.tmp.join(path.as_str());
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = BufWriter::with_capacity(1 << 20, File::create_new(&dest)?);
        io::copy(data, &mut out)?;
        out.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()
    }

    fn partial(&self) -> &Path {
        &self.tmp
    }

    fn position(&self) -> u64 {
        0
    }

    fn sync(&mut self) -> io::Result<()> {
        // Each member file is synced as it is closed.
        Ok(())
    }

    fn keep_on_failure(&mut self) {
        self.keep = true;
    }

    fn commit(self: Box<Self>, replace: bool) -> Result<()> {
        let old = if replace && self.output.symlink_metadata().is_ok() {
            let aside = self.tmp.with_extension("replaced");
            fs::rename(&self.output, &aside)
                .with_context(|| format!("cannot move the old {} aside", self.output.display()))?;
            Some(aside)
        } else {
            None
        };
        // rename(2) refuses to replace a non-empty directory, and
        // create_dir-then-rename would race; check, then rename.
        if self.output.symlink_metadata().is_ok() {
            anyhow::bail!(
                "{} appeared while exporting; not replacing it",
                self.output.display()
            );
        }
        if let Err(e) = fs::rename(&self.tmp, &self.output) {
            // Never lose the bundle being replaced: put it back.
            if let Some(old) = &old {
                let _ = fs::rename(old, &self.output);
            }
            return Err(e).with_context(|| {
                format!(
                    "cannot move the finished bundle to {}",
                    self.output.display()
                )
            });
        }
        fsutil::sync_dir(fsutil::parent_of(&self.output));
        if let Some(old) = old {
            fsutil::remove_tree(&old)?;
        }
        Ok(())
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        // After a successful commit the temporary path no longer exists.
        if !self.keep {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Lists every file under `root` as a member, refusing links, devices and
/// names that are not member paths. Empty directories are ignored: they
/// carry nothing and `tar -xf` of a tar bundle creates none either.
pub fn scan(root: &Path) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    walk(root, root, &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> Result<(), StoreError> {
    for item in fs::read_dir(dir).map_err(StoreError::Io)? {
        let item = item.map_err(StoreError::Io)?;
        let full = item.path();
        let rel = full.strip_prefix(root).unwrap_or(&full);
        let shown = rel.to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(&full).map_err(StoreError::Io)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(root, &full, out)?;
            continue;
        }
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "a symbolic link"
            } else {
                "a device, FIFO or socket"
            };
            return Err(StoreError::Unsafe {
                member: shown,
                reason: format!("{what}; a bundle holds regular files only"),
            });
        }
        let text = rel.to_str().ok_or_else(|| StoreError::Unsafe {
            member: shown.clone(),
            reason: "name is not UTF-8".into(),
        })?;
        let path = MemberPath::parse(text).map_err(|e| StoreError::Unsafe {
            member: shown.clone(),
            reason: e.to_string(),
        })?;
        out.push(Entry {
            path,
            size: meta.len(),
            offset: 0,
        });
    }
    Ok(())
}

/// Opens a member of a directory bundle, refusing a symlink that replaced
/// the file after the scan.
pub fn open(root: &Path, entry: &Entry) -> io::Result<File> {
    let file = fsutil::open_nofollow(&root.join(entry.path.as_str()))?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}
