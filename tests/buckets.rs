//! Buckets (scratch, persistent) through a bundle: every object's key, size,
//! content type and hash, restored to a new bucket and to a directory.
//! Against a real S3 server, moto_server on loopback.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::process::Command;

use common::s3::{self, ENV};
use common::*;

#[test]
fn a_bucket_round_trips_with_keys_sizes_types_and_hashes() {
    let moto = s3::moto();
    moto.bucket("scratch");
    moto.bucket("new-scratch");
    let objects: [(&str, &str, &[u8]); 3] = [
        ("data/table.csv", "text/csv", b"a,b\n1,2\n"),
        (
            "data/deep/model.bin",
            "application/octet-stream",
            &[7u8; 70_000],
        ),
        ("notes with spaces.md", "text/markdown", b"# hello\n"),
    ];
    for (key, ctype, body) in objects {
        let r = moto.raw(
            "PUT",
            &format!("/scratch/{}", key.replace(' ', "%20")),
            &[("Content-Type", ctype)],
            body,
        );
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = tmp.path().join("b");
    let spec = format!("scratch={}", moto.url("scratch"));
    let r = run(export_cmd(&example_repo(), "example", &keys.key, &bundle)
        .args(["--format", "dir", "--bucket", &spec, "--json"])
        .envs(ENV));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["buckets"][0]["objects"], 3);

    // The signed index lists each object's key, size, type and sha256.
    let index =
        std::fs::read_to_string(bundle.join("buckets/scratch/objects.index.jsonl")).unwrap();
    let csv: serde_json::Value = index
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["path"] == "data/table.csv")
        .expect("data/table.csv is indexed");
    assert_eq!(csv["size"], 8);
    assert_eq!(csv["content_type"], "text/csv");
    let want_sha = {
        use sha2::Digest;
        r2r::bundle::digest::hex(&sha2::Sha256::digest(b"a,b\n1,2\n"))
    };
    assert_eq!(csv["sha256"], want_sha.as_str());
    assert_eq!(verify(&bundle, &keys.public).code, 0);

    // Into a new bucket: the same keys, bodies and content types.
    let r = run(Command::new(R2R)
        .args([
            "restore-homes",
            s(&bundle),
            "--pubkey",
            s(&keys.public),
            "--bucket",
            "scratch",
            "--to",
            &moto.url("new-scratch"),
            "--json",
        ])
        .envs(ENV));
    assert_eq!(r.code, 0, "{r:?}");
    // Read the new bucket back through S3: the same index, object for object.
    let again = tmp.path().join("again");
    let spec = format!("scratch={}", moto.url("new-scratch"));
    let r = run(export_cmd(&example_repo(), "example", &keys.key, &again)
        .args(["--format", "dir", "--bucket", &spec, "--quiet"])
        .envs(ENV));
    assert_eq!(r.code, 0, "{r:?}");
    let objects_of = |b: &std::path::Path| -> Vec<(String, String, String, String)> {
        let text = std::fs::read_to_string(b.join("buckets/scratch/objects.index.jsonl")).unwrap();
        text.lines()
            .skip(1)
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "file")
            .map(|e| {
                (
                    e["path"].to_string(),
                    e["size"].to_string(),
                    e["content_type"].to_string(),
                    e["sha256"].to_string(),
                )
            })
            .collect()
    };
    let first = objects_of(&bundle);
    assert_eq!(first.len(), 3);
    assert_eq!(objects_of(&again), first);

    // Into a directory.
    let dir = tmp.path().join("dir");
    let r = r2r(&[
        "restore-homes",
        s(&bundle),
        "--pubkey",
        s(&keys.public),
        "--bucket",
        "scratch",
        "--to",
        s(&dir),
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    for (key, _, body) in objects {
        assert_eq!(std::fs::read(dir.join(key)).unwrap(), body, "{key}");
    }
    let r = r2r(&[
        "restore-homes",
        s(&bundle),
        "--pubkey",
        s(&keys.public),
        "--bucket",
        "persistent",
        "--to",
        s(&dir),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no bucket \"persistent\"") && r.stderr.contains("scratch"),
        "{r:?}"
    );
}
