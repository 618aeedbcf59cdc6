//! Where restored homes go: a local directory or object storage. The
//! restore core ([`super::restore`]) decides what is safe and correct;
//! a target only writes what it is handed, in index order.

use std::io::Write;

use anyhow::Result;

use super::index::{Entry, RawPath};

/// A file being written under a temporary name.
pub trait FileSink: Write {
    /// Gives the file its final name and metadata. Called only once its
    /// content matched the signed hash.
    fn commit(self: Box<Self>) -> Result<()>;
    /// Throws the partial file away.
    fn abort(self: Box<Self>);
}

/// What a target says about an entry that is already there.
pub enum Existing {
    /// Nothing there yet.
    Absent,
    /// The same content is there (an earlier, interrupted restore): skip.
    Same,
}

/// `Send`: homes are restored in parallel, one target per thread.
pub trait Target: Send {
    /// Where this target is, for messages.
    fn shown(&self) -> String;
    /// Begins a home: `hub/<home>/` is about to be filled.
    fn begin_home(&mut self, hub: &str, home: &RawPath) -> Result<()>;
    fn dir(&mut self, e: &Entry) -> Result<()>;
    fn symlink(&mut self, e: &Entry) -> Result<()>;
    /// `e.target` names a file of this home restored earlier.
    fn hardlink(&mut self, e: &Entry) -> Result<()>;
    /// Whether the file is already there with this content, so a rerun
    /// after an interruption need not write it again. Refuses a different
    /// file in the way: restore never overwrites.
    fn existing(&mut self, e: &Entry) -> Result<Existing>;
    fn file(&mut self, e: &Entry) -> Result<Box<dyn FileSink + '_>>;
    /// Sets a directory's owner, mode and times once nothing more will be
    /// created in it. Called for every directory after the home is written.
    fn finish_dir(&mut self, e: &Entry) -> Result<()>;
    /// Sets the hub directory's own metadata after all its homes.
    fn finish_hub(&mut self, hub: &str, dir: &Entry) -> Result<()>;
    /// Whether owners are being restored (local, as root).
    fn restores_owners(&self) -> bool;
}
