//! Exit codes, documented in `docs/bundle-format.md` and `r2r verify --help`.
//! Scripts branch on them, so they never change meaning.

/// Success: for `verify`, every check passed.
pub(crate) const OK: u8 = 0;
/// Any other failure: unreadable input, a bad repository, an I/O error.
pub(crate) const FAILURE: u8 = 1;
/// The command line is wrong. Clap exits with it itself; it is named here
/// so the table of codes is whole.
#[allow(dead_code)]
pub(crate) const USAGE: u8 = 2;
/// The signature does not verify with the given public key.
pub(crate) const BAD_SIGNATURE: u8 = 3;
/// A member is corrupt (hash or size) or missing.
pub(crate) const CORRUPT: u8 = 4;
/// The bundle holds a member that nothing signed lists.
pub(crate) const UNEXPECTED: u8 = 5;
/// Unsafe or malformed: bad path, link or device, duplicate, broken tar,
/// malformed SHA256SUMS or bundle.json, unsupported format version.
pub(crate) const MALFORMED: u8 = 6;
