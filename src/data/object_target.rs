//! Restoring homes into object storage with the s3fs mapping of
//! [`super::objects`]. An object only appears when its upload completes,
//! and the upload is completed only after the content matched its signed
//! hash, so no partial object ever carries a final key.

use std::collections::HashMap;
use std::io::{self, Write};

use anyhow::{Context, Result, anyhow, bail};
use opendal::options::WriteOptions;
use opendal::{ErrorKind, blocking};

use super::index::{Entry, RawPath};
use super::location::ObjectUrl;
use super::objects::{self, ESCAPED};
use super::target::{Existing, FileSink, Target};

pub struct ObjectTarget {
    url: ObjectUrl,
    op: blocking::Operator,
    prefix: String,
}

impl ObjectTarget {
    pub fn open(url: &ObjectUrl) -> Result<Box<dyn Target>> {
        Ok(Box::new(ObjectTarget {
            op: objects::operator(url)?,
            url: url.clone(),
            prefix: String::new(),
        }))
    }

    fn key(&self, rel: &[u8]) -> (String, Option<String>) {
        let (k, p) = objects::key_of(rel, self.url.prefix.len() + self.prefix.len() + 1);
        (
            format!("{}{k}", self.prefix),
            p.map(|p| format!("{}{p}", self.prefix)),
        )
    }

    fn shown(&self, rel: &[u8]) -> String {
        format!(
            "{}/{}{}",
            self.url,
            self.prefix,
            RawPath(rel.to_vec()).shown()
        )
    }

    fn put(&self, key: &str, data: Vec<u8>, meta: HashMap<String, String>) -> Result<()> {
        self.op
            .write_options(
                key,
                data,
                WriteOptions {
                    user_metadata: Some(meta),
                    ..Default::default()
                },
            )
            .map(drop)
            .with_context(|| format!("cannot write {}/{key}", self.url))
    }

    /// Writes the exact path bytes of an escaped entry beside it.
    fn put_path(&self, path_key: &Option<String>, rel: &[u8]) -> Result<()> {
        match path_key {
            Some(k) => self.put(k, rel.to_vec(), HashMap::new()),
            None => Ok(()),
        }
    }

    fn dir_meta_key(&self, rel: &[u8]) -> String {
        format!(
            "{}{ESCAPED}/{}.dir",
            self.prefix,
            crate::bundle::digest::sha256_bytes(rel)
        )
    }
}

impl Target for ObjectTarget {
    fn shown(&self) -> String {
        self.url.to_string()
    }

    fn begin_home(&mut self, hub: &str, home: &RawPath) -> Result<()> {
        if hub.is_empty() && home.0.is_empty() {
            self.prefix = String::new();
            return Ok(());
        }
        let name = std::str::from_utf8(&home.0)
            .ok()
            .filter(|n| objects::representable(n.as_bytes(), 0) && !n.contains('/'))
            .ok_or_else(|| {
                anyhow!(
                    "home {} cannot be an object-storage folder name",
                    home.shown()
                )
            })?;
        self.prefix = format!("{hub}/{name}/");
        Ok(())
    }

    fn dir(&mut self, e: &Entry) -> Result<()> {
        if e.path.0 != b"."
            && objects::representable(&e.path.0, self.url.prefix.len() + self.prefix.len() + 1)
        {
            let marker = format!("{}{}/", self.prefix, String::from_utf8_lossy(&e.path.0));
            self.op
                .create_dir(&marker)
                .with_context(|| format!("cannot create {}", self.shown(&e.path.0)))?;
        }
        Ok(())
    }

    fn symlink(&mut self, e: &Entry) -> Result<()> {
        let (key, path_key) = self.key(&e.path.0);
        self.put_path(&path_key, &e.path.0)?;
        let target = e.target.as_ref().map(|t| t.0.clone()).unwrap_or_default();
        self.put(&key, target, objects::metadata_of(e))
    }

    fn hardlink(&mut self, e: &Entry) -> Result<()> {
        let target = e.target.as_ref().map(|t| t.0.clone()).unwrap_or_default();
        let (from, _) = self.key(&target);
        let (to, path_key) = self.key(&e.path.0);
        self.put_path(&path_key, &e.path.0)?;
        // Object storage has no hard links: a server-side copy, which keeps
        // the group in its metadata so a later export links them again.
        self.op.copy(&from, &to).map(drop).with_context(|| {
            format!(
                "cannot copy {} to {}",
                self.shown(&target),
                self.shown(&e.path.0)
            )
        })
    }

    fn existing(&mut self, e: &Entry) -> Result<Existing> {
        let (key, _) = self.key(&e.path.0);
        match self.op.stat(&key) {
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Existing::Absent),
            Err(err) => Err(err).with_context(|| format!("cannot check {}", self.shown(&e.path.0))),
            Ok(m) => {
                let same = m.content_length() == e.size
                    && m.user_metadata()
                        .and_then(|u| u.get("r2r-sha256"))
                        .is_some_and(|h| Some(h) == e.sha256.as_deref());
                if same {
                    Ok(Existing::Same)
                } else {
                    bail!(
                        "{}: a different object is already there; not overwriting it",
                        self.shown(&e.path.0)
                    )
                }
            }
        }
    }

    fn file(&mut self, e: &Entry) -> Result<Box<dyn FileSink + '_>> {
        let (key, path_key) = self.key(&e.path.0);
        self.put_path(&path_key, &e.path.0)?;
        let writer = self
            .op
            .writer_options(
                &key,
                WriteOptions {
                    user_metadata: Some(objects::metadata_of(e)),
                    content_type: e.content_type.clone(),
                    chunk: Some(8 << 20),
                    concurrent: 2,
                    ..Default::default()
                },
            )
            .with_context(|| format!("cannot start writing {}", self.shown(&e.path.0)))?;
        Ok(Box::new(ObjectFile {
            writer,
            shown: self.shown(&e.path.0),
        }))
    }

    fn finish_dir(&mut self, e: &Entry) -> Result<()> {
        let key = self.dir_meta_key(&e.path.0);
        self.put(&key, Vec::new(), objects::metadata_of(e))
    }

    fn finish_hub(&mut self, hub: &str, dir: &Entry) -> Result<()> {
        self.prefix = format!("{hub}/");
        let key = self.dir_meta_key(b".");
        self.put(&key, Vec::new(), objects::metadata_of(dir))
    }

    fn restores_owners(&self) -> bool {
        // Owners are recorded in object metadata, which needs no privilege.
        true
    }
}

struct ObjectFile {
    writer: blocking::Writer,
    shown: String,
}

impl Write for ObjectFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf.to_vec()).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileSink for ObjectFile {
    fn commit(mut self: Box<Self>) -> Result<()> {
        self.writer
            .close()
            .map(drop)
            .with_context(|| format!("cannot finish writing {}", self.shown))
    }

    fn abort(self: Box<Self>) {
        // Dropping an unclosed writer never completes the upload.
    }
}
