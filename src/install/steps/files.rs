//! Writing into the install directory: only what changed, always through a
//! temporary name, and bundle members streamed and checked on the way.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};

use crate::bundle::verify::Trusted;

/// Writes `path` unless it already holds exactly `bytes`. Returns whether
/// it wrote, so a second install changes nothing, not even an mtime.
/// Every file gets `stamp` (the bundle's creation time) as its mtime, so
/// an install is the same whenever, and however often, it ran.
pub(crate) fn write_if_changed(
    stamp: SystemTime,
    path: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<bool> {
    if let Ok(old) = fs::read(path)
        && old == bytes
    {
        set_mtime(path, stamp)?;
        return Ok(false);
    }
    mkdirs(crate::fsutil::parent_of(path))?;
    crate::fsutil::write_replacing(path, bytes, mode)?;
    set_mtime(path, stamp)?;
    Ok(true)
}

fn set_mtime(path: &Path, stamp: SystemTime) -> Result<()> {
    let f = crate::fsutil::open_nofollow(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if f.metadata().and_then(|m| m.modified()).ok() != Some(stamp) {
        f.set_modified(stamp)
            .with_context(|| format!("cannot set the mtime of {}", path.display()))?;
    }
    Ok(())
}

pub(crate) fn mkdirs(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // 0755 whatever the umask: nobody else may write where r2r writes.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Copies a member to `dest`, streaming it through its signed digest.
/// A file already there with the signed sha256 is kept. Returns the bytes
/// copied.
pub(crate) fn copy_member(
    stamp: SystemTime,
    trusted: &Trusted,
    member: &str,
    dest: &Path,
) -> Result<u64> {
    let mut r = trusted.open(member)?;
    let size = r.size;
    if let Ok(meta) = fs::symlink_metadata(dest)
        && meta.is_file()
        && meta.len() == size
        && trusted.sha256(member) == Some(sha256_file(dest)?.as_str())
    {
        set_mtime(dest, stamp)?;
        return Ok(0);
    }
    let dir = crate::fsutil::parent_of(dest);
    mkdirs(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".r2r-partial-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| anyhow!("member {member} cannot be read: {e}"))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", dest.display()))?;
    }
    r.finish()?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", dest.display()))?;
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .with_context(|| format!("cannot write {}", dest.display()))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    set_mtime(dest, stamp)?;
    Ok(size)
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut f = crate::fsutil::open_nofollow(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(crate::bundle::digest::hex(&h.finalize()))
}

/// Removes the temporary files a killed run left (`.r2r-partial-…`) under
/// `dir`, without following symlinks. Everything the bundle holds under
/// such a name is restored again afterwards, so nothing is lost.
pub(crate) fn sweep_partials(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let name = e.file_name();
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() && is_partial(name.as_encoded_bytes()) {
                fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn is_partial(name: &[u8]) -> bool {
    name.strip_prefix(b".r2r-partial-").is_some_and(|rest| {
        (6..=16).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn partial_names() {
        assert!(super::is_partial(b".r2r-partial-00000000000000a1"));
        assert!(super::is_partial(b".r2r-partial-Ab3xYz"));
        assert!(!super::is_partial(b".r2r-partial-"));
        assert!(!super::is_partial(b".r2r-partial-notes.txt"));
        assert!(!super::is_partial(b"r2r-partial-000000"));
    }
}
