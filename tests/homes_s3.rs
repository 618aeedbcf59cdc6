//! Homes read from and restored to a real S3 server (moto_server on
//! loopback), including injected 500s, connection resets and an outage.

mod common;

use std::path::Path;
use std::process::Command;

use common::s3::{self, ENV};
use common::*;

fn r2r_s3(args: &[&str]) -> Run {
    run(Command::new(R2R)
        .args(args)
        .envs(ENV)
        .env_remove("R2R_KEY_PASSWORD"))
}

fn digest(dir: &Path) -> String {
    let script = project().join("../shared/fixtures/tree-digest.py");
    let mut cmd = Command::new("python3");
    cmd.args([s(&script), s(dir), "--dir-mtimes"]);
    if !rustix::process::geteuid().is_root() {
        cmd.arg("--no-owner");
    }
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
}

#[test]
fn the_edge_tree_round_trips_through_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let script = project().join("../shared/fixtures/make-edge-tree.py");
    let r = run(Command::new("python3").args([s(&script), s(&src), "--sparse-gib", "1"]));
    assert_eq!(r.code, 0, "{r:?}");
    // Object storage has no holes: keep the upload small.
    std::fs::remove_file(src.join("prod/jovyan-1/sparse.img")).unwrap();
    let moto = s3::moto();
    moto.bucket("homes");
    let keys = keys();

    let first = tmp.path().join("first");
    export(
        &example_repo(),
        "example",
        &keys,
        &first,
        &[
            "--format",
            "dir",
            "--homes",
            s(&src),
            "--hub",
            "prod",
            "--quiet",
        ],
    );
    let url = moto.url("homes/replica");
    let r = r2r_s3(&[
        "restore-homes",
        s(&first),
        "--pubkey",
        s(&keys.public),
        "--to",
        &url,
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["hardlinks"], 1);

    // Read the homes back from S3 into a second bundle, then onto disk.
    let second = tmp.path().join("second");
    let r = run(export_cmd(&example_repo(), "example", &keys.key, &second)
        .args([
            "--format", "dir", "--homes", &url, "--hub", "prod", "--json",
        ])
        .envs(ENV));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["homes"]["homes"], 3);
    let dest = tmp.path().join("dest");
    let r = r2r(&[
        "restore-homes",
        s(&second),
        "--pubkey",
        s(&keys.public),
        "--to",
        s(&dest),
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(digest(&dest), digest(&src));
}

#[test]
fn object_storage_faults_are_retried_and_an_outage_resumes_later() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src/prod");
    for user in ["ann", "bob"] {
        std::fs::create_dir_all(src.join(user)).unwrap();
        for i in 0..5 {
            std::fs::write(
                src.join(user).join(format!("n{i}.txt")),
                format!("{user} {i}\n").repeat(1000),
            )
            .unwrap();
        }
    }
    let moto = s3::moto();
    moto.bucket("homes");
    let keys = keys();
    let bundle = tmp.path().join("b.tar");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &[
            "--homes",
            s(&tmp.path().join("src")),
            "--hub",
            "prod",
            "--quiet",
        ],
    );

    // Two of every three requests fail (500, then a reset): retried. One
    // home at a time, so that each request sees the proxy's fail-fail-pass
    // cycle rather than a race between two workers for its passing turn.
    let flaky = s3::faulty_proxy(moto.port, "flaky");
    let through = |server: &s3::Server, prefix: &str| {
        format!(
            "s3://homes/{prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1",
            server.port
        )
    };
    let restore_to = |to: &str, extra: &[&str]| {
        let mut args = vec![
            "restore-homes",
            s(&bundle),
            "--pubkey",
            s(&keys.public),
            "--to",
            to,
        ];
        args.extend_from_slice(extra);
        r2r_s3(&args)
    };
    let r = restore_to(&through(&flaky, "a"), &["--jobs", "1", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["files"], 10);

    // An outage: a clear error naming what could not be written.
    let down = s3::faulty_proxy(moto.port, "down");
    let r = restore_to(&through(&down, "b"), &["--quiet"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        (r.stderr.contains("home ann") || r.stderr.contains("home bob"))
            && r.stderr.contains("s3://homes/b"),
        "{r:?}"
    );

    // Half done by hand, then the rest: the later run keeps what is there.
    let r = restore_to(&through(&moto, "b"), &["--user", "ann", "--quiet"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = restore_to(&through(&moto, "b"), &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["already_there"], 5);
    assert_eq!(r.json()["files"], 10);
}
