//! Restoring a crafted bundle must never write outside the destination.
//! Each test takes a real exported bundle, replaces one home's chunk and
//! index with hostile ones, signs it again with the same key (a compromised
//! signer), and checks that `restore-homes` refuses with the home and path
//! named, leaving nothing outside and no file under a final name.

mod common;

use std::path::{Path, PathBuf};

use common::craft::{gz, put_member, tar_end, tar_entry};
use common::*;
use r2r::data::index::{Entry, Header, INDEX_VERSION, RawPath, Type};

const CHUNK: &str = "homes/prod/alice.000.tar.gz";
const INDEX: &str = "homes/prod/alice.index.jsonl";

struct Fixture {
    _tmp: tempfile::TempDir,
    keys: Keys,
    bundle: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let homes = tmp.path().join("homes");
    std::fs::create_dir_all(homes.join("prod/alice")).unwrap();
    std::fs::write(homes.join("prod/alice/a.txt"), b"alice\n").unwrap();
    let keys = keys();
    let bundle = tmp.path().join("bundle");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &[
            "--format",
            "dir",
            "--homes",
            s(&homes),
            "--hub",
            "prod",
            "--quiet",
        ],
    );
    assert!(bundle.join(CHUNK).is_file() && bundle.join(INDEX).is_file());
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    Fixture {
        dest: tmp.path().join("dest"),
        bundle,
        outside,
        keys,
        _tmp: tmp,
    }
}

fn entry(path: &[u8], kind: Type, data: &[u8], target: Option<&[u8]>) -> Entry {
    use sha2::Digest;
    Entry {
        path: RawPath(path.to_vec()),
        kind,
        size: if kind == Type::File {
            data.len() as u64
        } else {
            0
        },
        mode: if kind == Type::Dir { 0o755 } else { 0o644 },
        uid: 1000,
        gid: 100,
        mtime: 1_700_000_000,
        mtime_nsec: 0,
        target: target.map(|t| RawPath(t.to_vec())),
        link_group: 0,
        sha256: (kind == Type::File).then(|| r2r::bundle::digest::hex(&sha2::Sha256::digest(data))),
        chunk: 0,
        content_type: None,
    }
}

fn root() -> Entry {
    entry(b".", Type::Dir, b"", None)
}

/// Writes the hostile index and chunk and re-signs.
fn plant(f: &Fixture, entries: &[Entry], tar: Vec<u8>) {
    let header = Header {
        r2r_home_index: INDEX_VERSION,
        hub: "prod".into(),
        home: RawPath(b"alice".to_vec()),
        chunks: vec![CHUNK.into()],
        entries: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
        skipped: vec![],
    };
    let mut index = header.to_line();
    for e in entries {
        index.extend_from_slice(&e.to_line());
    }
    put_member(&f.bundle, &f.keys.key, INDEX, &index);
    put_member(&f.bundle, &f.keys.key, CHUNK, &gz(&tar));
    assert_eq!(
        verify(&f.bundle, &f.keys.public).code,
        0,
        "the crafted bundle is validly signed"
    );
}

fn restore(f: &Fixture) -> Run {
    r2r(&[
        "restore-homes",
        s(&f.bundle),
        "--pubkey",
        s(&f.keys.public),
        "--to",
        s(&f.dest),
        "--quiet",
    ])
}

/// Every path under `dir`, for asserting what exists.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if e.file_type().unwrap().is_dir() {
                out.extend(listing(&p));
            }
        }
    }
    out.sort();
    out
}

fn refused(f: &Fixture, words: &[&str]) {
    let r = restore(f);
    assert_eq!(r.code, 1, "{r:?}");
    for w in words {
        assert!(r.stderr.contains(w), "stderr lacks {w:?}: {r:?}");
    }
    assert!(r.stderr.contains("home alice"), "the home is named: {r:?}");
    assert!(
        listing(&f.outside).is_empty(),
        "something was written outside: {:?}",
        listing(&f.outside)
    );
    let partial: Vec<String> = listing(&f.dest)
        .into_iter()
        .filter(|p| p.contains(".r2r-partial"))
        .collect();
    assert!(partial.is_empty(), "temporary files left: {partial:?}");
}

#[test]
fn the_untouched_bundle_restores() {
    let f = fixture();
    let r = restore(&f);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read(f.dest.join("prod/alice/a.txt")).unwrap(),
        b"alice\n"
    );
}

#[test]
fn parent_dir_and_absolute_entries_are_refused() {
    let f = fixture();
    // The index itself may not list such a path.
    plant(
        &f,
        &[root(), entry(b"../../outside/x", Type::File, b"x", None)],
        tar_end(tar_entry(b"../../outside/x", b'0', b"", b"x")),
    );
    refused(&f, &["`..`"]);
    // A chunk entry the index does not list.
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"/tmp/abs", b'0', b"", b"x"));
    plant(
        &f,
        &[root(), entry(b"abs", Type::File, b"x", None)],
        tar_end(tar),
    );
    refused(&f, &["/tmp/abs", "not listed in the signed index"]);
}

#[test]
fn a_file_written_through_a_symlink_is_refused() {
    let f = fixture();
    let outside = f.outside.to_str().unwrap().as_bytes().to_vec();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"link", b'2', &outside, b""));
    tar.extend(tar_entry(b"link/pwned", b'0', b"", b"owned"));
    plant(
        &f,
        &[
            root(),
            entry(b"link", Type::Symlink, b"", Some(&outside)),
            entry(b"link/pwned", Type::File, b"owned", None),
        ],
        tar_end(tar),
    );
    refused(&f, &["link", "symlink"]);
    assert!(!f.outside.join("pwned").exists());
}

#[test]
fn hard_links_out_of_the_tree_are_refused() {
    // A target outside the home: the index refuses it.
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"h", b'1', b"../../../etc/passwd", b""));
    plant(
        &f,
        &[
            root(),
            entry(b"h", Type::Hardlink, b"", Some(b"../../../etc/passwd")),
        ],
        tar_end(tar),
    );
    refused(&f, &["hard-link target", "`..`"]);
    // A target through a symlink the bundle made: not a file restored earlier.
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"etc", b'2', b"/etc", b""));
    tar.extend(tar_entry(b"h", b'1', b"etc/passwd", b""));
    plant(
        &f,
        &[
            root(),
            entry(b"etc", Type::Symlink, b"", Some(b"/etc")),
            entry(b"h", Type::Hardlink, b"", Some(b"etc/passwd")),
        ],
        tar_end(tar),
    );
    refused(
        &f,
        &["hard link h", "not a file of this home restored earlier"],
    );
    assert!(!f.dest.join("prod/alice/h").exists());
}

#[test]
fn device_nodes_are_refused() {
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"sda", b'4', b"", b""));
    plant(
        &f,
        &[root(), entry(b"sda", Type::File, b"", None)],
        tar_end(tar),
    );
    refused(&f, &["sda", "device node"]);
}

#[test]
fn unlisted_entries_and_wrong_sizes_or_hashes_are_refused() {
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"a.txt", b'0', b"", b"alice\n"));
    tar.extend(tar_entry(b"smuggled", b'0', b"", b"extra"));
    plant(
        &f,
        &[root(), entry(b"a.txt", Type::File, b"alice\n", None)],
        tar_end(tar),
    );
    refused(&f, &["smuggled", "not listed in the signed index"]);

    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"a.txt", b'0', b"", b"alice, longer\n"));
    plant(
        &f,
        &[root(), entry(b"a.txt", Type::File, b"alice\n", None)],
        tar_end(tar),
    );
    refused(&f, &["a.txt", "holds 14 bytes but the signed index says 6"]);

    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"a.txt", b'0', b"", b"mallet"));
    plant(
        &f,
        &[root(), entry(b"a.txt", Type::File, b"alice\n", None)],
        tar_end(tar),
    );
    refused(&f, &["a.txt", "does not match the signed index"]);
    assert!(
        !f.dest.join("prod/alice/a.txt").exists(),
        "a file that failed its hash has no final name"
    );
}

#[test]
fn a_decompression_bomb_is_refused() {
    let f = fixture();
    // A 64 MiB PAX record (zeros, a few KiB compressed) before a file the
    // index says is 6 bytes: far more than the index accounts for.
    let mut pax = b"67108864 comment=".to_vec();
    pax.resize((64 << 20) - 1, b'0');
    pax.push(b'\n');
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"PaxHeaders/a.txt", b'x', b"", &pax));
    tar.extend(tar_entry(b"a.txt", b'0', b"", b"alice\n"));
    plant(
        &f,
        &[root(), entry(b"a.txt", Type::File, b"alice\n", None)],
        tar_end(tar),
    );
    refused(
        &f,
        &["decompresses to more than its signed index accounts for"],
    );
}
