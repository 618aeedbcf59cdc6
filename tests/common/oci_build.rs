//! Builds small container images in code, as an OCI image layout on disk:
//! real gzip'd tar layers, configs with diff_ids, manifests and an index.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

pub(crate) struct Blob {
    pub digest: String,
    pub size: u64,
}

pub(crate) struct LayoutBuilder<'a> {
    dir: &'a Path,
    refs: Vec<serde_json::Value>,
}

pub(crate) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A layer holding `files` (name → bytes), gzip'd; and its diff_id.
pub(crate) fn layer(files: &[(&str, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        t.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let raw = t.into_inner().unwrap();
    let diff_id = digest(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// Deterministic bytes that do not compress (a layer that stays large).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(seed.to_le_bytes()).to_vec();
    while out.len() < len {
        block = Sha256::digest(&block).to_vec();
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

impl<'a> LayoutBuilder<'a> {
    pub(crate) fn new(dir: &'a Path) -> LayoutBuilder<'a> {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        LayoutBuilder {
            dir,
            refs: Vec::new(),
        }
    }

    pub(crate) fn blob(&self, bytes: &[u8]) -> Blob {
        let d = digest(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        Blob {
            digest: d,
            size: bytes.len() as u64,
        }
    }

    /// A single-platform image manifest over `layers` (gzip bytes, diff_id).
    pub(crate) fn manifest(&self, arch: &str, layers: &[&(Vec<u8>, String)]) -> (Blob, Vec<u8>) {
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>()},
        });
        let config = self.blob(&serde_json::to_vec(&config).unwrap());
        let layer_descs: Vec<_> = layers
            .iter()
            .map(|l| {
                let b = self.blob(&l.0);
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b.digest, "size": b.size})
            })
            .collect();
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.size},
            "layers": layer_descs,
        });
        let bytes = serde_json::to_vec(&m).unwrap();
        (self.blob(&bytes), bytes)
    }

    /// An index over per-architecture manifests.
    pub(crate) fn index(&self, manifests: &[(&str, &Blob)]) -> Blob {
        let list: Vec<_> = manifests
            .iter()
            .map(|(arch, b)| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": b.digest, "size": b.size,
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list});
        self.blob(&serde_json::to_vec(&idx).unwrap())
    }

    pub(crate) fn name(&mut self, name: &str, b: &Blob, media_type: &str) {
        let mut ann = BTreeMap::new();
        ann.insert("org.opencontainers.image.ref.name", name);
        self.refs.push(json!({"mediaType": media_type, "digest": b.digest, "size": b.size, "annotations": ann}));
    }

    pub(crate) fn finish(self) {
        let idx = json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }
}

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The test images: a two-platform notebook image (an index), and two
/// single-platform images sharing a base layer with it. One layer is 9 MiB
/// of noise, so uploads take several chunks.
pub(crate) struct TestImages {
    pub notebook: String,
    pub one: String,
    pub two: String,
    pub shared_layer: String,
    pub big_layer: String,
}

pub(crate) fn build(dir: &Path) -> TestImages {
    let mut b = LayoutBuilder::new(dir);
    let base = layer(&[("etc/os-release", b"ID=r2r-test\n".to_vec())]);
    let amd = layer(&[("opt/arch", b"amd64\n".to_vec())]);
    let arm = layer(&[("opt/arch", b"arm64\n".to_vec())]);
    let big = layer(&[("opt/data.bin", noise(7, 9 << 20))]);
    let one_top = layer(&[("app/one", b"one\n".to_vec())]);
    let two_top = layer(&[("app/two", b"two\n".to_vec())]);
    let (m_amd, _) = b.manifest("amd64", &[&base, &amd, &big]);
    let (m_arm, _) = b.manifest("arm64", &[&base, &arm]);
    let nb = b.index(&[("amd64", &m_amd), ("arm64", &m_arm)]);
    b.name("notebook", &nb, OCI_INDEX);
    let (m_one, _) = b.manifest("amd64", &[&base, &one_top]);
    b.name("one", &m_one, OCI_MANIFEST);
    let (m_two, _) = b.manifest("amd64", &[&base, &two_top]);
    b.name("two", &m_two, OCI_MANIFEST);
    b.finish();
    TestImages {
        notebook: nb.digest,
        one: m_one.digest,
        two: m_two.digest,
        shared_layer: digest(&base.0),
        big_layer: digest(&big.0),
    }
}
