//! Restoring into a local directory, without ever leaving it.
//!
//! Every operation is relative to a directory descriptor opened component
//! by component with `O_NOFOLLOW | O_DIRECTORY`, starting at the
//! destination. A symlink the bundle created earlier, or one already in the
//! destination, therefore cannot redirect a later write: the open fails and
//! the restore stops, naming the path. Files are written under a temporary
//! name and renamed with `RENAME_NOREPLACE` only after their hash matched.
//! Metadata is only ever set through a descriptor that was opened without
//! following symlinks (`fchown`, `fchmod`, `futimens`), never by name, so a
//! hub user who swaps a name for a symlink while a re-run works cannot
//! point root's chmod elsewhere; and a file already there with more hard
//! links than the index gives it is refused rather than touched.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rustix::fs::{
    AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, Timespec, Timestamps, chownat, fchmod,
    fchown, futimens, linkat, mkdirat, openat, openat2, readlinkat, renameat_with, statat,
    symlinkat, unlinkat, utimensat,
};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use super::index::{Entry, RawPath};
use super::target::{Existing, FileSink, Target};
use crate::bundle::digest::hex;

pub struct LocalTarget {
    root_path: PathBuf,
    root: OwnedFd,
    home: Option<OwnedFd>,
    shown_home: String,
    /// The last parent directory opened: its path in the home and its fd.
    cache: Option<(Vec<u8>, OwnedFd)>,
    as_root: bool,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl LocalTarget {
    /// Restores under `root`, which is created if missing and must be the
    /// running user's alone (see [`super::owned`]).
    pub fn open(root: &Path) -> Result<LocalTarget> {
        let fd = super::owned::open(root)?;
        Ok(LocalTarget {
            root_path: root.to_owned(),
            root: fd,
            home: None,
            shown_home: String::new(),
            cache: None,
            as_root: rustix::process::geteuid().is_root(),
        })
    }

    fn home_fd(&self) -> Result<BorrowedFd<'_>> {
        self.home
            .as_ref()
            .map(|f| f.as_fd())
            .ok_or_else(|| anyhow!("internal: no home begun"))
    }

    fn here(&self, rel: &[u8]) -> String {
        format!(
            "{}/{}",
            self.shown_home,
            crate::text::safe(&String::from_utf8_lossy(rel))
        )
    }

    /// Opens the directory `dir` of the current home, refusing any
    /// component that is a symlink or not a directory.
    fn open_dir(&self, dir: &[u8]) -> Result<OwnedFd> {
        let home = self.home_fd()?;
        if dir == b"." {
            return Ok(rustix::io::dup(home)?);
        }
        // One call where the kernel has openat2: it resolves the whole path
        // beneath the home and refuses any symlink on the way.
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match openat2(home, dir, DIR_FLAGS, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // No openat2 (an old kernel, or a seccomp filter): walk.
            Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {}
            Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => bail!(
                "{}: the path goes through a symlink or a non-directory; refusing to write through it",
                self.here(dir)
            ),
            Err(e) => bail!("{}: cannot open: {e}", self.here(dir)),
        }
        let mut fd = rustix::io::dup(home)?;
        for comp in dir.split(|&b| b == b'/') {
            fd = match openat(&fd, comp, DIR_FLAGS, Mode::empty()) {
                Ok(f) => f,
                Err(Errno::LOOP | Errno::NOTDIR) => bail!(
                    "{}: the path goes through a symlink or a non-directory; refusing to write through it",
                    self.here(dir)
                ),
                Err(e) => bail!("{}: cannot open: {e}", self.here(dir)),
            };
        }
        Ok(fd)
    }

    /// The parent directory of `path` and the final name.
    fn parent<'a>(&mut self, path: &'a [u8]) -> Result<(BorrowedFd<'_>, &'a [u8])> {
        let (dir, name) = split(path);
        let cached = matches!(&self.cache, Some((p, _)) if p.as_slice() == dir);
        if !cached {
            let fd = self.open_dir(dir)?;
            self.cache = Some((dir.to_vec(), fd));
        }
        match &self.cache {
            Some((_, fd)) => Ok((fd.as_fd(), name)),
            None => bail!("internal: no parent"),
        }
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

fn times(e: &Entry) -> Timestamps {
    let t = Timespec {
        tv_sec: e.mtime,
        tv_nsec: i64::from(e.mtime_nsec) as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn ids(e: &Entry) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        Some(rustix::fs::Uid::from_raw(e.uid)),
        Some(rustix::fs::Gid::from_raw(e.gid)),
    )
}

/// A name from a bundle used as one path component: never empty, `.`,
/// `..`, nor containing `/` or NUL.
fn component(name: &[u8], what: &str) -> Result<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        bail!(
            "{what} {:?} cannot be a directory name",
            String::from_utf8_lossy(name)
        );
    }
    Ok(())
}

fn mkdir_or_existing(dir: BorrowedFd<'_>, name: &[u8], shown: &str) -> Result<OwnedFd> {
    match mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => bail!("{shown}: cannot create: {e}"),
    }
    openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => {
            anyhow!(
                "{shown}: exists and is not a directory (or is a symlink); not restoring into it"
            )
        }
        e => anyhow!("{shown}: cannot open: {e}"),
    })
}

impl Target for LocalTarget {
    fn shown(&self) -> String {
        self.root_path.display().to_string()
    }

    fn begin_home(&mut self, hub: &str, home: &RawPath) -> Result<()> {
        self.cache = None;
        if hub.is_empty() && home.0.is_empty() {
            // A bucket: its objects go to the destination itself.
            self.shown_home = self.root_path.display().to_string();
            self.home = Some(rustix::io::dup(&self.root)?);
            return Ok(());
        }
        component(hub.as_bytes(), "hub")?;
        component(&home.0, "home")?;
        self.cache = None;
        let shown_hub = format!("{}/{hub}", self.root_path.display());
        let hub_fd = mkdir_or_existing(self.root.as_fd(), hub.as_bytes(), &shown_hub)?;
        self.shown_home = format!("{shown_hub}/{}", home.shown());
        self.home = Some(mkdir_or_existing(
            hub_fd.as_fd(),
            &home.0,
            &self.shown_home,
        )?);
        Ok(())
    }

    fn dir(&mut self, e: &Entry) -> Result<()> {
        if e.path.0 == b"." {
            return Ok(());
        }
        let shown = self.here(&e.path.0);
        let (parent, name) = self.parent(&e.path.0)?;
        mkdir_or_existing(parent, name, &shown).map(drop)
    }

    fn symlink(&mut self, e: &Entry) -> Result<()> {
        let target = e.target.as_ref().map(|t| t.0.clone()).unwrap_or_default();
        let shown = self.here(&e.path.0);
        let as_root = self.as_root;
        let (parent, name) = self.parent(&e.path.0)?;
        match symlinkat(target.as_slice(), parent, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let same = readlinkat(parent, name, Vec::new())
                    .map(|t| t.as_bytes() == target.as_slice())
                    .unwrap_or(false);
                if !same {
                    bail!("{shown}: something else is already there; not overwriting it");
                }
            }
            Err(err) => bail!("{shown}: cannot create the symlink: {err}"),
        }
        // Through a descriptor of the link itself, checked to be a link:
        // by name, a user who swapped in a hard link to another file would
        // have root chown that file.
        let link = openat(
            parent,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("{shown}: cannot open the symlink"))?;
        let st = rustix::fs::fstat(&link).with_context(|| format!("{shown}: cannot check it"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            bail!("{shown}: is no longer the symlink restored; not touching it");
        }
        if as_root {
            let (u, g) = ids(e);
            chownat(&link, "", u, g, AtFlags::EMPTY_PATH)
                .with_context(|| format!("{shown}: cannot set the owner"))?;
        }
        utimensat(&link, "", &times(e), AtFlags::EMPTY_PATH)
            .with_context(|| format!("{shown}: cannot set times"))
    }

    fn hardlink(&mut self, e: &Entry) -> Result<()> {
        let target = e.target.as_ref().map(|t| t.0.clone()).unwrap_or_default();
        let shown = self.here(&e.path.0);
        let (tdir, tname) = split(&target);
        let tfd = self.open_dir(tdir)?;
        let (parent, name) = self.parent(&e.path.0)?;
        match linkat(&tfd, tname, parent, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let a = statat(&tfd, tname, AtFlags::SYMLINK_NOFOLLOW)?;
                let b = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) {
                    Ok(())
                } else {
                    bail!("{shown}: something else is already there; not overwriting it")
                }
            }
            Err(err) => bail!("{shown}: cannot create the hard link: {err}"),
        }
    }

    fn existing(&mut self, e: &Entry) -> Result<Existing> {
        let shown = self.here(&e.path.0);
        let as_root = self.as_root;
        let (parent, name) = self.parent(&e.path.0)?;
        // Opened without following a symlink and without blocking on a
        // FIFO; everything after is done through this descriptor, so a
        // name swapped meanwhile cannot redirect a chmod or chown.
        let fd = match openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Err(Errno::NOENT) => return Ok(Existing::Absent),
            Err(Errno::LOOP) => {
                bail!("{shown}: a symlink is already there; not overwriting it")
            }
            Err(err) => bail!("{shown}: cannot check it: {err}"),
            Ok(fd) => fd,
        };
        let st = rustix::fs::fstat(&fd).with_context(|| format!("{shown}: cannot check it"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_size as u64 != e.size {
            bail!("{shown}: a different file is already there; not overwriting it");
        }
        // Another name for the same inode may lie outside the destination:
        // only a file the index says is hard-linked may have one.
        if st.st_nlink > 1 && e.link_group == 0 {
            bail!(
                "{shown}: the file already there has {} hard links, and the signed index says it has none; not touching it",
                st.st_nlink
            );
        }
        let mut f = File::from(fd);
        let mut h = Sha256::new();
        io::copy(&mut f, &mut h).with_context(|| format!("{shown}: cannot read it"))?;
        if Some(hex(&h.finalize())) != e.sha256 {
            bail!("{shown}: a different file is already there; not overwriting it");
        }
        apply_meta_fd(&f, e, as_root).with_context(|| format!("{shown}: cannot set metadata"))?;
        Ok(Existing::Same)
    }

    fn file(&mut self, e: &Entry) -> Result<Box<dyn FileSink + '_>> {
        let shown = self.here(&e.path.0);
        let as_root = self.as_root;
        let (parent, name) = self.parent(&e.path.0)?;
        let parent = rustix::io::dup(parent)?;
        let tmp = format!(".r2r-partial-{:016x}", next_tmp_id());
        let fd = openat(
            &parent,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("{shown}: cannot create a temporary file"))?;
        Ok(Box::new(LocalFile {
            file: File::from(fd),
            parent,
            tmp,
            name: name.to_vec(),
            entry: e.clone(),
            pos: 0,
            shown,
            as_root,
        }))
    }

    fn finish_dir(&mut self, e: &Entry) -> Result<()> {
        let fd = self.open_dir(&e.path.0)?;
        apply_meta_fd(&fd, e, self.as_root)
            .with_context(|| format!("{}: cannot set metadata", self.here(&e.path.0)))
    }

    fn finish_hub(&mut self, hub: &str, dir: &Entry) -> Result<()> {
        component(hub.as_bytes(), "hub")?;
        let fd = openat(&self.root, hub, DIR_FLAGS, Mode::empty())
            .with_context(|| format!("{}/{hub}: cannot open", self.root_path.display()))?;
        apply_meta_fd(&fd, dir, self.as_root)
            .with_context(|| format!("{}/{hub}: cannot set metadata", self.root_path.display()))?;
        // Durability once per hub rather than per file: one syncfs costs
        // what a single fsync does, and the restore's checks catch a file
        // lost to a crash before it.
        rustix::fs::syncfs(&fd).ok();
        Ok(())
    }

    fn restores_owners(&self) -> bool {
        self.as_root
    }
}

/// Owner first (chown clears setgid), then mode, then times.
fn apply_meta_fd(fd: &impl AsFd, e: &Entry, as_root: bool) -> Result<()> {
    if as_root {
        let (u, g) = ids(e);
        fchown(fd, u, g)?;
    }
    fchmod(fd, Mode::from_raw_mode(e.mode))?;
    futimens(fd, &times(e))?;
    Ok(())
}

struct LocalFile {
    file: File,
    parent: OwnedFd,
    tmp: String,
    name: Vec<u8>,
    entry: Entry,
    pos: u64,
    shown: String,
    as_root: bool,
}

/// Runs of zeros at least this long become holes, so sparse files stay
/// sparse and nothing is written that the filesystem would store as zeros.
const HOLE: usize = 64 << 10;

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for piece in buf.chunks(HOLE) {
            if piece.len() < HOLE || !is_zero(piece) {
                self.file.write_all_at(piece, self.pos)?;
            }
            self.pos += piece.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

impl FileSink for LocalFile {
    fn commit(self: Box<Self>) -> Result<()> {
        let s = *self;
        let done = (|| -> Result<()> {
            s.file.set_len(s.pos)?;
            apply_meta_fd(&s.file, &s.entry, s.as_root)?;
            renameat_with(
                &s.parent,
                s.tmp.as_str(),
                &s.parent,
                s.name.as_slice(),
                RenameFlags::NOREPLACE,
            )
            .map_err(|e| match e {
                Errno::EXIST => anyhow!("something is already there; not overwriting it"),
                e => anyhow!("cannot rename into place: {e}"),
            })
        })();
        if let Err(e) = done {
            unlinkat(&s.parent, s.tmp.as_str(), AtFlags::empty()).ok();
            return Err(e.context(s.shown));
        }
        Ok(())
    }

    fn abort(self: Box<Self>) {
        unlinkat(&self.parent, self.tmp.as_str(), AtFlags::empty()).ok();
    }
}

/// Temporary names are created with `O_EXCL`, so they need only be unlikely
/// to collide with each other, not unpredictable.
fn next_tmp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (u64::from(std::process::id()) << 32) | NEXT.fetch_add(1, Ordering::Relaxed)
}
