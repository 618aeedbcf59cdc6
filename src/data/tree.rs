//! A tree of homes to read from: a mounted NFS export on disk, or an
//! object-storage prefix. Both yield the same [`Node`]s in the same order
//! (directory first, then its children sorted by name bytes), so the
//! archive and index do not depend on where the homes came from.

use std::io::Read;

use anyhow::Result;

use super::index::{Entry, RawPath, Skipped};

/// One entry of a home, as the walk found it, before its content is read.
#[derive(Debug, Clone)]
pub struct Node {
    /// Everything but `sha256` and `chunk`, which the chunk writer fills.
    pub entry: Entry,
    /// Where the content is: a path on disk or an object key.
    pub source: Vec<u8>,
    /// Data segments `(offset, length)` of a sparse file; `None` when the
    /// whole file is data.
    pub sparse: Option<Vec<(u64, u64)>>,
}

impl Node {
    /// Bytes the archive stores for this node's content.
    pub fn stored(&self) -> u64 {
        match &self.sparse {
            Some(segments) => segments.iter().map(|s| s.1).sum(),
            None => self.entry.size,
        }
    }
}

/// Decides which entries of a home are left out (`--exclude`).
pub trait Exclude: Sync {
    fn excluded(&self, rel: &[u8], is_dir: bool) -> bool;
}

/// A source of homes laid out as `<hub>/<home>/`.
pub trait Tree: Sync {
    /// Where the tree is, for messages.
    fn shown(&self) -> String;
    /// The hub directory itself, as an entry named `.`; `None` when the hub
    /// has no directory.
    fn hub(&self, hub: &str) -> Result<Option<Entry>>;
    /// The names of the homes under a hub, sorted by bytes, and what else
    /// lies directly under the hub and is not a home.
    fn homes(&self, hub: &str) -> Result<(Vec<RawPath>, Vec<Skipped>)>;
    /// Walks one home in archive order, calling `visit` for every entry;
    /// returns what it skipped.
    fn walk(
        &self,
        hub: &str,
        home: &RawPath,
        exclude: &dyn Exclude,
        visit: &mut dyn FnMut(Node) -> Result<()>,
    ) -> Result<Vec<Skipped>>;
    /// Opens a file node's content, positioned at `offset`.
    fn open(&self, node: &Node, offset: u64) -> std::io::Result<Box<dyn Read + Send + '_>>;
}
