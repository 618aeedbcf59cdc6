//! Writing files so that nothing half-written ever carries a final name.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Creates `path` with `contents` and `mode`, failing if anything is already
/// there. The bytes go to a temporary sibling first, so a crash leaves either
/// nothing or the whole file.
pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_via_temp(path, contents, mode, false)
}

/// Writes `path` whole, replacing what is there only once the new bytes
/// are safely on disk.
pub(crate) fn write_replacing(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_via_temp(path, contents, mode, true)
}

fn write_via_temp(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = parent_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".r2r-partial-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let persisted = if replace {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    persisted
        .map_err(|e| e.error)
        .with_context(|| format!("cannot create {}", path.display()))?;
    sync_dir(dir);
    Ok(())
}

/// The directory a path lives in, `.` for a bare file name.
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename durable. Best effort: some filesystems refuse to fsync a
/// directory, and the rename itself has already happened.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens a file for reading without following a final symlink, so that a
/// file swapped for a link after it was checked is refused, not followed.
pub(crate) fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Removes a directory tree left by an earlier replaced output, ignoring a
/// tree that is already gone.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
