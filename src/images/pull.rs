//! `export --images`: every image into the bundle's `images/` folder, an
//! OCI image layout. Blobs are content-addressed, so an image sharing a
//! base layer with another stores it once; bytes are kept exactly as the
//! registry serves them (never recompressed), and each blob's sha256 is
//! computed as it streams into the bundle and must equal its digest.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::oci::{self, Descriptor, LayoutIndex, Parsed, Platform, REF_NAME};
use super::reference::ImageRef;
use super::source::Origin;
use super::source::read_exact_small;
use super::walk::{self, Walked};
use crate::bundle::layout::{self, Kind, MemberPath};
use crate::bundle::writer::BundleWriter;
use crate::progress::Progress;

pub(crate) fn blob_member(digest: &str) -> Result<MemberPath> {
    let hex = oci::check_digest(digest)?;
    Ok(layout::image_blob(hex)?)
}

/// One image carried in a bundle.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Carried {
    /// The canonical reference (the layout's ref.name).
    pub reference: String,
    /// The digest the layout names it by: the registry's own manifest or
    /// index, unless `--platform` picked a subset of a larger index.
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Whether r2r wrote a new, smaller index for `--platform`.
    pub index_rewritten: bool,
    /// For a Docker-typed image, the OCI index r2r names it by in the
    /// layout (`digest` is still the registry's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout_digest: Option<String>,
    pub from: String,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    pub images: Vec<Carried>,
    /// Distinct blobs stored (manifests, configs, layers).
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs shared with an image already stored, not stored again.
    pub shared: usize,
}

pub(crate) struct Puller<'w> {
    bundle: &'w mut BundleWriter,
    stored: BTreeSet<String>,
    entries: Vec<Descriptor>,
    summary: Summary,
    platforms: Vec<String>,
}

impl<'w> Puller<'w> {
    pub(crate) fn new(bundle: &'w mut BundleWriter, platforms: Vec<String>) -> Puller<'w> {
        Puller {
            bundle,
            stored: BTreeSet::new(),
            entries: Vec::new(),
            summary: Summary::default(),
            platforms,
        }
    }

    /// Carries one image, all its platforms or those asked for.
    pub(crate) fn image(
        &mut self,
        r: &ImageRef,
        origin: &Origin,
        progress: &Progress,
    ) -> Result<()> {
        let (bytes, media_hint, digest) = origin.top(r)?;
        let asked = self.platforms.clone();
        let mut visit = Visit {
            puller: self,
            r,
            origin,
            progress,
        };
        let (media, walked) = walk::walk(
            &r.to_string(),
            &bytes,
            &media_hint,
            &digest,
            |d| wanted(&asked, d),
            &mut visit,
        )?;
        let (top, rewritten, platforms) = match walked {
            Walked::Manifest(platform) => {
                if let Some(p) = &platform
                    && !asked.is_empty()
                    && !asked.iter().any(|w| p.matches(w))
                {
                    progress.warn(&format!(
                        "{r} is built for {} only, not for --platform {}; carried anyway",
                        p.text(),
                        asked.join(", ")
                    ));
                }
                let platforms = platform.iter().map(Platform::text).collect();
                let top = self.put_small(&media, &digest, &bytes)?;
                (Descriptor { platform, ..top }, false, platforms)
            }
            Walked::Index { index, chosen } => {
                let (top, rewritten) =
                    self.index_top(r, &media, &digest, &bytes, &index, &chosen)?;
                let platforms = chosen
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(Platform::text))
                    .collect();
                (top, rewritten, platforms)
            }
        };
        self.name(r, origin, top, &bytes, platforms, rewritten)
    }

    /// What names a walked index in the layout: the registry's own index
    /// when every platform was carried, the one manifest when `--platform`
    /// kept one, else a new, smaller index (the second value is then true).
    fn index_top(
        &mut self,
        r: &ImageRef,
        media: &str,
        digest: &str,
        bytes: &[u8],
        index: &oci::Index,
        chosen: &[Descriptor],
    ) -> Result<(Descriptor, bool)> {
        if chosen.is_empty() {
            let offered: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(super::oci::Platform::text))
                .collect();
            bail!(
                "{r}: none of its platforms ({}) is one of --platform {}",
                offered.join(", "),
                self.platforms.join(", ")
            );
        }
        if chosen.len() == index.manifests.len() {
            Ok((self.put_small(media, digest, bytes)?, false))
        } else if let [only] = chosen {
            Ok((only.clone(), false))
        } else {
            let smaller = serde_json::to_vec(&LayoutIndex::new(chosen.to_vec()))?;
            let d = oci::sha256_digest(&smaller);
            Ok((self.put_small(oci::OCI_INDEX, &d, &smaller)?, true))
        }
    }

    /// Enters a carried image in the layout's index under its reference,
    /// through an OCI shim when the registry served a Docker type.
    fn name(
        &mut self,
        r: &ImageRef,
        origin: &Origin,
        top: Descriptor,
        top_bytes: &[u8],
        platforms: Vec<String>,
        rewritten: bool,
    ) -> Result<()> {
        let canonical = r.canonical();
        let original = top.clone();
        let mut entry = if oci::is_docker(&top.media_type) {
            self.shim(&top, top_bytes)?
        } else {
            top
        };
        entry.platform = None;
        entry.annotations = BTreeMap::new();
        entry
            .annotations
            .insert(REF_NAME.to_owned(), canonical.clone());
        let shimmed = entry.digest != original.digest;
        if shimmed {
            for (k, v) in [
                (oci::ORIGINAL_DIGEST, original.digest.clone()),
                (oci::ORIGINAL_MEDIA_TYPE, original.media_type.clone()),
                (oci::ORIGINAL_SIZE, original.size.to_string()),
            ] {
                entry.annotations.insert(k.to_owned(), v);
            }
        }
        self.summary.images.push(Carried {
            reference: canonical,
            digest: original.digest,
            media_type: original.media_type,
            platforms,
            index_rewritten: rewritten,
            layout_digest: shimmed.then(|| entry.digest.clone()),
            from: origin.name(),
        });
        self.entries.push(entry);
        Ok(())
    }

    /// Stores a manifest's config and layers; returns the platform its
    /// config names.
    fn manifest(
        &mut self,
        r: &ImageRef,
        origin: &Origin,
        m: &oci::Manifest,
        progress: &Progress,
    ) -> Result<Option<Platform>> {
        let platform = self.config(r, origin, &m.config, progress)?;
        for d in &m.layers {
            self.blob(r, origin, d, progress)?;
        }
        Ok(platform)
    }

    fn config(
        &mut self,
        r: &ImageRef,
        origin: &Origin,
        d: &Descriptor,
        progress: &Progress,
    ) -> Result<Option<Platform>> {
        if d.size > oci::MAX_MANIFEST_BYTES as u64 {
            self.blob(r, origin, d, progress)?;
            return Ok(None);
        }
        let bytes = read_exact_small(origin.blob(r, d)?, d)
            .with_context(|| format!("{r}: config {}", d.digest))?;
        self.put_small(&d.media_type, &d.digest, &bytes)?;
        Ok(oci::config_platform(&bytes))
    }

    /// skopeo and containers/image find only OCI media types in a layout's
    /// index.json. A Docker-typed image is therefore named through a small
    /// OCI index r2r writes over the registry's manifest (or over the
    /// manifests of its list), which stays in the layout untouched; the
    /// entry records the original so push-images can push it exactly.
    fn shim(&mut self, top: &Descriptor, top_bytes: &[u8]) -> Result<Descriptor> {
        let children = if top.media_type == oci::DOCKER_LIST {
            match oci::parse(top_bytes, &top.media_type)? {
                (_, Parsed::Index(idx)) => idx.manifests,
                _ => bail!("internal: a manifest list that is not an index"),
            }
        } else {
            vec![top.clone()]
        };
        let shim = serde_json::to_vec(&LayoutIndex::new(children))?;
        let d = oci::sha256_digest(&shim);
        self.put_small(oci::OCI_INDEX, &d, &shim)
    }

    /// Streams one blob into the bundle unless it is there already.
    fn blob(
        &mut self,
        r: &ImageRef,
        origin: &Origin,
        d: &Descriptor,
        progress: &Progress,
    ) -> Result<()> {
        let member = blob_member(&d.digest)?;
        if !self.stored.insert(d.digest.clone()) {
            self.summary.shared += 1;
            return Ok(());
        }
        self.summary.blobs += 1;
        self.summary.bytes += d.size;
        if let Some((size, sha)) = self.bundle.resumed_digest(&member) {
            // Kept by the interrupted export: it passed the check below
            // then, or it would not have been recorded; make sure anyway.
            if size != d.size || d.digest.strip_prefix("sha256:") != Some(sha) {
                bail!(
                    "{r}: blob {} kept by the interrupted export does not match its digest\nhint: start over with --force",
                    d.digest
                );
            }
            progress.add(d.size);
            return self.bundle.claim(&member);
        }
        let reader = Verified::new(origin.blob(r, d)?, d, progress)?;
        self.bundle
            .add_reader(member, Kind::Image, d.size, reader)
            .with_context(|| format!("{r}: blob {} ({} bytes)", d.digest, d.size))?;
        Ok(())
    }

    fn put_small(&mut self, media: &str, digest: &str, bytes: &[u8]) -> Result<Descriptor> {
        if oci::sha256_digest(bytes) != digest {
            bail!("manifest {digest}: its content does not match its digest");
        }
        let member = blob_member(digest)?;
        if self.stored.insert(digest.to_owned()) {
            self.summary.blobs += 1;
            self.summary.bytes += bytes.len() as u64;
            self.bundle.add_bytes(member, Kind::Image, bytes)?;
        } else {
            self.summary.shared += 1;
        }
        Ok(Descriptor {
            media_type: media.to_owned(),
            digest: digest.to_owned(),
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        })
    }

    /// Writes `oci-layout` and `index.json`; the layout is complete.
    pub(crate) fn finish(self) -> Result<Summary> {
        if self.entries.is_empty() {
            return Ok(self.summary);
        }
        self.bundle.add_bytes(
            MemberPath::parse(layout::IMAGES_LAYOUT)?,
            Kind::Image,
            oci::LAYOUT_VERSION.as_bytes(),
        )?;
        let index = serde_json::to_vec_pretty(&LayoutIndex::new(self.entries))?;
        self.bundle.add_bytes(
            MemberPath::parse(layout::IMAGES_INDEX)?,
            Kind::Image,
            &index,
        )?;
        Ok(self.summary)
    }
}

/// A blob on its way into the bundle. The read that completes it fails
/// unless the bytes hash to the blob's digest, so the bundle writer never
/// records (or journals, for `--resume`) a blob that does not match.
struct Verified<'p, R> {
    inner: R,
    hasher: sha2::Sha256,
    left: u64,
    want: String,
    progress: &'p Progress,
}

impl<'p, R: std::io::Read> Verified<'p, R> {
    fn new(inner: R, d: &Descriptor, progress: &'p Progress) -> Result<Verified<'p, R>> {
        Ok(Verified {
            inner,
            hasher: sha2::Digest::new(),
            left: d.size,
            want: oci::check_digest(&d.digest)?.to_owned(),
            progress,
        })
    }
}

impl<R: std::io::Read> std::io::Read for Verified<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let cap = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..cap])?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.left -= n as u64;
        self.progress.add(n as u64);
        if self.left == 0 && n > 0 {
            let got = crate::bundle::digest::hex(&sha2::Digest::finalize_reset(&mut self.hasher));
            if got != self.want {
                return Err(std::io::Error::other(format!(
                    "it arrived with digest sha256:{got}, not sha256:{}; the registry or the layout is corrupt, or the transfer was tampered with",
                    self.want
                )));
            }
        }
        Ok(n)
    }
}

/// Whether `--platform` (`asked`; empty for every platform) wants the
/// manifest `d` of an index.
fn wanted(asked: &[String], d: &Descriptor) -> bool {
    asked.is_empty()
        || d.platform
            .as_ref()
            .is_some_and(|p| asked.iter().any(|w| p.matches(w)))
}

/// The walk's steps for a pull: from the image's origin into the bundle.
struct Visit<'a, 'w, 'o> {
    puller: &'a mut Puller<'w>,
    r: &'a ImageRef,
    origin: &'a Origin<'o>,
    progress: &'a Progress,
}

impl walk::Visitor for Visit<'_, '_, '_> {
    fn fetch_child(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        self.origin.child(self.r, d)
    }

    fn blobs(&mut self, m: &oci::Manifest) -> Result<Option<Platform>> {
        self.puller.manifest(self.r, self.origin, m, self.progress)
    }

    fn child(&mut self, d: &Descriptor, media: &str, bytes: Vec<u8>) -> Result<()> {
        self.puller.put_small(media, &d.digest, &bytes).map(drop)
    }
}
