//! Home directories through a bundle and back, proven with the shared
//! `tree-digest.py`: every byte and every piece of metadata.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn edge_tree(dir: &Path, sparse_gib: u32) {
    let script = shared("fixtures/make-edge-tree.py");
    let gib = sparse_gib.to_string();
    let r = python(&[s(&script), s(dir), "--sparse-gib", &gib, "--with-special"]);
    assert_eq!(r.code, 0, "{r:?}");
}

fn restore(bundle: &Path, keys: &Keys, to: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "restore-homes",
        s(bundle),
        "--pubkey",
        s(&keys.public),
        "--to",
        s(to),
    ];
    args.extend_from_slice(extra);
    r2r(&args)
}

fn chunk_bytes(bundle: &Path) -> u64 {
    walk_files(&bundle.join("homes"))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .map(|p| p.metadata().unwrap().len())
        .sum()
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn the_edge_tree_round_trips_exactly_through_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // 9 GiB apparent size: past tar's 8 GiB octal size field, and sparse.
    edge_tree(&src, 9);
    let keys = keys();
    let bundle = tmp.path().join("b");
    let r = export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--format", "dir", "--homes", s(&src), "--json"],
    );
    let out = r.json();
    let skipped = out["homes"]["skipped"].to_string();
    assert!(
        skipped.contains("a-fifo") && skipped.contains("FIFO"),
        "{skipped}"
    );
    assert!(r.stderr.contains("hub staging: no directory"), "{r:?}");
    assert!(
        chunk_bytes(&bundle) < 16 << 20,
        "the sparse file was inflated: {} bytes",
        chunk_bytes(&bundle)
    );
    assert_eq!(verify(&bundle, &keys.public).code, 0);

    let dest = tmp.path().join("dest");
    let r = restore(&bundle, &keys, &dest, &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["hardlinks"], 1);

    // The FIFO was reported and skipped; everything else is identical.
    let want: Vec<String> = tree_digest(&src)
        .into_iter()
        .filter(|l| !l.contains("a-fifo"))
        .collect();
    assert_eq!(tree_digest(&dest), want);
    let sparse = dest.join("prod/jovyan-1/sparse.img").metadata().unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(sparse.len(), 9 << 30);
    assert!(
        sparse.blocks() * 512 < 16 << 20,
        "restored sparse file is not sparse"
    );

    let mut args = vec![
        "verify",
        s(&bundle),
        "--pubkey",
        s(&keys.public),
        "--restored",
        s(&dest),
    ];
    if !is_root() {
        args.push("--no-owner");
    }
    let r = r2r(&args);
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(dest.join("prod/user-2e/.bashrc"), b"changed\n").unwrap();
    std::fs::remove_file(dest.join("prod/jovyan-1/old.txt")).unwrap();
    let r = r2r(&args);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("missing: prod/jovyan-1/old.txt"), "{r:?}");
    assert!(r.stdout.contains("size: prod/user-2e/.bashrc"), "{r:?}");
}

#[test]
fn stock_tar_extracts_each_home_from_its_chunks() {
    require("tar", "tar");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    edge_tree(&src, 1);
    std::fs::remove_file(src.join("prod/jovyan-1/special/a-fifo")).unwrap();
    let keys = keys();
    let bundle = tmp.path().join("b");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
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
    for home in ["jovyan-1", "user-2e", "_shared"] {
        let out = tmp.path().join("x").join(home);
        std::fs::create_dir_all(&out).unwrap();
        let mut chunks: Vec<PathBuf> = walk_files(&bundle.join("homes/prod"))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{home}."))
            })
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .collect();
        chunks.sort();
        assert!(!chunks.is_empty());
        for c in chunks {
            let r = run(Command::new("tar").args(["-xzf", s(&c), "-C", s(&out)]));
            assert_eq!(r.code, 0, "{r:?}");
        }
        assert_eq!(
            tree_digest(&out),
            tree_digest(&src.join("prod").join(home)),
            "home {home}"
        );
    }
}

#[test]
fn large_homes_split_into_chunks_and_users_restore_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for (user, files) in [("ann", 6), ("bob", 2)] {
        let d = src.join("prod").join(user).join("data");
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..files {
            let bytes: Vec<u8> = (0..(1u32 << 20))
                .map(|x| (x.wrapping_mul(2654435761) >> 13) as u8 ^ i as u8)
                .collect();
            std::fs::write(d.join(format!("f{i}.bin")), bytes).unwrap();
        }
        std::fs::create_dir_all(src.join("prod").join(user).join(".cache/pip")).unwrap();
        std::fs::write(
            src.join("prod").join(user).join(".cache/pip/wheel"),
            b"cache",
        )
        .unwrap();
    }
    let keys = keys();
    let bundle = tmp.path().join("b");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &[
            "--format",
            "dir",
            "--homes",
            s(&src),
            "--hub",
            "prod",
            "--chunk-mib",
            "2",
            "--exclude",
            ".cache/",
            "--quiet",
        ],
    );
    let ann: Vec<PathBuf> = walk_files(&bundle.join("homes/prod"))
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/ann.") && p.to_string_lossy().ends_with(".tar.gz")
        })
        .collect();
    assert!(ann.len() >= 3, "6 MiB in 2 MiB chunks: {ann:?}");
    assert!(bundle.join("homes/prod/ann.002.tar.gz").is_file());

    let dest = tmp.path().join("dest");
    let r = restore(&bundle, &keys, &dest, &["--user", "bob", "--quiet"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(dest.join("prod/bob/data/f1.bin").is_file());
    assert!(!dest.join("prod/ann").exists(), "only bob was asked for");
    assert!(
        !dest.join("prod/bob/.cache").exists(),
        "--exclude .cache/ was honoured"
    );

    // Running again keeps what is there; a different file in the way is
    // never overwritten.
    let r = restore(&bundle, &keys, &dest, &["--user", "bob", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["already_there"], 2);
    std::fs::write(dest.join("prod/bob/data/f0.bin"), b"the user's newer work").unwrap();
    let r = restore(&bundle, &keys, &dest, &["--user", "bob"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("f0.bin") && r.stderr.contains("not overwriting"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read(dest.join("prod/bob/data/f0.bin")).unwrap(),
        b"the user's newer work"
    );
}

#[test]
fn progress_is_plain_lines_off_a_terminal_and_silent_when_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src/prod/ann");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a").unwrap();
    let keys = keys();
    let r = export(
        &example_repo(),
        "example",
        &keys,
        &tmp.path().join("b1"),
        &["--homes", s(&tmp.path().join("src")), "--hub", "prod"],
    );
    assert!(r.stderr.contains("homes: prod/ann: 2 entries"), "{r:?}");
    let r = export(
        &example_repo(),
        "example",
        &keys,
        &tmp.path().join("b2"),
        &[
            "--homes",
            s(&tmp.path().join("src")),
            "--hub",
            "prod",
            "--quiet",
        ],
    );
    assert!(!r.stderr.contains("homes:"), "{r:?}");
}

#[test]
fn a_terminal_gets_a_progress_bar_with_rate_and_eta() {
    // A real pseudo-terminal, from util-linux's `script`.
    require("script", "bsdutils");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src/prod/ann");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), vec![b'a'; 3 << 20]).unwrap();
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
    let cmd = format!(
        "{R2R} restore-homes {} --pubkey {} --to {}",
        s(&bundle),
        s(&keys.public),
        s(&tmp.path().join("dest"))
    );
    let r = run(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
    assert_eq!(r.code, 0, "{r:?}");
    // The bar's template: prefix, bar, bytes of total, rate, ETA.
    assert!(
        r.stdout.contains("restoring homes [") && r.stdout.contains("ETA"),
        "{r:?}"
    );
    assert!(r.stdout.contains("3.0 MiB"), "{r:?}");
    // Off a terminal the same command prints plain lines instead.
    let r = restore(&bundle, &keys, &tmp.path().join("dest2"), &[]);
    assert!(
        !r.stderr.contains("ETA") && r.stderr.contains("restoring homes: prod/ann: restored"),
        "{r:?}"
    );
}

#[test]
fn the_hub_database_is_carried_and_its_users_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("jupyterhub.sqlite");
    let r = python(&[
        "-c",
        &format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.executescript('''
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN);
        CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE user_group_map (user_id INTEGER, group_id INTEGER);
        INSERT INTO users VALUES (1, 'ada', 1), (2, 'grace', 0), (3, 'katherine', 0);
        INSERT INTO groups VALUES (1, 'instructors');
        INSERT INTO user_group_map VALUES (1, 1), (3, 1);'''); c.commit()",
            s(&db)
        ),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let keys = keys();
    let bundle = tmp.path().join("b.tar");
    let hub_db = format!("prod={}", s(&db));
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--hub-db", &hub_db],
    );
    let r = r2r(&[
        "inspect",
        s(&bundle),
        "--pubkey",
        s(&keys.public),
        "--users",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let hubs = r.json();
    let prod = hubs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hub"] == "prod")
        .unwrap();
    assert_eq!(
        prod["database"]["users"],
        serde_json::json!(["ada", "grace", "katherine"])
    );
    assert_eq!(prod["database"]["admins"], serde_json::json!(["ada"]));
    assert_eq!(
        prod["database"]["groups"][0]["members"],
        serde_json::json!(["ada", "katherine"])
    );

    let not_db = tmp.path().join("notes.txt");
    std::fs::write(&not_db, b"not a database").unwrap();
    let r = run(export_cmd(
        &example_repo(),
        "example",
        &keys.key,
        &tmp.path().join("c.tar"),
    )
    .args(["--hub-db", &format!("prod={}", s(&not_db))]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("hub prod") && r.stderr.contains("notes.txt"),
        "{r:?}"
    );
    assert!(!tmp.path().join("c.tar").exists());
}

#[test]
fn an_interrupted_export_resumes_after_its_last_complete_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // Text that compresses, packed at level 9 in 1 MiB chunks: slow enough
    // to interrupt after the first chunk and well before the last.
    for user in ["ann", "bob"] {
        let d = src.join("prod").join(user);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..24 {
            let text: String = (0..40_000)
                .map(|n| format!("{user},{i},{},{}\n", n * 7919 % 10007, n))
                .collect();
            std::fs::write(d.join(format!("table-{i:02}.csv")), text).unwrap();
        }
    }
    let keys = keys();
    let out = tmp.path().join("b.tar");
    let journal = tmp.path().join(".b.tar.partial.journal");
    let args = [
        "--homes",
        s(&src),
        "--hub",
        "prod",
        "--chunk-mib",
        "1",
        "--level",
        "9",
        "--jobs",
        "1",
        "--quiet",
    ];
    let mut child = export_cmd(&example_repo(), "example", &keys.key, &out)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains(".001.tar.gz") {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export finished before it could be interrupted"
        );
        assert!(start.elapsed().as_secs() < 120, "no chunk was journaled");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.exists(),
        "an interrupted export left something that looks like a bundle"
    );
    assert!(tmp.path().join(".b.tar.partial").exists());

    let r = run(export_cmd(&example_repo(), "example", &keys.key, &out).args(args));
    assert_eq!(r.code, 1, "starting over needs --force or --resume: {r:?}");
    assert!(r.stderr.contains("--resume"), "{r:?}");

    let mut resumed_args = args.to_vec();
    resumed_args.extend(["--resume", "--json"]);
    let r = run(export_cmd(&example_repo(), "example", &keys.key, &out).args(&resumed_args));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.json()["homes"]["resumed_chunks"].as_u64().unwrap() >= 2,
        "{}",
        r.stdout
    );
    assert!(!journal.exists() && !tmp.path().join(".b.tar.partial").exists());
    assert_eq!(verify(&out, &keys.public).code, 0);
    let dest = tmp.path().join("dest");
    let r = restore(&out, &keys, &dest, &["--quiet"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        tree_digest(&dest.join("prod")),
        tree_digest(&src.join("prod"))
    );

    let r = run(export_cmd(
        &example_repo(),
        "example",
        &keys.key,
        &tmp.path().join("c.tar"),
    )
    .args(["--homes", s(&src), "--resume"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no interrupted export to resume"),
        "{r:?}"
    );
}

#[test]
fn a_dry_run_lists_the_homes_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for user in ["ann", "bob", "_shared"] {
        std::fs::create_dir_all(tmp.path().join("src/prod").join(user)).unwrap();
    }
    let keys = keys();
    let out = tmp.path().join("b.tar");
    let r = run(
        export_cmd(&example_repo(), "example", &keys.key, &out).args([
            "--homes",
            s(&tmp.path().join("src")),
            "--user",
            "a*",
            "--user",
            "_*",
            "--dry-run",
            "--json",
        ]),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let homes: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "home")
        .map(|m| m["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        homes,
        [
            "homes/prod/_shared.{NNN.tar.gz,index.jsonl}",
            "homes/prod/ann.{NNN.tar.gz,index.jsonl}"
        ]
    );
    assert!(!out.exists() && !tmp.path().join(".b.tar.partial").exists());
}
