//! The content index of one home: `homes/<hub>/<stem>.index.jsonl`.
//!
//! One JSON object per line. The first line is the [`Header`]; every other
//! line is an [`Entry`], in exactly the order the entries appear in the
//! home's chunks, so a reader checks the archive against the index in
//! lockstep with constant memory. The index is a bundle member, so the
//! signature covers every path, mode and hash in it. Specified in
//! `docs/bundle-format.md`, "Homes".

use std::io::{self, BufRead};

use crate::text::safe;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// The version of the index format this r2r writes and reads.
pub const INDEX_VERSION: u32 = 1;

/// Longest index line r2r reads: two 4 KiB paths, base64-encoded, and the
/// other fields fit many times over.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    File,
    Dir,
    Symlink,
    /// A further name of a file listed earlier: `target` is that file's path.
    Hardlink,
}

/// Bytes that are usually, but not always, UTF-8: file names and link
/// targets. JSON carries them as `"x"` when they are UTF-8 and as
/// `"x_b64"` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawPath(pub Vec<u8>);

impl RawPath {
    pub fn shown(&self) -> String {
        crate::text::safe(&String::from_utf8_lossy(&self.0))
    }
}

/// One entry of a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the home's root; the root itself is `.`.
    pub path: RawPath,
    pub kind: Type,
    /// Logical size in bytes (files); 0 for anything else.
    pub size: u64,
    /// Permission bits with setuid, setgid and sticky: `mode & 0o7777`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Symlink target, or the first name of a hard-linked file.
    pub target: Option<RawPath>,
    /// Files with several names share a group number; 0 when alone.
    pub link_group: u64,
    /// Lowercase hex sha256 of a file's content.
    pub sha256: Option<String>,
    /// Which chunk (`NNN`) holds the entry.
    pub chunk: u32,
    /// The object's content type, for entries read from object storage.
    pub content_type: Option<String>,
}

/// The first line of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub r2r_home_index: u32,
    pub hub: String,
    /// The home's directory name, byte-exact (see [`RawPath`]).
    #[serde(flatten, with = "home_name")]
    pub home: RawPath,
    /// Member names of the chunks, in order.
    pub chunks: Vec<String>,
    pub entries: u64,
    /// Sum of file sizes.
    pub bytes: u64,
    /// What the export saw but could not carry: FIFOs, sockets, devices,
    /// unreadable files. Each with its path and why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    #[serde(flatten, with = "skipped_path")]
    pub path: RawPath,
    pub reason: String,
}

/// The JSON shape of an entry; [`Entry`] is what code uses.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_b64: Option<String>,
    #[serde(rename = "type")]
    kind: Type,
    #[serde(default, skip_serializing_if = "is_zero")]
    size: u64,
    mode: String,
    uid: u32,
    gid: u32,
    mtime: i64,
    #[serde(default, skip_serializing_if = "is_zero32")]
    mtime_nsec: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_b64: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    link_group: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    chunk: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_zero32(v: &u32) -> bool {
    *v == 0
}

fn split(raw: &RawPath) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(&raw.0) {
        Ok(s) => (Some(s.to_owned()), None),
        Err(_) => (None, Some(B64.encode(&raw.0))),
    }
}

fn join(text: Option<String>, b64: Option<String>, what: &str) -> Result<Option<RawPath>, String> {
    match (text, b64) {
        (Some(_), Some(_)) => Err(format!("has both {what} and {what}_b64")),
        (Some(s), None) => Ok(Some(RawPath(s.into_bytes()))),
        (None, Some(b)) => {
            let bytes = B64
                .decode(b.as_bytes())
                .map_err(|e| format!("{what}_b64 is not base64: {e}"))?;
            if std::str::from_utf8(&bytes).is_ok() {
                return Err(format!("{what}_b64 holds UTF-8; it must be in {what}"));
            }
            Ok(Some(RawPath(bytes)))
        }
        (None, None) => Ok(None),
    }
}

impl Entry {
    /// One line of JSON, with its newline.
    pub fn to_line(&self) -> Vec<u8> {
        let (path, path_b64) = split(&self.path);
        let (target, target_b64) = match &self.target {
            Some(t) => split(t),
            None => (None, None),
        };
        let line = Line {
            path,
            path_b64,
            kind: self.kind,
            size: self.size,
            mode: format!("{:04o}", self.mode),
            uid: self.uid,
            gid: self.gid,
            mtime: self.mtime,
            mtime_nsec: self.mtime_nsec,
            target,
            target_b64,
            link_group: self.link_group,
            sha256: self.sha256.clone(),
            chunk: self.chunk,
            content_type: self.content_type.clone(),
        };
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses one line and checks what needs no context: the path is
    /// relative and clean, the fields each type needs are there.
    pub fn parse(line: &[u8]) -> Result<Entry, String> {
        let l: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let path = join(l.path, l.path_b64, "path")?.ok_or("has no path")?;
        let target = join(l.target, l.target_b64, "target")?;
        let mode = u32::from_str_radix(&l.mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777 && l.mode.len() == 4)
            .ok_or_else(|| format!("mode {:?} is not four octal digits", l.mode))?;
        if l.mtime_nsec >= 1_000_000_000 {
            return Err("mtime_nsec is not below 10⁹".into());
        }
        check_relative(&path.0).map_err(|e| format!("path {}: {e}", path.shown()))?;
        let e = Entry {
            path,
            kind: l.kind,
            size: l.size,
            mode,
            uid: l.uid,
            gid: l.gid,
            mtime: l.mtime,
            mtime_nsec: l.mtime_nsec,
            target,
            link_group: l.link_group,
            sha256: l.sha256,
            chunk: l.chunk,
            content_type: l.content_type,
        };
        e.check_shape()?;
        Ok(e)
    }

    fn check_shape(&self) -> Result<(), String> {
        let hex_ok = self
            .sha256
            .as_deref()
            .is_some_and(crate::bundle::manifest::is_sha256_hex);
        match self.kind {
            Type::File if !hex_ok => Err("a file needs a sha256".into()),
            Type::File if self.target.is_some() => Err("a file has no target".into()),
            Type::Symlink if self.target.as_ref().is_none_or(|t| t.0.is_empty()) => {
                Err("a symlink needs a target".into())
            }
            Type::Dir | Type::Symlink | Type::Hardlink if self.size != 0 => {
                Err("only files have a size".into())
            }
            Type::Hardlink => match &self.target {
                Some(t) if t.0 == b"." => Err("a hard link cannot name the home's root".into()),
                Some(t) => {
                    check_relative(&t.0).map_err(|e| format!("hard-link target {}: {e}", t.shown()))
                }
                None => Err("a hard link needs a target".into()),
            },
            _ => Ok(()),
        }
    }
}

/// A relative path with no `..`, no empty or `.` component, no NUL; `.`
/// alone is the home's root.
pub fn check_relative(p: &[u8]) -> Result<(), &'static str> {
    if p == b"." {
        return Ok(());
    }
    if p.is_empty() {
        return Err("is empty");
    }
    if p.starts_with(b"/") {
        return Err("is absolute");
    }
    if p.contains(&0) {
        return Err("has a NUL byte");
    }
    for c in p.split(|&b| b == b'/') {
        match c {
            b".." => return Err("has a `..` component"),
            b"" | b"." => return Err("has an empty or `.` component"),
            _ => {}
        }
    }
    Ok(())
}

/// The order of a walk and of an index: depth first, each directory before
/// its children, siblings by name bytes. The home's root `.` comes first.
pub fn walk_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if a == b {
        return Ordering::Equal;
    }
    if a == b"." {
        return Ordering::Less;
    }
    if b == b"." {
        return Ordering::Greater;
    }
    a.split(|&c| c == b'/').cmp(b.split(|&c| c == b'/'))
}

impl Header {
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// Reads an index line by line, never holding more than one line.
pub struct IndexReader<R> {
    inner: R,
    line: Vec<u8>,
    pub line_no: u64,
}

impl<R: BufRead> IndexReader<R> {
    /// Reads and checks the header.
    pub fn open(inner: R) -> Result<(Header, IndexReader<R>), String> {
        let mut r = IndexReader {
            inner,
            line: Vec::new(),
            line_no: 0,
        };
        let line = r.next_line()?.ok_or("is empty")?;
        let header: Header = serde_json::from_slice(line)
            .map_err(|e| format!("line 1 (header): {}", safe(&e.to_string())))?;
        if header.r2r_home_index != INDEX_VERSION {
            return Err(format!(
                "index version {} is not supported (r2r reads version {INDEX_VERSION})",
                header.r2r_home_index
            ));
        }
        Ok((header, r))
    }

    /// The next entry, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, String> {
        let no = self.line_no + 1;
        match self.next_line()? {
            None => Ok(None),
            Some(line) => Entry::parse(line)
                .map(Some)
                // The parser quotes the line's own text, which is the bundle's.
                .map_err(|e| format!("line {no}: {}", safe(&e))),
        }
    }

    fn next_line(&mut self) -> Result<Option<&[u8]>, String> {
        self.line.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(|e: io::Error| format!("cannot be read: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.line.last() != Some(&b'\n') {
            return Err(if n as u64 >= limit {
                format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes",
                    self.line_no
                )
            } else {
                format!("line {} does not end with a newline", self.line_no)
            });
        }
        Ok(Some(&self.line[..self.line.len() - 1]))
    }
}

use std::io::Read as _;

/// `home`/`home_b64` in the header.
pub(crate) mod home_name {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Shape {
        #[serde(skip_serializing_if = "Option::is_none")]
        home: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        home_b64: Option<String>,
    }

    pub(crate) fn serialize<S: Serializer>(raw: &RawPath, s: S) -> Result<S::Ok, S::Error> {
        let (home, home_b64) = split(raw);
        Shape { home, home_b64 }.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RawPath, D::Error> {
        let shape = Shape::deserialize(d)?;
        join(shape.home, shape.home_b64, "home")
            .map_err(serde::de::Error::custom)?
            .ok_or_else(|| serde::de::Error::custom("no home name"))
    }
}

/// `path`/`path_b64` in a skipped entry.
mod skipped_path {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Shape {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path_b64: Option<String>,
    }

    pub(super) fn serialize<S: Serializer>(raw: &RawPath, s: S) -> Result<S::Ok, S::Error> {
        let (path, path_b64) = split(raw);
        Shape { path, path_b64 }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RawPath, D::Error> {
        let shape = Shape::deserialize(d)?;
        join(shape.path, shape.path_b64, "path")
            .map_err(serde::de::Error::custom)?
            .ok_or_else(|| serde::de::Error::custom("no path"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &[u8]) -> Entry {
        Entry {
            path: RawPath(path.to_vec()),
            kind: Type::File,
            size: 3,
            mode: 0o2755,
            uid: 1000,
            gid: 100,
            mtime: -5,
            mtime_nsec: 7,
            target: None,
            link_group: 0,
            sha256: Some("a".repeat(64)),
            chunk: 2,
            content_type: None,
        }
    }

    #[test]
    fn round_trips_odd_names() {
        for p in [&b"plain.txt"[..], b"line\nbreak", b"latin1-caf\xe9.txt"] {
            let e = file(p);
            let line = e.to_line();
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(Entry::parse(&line[..line.len() - 1]), Ok(e));
        }
    }

    #[test]
    fn refuses_escapes() {
        for p in [&b"../x"[..], b"/etc/passwd", b"a//b", b"a/./b", b""] {
            let line = file(p).to_line();
            assert!(Entry::parse(&line[..line.len() - 1]).is_err(), "{p:?}");
        }
        let mut link = file(b"x");
        link.kind = Type::Hardlink;
        link.size = 0;
        link.sha256 = None;
        link.target = Some(RawPath(b"../../etc/shadow".to_vec()));
        let line = link.to_line();
        assert!(Entry::parse(&line[..line.len() - 1]).is_err());
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            r2r_home_index: INDEX_VERSION,
            hub: "prod".into(),
            home: RawPath(b"caf\xe9".to_vec()),
            chunks: vec!["homes/prod/x.000.tar.gz".into()],
            entries: 1,
            bytes: 3,
            skipped: vec![Skipped {
                path: RawPath(b"fifo".to_vec()),
                reason: "a FIFO".into(),
            }],
        };
        let line = h.to_line();
        let (back, _) = IndexReader::open(&line[..]).unwrap();
        assert_eq!(back, h);
    }
}
