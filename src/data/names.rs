//! The stems that stand for home names in member paths; the paths
//! themselves are built in `bundle/layout.rs`.
//!
//! A home's directory name is user data: any bytes but `/` and NUL. Member
//! paths are a small portable set (docs/bundle-format.md, "Member paths"),
//! so a name that does not fit is carried as a digest in the member name
//! and byte-exact in the index.

use sha2::{Digest, Sha256};

use crate::bundle::layout::Kind;

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
/// objects under `buckets/<name>/` (stem `layout::BUCKET_STEM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Homes,
    Buckets,
}

impl Folder {
    pub fn kind(self) -> Kind {
        match self {
            Folder::Homes => Kind::Home,
            Folder::Buckets => Kind::Bucket,
        }
    }
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
            assert!(crate::bundle::layout::chunk(Kind::Home, "prod", &s, 0).is_ok());
        }
        assert_ne!(stem(b"Alice"), stem(b"ALICE"));
    }
}
