//! Object storage through opendal, and how a home's entries map to
//! objects.
//!
//! The mapping is s3fs-fuse's, so a restored bucket mounts with s3fs and
//! shows the right owners, modes and times: each file is an object whose
//! user metadata holds `mode` (decimal `st_mode`, type bits included),
//! `uid`, `gid` and `mtime` (seconds); a directory is an empty object
//! `path/`; a symlink is an object whose content is its target. r2r adds
//! `r2r-mtime-nsec`, `r2r-sha256` and `r2r-link-group` (names of one
//! hard-linked file are stored as copies sharing a group). A path an
//! object key cannot hold (not UTF-8, control characters, leading or
//! trailing spaces, over 1024 bytes) is stored under
//! `<home>/.r2r-paths/<sha256 of the path>`, with its exact bytes in the
//! sibling object `<sha256>.path`. Specified in docs/homes.md.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result};
use opendal::blocking;
use opendal::layers::RetryLayer;

use super::location::{ObjectUrl, Scheme};

/// Folder (per home) of objects whose paths a key cannot hold.
pub const ESCAPED: &str = ".r2r-paths";
/// Longest object key S3, GCS and Azure all accept.
const MAX_KEY: usize = 1024;

/// opendal's blocking API drives its async core on a runtime; one per
/// process is enough.
static RUNTIME: LazyLock<std::io::Result<tokio::runtime::Runtime>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
});

/// A blocking operator rooted at the URL's bucket and prefix, retrying
/// temporary failures (5xx, 429, resets) with exponential backoff.
pub fn operator(url: &ObjectUrl) -> Result<blocking::Operator> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(opendal::install_default);
    let root = format!("/{}/", url.prefix);
    let op = match url.scheme {
        Scheme::S3 => {
            let mut b = opendal::services::S3::default()
                .bucket(&url.bucket)
                .root(&root)
                .region(url.region.as_deref().unwrap_or("us-east-1"));
            if let Some(e) = &url.endpoint {
                b = b.endpoint(e);
            }
            if let (Ok(k), Ok(s)) = (
                std::env::var("AWS_ACCESS_KEY_ID"),
                std::env::var("AWS_SECRET_ACCESS_KEY"),
            ) {
                b = b.access_key_id(&k).secret_access_key(&s);
            }
            opendal::Operator::new(b)?
        }
        Scheme::Gcs => {
            let mut b = opendal::services::Gcs::default()
                .bucket(&url.bucket)
                .root(&root);
            if let Some(e) = &url.endpoint {
                b = b.endpoint(e);
            }
            if let Ok(p) = std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
                b = b.credential_path(&p);
            }
            opendal::Operator::new(b)?
        }
        Scheme::Azblob => {
            let mut b = opendal::services::Azblob::default()
                .container(&url.bucket)
                .root(&root);
            if let Some(e) = &url.endpoint {
                b = b.endpoint(e);
            }
            if let Ok(a) = std::env::var("AZURE_STORAGE_ACCOUNT") {
                b = b.account_name(&a);
            }
            if let Ok(k) = std::env::var("AZURE_STORAGE_KEY") {
                b = b.account_key(&k);
            }
            opendal::Operator::new(b)?
        }
    };
    let op = op.layer(
        RetryLayer::new()
            .with_max_times(6)
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter(),
    );
    let rt = RUNTIME
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot start the I/O runtime: {e}"))?;
    let _guard = rt.enter();
    blocking::Operator::new(op).with_context(|| format!("cannot open {url}"))
}

/// Whether a path relative to a home can be an object key as it is.
pub fn representable(rel: &[u8], prefix_len: usize) -> bool {
    let Ok(s) = std::str::from_utf8(rel) else {
        return false;
    };
    prefix_len + s.len() < MAX_KEY
        && !s.contains(|c: char| c.is_control())
        && s.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.trim() == c && c != ESCAPED)
}

/// The object key (under the home's prefix) holding entry `rel`, and for
/// an escaped path the key of its `.path` sibling.
pub fn key_of(rel: &[u8], prefix_len: usize) -> (String, Option<String>) {
    if representable(rel, prefix_len) {
        return (String::from_utf8_lossy(rel).into_owned(), None);
    }
    let hex = crate::bundle::digest::sha256_bytes(rel);
    (
        format!("{ESCAPED}/{hex}"),
        Some(format!("{ESCAPED}/{hex}.path")),
    )
}

/// The s3fs and r2r metadata of an entry.
pub fn metadata_of(e: &super::index::Entry) -> HashMap<String, String> {
    use super::index::Type;
    let type_bits = match e.kind {
        Type::Dir => libc::S_IFDIR,
        Type::Symlink => libc::S_IFLNK,
        Type::File | Type::Hardlink => libc::S_IFREG,
    };
    let mut m = HashMap::new();
    m.insert("mode".into(), (type_bits | e.mode).to_string());
    m.insert("uid".into(), e.uid.to_string());
    m.insert("gid".into(), e.gid.to_string());
    m.insert("mtime".into(), e.mtime.to_string());
    if e.mtime_nsec != 0 {
        m.insert("r2r-mtime-nsec".into(), e.mtime_nsec.to_string());
    }
    if let Some(h) = &e.sha256 {
        m.insert("r2r-sha256".into(), h.clone());
    }
    if e.link_group != 0 {
        m.insert("r2r-link-group".into(), e.link_group.to_string());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_paths_are_escaped() {
        assert_eq!(key_of(b"a/b.txt", 10).0, "a/b.txt");
        for bad in [
            &b"line\nbreak"[..],
            b"caf\xe9",
            b"trailing ",
            b" leading",
            b".r2r-paths/x",
        ] {
            let (k, p) = key_of(bad, 10);
            assert!(k.starts_with(".r2r-paths/") && p.is_some(), "{bad:?}");
        }
        assert!(key_of(&[b'x'; 1020], 10).1.is_some());
    }
}
