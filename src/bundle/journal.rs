//! The export journal: which members of an unfinished bundle are complete,
//! so that an interrupted export resumes after the last complete member
//! instead of starting over (`r2r export --resume`).
//!
//! It is a JSON Lines file beside the partial bundle, never inside it. The
//! first line records the creation time; each later line one member, added
//! after the member's bytes were written and synced. A line is only
//! believed if the member's bytes in the partial bundle still hash to it.
//!
//! The journal is also the export's lock: the export that writes a partial
//! holds an exclusive `flock` on its journal from before it touches
//! anything beside the output until the bundle has its final name. A second
//! export of the same output (a `--resume` while the first still runs, as
//! when SIGKILL reached a wrapper and not r2r) is refused instead of
//! writing into the same partial. The kernel drops the lock when its holder
//! dies, however it dies, so a killed export never blocks its resume.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Longest journal read back: a chunk's line carries its index lines
/// (20,000 entries at most), so even thousands of chunks stay far below.
const MAX_JOURNAL_BYTES: u64 = 4 << 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Start {
    pub r2r_export_journal: u32,
    pub created: u64,
}

/// One complete member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub path: String,
    pub kind: String,
    pub size: u64,
    pub sha256: String,
    /// Where the member's data starts in a tar partial; 0 for a directory.
    pub offset: u64,
    /// Where the partial ends after this member.
    pub end: u64,
    /// What the producer needs to skip redoing the member (a chunk's index
    /// lines).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// A journal this process holds the lock of.
pub struct Journal {
    file: File,
    pub path: PathBuf,
}

impl Journal {
    pub fn path_for(partial: &Path) -> PathBuf {
        let mut p = partial.as_os_str().to_owned();
        p.push(".journal");
        PathBuf::from(p)
    }

    /// Takes the journal of `partial` for this export alone, creating it
    /// (empty) when `create`. `None`: there is none and `create` is false.
    /// Fails at once if another export holds it.
    pub fn lock(partial: &Path, create: bool) -> Result<Option<Journal>> {
        let path = Self::path_for(partial);
        loop {
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot open the export journal {}", path.display())
                    });
                }
            };
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                    "another r2r export is writing this bundle: it holds {}\nhint: wait for it to finish or stop it; once it has stopped, --resume continues what it completed",
                    path.display()
                ),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
            // An export that finished meanwhile removed the name it held;
            // a lock on that unlinked file guards nothing.
            if still_named(&file, &path)? {
                return Ok(Some(Journal { file, path }));
            }
            if !create {
                return Ok(None);
            }
        }
    }

    /// Nothing recorded yet: created by this lock, or by an export killed
    /// before it wrote its first line.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.file.metadata()?.len() == 0)
    }

    /// Starts the journal of a new export.
    pub fn start(&mut self, created: u64) -> Result<()> {
        let start = Start {
            r2r_export_journal: 1,
            created,
        };
        self.rewrite(&start, &[])
    }

    /// Reads the journal: its start and every member line that parses, in
    /// order. A torn last line (a crash mid-write) is ignored.
    pub fn read(&mut self) -> Result<(Start, Vec<Done>)> {
        self.file.seek(SeekFrom::Start(0))?;
        let shown = self.path.display();
        let mut lines = BufReader::new((&self.file).take(MAX_JOURNAL_BYTES)).lines();
        let first = lines
            .next()
            .transpose()
            .with_context(|| format!("cannot read the export journal {shown}"))?
            .with_context(|| format!("{shown} is empty"))?;
        let start: Start = serde_json::from_str(&first)
            .with_context(|| format!("{shown} is not an r2r export journal"))?;
        let mut done = Vec::new();
        for line in lines {
            match line
                .ok()
                .and_then(|l| serde_json::from_str::<Done>(&l).ok())
            {
                Some(d) => done.push(d),
                None => break,
            }
        }
        Ok((start, done))
    }

    /// Rewrites the journal with `start` and the members kept.
    pub fn rewrite(&mut self, start: &Start, kept: &[Done]) -> Result<()> {
        let shown = self.path.display().to_string();
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            let mut out = std::io::BufWriter::new(&mut *file);
            serde_json::to_writer(&mut out, start)?;
            out.write_all(b"\n")?;
            for d in kept {
                serde_json::to_writer(&mut out, d)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            drop(out);
            file.sync_data()
        };
        write(&mut self.file).with_context(|| format!("cannot write the export journal {shown}"))
    }

    pub fn record(&mut self, done: &Done) -> Result<()> {
        serde_json::to_writer(&mut self.file, done)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        Ok(())
    }

    /// Removes the journal, then lets go of the lock.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open `file`.
fn still_named(file: &File, path: &Path) -> Result<bool> {
    let held = file.metadata()?;
    Ok(match path.symlink_metadata() {
        Ok(m) => m.dev() == held.dev() && m.ino() == held.ino(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
    })
}
