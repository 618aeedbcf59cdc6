//! Homes in object storage (placeholder until the opendal backend lands).
use super::location::ObjectUrl;
use anyhow::{Result, bail};
pub struct ObjectTree;
impl ObjectTree {
    pub fn open(_o: &ObjectUrl) -> Result<Box<dyn super::tree::Tree>> {
        bail!("object storage is not wired yet")
    }
}
