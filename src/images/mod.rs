//! Container images: found in each hub's values, carried in the bundle as
//! an OCI image layout, and pushed to the community's registry.
//!
//! `discover` reads values; `pull` fills `images/` from a registry
//! (`registry`, with `auth`) or an on-disk layout (`source`); `push` replays
//! the layout into another registry and writes the old→new mapping
//! (`mapping`). `oci` holds the manifest shapes and their checks; `walk`
//! is the one walk over an image's manifests and blobs both pull and push
//! follow.

pub mod auth;
pub mod discover;
pub mod export;
pub mod mapping;
pub mod oci;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod source;
pub mod walk;
