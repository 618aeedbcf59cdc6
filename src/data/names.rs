//! Member names for homes, buckets and hub databases.
//!
//! A home's directory name is user data: any bytes but `/` and NUL. Member
//! paths are a small portable set (docs/bundle-format.md, "Member paths"),
//! so a name that does not fit is carried as a digest in the member name
//! and byte-exact in the index.

use sha2::{Digest, Sha256};

use crate::bundle::layout::{MemberPath, PathError};

/// Folder of every home member.
pub const HOMES: &str = "homes";
/// Folder of every bucket member.
pub const BUCKETS: &str = "buckets";
/// Folder of every hub database member.
pub const HUB_DB: &str = "hub-db";

/// Longest name used as-is in a member path.
const MAX_PLAIN: usize = 64;

/// The stem that stands for `name` in member paths: the name itself when
/// it is lowercase, portable, at most 64 bytes and does not start with `~`
/// or `.`; otherwise `~` and the first 32 hex digits of its sha256. Two
/// distinct names never share a stem, and no stem differs from another
/// only by case.
pub fn stem(name: &[u8]) -> String {
    let plain = !name.is_empty()
        && name.len() <= MAX_PLAIN
        && name[0] != b'.'
        && name.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'-' | b'+' | b'@' | b'=' | b',')
        });
    match std::str::from_utf8(name) {
        Ok(s) if plain => s.to_owned(),
        _ => {
            let digest = Sha256::digest(name);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("~{hex}")
        }
    }
}

/// What a packed tree is: a home under `homes/<hub>/`, or a bucket's
/// objects under `buckets/<name>/` (stem [`BUCKET_STEM`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Homes,
    Buckets,
}

impl Folder {
    pub fn name(self) -> &'static str {
        match self {
            Folder::Homes => HOMES,
            Folder::Buckets => BUCKETS,
        }
    }

    pub fn kind(self) -> crate::bundle::layout::Kind {
        match self {
            Folder::Homes => crate::bundle::layout::Kind::Home,
            Folder::Buckets => crate::bundle::layout::Kind::Bucket,
        }
    }
}

/// The stem of a bucket's chunks and index.
pub const BUCKET_STEM: &str = "objects";

pub fn chunk_member(
    folder: Folder,
    group: &str,
    stem: &str,
    n: u32,
) -> Result<MemberPath, PathError> {
    MemberPath::join([folder.name(), group, &format!("{stem}.{n:03}.tar.gz")])
}

pub fn index_member(folder: Folder, group: &str, stem: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([folder.name(), group, &format!("{stem}.index.jsonl")])
}

/// `homes/<hub>/_hub.json`: the hub directory itself and its list of homes.
pub fn hub_member(hub: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([HOMES, hub, "_hub.json"])
}

pub fn hub_db_member(hub: &str) -> Result<MemberPath, PathError> {
    MemberPath::join([HUB_DB, hub, "jupyterhub.sqlite"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_usernames_stay_readable() {
        assert_eq!(stem(b"jovyan-1"), "jovyan-1");
        assert_eq!(stem(b"user-2e"), "user-2e");
        assert_eq!(stem(b"_shared"), "_shared");
        assert_eq!(stem(b"_shared-public"), "_shared-public");
    }

    #[test]
    fn odd_names_become_digests() {
        for odd in [
            &b"Alice"[..],
            b"caf\xe9",
            b".hidden",
            b"~x",
            b"a b",
            &[b'n'; 65],
        ] {
            let s = stem(odd);
            assert!(s.starts_with('~') && s.len() == 33, "{odd:?} → {s}");
            assert!(chunk_member(Folder::Homes, "prod", &s, 0).is_ok());
        }
        assert_ne!(stem(b"Alice"), stem(b"ALICE"));
    }
}
