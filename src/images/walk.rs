//! The one walk over an image, for pull and push alike: the top manifest,
//! an index's child manifests, and each manifest's config and layers. The
//! order is the one a registry accepts: a manifest's blobs before the
//! manifest, the children before their index. Where the bytes come from and
//! where they go is the visitor's.

use anyhow::{Context, Result, bail};

use super::oci::{self, Descriptor, Index, Manifest, Parsed, Platform};

/// What a walk does at each step.
pub(crate) trait Visitor {
    /// The bytes of a manifest an index names, checked against `d`.
    fn fetch_child(&mut self, d: &Descriptor) -> Result<Vec<u8>>;
    /// Carries a manifest's config and layers; returns the platform its
    /// config names, when the visitor reads the config.
    fn blobs(&mut self, m: &Manifest) -> Result<Option<Platform>>;
    /// Carries a manifest an index names, once its blobs are carried.
    /// `media` is its media type as parsed (`d` has the index's word).
    fn child(&mut self, d: &Descriptor, media: &str, bytes: Vec<u8>) -> Result<()>;
}

/// What the top manifest turned out to be.
pub(crate) enum Walked {
    /// One manifest, and the platform its config names.
    Manifest(Option<Platform>),
    /// An index, and the children walked: those `wanted` kept, in its order.
    Index {
        index: Index,
        chosen: Vec<Descriptor>,
    },
}

/// Walks the image `name` whose top manifest is `top` (`media` is a hint,
/// maybe empty; `digest` names it in errors). The top itself is left to
/// the caller, who carries it last. Returns its parsed media type and what
/// was walked. An index inside an index is refused: r2r does not follow it.
pub(crate) fn walk(
    name: &str,
    top: &[u8],
    media: &str,
    digest: &str,
    wanted: impl Fn(&Descriptor) -> bool,
    v: &mut impl Visitor,
) -> Result<(String, Walked)> {
    let (media, parsed) =
        oci::parse(top, media).with_context(|| format!("{name}: manifest {digest}"))?;
    let walked = match parsed {
        Parsed::Manifest(m) => Walked::Manifest(v.blobs(&m)?),
        Parsed::Index(index) => {
            let chosen: Vec<Descriptor> = index
                .manifests
                .iter()
                .filter(|d| wanted(d))
                .cloned()
                .collect();
            for d in &chosen {
                let bytes = v.fetch_child(d)?;
                let (child_media, parsed) = oci::parse(&bytes, &d.media_type)
                    .with_context(|| format!("{name}: manifest {}", d.digest))?;
                let Parsed::Manifest(m) = parsed else {
                    bail!(
                        "{name}: manifest {} is an index inside an index, which r2r does not follow",
                        d.digest
                    );
                };
                v.blobs(&m)?;
                v.child(d, &child_media, bytes)?;
            }
            Walked::Index { index, chosen }
        }
    };
    Ok((media, walked))
}
