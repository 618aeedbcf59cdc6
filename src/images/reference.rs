//! Image references: parsed once, compared in their canonical spelling.

use std::fmt;

use oci_client::Reference;

/// A parsed image reference (`quay.io/org/image:tag`, `busybox`,
/// `repo@sha256:…`). Docker Hub names are completed as Docker does:
/// `busybox` is `docker.io/library/busybox:latest`.
#[derive(Debug, Clone)]
pub(crate) struct ImageRef(Reference);

impl ImageRef {
    pub(crate) fn parse(text: &str) -> Result<ImageRef, String> {
        if text.len() > 1024 {
            return Err("longer than 1024 bytes".into());
        }
        Reference::try_from(text)
            .map(ImageRef)
            .map_err(|e| e.to_string())
    }

    /// The fully qualified spelling, the key r2r stores images under.
    pub(crate) fn canonical(&self) -> String {
        self.0.whole()
    }

    /// The registry host as written (`docker.io`, `127.0.0.1:5000`).
    pub(crate) fn registry(&self) -> &str {
        self.0.registry()
    }

    pub(crate) fn repository(&self) -> &str {
        self.0.repository()
    }

    pub(crate) fn tag(&self) -> Option<&str> {
        self.0.tag()
    }

    pub(crate) fn digest(&self) -> Option<&str> {
        self.0.digest()
    }

    pub(crate) fn inner(&self) -> &Reference {
        &self.0
    }

    /// The same repository, pointing at `digest`.
    pub(crate) fn at_digest(&self, digest: &str) -> ImageRef {
        ImageRef(Reference::with_digest(
            self.0.registry().to_owned(),
            self.0.repository().to_owned(),
            digest.to_owned(),
        ))
    }

    /// `repository` under another registry and prefix, keeping the tag
    /// (`quay.io/2i2c/img:1` to `reg.example/community/2i2c/img:1`), or the
    /// digest when the reference has no tag, so it never lands on `latest`.
    pub(crate) fn moved_to(&self, registry: &str, prefix: &str) -> Result<ImageRef, String> {
        let repo = match prefix.trim_matches('/') {
            "" => self.0.repository().to_owned(),
            p => format!("{p}/{}", self.0.repository()),
        };
        match (self.0.tag(), self.0.digest()) {
            (Some(tag), _) => ImageRef::parse(&format!("{registry}/{repo}:{tag}")),
            (None, Some(digest)) => ImageRef::parse(&format!("{registry}/{repo}@{digest}")),
            (None, None) => ImageRef::parse(&format!("{registry}/{repo}:latest")),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Registries reached over plain HTTP without being asked: loopback only,
/// as Docker and containerd do.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_and_moved() {
        let r = ImageRef::parse("busybox:1.36.1").unwrap();
        assert_eq!(r.canonical(), "docker.io/library/busybox:1.36.1");
        let m = r.moved_to("127.0.0.1:5000", "/community/").unwrap();
        assert_eq!(
            m.canonical(),
            "127.0.0.1:5000/community/library/busybox:1.36.1"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let pinned = ImageRef::parse(&format!("quay.io/x/y@{d}")).unwrap();
        let m = pinned.moved_to("r.example", "c").unwrap();
        assert_eq!(m.canonical(), format!("r.example/c/x/y@{d}"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("quay.io"));
        assert!(ImageRef::parse("has space:1").is_err());
        assert!(ImageRef::parse("x:").is_err());
    }
}
