//! The export journal: which members of an unfinished bundle are complete,
//! so that an interrupted export resumes after the last complete member
//! instead of starting over (`r2r export --resume`).
//!
//! It is a JSON Lines file beside the partial bundle, never inside it. The
//! first line records the creation time; each later line one member, added
//! after the member's bytes were written and synced. A line is only
//! believed if the member's bytes in the partial bundle still hash to it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

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

    pub fn create(partial: &Path, created: u64) -> Result<Journal> {
        let path = Self::path_for(partial);
        let mut file = File::create(&path)
            .with_context(|| format!("cannot create the export journal {}", path.display()))?;
        let start = Start {
            r2r_export_journal: 1,
            created,
        };
        serde_json::to_writer(&mut file, &start)?;
        file.write_all(b"\n")?;
        file.sync_data()?;
        Ok(Journal { file, path })
    }

    /// Reads a journal: its start and every member line that parses, in
    /// order. A torn last line (a crash mid-write) is ignored.
    pub fn read(partial: &Path) -> Result<(Start, Vec<Done>)> {
        let path = Self::path_for(partial);
        let file = File::open(&path)
            .with_context(|| format!("cannot read the export journal {}", path.display()))?;
        let mut lines = BufReader::new(file).lines();
        let first = lines
            .next()
            .transpose()?
            .with_context(|| format!("{} is empty", path.display()))?;
        let start: Start = serde_json::from_str(&first)
            .with_context(|| format!("{} is not an r2r export journal", path.display()))?;
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

    /// Continues a journal, rewriting it with the members kept.
    pub fn rewrite(partial: &Path, start: &Start, kept: &[Done]) -> Result<Journal> {
        let path = Self::path_for(partial);
        let mut file = OpenOptions::new().write(true).truncate(true).open(&path)?;
        serde_json::to_writer(&mut file, start)?;
        file.write_all(b"\n")?;
        for d in kept {
            serde_json::to_writer(&mut file, d)?;
            file.write_all(b"\n")?;
        }
        file.sync_data()?;
        Ok(Journal { file, path })
    }

    pub fn record(&mut self, done: &Done) -> Result<()> {
        serde_json::to_writer(&mut self.file, done)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        Ok(())
    }

    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Members carried over from an interrupted export, claimed as the new
/// export reaches them.
#[derive(Default)]
pub struct Resumed {
    pub by_path: HashMap<String, Done>,
}
