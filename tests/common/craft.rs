//! Crafting hostile bundles: take a directory-form bundle, change members,
//! and sign it again with the same key, as a compromised signer would.

use std::path::Path;

use r2r::bundle::digest::sha256_bytes;
use r2r::bundle::layout::MemberPath;
use r2r::bundle::manifest::{Manifest, MemberRecord};
use r2r::bundle::sign::{self, PasswordSource};
use r2r::bundle::sums::Sums;

struct NoPassword;
impl PasswordSource for NoPassword {
    fn password(&self, _: &str) -> anyhow::Result<String> {
        anyhow::bail!("the test key has no password")
    }
}

/// Replaces (or adds) member `path` with `data`, then re-signs the bundle.
pub(crate) fn put_member(bundle: &Path, key: &Path, path: &str, data: &[u8]) {
    let file = bundle.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, data).unwrap();
    resign(bundle, key, path);
}

/// Recomputes the manifest record of `changed`, SHA256SUMS and the signature.
pub(crate) fn resign(bundle: &Path, key: &Path, changed: &str) {
    let mut m = Manifest::parse(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let data = std::fs::read(bundle.join(changed)).unwrap();
    let record = MemberRecord {
        path: changed.to_owned(),
        kind: m
            .members
            .iter()
            .find(|r| r.path.split('/').next() == changed.split('/').next())
            .map(|r| r.kind.clone())
            .unwrap_or_else(|| "home".into()),
        size: data.len() as u64,
        sha256: sha256_bytes(&data),
    };
    match m.members.iter_mut().find(|r| r.path == changed) {
        Some(r) => *r = record,
        None => m.members.push(record),
    }
    let json = m.to_json();
    std::fs::write(bundle.join("bundle.json"), &json).unwrap();
    let mut sums = Sums::default();
    for r in &m.members {
        sums.insert(MemberPath::parse(&r.path).unwrap(), r.sha256.clone());
    }
    sums.insert(
        MemberPath::parse("bundle.json").unwrap(),
        sha256_bytes(&json),
    );
    let text = sums.to_text();
    std::fs::write(bundle.join("SHA256SUMS"), &text).unwrap();
    let (sk, pk) = sign::load_secret_key(key, &NoPassword).unwrap();
    let sig = sign::sign(&sk, &pk, text.as_bytes(), "crafted by a test").unwrap();
    std::fs::write(bundle.join("SHA256SUMS.minisig"), sig).unwrap();
}

/// A gzip of `tar` bytes.
pub(crate) fn gz(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

/// One tar header block plus data, padded; `kind` is the type flag.
pub(crate) fn tar_entry(name: &[u8], kind: u8, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.as_old_mut().linkflag[0] = kind;
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

pub(crate) fn tar_end(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&[0u8; 1024]);
    body
}
