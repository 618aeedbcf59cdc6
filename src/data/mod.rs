//! User data: home directories, buckets and hub databases, carried
//! byte-exact with their metadata. `docs/bundle-format.md`, "Homes",
//! specifies what lands in the bundle.
//!
//! Export reads a [`tree::Tree`] (a mounted NFS export, or object storage)
//! and [`pack`]s it into chunks; restore checks every chunk against its
//! signed index while it writes.

pub mod chunk;
pub mod compare;
pub mod export;
pub mod gz;
pub mod hubdb;
pub mod index;
pub mod local_target;
pub mod local_tree;
pub mod location;
pub mod names;
pub mod object_target;
pub mod object_tree;
pub mod objects;
pub mod owned;
pub mod pack;
pub mod restore;
pub mod select;
pub mod sparse;
pub mod tarball;
pub mod target;
pub mod tree;
