//! Container images: found in each hub's values, carried in the bundle as
//! an OCI image layout, and pushed to the community's registry.
//!
//! `discover` reads values; `pull` fills `images/` from a registry
//! (`registry`, with `auth`) or an on-disk layout (`source`); `push` replays
//! the layout into another registry and writes the old→new mapping
//! (`mapping`). `oci` holds the manifest shapes and their checks; `walk`
//! is the one walk over an image's manifests and blobs both pull and push
//! follow.

pub(crate) mod auth;
pub(crate) mod discover;
pub(crate) mod export;
pub(crate) mod mapping;
pub(crate) mod oci;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod source;
pub(crate) mod walk;
