//! `r2r verify` against broken and hostile bundles, each crafted here, with
//! the documented exit code for each class: 3 bad signature, 4 corrupt or
//! missing member, 5 unexpected member, 6 unsafe or malformed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const BAD_SIGNATURE: i32 = 3;
const CORRUPT: i32 = 4;
const UNEXPECTED: i32 = 5;
const MALFORMED: i32 = 6;

struct Fixture {
    keys: Keys,
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

fn fixture() -> Fixture {
    let keys = keys();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("good.r2r.tar");
    export(&example_repo(), "example", &keys, &bundle, &[]);
    assert_eq!(verify(&bundle, &keys.public).code, 0);
    Fixture { keys, dir, bundle }
}

/// Runs verify and checks the exit code and that some problem names
/// `member` (when given).
fn rejects(f: &Fixture, bundle: &Path, code: i32, member: Option<&str>) -> serde_json::Value {
    let r = verify(bundle, &f.keys.public);
    assert_eq!(r.code, code, "{r:?}");
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["exit_code"], code);
    if let Some(m) = member {
        let named = j["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["member"] == m);
        assert!(named, "no problem names {m}: {j:#}");
    }
    j
}

#[test]
fn one_flipped_byte_in_any_member_is_caught() {
    let f = fixture();
    let members = read_tar(&f.bundle);
    let original = fs::read(&f.bundle).unwrap();
    for (name, data, offset) in &members {
        // First, middle and last byte of every member.
        for at in [0, data.len() / 2, data.len() - 1] {
            let mut bytes = original.clone();
            bytes[(*offset as usize) + at] ^= 0x01;
            let path = f.dir.path().join("flipped.tar");
            fs::write(&path, &bytes).unwrap();
            let (code, member) = match name.as_str() {
                "SHA256SUMS" | "SHA256SUMS.minisig" => (BAD_SIGNATURE, "SHA256SUMS.minisig"),
                other => (CORRUPT, other),
            };
            rejects(&f, &path, code, Some(member));
        }
    }
}

#[test]
fn a_flipped_byte_in_a_header_or_padding_is_caught() {
    let f = fixture();
    let original = fs::read(&f.bundle).unwrap();
    let (_, data, offset) = &read_tar(&f.bundle)[1];
    for at in [*offset as usize - 512 + 10, *offset as usize + data.len()] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        let path = f.dir.path().join("flipped.tar");
        fs::write(&path, &bytes).unwrap();
        rejects(&f, &path, MALFORMED, None);
    }
}

#[test]
fn a_truncated_bundle_is_malformed() {
    let f = fixture();
    let original = fs::read(&f.bundle).unwrap();
    let members = read_tar(&f.bundle);
    let (_, _, sig_offset) = members.last().unwrap();
    let (_, _, sums_offset) = &members[members.len() - 2];
    let cuts = [
        original.len() - 1,          // inside the end-of-archive marker
        original.len() - 1024,       // no end-of-archive marker
        *sig_offset as usize + 10,   // inside the signature's data
        *sums_offset as usize - 512, // at a member boundary: control members gone
        700,                         // inside the first member
        100,                         // inside the first header
    ];
    for cut in cuts {
        let path = f.dir.path().join("cut.tar");
        fs::write(&path, &original[..cut]).unwrap();
        let j = rejects(&f, &path, MALFORMED, None);
        assert!(
            j["problems"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("truncated"),
            "cut at {cut}: {j:#}"
        );
    }
}

#[test]
fn an_extra_member_is_unexpected() {
    let f = fixture();
    let mut raw = raw_from(&read_tar(&f.bundle));
    raw.insert(
        raw.len() - 3,
        Raw::file("config/extra.yaml", b"sneaky: true\n"),
    );
    let path = f.dir.path().join("extra.tar");
    write_raw_tar(&path, &raw);
    rejects(&f, &path, UNEXPECTED, Some("config/extra.yaml"));

    // The same in a directory bundle.
    let dir = f.dir.path().join("extra-dir");
    let r = run(&mut export_cmd(
        &example_repo(),
        "example",
        &f.keys.key,
        &dir,
    ));
    assert_eq!(r.code, 0, "{r:?}");
    fs::write(dir.join("charts/evil.yaml"), "x").unwrap();
    rejects(&f, &dir, UNEXPECTED, Some("charts/evil.yaml"));
}

#[test]
fn a_missing_member_is_reported() {
    let f = fixture();
    for gone in ["config/cluster.yaml", "bundle.json", "SHA256SUMS.minisig"] {
        let mut raw = raw_from(&read_tar(&f.bundle));
        raw.retain(|e| e.name != gone.as_bytes());
        let path = f.dir.path().join("missing.tar");
        write_raw_tar(&path, &raw);
        rejects(&f, &path, CORRUPT, Some(gone));
    }
}

#[test]
fn a_wrong_public_key_is_a_bad_signature() {
    let f = fixture();
    let other = keys();
    let r = verify(&f.bundle, &other.public);
    assert_eq!(r.code, BAD_SIGNATURE, "{r:?}");
    assert!(r.stdout.contains("not by the given public key"), "{r:?}");
}

#[test]
fn unsafe_member_names_are_refused() {
    let f = fixture();
    for (name, kind) in [
        (&b"../x"[..], b'0'),
        (b"/etc/x", b'0'),
        (b"config/../../x", b'0'),
        (b"config/link", b'2'),
        (b"config/hard", b'1'),
        (b"config/dev", b'3'),
        (b"config/fifo", b'6'),
        (b"config/dir", b'5'),
        (b"config/\xff", b'0'),
    ] {
        let mut raw = raw_from(&read_tar(&f.bundle));
        let mut hostile = Raw::file("x", b"owned\n");
        hostile.name = name.to_vec();
        hostile.kind = kind;
        if kind == b'2' || kind == b'1' {
            hostile.link = b"/etc/passwd".to_vec();
            hostile.data.clear();
        }
        raw.insert(1, hostile);
        let path = f.dir.path().join("hostile.tar");
        write_raw_tar(&path, &raw);
        let shown = String::from_utf8_lossy(name).into_owned();
        rejects(&f, &path, MALFORMED, Some(&shown));
    }
}

#[test]
fn duplicate_and_colliding_names_are_refused() {
    let f = fixture();
    for (first, second) in [
        ("config/cluster.yaml", "config/cluster.yaml"),
        ("config/a.yaml", "CONFIG/A.yaml"),
        ("config/f", "config/f/g"),
    ] {
        let mut raw = raw_from(&read_tar(&f.bundle));
        raw.insert(0, Raw::file(second, b"2"));
        raw.insert(0, Raw::file(first, b"1"));
        let path = f.dir.path().join("dup.tar");
        write_raw_tar(&path, &raw);
        let j = rejects(&f, &path, MALFORMED, None);
        let reason = j["problems"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("twice") || reason.contains("inside") || reason.contains("both"),
            "{j:#}"
        );
    }
}

#[test]
fn gnu_and_pax_extension_headers_are_refused() {
    let f = fixture();
    for kind in [b'L', b'x', b'g'] {
        let mut raw = raw_from(&read_tar(&f.bundle));
        let mut ext = Raw::file("././@LongLink", b"config/cluster.yaml\0");
        ext.kind = kind;
        raw.insert(0, ext);
        let path = f.dir.path().join("ext.tar");
        write_raw_tar(&path, &raw);
        let j = rejects(&f, &path, MALFORMED, None);
        assert!(
            j["problems"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("extension header"),
            "{j:#}"
        );
    }
}

#[test]
fn a_symlink_in_a_directory_bundle_is_refused() {
    let f = fixture();
    let dir = f.dir.path().join("bundle-dir");
    export(&example_repo(), "example", &f.keys, &dir, &[]);
    let target = dir.join("config/cluster.yaml");
    fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &target).unwrap();
    rejects(&f, &dir, MALFORMED, Some("config/cluster.yaml"));
}

/// Re-signs a tampered SHA256SUMS with the fixture's own key (using stock
/// minisign, with r2r's required untrusted comment), so only the tampering
/// itself can fail.
fn resign(f: &Fixture, dir: &Path) {
    require("minisign", "minisign");
    let id = fs::read_to_string(dir.join("SHA256SUMS.minisig")).unwrap();
    let id = id
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    fs::remove_file(dir.join("SHA256SUMS.minisig")).unwrap();
    let r = run(std::process::Command::new("minisign")
        .args([
            "-S",
            "-s",
            s(&f.keys.key),
            "-m",
            s(&dir.join("SHA256SUMS")),
            "-c",
            &format!("r2r bundle signature from key {id}"),
            "-t",
            "tampered",
        ])
        .stdin(std::process::Stdio::null()));
    assert_eq!(r.code, 0, "{r:?}");
}

/// Replaces bundle.json, updates its line in SHA256SUMS and re-signs: the
/// bundle is then validly signed, and only the manifest's content is wrong.
fn replace_manifest(f: &Fixture, dir: &Path, text: &str) {
    fs::write(dir.join("bundle.json"), text).unwrap();
    let sha = run(std::process::Command::new("sha256sum").arg(dir.join("bundle.json"))).stdout
        [..64]
        .to_owned();
    let sums: String = fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.ends_with("  bundle.json") {
                format!("{sha}  bundle.json\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    resign(f, dir);
}

fn signed_dir(f: &Fixture, name: &str) -> PathBuf {
    let dir = f.dir.path().join(name);
    export(
        &example_repo(),
        "example",
        &f.keys,
        &dir,
        &["--format", "dir"],
    );
    dir
}

#[test]
fn a_malformed_but_signed_sha256sums_is_refused() {
    let f = fixture();
    let dir = signed_dir(&f, "sums");
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    // Binary-mode marker, which sha256sum accepts but the format does not.
    fs::write(dir.join("SHA256SUMS"), sums.replacen("  ", " *", 1)).unwrap();
    resign(&f, &dir);
    rejects(&f, &dir, MALFORMED, Some("SHA256SUMS"));
    // Unsorted.
    let mut lines: Vec<&str> = sums.lines().collect();
    lines.reverse();
    fs::write(dir.join("SHA256SUMS"), lines.join("\n") + "\n").unwrap();
    resign(&f, &dir);
    rejects(&f, &dir, MALFORMED, Some("SHA256SUMS"));
}

#[test]
fn a_size_that_disagrees_with_the_manifest_is_corrupt() {
    let f = fixture();
    let dir = signed_dir(&f, "size");
    let manifest = fs::read_to_string(dir.join("bundle.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let size = m["members"][0]["size"].as_u64().unwrap();
    m["members"][0]["size"] = (size + 1).into();
    let path = m["members"][0]["path"].as_str().unwrap().to_owned();
    let text = serde_json::to_string_pretty(&m).unwrap() + "\n";
    replace_manifest(&f, &dir, &text);
    let j = rejects(&f, &dir, CORRUPT, Some(&path));
    assert!(j.to_string().contains("bundle.json says"), "{j:#}");
}

#[test]
fn a_newer_format_version_is_refused_clearly() {
    let f = fixture();
    let dir = signed_dir(&f, "version");
    let manifest = fs::read_to_string(dir.join("bundle.json")).unwrap();
    replace_manifest(
        &f,
        &dir,
        &manifest.replace("\"format_version\": 1", "\"format_version\": 2"),
    );
    let j = rejects(&f, &dir, MALFORMED, Some("bundle.json"));
    assert!(
        j.to_string().contains("format version 2 is not supported"),
        "{j:#}"
    );
}

#[test]
fn inspect_without_a_key_says_it_is_unverified() {
    let f = fixture();
    let r = r2r(&["inspect", s(&f.bundle)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("NOT VERIFIED"), "{r:?}");
    assert!(
        r.stdout.contains("cluster:    example (provider gcp)"),
        "{r:?}"
    );
    let other = keys();
    let r = r2r(&["inspect", s(&f.bundle), "--pubkey", s(&other.public)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("failed verification"), "{r:?}");
}
