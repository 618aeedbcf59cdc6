//! Where an image is read from: its registry, or an OCI image layout on
//! disk (`oci:PATH`), which lets an export run offline.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::oci::{self, Descriptor, LayoutIndex};
use super::reference::ImageRef;
use super::registry::Registries;

/// An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`).
pub(crate) struct Layout {
    pub dir: PathBuf,
    index: LayoutIndex,
}

impl Layout {
    /// Opens `oci:PATH` or a bare PATH.
    pub(crate) fn open(spec: &str) -> Result<Layout> {
        let dir = PathBuf::from(spec.strip_prefix("oci:").unwrap_or(spec));
        let text =
            crate::source::repo::read_text(&dir.join("index.json"), oci::MAX_MANIFEST_BYTES as u64)
                .with_context(|| format!("{} is not an OCI image layout", dir.display()))?;
        if !dir.join(oci::LAYOUT_FILE).is_file() {
            bail!(
                "{} is not an OCI image layout: it has no oci-layout file",
                dir.display()
            );
        }
        let index: LayoutIndex = serde_json::from_str(&text)
            .with_context(|| format!("{}/index.json is malformed", dir.display()))?;
        for d in &index.manifests {
            oci::check_digest(&d.digest)
                .with_context(|| format!("{}/index.json", dir.display()))?;
        }
        Ok(Layout { dir, index })
    }

    /// The entry named `canonical` or `written` (its ref.name).
    pub(crate) fn find(&self, canonical: &str, written: &str) -> Option<&Descriptor> {
        self.index
            .find(canonical)
            .or_else(|| self.index.find(written))
    }

    fn path_of(&self, digest: &str) -> Result<PathBuf> {
        let hex = oci::check_digest(digest)?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    pub(crate) fn blob(&self, d: &Descriptor) -> Result<File> {
        let p = self.path_of(&d.digest)?;
        crate::fsutil::open_nofollow(&p).with_context(|| format!("cannot open {}", p.display()))
    }

    pub(crate) fn small(&self, d: &Descriptor) -> Result<Vec<u8>> {
        read_exact_small(self.blob(d)?, d)
            .with_context(|| format!("{}: blob {}", self.dir.display(), d.digest))
    }
}

/// Where one image comes from.
pub(crate) enum Origin<'a> {
    Layout(&'a Layout, Descriptor),
    Registry(&'a Registries),
}

impl Origin<'_> {
    pub(crate) fn name(&self) -> String {
        match self {
            Origin::Layout(l, _) => format!("oci:{}", l.dir.display()),
            Origin::Registry(_) => "registry".into(),
        }
    }

    /// The top manifest: bytes, media type (maybe empty) and digest.
    pub(crate) fn top(&self, r: &ImageRef) -> Result<(Vec<u8>, String, String)> {
        match self {
            Origin::Layout(l, d) => {
                // A layout r2r wrote names Docker-typed images through a
                // shim; carry the registry's original.
                let d = d
                    .original()
                    .with_context(|| format!("{}/index.json: {r}", l.dir.display()))?;
                Ok((l.small(&d)?, d.media_type.clone(), d.digest.clone()))
            }
            Origin::Registry(reg) => reg.manifest(r),
        }
    }

    /// A manifest named by an index: fetched by digest and checked.
    pub(crate) fn child(&self, r: &ImageRef, d: &Descriptor) -> Result<Vec<u8>> {
        match self {
            Origin::Layout(l, _) => l.small(d),
            Origin::Registry(reg) => {
                let (bytes, _, digest) = reg.manifest(&r.at_digest(&d.digest))?;
                if digest != d.digest || bytes.len() as u64 != d.size {
                    bail!("{r}: manifest {} does not match its descriptor", d.digest);
                }
                Ok(bytes)
            }
        }
    }

    /// A stream of the blob; the caller checks its digest.
    pub(crate) fn blob<'s>(&'s self, r: &ImageRef, d: &Descriptor) -> Result<Box<dyn Read + 's>> {
        match self {
            Origin::Layout(l, _) => Ok(Box::new(l.blob(d)?)),
            Origin::Registry(reg) => Ok(Box::new(reg.blob(r, d))),
        }
    }
}

/// Reads a small blob whole and checks size and digest.
pub(crate) fn read_exact_small(f: impl Read, d: &Descriptor) -> Result<Vec<u8>> {
    if d.size > oci::MAX_MANIFEST_BYTES as u64 {
        bail!("{} bytes is too large for a manifest", d.size);
    }
    let mut buf = Vec::with_capacity(d.size as usize);
    f.take(d.size + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 != d.size || oci::sha256_digest(&buf) != d.digest {
        bail!("its content does not match its digest {}", d.digest);
    }
    Ok(buf)
}
