//! The OCI (and Docker v2) manifest shapes r2r reads, and the checks every
//! manifest from a registry or a bundle passes before anything follows it.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What r2r asks registries for, most preferred first.
pub(crate) const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The annotation skopeo, crane and containerd look an image up by.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Annotations on a layout entry that names a Docker-typed image through
/// an OCI index r2r wrote (see `pull::Puller::shim`).
pub(crate) const ORIGINAL_DIGEST: &str = "dev.r2r.original.digest";
pub(crate) const ORIGINAL_MEDIA_TYPE: &str = "dev.r2r.original.mediaType";
pub(crate) const ORIGINAL_SIZE: &str = "dev.r2r.original.size";

/// Registries cap manifests at 4 MiB (distribution's default); so do we.
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_CHILDREN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/amd64`, `linux/arm64/v8`.
    pub(crate) fn text(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// Whether `wanted` (`os/arch[/variant]`) names this platform.
    pub(crate) fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        os == Some(self.os.as_str())
            && arch == Some(self.architecture.as_str())
            && variant.is_none_or(|v| self.variant.as_deref() == Some(v))
    }
}

/// An image index (or Docker manifest list): one manifest per platform.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub manifests: Vec<Descriptor>,
}

/// An image manifest: one config and the layers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
pub(crate) enum Parsed {
    Index(Index),
    Manifest(Manifest),
}

pub(crate) fn is_docker(media_type: &str) -> bool {
    media_type == DOCKER_LIST || media_type == DOCKER_MANIFEST
}

/// The platform an image config names, if it names one.
pub(crate) fn config_platform(config: &[u8]) -> Option<Platform> {
    #[derive(Deserialize)]
    struct C {
        architecture: Option<String>,
        os: Option<String>,
        variant: Option<String>,
    }
    let c: C = serde_json::from_slice(config).ok()?;
    Some(Platform {
        architecture: c.architecture.filter(|a| !a.is_empty())?,
        os: c.os.filter(|o| !o.is_empty())?,
        variant: c.variant.filter(|v| !v.is_empty()),
    })
}

impl Descriptor {
    /// The descriptor of what the registry served: the entry itself, or
    /// for a Docker-typed image the original its annotations record.
    pub(crate) fn original(&self) -> Result<Descriptor> {
        let Some(digest) = self.annotations.get(ORIGINAL_DIGEST) else {
            return Ok(self.clone());
        };
        check_digest(digest)?;
        let media_type = self
            .annotations
            .get(ORIGINAL_MEDIA_TYPE)
            .filter(|m| is_docker(m))
            .ok_or_else(|| {
                anyhow::anyhow!("{ORIGINAL_MEDIA_TYPE} is missing or not a Docker manifest type")
            })?;
        let size = self
            .annotations
            .get(ORIGINAL_SIZE)
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s <= MAX_MANIFEST_BYTES as u64)
            .ok_or_else(|| anyhow::anyhow!("{ORIGINAL_SIZE} is missing or not a manifest size"))?;
        Ok(Descriptor {
            media_type: media_type.clone(),
            digest: digest.clone(),
            size,
            platform: None,
            annotations: BTreeMap::new(),
        })
    }
}

pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Parses and checks a manifest: its media type (from the descriptor or the
/// registry's Content-Type, else its own `mediaType`), and every digest it
/// names.
pub(crate) fn parse(bytes: &[u8], media_type: &str) -> Result<(String, Parsed)> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        bail!("the manifest is larger than {MAX_MANIFEST_BYTES} bytes");
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| anyhow::anyhow!("the manifest is not valid JSON: {e}"))?;
    if probe.schema_version == Some(1) {
        bail!(
            "Docker schema 1 manifests are not supported (deprecated since 2017); re-push the image with a current tool"
        );
    }
    let declared = probe.media_type.filter(|m| !m.is_empty());
    let media = match (declared, media_type) {
        (Some(d), _) => d,
        (None, m) if ACCEPTED.contains(&m) => m.to_owned(),
        (None, _) if probe.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, _) => OCI_MANIFEST.to_owned(),
    };
    if !ACCEPTED.contains(&media.as_str()) {
        bail!("unsupported manifest media type {media:?}");
    }
    let parsed = if is_index(&media) {
        let idx: Index = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("the image index is malformed: {e}"))?;
        if idx.manifests.len() > MAX_CHILDREN {
            bail!("the image index lists more than {MAX_CHILDREN} manifests");
        }
        for d in &idx.manifests {
            check_digest(&d.digest)?;
        }
        Parsed::Index(idx)
    } else {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("the image manifest is malformed: {e}"))?;
        if m.layers.len() > MAX_CHILDREN {
            bail!("the image manifest lists more than {MAX_CHILDREN} layers");
        }
        check_digest(&m.config.digest)?;
        for d in &m.layers {
            check_digest(&d.digest)?;
        }
        Parsed::Manifest(m)
    };
    Ok((media, parsed))
}

/// Only `sha256:` and 64 lower-case hex digits: the digest becomes a file
/// name, so nothing else may pass.
pub(crate) fn check_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => bail!("unsupported or malformed digest {digest:?} (r2r handles sha256 only)"),
    }
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "sha256:{}",
        crate::bundle::digest::hex(&Sha256::digest(bytes))
    )
}

/// The `index.json` of an OCI image layout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LayoutIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

pub(crate) const LAYOUT_FILE: &str = "oci-layout";
pub(crate) const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

impl LayoutIndex {
    pub(crate) fn new(manifests: Vec<Descriptor>) -> LayoutIndex {
        LayoutIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests,
        }
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_strict() {
        assert!(check_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        for bad in [
            "sha256:../../etc",
            "sha512:aa",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(check_digest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn platform_matching() {
        let p = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
        };
        assert!(p.matches("linux/arm64") && p.matches("linux/arm64/v8"));
        assert!(!p.matches("linux/amd64") && !p.matches("linux/arm64/v7"));
    }

    #[test]
    fn schema1_and_junk_are_refused() {
        assert!(parse(br#"{"schemaVersion":1}"#, "").is_err());
        assert!(parse(b"not json", "").is_err());
        let bad = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:..","size":1},"layers":[]}"#;
        assert!(parse(bad, "").is_err());
    }
}
