//! The bundle format: write, read, sign, verify. `docs/bundle-format.md` is
//! the specification; this module is one implementation of it.

pub mod digest;
pub mod dir_store;
pub mod journal;
pub mod layout;
pub mod manifest;
pub mod reader;
pub mod sign;
pub mod store;
pub mod sums;
pub mod tar_store;
pub mod verify;
pub mod writer;
