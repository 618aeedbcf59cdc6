//! Writing one chunk: a complete `.tar.gz` holding a run of a home's
//! entries, with every file hashed on the way through.

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::gz::{self, GzWriter};
use super::index::{Entry, Skipped, Type};
use super::tarball;
use super::tree::{Node, Tree};

const BUF: usize = 256 << 10;

/// A run of nodes to pack into chunk `number` of home `home`.
pub struct Job {
    pub seq: u64,
    pub home: usize,
    pub number: u32,
    pub nodes: Vec<Node>,
}

pub struct Done {
    pub seq: u64,
    pub home: usize,
    pub number: u32,
    pub file: tempfile::NamedTempFile,
    /// The index lines of the entries written, in order.
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
    /// Logical bytes of file content read.
    pub bytes: u64,
}

/// Packs `job` into a temporary file in `dir`. `level` is the deflate
/// level for data that compresses.
pub fn write(tree: &dyn Tree, job: Job, dir: &Path, level: u32) -> Result<Done> {
    let tmp = tempfile::Builder::new()
        .prefix(".r2r-chunk-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a chunk file in {}", dir.display()))?;
    let out = BufWriter::with_capacity(BUF, tmp.as_file().try_clone()?);
    let mut gz = GzWriter::new(out, level);
    let mut done = Done {
        seq: job.seq,
        home: job.home,
        number: job.number,
        file: tmp,
        entries: Vec::with_capacity(job.nodes.len()),
        skipped: Vec::new(),
        warnings: Vec::new(),
        bytes: 0,
    };
    let mut buf = vec![0u8; BUF];
    for node in job.nodes {
        let mut entry = node.entry.clone();
        entry.chunk = job.number;
        if entry.kind != Type::File {
            gz.set_level(level)?;
            tarball::write_headers(&mut gz, &entry, 0, None)?;
            done.entries.push(entry);
            continue;
        }
        match write_file(tree, &node, &mut entry, &mut gz, level, &mut buf) {
            Ok(note) => {
                done.bytes += entry.size;
                if let Some(n) = note {
                    done.warnings.push(format!("{}: {n}", entry.path.shown()));
                }
                done.entries.push(entry);
            }
            Err(FileError::Source(e)) => done.skipped.push(Skipped {
                path: entry.path.clone(),
                reason: format!("cannot be read: {e}"),
            }),
            Err(FileError::Sink(e)) => {
                return Err(e).context("cannot write a chunk (is the disk full?)");
            }
        }
    }
    tarball::finish(&mut gz)?;
    gz.finish()?
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_data()?;
    Ok(done)
}

enum FileError {
    /// Reading the source failed before anything was written.
    Source(io::Error),
    /// Writing failed, or the source failed midway: the chunk is broken.
    Sink(io::Error),
}

/// Writes one file's headers and data; fills `entry.sha256`. Returns a note
/// when the file changed size while it was read (the archive then holds
/// what was read, zero-padded, and the index agrees with the archive).
fn write_file<W: Write>(
    tree: &dyn Tree,
    node: &Node,
    entry: &mut Entry,
    gz: &mut GzWriter<W>,
    level: u32,
    buf: &mut [u8],
) -> Result<Option<String>, FileError> {
    let segments: Vec<(u64, u64)> = match &node.sparse {
        Some(s) => s.clone(),
        None => vec![(0, entry.size)],
    };
    let stored: u64 = segments.iter().map(|s| s.1).sum();
    // Open the first segment and probe it before any header is written, so
    // an unreadable file is skipped cleanly.
    let mut first = tree
        .open(node, segments.first().map_or(0, |s| s.0))
        .map_err(FileError::Source)?;
    let want = buf.len().min(stored as usize);
    let head_len = read_full(&mut first, &mut buf[..want]).map_err(FileError::Source)?;
    let squash = stored >= gz::PROBE_BYTES as u64 && gz::incompressible(&buf[..head_len]);
    gz.set_level(if squash { 0 } else { level })
        .map_err(FileError::Sink)?;
    tarball::write_headers(gz, entry, stored, node.sparse.as_deref()).map_err(FileError::Sink)?;

    let mut hasher = Sha256::new();
    let mut logical = 0u64;
    let mut short = false;
    let mut head = Some((first, head_len));
    for &(offset, len) in &segments {
        hash_zeros(&mut hasher, offset - logical);
        let (mut src, mut have) = match head.take() {
            Some(h) => h,
            None if len == 0 => (Box::new(io::empty()) as Box<dyn Read + Send>, 0),
            None => (tree.open(node, offset).map_err(FileError::Sink)?, 0),
        };
        let mut left = len;
        loop {
            let n = have.min(left as usize);
            gz.write_all(&buf[..n]).map_err(FileError::Sink)?;
            hasher.update(&buf[..n]);
            left -= n as u64;
            if left == 0 {
                break;
            }
            let want = buf.len().min(left as usize);
            have = read_full(&mut src, &mut buf[..want]).map_err(FileError::Sink)?;
            if have == 0 {
                // The file shrank: keep the archive's framing with zeros.
                short = true;
                let zeros = [0u8; 4096];
                while left > 0 {
                    let z = left.min(zeros.len() as u64) as usize;
                    gz.write_all(&zeros[..z]).map_err(FileError::Sink)?;
                    hasher.update(&zeros[..z]);
                    left -= z as u64;
                }
                break;
            }
        }
        logical = offset + len;
    }
    hash_zeros(&mut hasher, entry.size - logical.min(entry.size));
    tarball::pad(gz, stored).map_err(FileError::Sink)?;
    entry.sha256 = Some(crate::bundle::digest::hex(&hasher.finalize()));
    Ok(short.then(|| "shrank while it was read; the missing end is carried as zeros".to_owned()))
}

fn hash_zeros(h: &mut Sha256, mut n: u64) {
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        h.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// Reads until `buf` is full or the source ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
