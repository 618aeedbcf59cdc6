//! An auditor without r2r: Debian's tar, minisign and coreutils alone must
//! accept a bundle r2r wrote, and r2r and stock minisign must use each
//! other's keys.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn auditor_check(bundle: &Path, public: &Path) {
    require("minisign", "minisign");
    require("sha256sum", "coreutils");
    require("tar", "tar");
    let x = tempfile::tempdir().unwrap();
    let r = run(Command::new("tar").args(["-xf", s(bundle), "-C", s(x.path())]));
    assert_eq!(r.code, 0, "tar: {r:?}");
    let r = run(Command::new("minisign")
        .args(["-Vm", "SHA256SUMS", "-p", s(public)])
        .current_dir(x.path()));
    assert_eq!(r.code, 0, "minisign: {r:?}");
    assert!(
        r.stdout
            .contains("Signature and comment signature verified"),
        "{r:?}"
    );
    assert!(r.stdout.contains("r2r bundle format_version=1"), "{r:?}");
    let r = run(Command::new("sha256sum")
        .args(["--strict", "-c", "SHA256SUMS"])
        .current_dir(x.path()));
    assert_eq!(r.code, 0, "sha256sum: {r:?}");
    let listed = std::fs::read_to_string(x.path().join("SHA256SUMS"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(r.stdout.matches(": OK").count(), listed, "{r:?}");
    // The tar's listing is exactly SHA256SUMS plus the signature.
    let t = run(Command::new("tar").args(["-tf", s(bundle)]));
    let mut names: Vec<&str> = t.stdout.lines().collect();
    names.sort();
    let sums = std::fs::read_to_string(x.path().join("SHA256SUMS")).unwrap();
    let mut expected: Vec<&str> = sums
        .lines()
        .map(|l| &l[66..])
        .chain(["SHA256SUMS", "SHA256SUMS.minisig"])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn stock_tools_accept_the_example_bundle() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("example.r2r.tar");
    export(&example_repo(), "example", &keys, &out, &[]);
    auditor_check(&out, &keys.public);
}

#[test]
fn stock_tools_accept_real_cluster_bundles() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    for cluster in ["2i2c-uk", "nasa-cryo", "utoronto"] {
        let out = work.path().join(format!("{cluster}.r2r.tar"));
        export(&shared_infra(), cluster, &keys, &out, &[]);
        auditor_check(&out, &keys.public);
    }
}

#[test]
fn stock_minisign_signs_and_verifies_with_r2r_keys() {
    require("minisign", "minisign");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f");
    std::fs::write(&file, "hello").unwrap();
    // Unencrypted key.
    let keys = keys();
    let r = run(Command::new("minisign")
        .args(["-S", "-s", s(&keys.key), "-m", s(&file)])
        .stdin(Stdio::null()));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(Command::new("minisign").args(["-Vm", s(&file), "-p", s(&keys.public)]));
    assert_eq!(r.code, 0, "{r:?}");
    // Encrypted key: the password goes to minisign on stdin.
    let enc = work.path().join("enc");
    let r = run(Command::new(R2R)
        .args(["keygen", "--out", s(&enc)])
        .env("R2R_KEY_PASSWORD", "correct horse"));
    assert_eq!(r.code, 0, "{r:?}");
    let mut child = Command::new("minisign")
        .args([
            "-S",
            "-s",
            s(&enc.join("r2r.key")),
            "-m",
            s(&file),
            "-x",
            s(&work.path().join("f.sig2")),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = run(Command::new("minisign").args([
        "-V",
        "-m",
        s(&file),
        "-x",
        s(&work.path().join("f.sig2")),
        "-p",
        s(&enc.join("r2r.pub")),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn r2r_signs_with_keys_stock_minisign_made() {
    require("minisign", "minisign");
    let work = tempfile::tempdir().unwrap();
    let (key, public) = (work.path().join("m.key"), work.path().join("m.pub"));
    let r = run(Command::new("minisign").args(["-G", "-W", "-p", s(&public), "-s", s(&key)]));
    assert_eq!(r.code, 0, "{r:?}");
    let out = work.path().join("b.tar");
    let r = run(&mut export_cmd(&example_repo(), "example", &key, &out));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(verify(&out, &public).code, 0);

    // An encrypted stock key, its password from R2R_KEY_PASSWORD.
    let (key, public) = (work.path().join("e.key"), work.path().join("e.pub"));
    let mut child = Command::new("minisign")
        .args(["-G", "-p", s(&public), "-s", s(&key)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"pw\npw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let out = work.path().join("e.tar");
    let export = |pw: &str| {
        run(export_cmd(&example_repo(), "example", &key, &out)
            .env("R2R_KEY_PASSWORD", pw)
            .stdin(Stdio::null()))
    };
    let r = export("wrong");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("cannot decrypt the secret key"), "{r:?}");
    assert!(!out.exists());
    let r = export("pw");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(verify(&out, &public).code, 0);
    auditor_check(&out, &public);
}

#[test]
fn an_encrypted_key_without_a_password_fails_instead_of_hanging() {
    let work = tempfile::tempdir().unwrap();
    let r = run(Command::new(R2R)
        .args(["keygen", "--out", s(work.path())])
        .env("R2R_KEY_PASSWORD", "x"));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(export_cmd(
        &example_repo(),
        "example",
        &work.path().join("r2r.key"),
        &work.path().join("b.tar"),
    )
    .env_remove("R2R_KEY_PASSWORD")
    .stdin(Stdio::null()));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("R2R_KEY_PASSWORD"), "{r:?}");
}
