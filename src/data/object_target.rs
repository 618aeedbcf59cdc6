//! Restoring to object storage (placeholder until the opendal backend lands).
use super::location::ObjectUrl;
use anyhow::{Result, bail};
pub struct ObjectTarget;
impl ObjectTarget {
    pub fn open(_o: &ObjectUrl) -> Result<Box<dyn super::target::Target>> {
        bail!("object storage is not wired yet")
    }
}
