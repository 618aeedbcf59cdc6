//! The verification chain: signature → `SHA256SUMS` → every member.
//!
//! Trust roots in the public key and nothing else. Structure is checked
//! first, then the signature; only a signed `SHA256SUMS` is parsed, and
//! only a `bundle.json` whose hash it lists is believed.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use minisign::PublicKey;
use serde::Serialize;

use super::digest::{HashingReader, sha256_bytes};
use super::layout::{IMAGES_BLOBS, MANIFEST, MemberPath, SIGNATURE, SUMS};
use super::manifest::{MAX_MANIFEST_BYTES, Manifest};
use super::reader::Bundle;
use super::sign::{self, MAX_SIGNATURE_BYTES, Signed};
use super::store::{Entry, StoreError};
use super::sums::{MAX_SUMS_BYTES, Sums};
use crate::exit;

/// What kind of problem, which decides `r2r verify`'s exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Unsafe path, link, device, duplicate, broken framing, malformed
    /// SHA256SUMS or bundle.json. Exit 6.
    Malformed,
    /// The signature does not verify with the given key. Exit 3.
    BadSignature,
    /// A member's bytes or size disagree with what is signed. Exit 4.
    Corrupt,
    /// A signed member is not in the bundle. Exit 4.
    Missing,
    /// The bundle holds a member that nothing signed lists. Exit 5.
    Unexpected,
}

impl Class {
    /// The name `--json` uses.
    pub fn name(self) -> &'static str {
        match self {
            Class::Malformed => "malformed",
            Class::BadSignature => "bad_signature",
            Class::Corrupt => "corrupt",
            Class::Missing => "missing",
            Class::Unexpected => "unexpected",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Class::Malformed => exit::MALFORMED,
            Class::BadSignature => exit::BAD_SIGNATURE,
            Class::Corrupt | Class::Missing => exit::CORRUPT,
            Class::Unexpected => exit::UNEXPECTED,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub class: Class,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub reason: String,
}

/// How far to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Structure, signature, SHA256SUMS and bundle.json: enough to trust the
    /// manifest without reading content members.
    Manifest,
    /// Everything, including every member's hash.
    Full,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    pub signed: Option<Signed>,
    pub manifest: Option<Manifest>,
    pub members: usize,
    pub bytes: u64,
    pub hashed_bytes: u64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The exit code of the most fundamental class found; see `exit`.
    pub fn exit_code(&self) -> u8 {
        self.problems
            .iter()
            .map(|p| p.class)
            .min()
            .map_or(exit::OK, Class::exit_code)
    }

    fn add(&mut self, class: Class, member: Option<&str>, reason: impl Into<String>) {
        self.problems.push(Problem {
            class,
            member: member.map(str::to_owned),
            reason: reason.into(),
        });
    }
}

/// Checks a bundle. With `pk` absent the signature is not checked, which
/// only `inspect` allows, and says so loudly.
pub fn check(path: &Path, pk: Option<&PublicKey>, depth: Depth) -> Outcome {
    let mut out = Outcome::default();
    let bundle = match Bundle::open(path) {
        Ok(b) => b,
        Err(StoreError::Unsafe { member, reason }) => {
            out.add(Class::Malformed, Some(&member), reason);
            return out;
        }
        Err(e) => {
            out.add(Class::Malformed, None, e.to_string());
            return out;
        }
    };
    out.members = bundle.entries().len();
    out.bytes = bundle.entries().iter().map(|e| e.size).sum();

    let Some(sums) = signed_sums(&bundle, pk, &mut out) else {
        return out;
    };
    compare_sets(&bundle, &sums, &mut out);
    out.manifest = read_manifest(&bundle, &sums, &mut out);
    if depth == Depth::Full {
        hash_members(&bundle, &sums, &mut out);
    }
    out.problems
        .sort_by(|a, b| (a.class, &a.member).cmp(&(b.class, &b.member)));
    out
}

fn signed_sums(bundle: &Bundle, pk: Option<&PublicKey>, out: &mut Outcome) -> Option<Sums> {
    let read = |name: &str, limit: u64, out: &mut Outcome| -> Option<Vec<u8>> {
        let Some(entry) = bundle.get(name) else {
            out.add(
                Class::Missing,
                Some(name),
                "not in the bundle; nothing can be verified without it",
            );
            return None;
        };
        bundle
            .read_small(entry, limit)
            .map_err(|e| out.add(Class::Malformed, Some(name), e))
            .ok()
    };
    let sums_bytes = read(SUMS, MAX_SUMS_BYTES, out)?;
    if let Some(pk) = pk {
        let sig_bytes = read(SIGNATURE, MAX_SIGNATURE_BYTES, out)?;
        match sign::verify(pk, &sig_bytes, &sums_bytes) {
            Ok(signed) => out.signed = Some(signed),
            Err(e) => {
                out.add(Class::BadSignature, Some(SIGNATURE), e.to_string());
                return None;
            }
        }
    }
    Sums::parse(&sums_bytes)
        .map_err(|e| out.add(Class::Malformed, Some(SUMS), e.to_string()))
        .ok()
}

fn compare_sets(bundle: &Bundle, sums: &Sums, out: &mut Outcome) {
    for (path, _) in sums.iter() {
        if bundle.get(path.as_str()).is_none() {
            out.add(
                Class::Missing,
                Some(path.as_str()),
                "listed in SHA256SUMS but not in the bundle",
            );
        }
    }
    for entry in bundle.entries() {
        let p = entry.path.as_str();
        if p != SUMS && p != SIGNATURE && sums.get(&entry.path).is_none() {
            out.add(
                Class::Unexpected,
                Some(p),
                "in the bundle but not listed in SHA256SUMS",
            );
        }
    }
}

fn read_manifest(bundle: &Bundle, sums: &Sums, out: &mut Outcome) -> Option<Manifest> {
    let listed = MemberPath::parse(MANIFEST)
        .ok()
        .and_then(|p| sums.get(&p).map(str::to_owned));
    let Some(expected) = listed else {
        out.add(Class::Malformed, Some(SUMS), "does not list bundle.json");
        return None;
    };
    let entry = bundle.get(MANIFEST)?; // reported as missing by compare_sets
    let bytes = bundle
        .read_small(entry, MAX_MANIFEST_BYTES)
        .map_err(|e| out.add(Class::Malformed, Some(MANIFEST), e))
        .ok()?;
    let actual = sha256_bytes(&bytes);
    if actual != expected {
        out.add(
            Class::Corrupt,
            Some(MANIFEST),
            format!("sha256 is {actual}, SHA256SUMS says {expected}"),
        );
        return None;
    }
    let manifest = Manifest::parse(&bytes)
        .map_err(|e| out.add(Class::Malformed, Some(MANIFEST), e.to_string()))
        .ok()?;
    cross_check(bundle, sums, &manifest, out);
    Some(manifest)
}

/// bundle.json and SHA256SUMS must describe the same members with the same
/// digests, and the bundle's sizes must be the manifest's.
fn cross_check(bundle: &Bundle, sums: &Sums, manifest: &Manifest, out: &mut Outcome) {
    let mut listed = std::collections::HashSet::new();
    for record in &manifest.members {
        listed.insert(record.path.as_str());
        let member = Some(record.path.as_str());
        // Manifest::parse has already checked every path.
        let listed_hash = MemberPath::parse(&record.path)
            .ok()
            .and_then(|p| sums.get(&p));
        match listed_hash {
            None => out.add(
                Class::Malformed,
                member,
                "in bundle.json but not in SHA256SUMS",
            ),
            Some(hex) if hex != record.sha256 => out.add(
                Class::Malformed,
                member,
                "bundle.json and SHA256SUMS give different sha256",
            ),
            Some(_) => {}
        }
        // Image blobs are named by their digest (section 4.5): a signed
        // checksum of other bytes means the signer stored the wrong blob.
        if let Some(name) = record.path.strip_prefix(IMAGES_BLOBS)
            && name != record.sha256
        {
            out.add(
                Class::Corrupt,
                member,
                format!(
                    "an image blob named by its digest, but its sha256 is {}",
                    record.sha256
                ),
            );
        }
        if let Some(entry) = bundle.get(&record.path)
            && entry.size != record.size
        {
            out.add(
                Class::Corrupt,
                member,
                format!(
                    "size is {} bytes, bundle.json says {}",
                    entry.size, record.size
                ),
            );
        }
    }
    for (path, _) in sums.iter() {
        let p = path.as_str();
        if p != MANIFEST && !listed.contains(p) {
            out.add(
                Class::Malformed,
                Some(p),
                "in SHA256SUMS but not in bundle.json",
            );
        }
    }
}

/// Hashes every signed member present, on all cores: members are
/// independent, and a tar bundle is read with positioned reads.
fn hash_members(bundle: &Bundle, sums: &Sums, out: &mut Outcome) {
    let work: Vec<(&Entry, &str)> = bundle
        .entries()
        .iter()
        .filter_map(|e| sums.get(&e.path).map(|h| (e, h)))
        .collect();
    let next = AtomicUsize::new(0);
    let hashed = AtomicU64::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(8);
    let found: Vec<(String, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut found = Vec::new();
                    let mut buf = vec![0u8; super::digest::BUF_BYTES];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(entry, expected)) = work.get(i) else {
                            break;
                        };
                        let problem = match hash_one(bundle, entry, &mut buf) {
                            Ok(actual) if actual == expected => None,
                            Ok(actual) => {
                                Some(format!("sha256 is {actual}, SHA256SUMS says {expected}"))
                            }
                            Err(e) => Some(format!("cannot be read: {e}")),
                        };
                        hashed.fetch_add(entry.size, Ordering::Relaxed);
                        if let Some(reason) = problem {
                            found.push((entry.path.to_string(), reason));
                        }
                    }
                    found
                })
            })
            .collect();
        // A worker can only fail by panicking, and a panic is a bug: let it
        // propagate rather than pass the bundle with members unhashed.
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    out.hashed_bytes = hashed.into_inner();
    for (member, reason) in found {
        out.add(Class::Corrupt, Some(&member), reason);
    }
}

fn hash_one(bundle: &Bundle, entry: &Entry, buf: &mut [u8]) -> std::io::Result<String> {
    use std::io::Read;
    let mut r = HashingReader::new(bundle.open_member(entry)?);
    while r.read(buf)? != 0 {}
    let (hex, n, _) = r.finish();
    if n != entry.size {
        return Err(std::io::Error::other(format!(
            "read {n} of {} bytes",
            entry.size
        )));
    }
    Ok(hex)
}

/// A bundle whose signature, checksums and manifest have been checked:
/// every member's expected size and digest can now be trusted, and member
/// contents are checked against them as they are read.
pub struct Trusted {
    pub bundle: Bundle,
    pub manifest: Manifest,
    pub key_id: String,
    digests: std::collections::HashMap<String, (u64, String)>,
}

/// Opens a bundle for use, refusing it on any problem `verify` would
/// report short of hashing every member.
pub fn open_trusted(path: &Path, pk: &PublicKey) -> anyhow::Result<Trusted> {
    let outcome = check(path, Some(pk), Depth::Manifest);
    if let Some(p) = outcome.problems.first() {
        anyhow::bail!(
            "{} failed verification: {}: {} (run `r2r verify` for every problem)",
            path.display(),
            p.member.as_deref().unwrap_or("bundle"),
            p.reason
        );
    }
    let (Some(manifest), Some(signed)) = (outcome.manifest, outcome.signed) else {
        anyhow::bail!("{} has no verified manifest", path.display());
    };
    let bundle = Bundle::open(path)?;
    let digests = manifest
        .members
        .iter()
        .map(|m| (m.path.clone(), (m.size, m.sha256.clone())))
        .collect();
    Ok(Trusted {
        bundle,
        manifest,
        key_id: signed.key_id,
        digests,
    })
}

impl Trusted {
    /// Streams a member; [`Checked::finish`] says whether it was the
    /// signed bytes.
    pub fn open(
        &self,
        member: &str,
    ) -> anyhow::Result<Checked<Box<dyn std::io::Read + Send + '_>>> {
        let (size, sha) = self
            .digests
            .get(member)
            .ok_or_else(|| anyhow::anyhow!("member {member} is not in the signed manifest"))?;
        let entry = self
            .bundle
            .get(member)
            .ok_or_else(|| anyhow::anyhow!("member {member} is missing from the bundle"))?;
        let reader = self
            .bundle
            .open_member(entry)
            .map_err(|e| anyhow::anyhow!("member {member} cannot be read: {e}"))?;
        Ok(Checked {
            inner: HashingReader::new(reader),
            member: member.to_owned(),
            size: *size,
            sha256: sha.clone(),
        })
    }

    /// A private copy of a member, checked in full against its signed
    /// digest before it is returned: the one way a member that is read more
    /// than once, or acted on piece by piece, is read. The store is asked
    /// for the member once, so a store that serves other bytes on a second
    /// read has nothing to serve them to. The copy is an unlinked file in
    /// the temporary directory (`TMPDIR`) that no other process can open.
    pub fn spool(&self, member: &str) -> anyhow::Result<std::fs::File> {
        use std::io::{Read, Seek, Write};
        let mut r = self.open(member)?;
        let mut file = tempfile::tempfile().map_err(|e| {
            anyhow::anyhow!(
                "cannot create a temporary file for member {member} in {}: {e}",
                std::env::temp_dir().display()
            )
        })?;
        let mut buf = vec![0u8; super::digest::BUF_BYTES];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| anyhow::anyhow!("member {member} cannot be read: {e}"))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(|e| {
                anyhow::anyhow!("cannot copy member {member} to a temporary file: {e}")
            })?;
        }
        r.finish()?;
        file.rewind()
            .map_err(|e| anyhow::anyhow!("cannot reread the copy of member {member}: {e}"))?;
        Ok(file)
    }

    /// Reads a small member whole and checks it.
    pub fn read_small(&self, member: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut r = self.open(member)?;
        if r.size > limit {
            anyhow::bail!(
                "member {member} is {} bytes, more than the {limit} allowed",
                r.size
            );
        }
        let mut buf = Vec::with_capacity(r.size as usize);
        std::io::Read::read_to_end(&mut r, &mut buf)
            .map_err(|e| anyhow::anyhow!("member {member} cannot be read: {e}"))?;
        r.finish()?;
        Ok(buf)
    }

    /// A member's signed sha256, hex.
    pub fn sha256(&self, member: &str) -> Option<&str> {
        self.digests.get(member).map(|(_, sha)| sha.as_str())
    }

    pub fn has(&self, member: &str) -> bool {
        self.digests.contains_key(member)
    }

    /// Signed members under a folder, in manifest order.
    pub fn members_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.manifest
            .members
            .iter()
            .map(|m| m.path.as_str())
            .filter(move |p| p.starts_with(prefix))
    }
}

/// A member reader that checks size and sha256 at the end.
pub struct Checked<R> {
    inner: HashingReader<R>,
    member: String,
    pub size: u64,
    sha256: String,
}

impl<R: std::io::Read> std::io::Read for Checked<R> {
    /// Never yields more than the signed size: a store that serves a longer
    /// member fails here, before the surplus reaches anything.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.size.saturating_sub(self.inner.count());
        let room = usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        // Sticky: once past the signed size, every later read fails too.
        if n as u64 > left || self.inner.count() > self.size {
            return Err(std::io::Error::other(format!(
                "member {} is longer than its signed {} bytes; the bundle is corrupt or was altered",
                self.member, self.size
            )));
        }
        Ok(n)
    }
}

impl<R: std::io::Read> Checked<R> {
    /// Reads whatever is left and compares with the signed digest.
    pub fn finish(mut self) -> anyhow::Result<()> {
        std::io::copy(&mut self, &mut std::io::sink())
            .map_err(|e| anyhow::anyhow!("member {} cannot be read: {e}", self.member))?;
        let (hex, n, _) = self.inner.finish();
        if n != self.size || hex != self.sha256 {
            anyhow::bail!(
                "member {} does not match its signed digest (sha256 {hex}, {n} bytes); the bundle is corrupt or was altered",
                self.member
            );
        }
        Ok(())
    }
}
