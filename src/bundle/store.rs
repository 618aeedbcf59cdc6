//! The two forms a bundle is stored in — one tar file or a directory — behind
//! one small interface, so that writing, reading and verifying never branch
//! on the form.

use std::io::{self, Read};

use anyhow::Result;

use super::layout::MemberPath;

/// One member as the store holds it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: MemberPath,
    pub size: u64,
    /// Byte offset of the data in a tar bundle; unused for directories.
    pub offset: u64,
}

/// Where a writer puts members.
pub trait Sink {
    /// Stores one member of exactly `size` bytes read from `data`.
    fn put(&mut self, path: &MemberPath, size: u64, data: &mut dyn Read) -> io::Result<()>;
    /// Makes the finished bundle appear at its final path, all at once.
    fn commit(self: Box<Self>, replace: bool) -> Result<()>;
    /// Where the unfinished bundle is.
    fn partial(&self) -> &std::path::Path;
    /// Bytes written so far (a tar partial's length; 0 for a directory).
    fn position(&self) -> u64;
    /// Makes what is written so far durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Leaves the unfinished bundle in place if the export fails, so that
    /// `--resume` can continue it.
    fn keep_on_failure(&mut self);
}

/// A store that cannot be read as a bundle at all.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("malformed bundle: {0}")]
    Malformed(String),
    #[error("unsafe member {member:?}: {reason}")]
    Unsafe { member: String, reason: String },
    #[error("cannot read the bundle: {0}")]
    Io(#[source] io::Error),
}
