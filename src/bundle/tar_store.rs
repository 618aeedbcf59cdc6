//! The single-file form of a bundle: one uncompressed tar.
//!
//! r2r writes and accepts a strict subset of POSIX ustar: every entry is a
//! regular file (type `0`) with a ustar header, and nothing else — no
//! directories, links, devices, GNU or PAX extension headers. Any tar reads
//! it; and because r2r refuses everything outside the subset, no entry can
//! mean one thing to r2r and another to the auditor's `tar`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tar::{EntryType, Header};

use super::layout::MemberPath;
use super::store::{Entry, Sink, StoreError};
use crate::fsutil;

const BLOCK: u64 = 512;

pub struct TarSink {
    builder: Option<tar::Builder<BufWriter<File>>>,
    tmp_path: PathBuf,
    output: PathBuf,
    mtime: u64,
    position: u64,
    keep: bool,
}

impl TarSink {
    pub fn create(output: &Path, mtime: u64) -> Result<TarSink> {
        let dir = fsutil::parent_of(output);
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        // A leading dot and a `.partial` suffix: an interrupted export leaves
        // nothing that looks like a bundle.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let (file, tmp_path) = tmp.into_parts();
        let tmp_path = tmp_path
            .keep()
            .map_err(|e| anyhow::anyhow!("cannot keep {}: {e}", dir.display()))?;
        Ok(TarSink::over(file, tmp_path, output, mtime, 0))
    }

    /// Starts the partial of a resumable export at `partial`. Refuses to
    /// start over an existing one.
    pub fn create_resumable(partial: &Path, output: &Path, mtime: u64) -> Result<TarSink> {
        let file = File::create_new(partial).with_context(|| {
            format!("cannot create {} (an interrupted export? pass --resume to continue it, or --force to start over)", partial.display())
        })?;
        Ok(TarSink::over(file, partial.to_owned(), output, mtime, 0))
    }

    /// Continues the partial at `partial`, cut back to `end` bytes (the
    /// last member the journal vouches for).
    pub fn resume(partial: &Path, output: &Path, mtime: u64, end: u64) -> Result<TarSink> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(partial)
            .with_context(|| format!("cannot open {}", partial.display()))?;
        file.set_len(end)
            .and_then(|()| (&file).seek(io::SeekFrom::Start(end)).map(drop))
            .with_context(|| format!("cannot cut {} back to {end} bytes", partial.display()))?;
        Ok(TarSink::over(file, partial.to_owned(), output, mtime, end))
    }

    fn over(file: File, tmp_path: PathBuf, output: &Path, mtime: u64, position: u64) -> TarSink {
        let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
        builder.mode(tar::HeaderMode::Deterministic);
        TarSink {
            builder: Some(builder),
            tmp_path,
            output: output.to_owned(),
            mtime,
            position,
            keep: false,
        }
    }
}

impl Drop for TarSink {
    fn drop(&mut self) {
        // After a commit the builder is gone and the file renamed.
        if self.builder.is_some() && !self.keep {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

impl Sink for TarSink {
    fn put(&mut self, path: &MemberPath, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let mut header = Header::new_ustar();
        header.set_path(path.as_str())?;
        header.set_entry_type(EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        header.set_cksum();
        let builder = self
            .builder
            .as_mut()
            .ok_or_else(|| io::Error::other("bundle already committed"))?;
        builder.append(&header, data)?;
        self.position += BLOCK + size.div_ceil(BLOCK) * BLOCK;
        Ok(())
    }

    fn partial(&self) -> &Path {
        &self.tmp_path
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn sync(&mut self) -> io::Result<()> {
        match self.builder.as_mut() {
            Some(b) => {
                b.get_mut().flush()?;
                b.get_ref().get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    fn keep_on_failure(&mut self) {
        self.keep = true;
    }

    fn commit(mut self: Box<Self>, replace: bool) -> Result<()> {
        let builder = self
            .builder
            .take()
            .ok_or_else(|| anyhow::anyhow!("bundle already committed"))?;
        let tmp_path = self.tmp_path.clone();
        let output = self.output.clone();
        let finished = builder
            .into_inner()
            .and_then(|w| w.into_inner().map_err(std::io::IntoInnerError::into_error))
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot finish writing {}", tmp_path.display()));
        let moved = finished.and_then(|()| {
            let flags = if replace {
                rustix::fs::RenameFlags::empty()
            } else {
                rustix::fs::RenameFlags::NOREPLACE
            };
            rustix::fs::renameat_with(rustix::fs::CWD, &tmp_path, rustix::fs::CWD, &output, flags)
                .with_context(|| format!("cannot move the finished bundle to {}", output.display()))
        });
        if let Err(e) = moved {
            if !self.keep {
                let _ = std::fs::remove_file(&tmp_path);
            }
            return Err(e);
        }
        fsutil::sync_dir(fsutil::parent_of(&output));
        Ok(())
    }
}

/// Reads every header of a tar bundle, seeking over data, and checks the
/// framing: checksums, the ustar subset, that each member's data fits in
/// the file, and the end-of-archive marker. Member contents are not read.
pub fn scan(file: &File) -> Result<Vec<Entry>, StoreError> {
    let len = file.metadata().map_err(StoreError::Io)?.len();
    let mut entries = Vec::new();
    let mut pos = 0u64;
    let mut block = [0u8; BLOCK as usize];
    loop {
        if pos + BLOCK > len {
            return Err(StoreError::Malformed(format!(
                "truncated: the archive ends at byte {len} without an end-of-archive marker"
            )));
        }
        file.read_exact_at(&mut block, pos)
            .map_err(StoreError::Io)?;
        if block.iter().all(|&b| b == 0) {
            check_trailer(file, pos, len)?;
            return Ok(entries);
        }
        let header = Header::from_byte_slice(&block);
        let entry = parse_header(header, pos)?;
        let data_end = pos + BLOCK + entry.size;
        let next = pos + BLOCK + entry.size.div_ceil(BLOCK) * BLOCK;
        if next > len {
            return Err(StoreError::Malformed(format!(
                "truncated: member {} declares {} bytes but the archive ends at byte {len}",
                entry.path, entry.size
            )));
        }
        check_zeros(file, data_end, next, &entry.path)?;
        entries.push(entry);
        pos = next;
    }
}

/// The member whose header is at byte `pos` of a tar bundle.
pub fn header_at(file: &File, pos: u64) -> Result<Entry, StoreError> {
    let mut block = [0u8; BLOCK as usize];
    file.read_exact_at(&mut block, pos)
        .map_err(StoreError::Io)?;
    parse_header(Header::from_byte_slice(&block), pos)
}

fn parse_header(header: &Header, pos: u64) -> Result<Entry, StoreError> {
    let at = |what: String| StoreError::Malformed(format!("header at byte {pos}: {what}"));
    let stored = header
        .cksum()
        .map_err(|_| at("unreadable checksum".into()))?;
    let computed: u32 = header.as_bytes()[..148]
        .iter()
        .chain(&header.as_bytes()[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    if stored != computed {
        return Err(at("checksum mismatch".into()));
    }
    let raw_path = header.path_bytes();
    let shown = String::from_utf8_lossy(&raw_path).into_owned();
    let ustar = header.as_ustar().is_some();
    let entry_type = header.entry_type();
    if header.as_bytes()[156] != b'0' {
        let what = match entry_type {
            EntryType::Symlink | EntryType::Link => "a link",
            EntryType::Char | EntryType::Block | EntryType::Fifo => "a device or FIFO",
            EntryType::Directory => "a directory entry",
            EntryType::GNULongName
            | EntryType::GNULongLink
            | EntryType::XHeader
            | EntryType::XGlobalHeader => "an extension header (GNU long name or PAX)",
            _ => "not a regular file",
        };
        return Err(StoreError::Unsafe {
            member: shown,
            reason: format!("{what}; a bundle holds regular files only"),
        });
    }
    if !ustar {
        return Err(at(format!(
            "member {shown} does not have a POSIX ustar header"
        )));
    }
    let text = std::str::from_utf8(&raw_path).map_err(|_| StoreError::Unsafe {
        member: shown.clone(),
        reason: "name is not UTF-8".into(),
    })?;
    let path = MemberPath::parse(text).map_err(|e| StoreError::Unsafe {
        member: shown.clone(),
        reason: e.to_string(),
    })?;
    let size = header
        .entry_size()
        .map_err(|_| at(format!("member {shown} has an unreadable size")))?;
    Ok(Entry {
        path,
        size,
        offset: pos + BLOCK,
    })
}

/// The padding after a member's data must be zeros: no byte of a bundle
/// goes unchecked.
fn check_zeros(file: &File, from: u64, to: u64, member: &MemberPath) -> Result<(), StoreError> {
    let mut pad = [0u8; BLOCK as usize];
    let n = (to - from) as usize;
    file.read_exact_at(&mut pad[..n], from)
        .map_err(StoreError::Io)?;
    if pad[..n].iter().any(|&b| b != 0) {
        return Err(StoreError::Malformed(format!(
            "non-zero padding after member {member}"
        )));
    }
    Ok(())
}

/// After the first zero block: a second one, then nothing but zeros (tar
/// pads archives to its record size with zeros).
fn check_trailer(file: &File, pos: u64, len: u64) -> Result<(), StoreError> {
    if pos + 2 * BLOCK > len {
        return Err(StoreError::Malformed(
            "truncated: the end-of-archive marker is incomplete".into(),
        ));
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut at = pos + BLOCK;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        file.read_exact_at(&mut buf[..n], at)
            .map_err(StoreError::Io)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(StoreError::Malformed(format!(
                "data after the end-of-archive marker at byte {at}"
            )));
        }
        at += n as u64;
    }
    Ok(())
}

/// A member's bytes inside the tar file, read with positioned reads so that
/// several threads can share one file handle.
pub struct MemberReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl<'a> MemberReader<'a> {
    pub fn new(file: &'a File, entry: &Entry) -> Self {
        MemberReader {
            file,
            pos: entry.offset,
            end: entry.offset + entry.size,
        }
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "bundle file shrank while being read",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
