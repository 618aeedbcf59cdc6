//! Directories r2r writes into (an install directory, a restore
//! destination) must be the running user's alone. One someone else owns,
//! or may write to, lets them plant a symlink (`homes -> elsewhere`) or
//! edit a file (NEXT-STEPS.md) between our writes; on a shared machine
//! (`/tmp`) they can make it before r2r runs. The check is made on the
//! opened descriptor, so the directory checked is the directory used.

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::fs::{Mode, OFlags};

/// Opens `path` (not through a symlink) and refuses it unless the
/// effective user owns it and neither group nor others may write to it.
/// A missing directory is created first, 0755, as the effective user's.
pub fn open(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("cannot create {}", path.display()));
        }
        _ => {}
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).with_context(|| {
        format!(
            "cannot open {} as a directory (a symlink is not followed)",
            path.display()
        )
    })?;
    let st = rustix::fs::fstat(&fd).with_context(|| format!("cannot stat {}", path.display()))?;
    check(
        path,
        st.st_uid,
        st.st_mode,
        rustix::process::geteuid().as_raw(),
    )?;
    Ok(fd)
}

/// The rule itself, apart from the system calls.
fn check(path: &Path, uid: u32, mode: u32, euid: u32) -> Result<()> {
    let perm = mode & 0o7777;
    if uid != euid {
        bail!(
            "{} is owned by uid {uid} (mode {perm:o}), not by the user running r2r (uid {euid}); \
             its owner could change what r2r writes there\n\
             hint: choose a directory of your own, or a path that does not exist yet for r2r to create",
            path.display()
        );
    }
    if perm & 0o022 != 0 {
        bail!(
            "{} may be written by its group or by others (mode {perm:o}); they could change what r2r writes there\n\
             hint: `chmod go-w {}`, or choose a path that does not exist yet for r2r to create",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_own_unshared_directories_pass() {
        let p = Path::new("/x");
        assert!(check(p, 1000, 0o40755, 1000).is_ok());
        assert!(check(p, 1000, 0o40700, 1000).is_ok());
        let e = format!("{:#}", check(p, 65534, 0o40755, 1000).unwrap_err());
        assert!(e.contains("uid 65534") && e.contains("755"), "{e}");
        let e = format!("{:#}", check(p, 1000, 0o40775, 1000).unwrap_err());
        assert!(e.contains("775"), "{e}");
        assert!(check(p, 1000, 0o41777, 1000).is_err());
        assert!(check(p, 0, 0o40757, 0).is_err());
    }
}
