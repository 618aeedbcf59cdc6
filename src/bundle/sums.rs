//! `SHA256SUMS`: the list the signature covers, in the exact text GNU
//! `sha256sum` writes, so that `sha256sum -c` checks a bundle without r2r.

use std::collections::BTreeMap;

use super::layout::{MemberPath, SIGNATURE};
use super::manifest::is_sha256_hex;

/// Upper bound when reading; one line per member.
pub const MAX_SUMS_BYTES: u64 = 64 << 20;

/// Path → lowercase hex digest, sorted by path bytes (C locale order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums(BTreeMap<MemberPath, String>);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SumsError {
    #[error("SHA256SUMS line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("SHA256SUMS does not end with a newline")]
    NoFinalNewline,
    #[error("SHA256SUMS is empty")]
    Empty,
    #[error("SHA256SUMS is not UTF-8")]
    NotUtf8,
}

impl Sums {
    pub fn insert(&mut self, path: MemberPath, sha256_hex: String) {
        self.0.insert(path, sha256_hex);
    }

    pub fn get(&self, path: &MemberPath) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&MemberPath, &str)> {
        self.0.iter().map(|(p, h)| (p, h.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `HEX␠␠PATH\n` per member, sorted: `sha256sum`'s text mode.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(path, hex)| format!("{hex}  {path}\n"))
            .collect()
    }

    /// Accepts exactly what [`Sums::to_text`] writes and nothing looser:
    /// no binary-mode `*`, no escaped names, no blank lines, strictly sorted.
    pub fn parse(bytes: &[u8]) -> Result<Sums, SumsError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SumsError::NotUtf8)?;
        if text.is_empty() {
            return Err(SumsError::Empty);
        }
        let body = text.strip_suffix('\n').ok_or(SumsError::NoFinalNewline)?;
        let mut sums = Sums::default();
        let mut previous: Option<MemberPath> = None;
        for (i, line) in body.split('\n').enumerate() {
            let bad = |reason: &str| SumsError::Line {
                line: i + 1,
                reason: reason.to_owned(),
            };
            let (hex, path) = line
                .split_once("  ")
                .ok_or_else(|| bad("expected `<64 hex digits><two spaces><path>`"))?;
            if !is_sha256_hex(hex) {
                return Err(bad("digest is not 64 lowercase hex digits"));
            }
            let path = MemberPath::parse(path).map_err(|e| bad(&format!("unsafe path: {e}")))?;
            if path.as_str() == SIGNATURE {
                return Err(bad("the signature cannot list itself"));
            }
            if let Some(prev) = &previous
                && prev.as_str().as_bytes() >= path.as_str().as_bytes()
            {
                return Err(bad("paths are not sorted or not unique"));
            }
            previous = Some(path.clone());
            sums.insert(path, hex.to_owned());
        }
        Ok(sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MemberPath {
        MemberPath::parse(s).unwrap()
    }

    #[test]
    fn writes_sorted_gnu_text_and_reads_it_back() {
        let mut s = Sums::default();
        s.insert(p("config/b"), "b".repeat(64));
        s.insert(p("bundle.json"), "a".repeat(64));
        let text = s.to_text();
        assert_eq!(
            text,
            format!(
                "{}  bundle.json\n{}  config/b\n",
                "a".repeat(64),
                "b".repeat(64)
            )
        );
        assert_eq!(Sums::parse(text.as_bytes()), Ok(s));
    }

    #[test]
    fn rejects_loose_forms() {
        let h = "a".repeat(64);
        for bad in [
            String::new(),
            format!("{h}  x"),
            format!("{h} *x\n"),
            format!("{h}  x\n\n"),
            format!("\\{h}  x\n"),
            format!("{h}  b\n{h}  a\n"),
            format!("{h}  a\n{h}  a\n"),
            format!("{h}  ../a\n"),
            format!("{}  a\n", "A".repeat(64)),
            format!("{h}  SHA256SUMS.minisig\n"),
        ] {
            assert!(Sums::parse(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
    }
}
