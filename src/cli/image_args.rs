//! The export flags for container images; see `docs/images.md`.

use anyhow::{Result, bail};

use crate::images::export::Request;
use crate::images::registry::{DEFAULT_RETRIES, retry_policy};
use crate::progress::Reporter;

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Container images")]
pub(super) struct ImageArgs {
    /// Carry every image the hubs' values name in the bundle, as an OCI
    /// image layout under images/ (pulled from their registries, with
    /// credentials from REGISTRY_AUTH_FILE or DOCKER_CONFIG).
    #[arg(long)]
    pub images: bool,
    /// Carry this image too (one the values cannot name: built by
    /// binderhub, or typed by users); repeatable. Implies --images.
    #[arg(long = "image", value_name = "REF")]
    pub extra: Vec<String>,
    /// Look images up in this OCI image layout first, by their
    /// org.opencontainers.image.ref.name, before their registry;
    /// repeatable. Lets an export run offline.
    #[arg(long = "image-source", value_name = "oci:PATH")]
    pub layouts: Vec<String>,
    /// Carry only this platform of multi-platform images (os/arch or
    /// os/arch/variant); repeatable. Default: every platform.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// Reach this registry over plain HTTP; repeatable. Loopback
    /// registries always are.
    #[arg(long = "plain-http", value_name = "HOST[:PORT]")]
    pub plain_http: Vec<String>,
    /// Retries, with exponential backoff, of a registry call that failed in
    /// a way that may pass (5xx, 429, a broken connection).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RETRIES)]
    pub retries: usize,
}

impl ImageArgs {
    pub(super) fn wanted(&self) -> bool {
        self.images || !self.extra.is_empty()
    }

    pub(super) fn request(&self, reporter: std::sync::Arc<dyn Reporter>) -> Result<Request> {
        for p in &self.platforms {
            let parts: Vec<&str> = p.split('/').collect();
            if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty()) {
                bail!("--platform {p}: expected OS/ARCH or OS/ARCH/VARIANT, like linux/amd64");
            }
        }
        Ok(Request {
            layouts: self.layouts.clone(),
            platforms: self.platforms.clone(),
            plain_http: self.plain_http.clone(),
            retry: retry_policy(self.retries),
            reporter,
        })
    }
}
