//! Opening a bundle for reading: find its members and check its structure
//! before a single member byte is trusted or written anywhere.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::layout::{MemberPath, PathSet};
use super::store::{Entry, StoreError};
use super::{dir_store, tar_store};

enum Form {
    Tar(File),
    Dir(PathBuf),
}

/// A bundle whose structure has been checked: every member name is a safe
/// member path, no name collides with another, every member is a regular
/// file, and (for a tar) the framing is exact. Contents are not yet checked.
pub struct Bundle {
    form: Form,
    entries: Vec<Entry>,
    index: HashMap<MemberPath, usize>,
}

impl Bundle {
    pub fn open(path: &Path) -> Result<Bundle, StoreError> {
        let meta = fs::metadata(path).map_err(StoreError::Io)?;
        let (form, entries) = if meta.is_dir() {
            (Form::Dir(path.to_owned()), dir_store::scan(path)?)
        } else if meta.is_file() {
            let file = File::open(path).map_err(StoreError::Io)?;
            let entries = tar_store::scan(&file)?;
            (Form::Tar(file), entries)
        } else {
            return Err(StoreError::Malformed(format!(
                "{} is neither a tar file nor a directory",
                path.display()
            )));
        };
        let mut set = PathSet::default();
        let mut index = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            set.insert(&entry.path)
                .map_err(|reason| StoreError::Unsafe {
                    member: entry.path.to_string(),
                    reason,
                })?;
            index.insert(entry.path.clone(), i);
        }
        Ok(Bundle {
            form,
            entries,
            index,
        })
    }

    /// Members in storage order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        let path = MemberPath::parse(path).ok()?;
        self.index.get(&path).map(|&i| &self.entries[i])
    }

    pub fn is_tar(&self) -> bool {
        matches!(self.form, Form::Tar(_))
    }

    /// Streams one member's bytes; never more than its recorded size.
    pub fn open_member(&self, entry: &Entry) -> io::Result<Box<dyn Read + Send + '_>> {
        match &self.form {
            Form::Tar(file) => Ok(Box::new(tar_store::MemberReader::new(file, entry))),
            Form::Dir(root) => Ok(Box::new(dir_store::open(root, entry)?.take(entry.size))),
        }
    }

    /// Reads a small member whole, refusing one larger than `limit` before
    /// reading it.
    pub fn read_small(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, String> {
        if entry.size > limit {
            return Err(format!(
                "is {} bytes, more than the {limit} allowed",
                entry.size
            ));
        }
        let mut buf = Vec::with_capacity(entry.size as usize);
        self.open_member(entry)
            .and_then(|r| r.take(limit).read_to_end(&mut buf))
            .map_err(|e| format!("cannot be read: {e}"))?;
        if buf.len() as u64 != entry.size {
            return Err(format!("has {} bytes, expected {}", buf.len(), entry.size));
        }
        Ok(buf)
    }
}
