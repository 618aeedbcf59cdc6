//! Parsers of untrusted bytes are bounded in time, and text from a bundle
//! cannot forge lines on a terminal (issue 14, flaws 5, 6 and 10). Each
//! hostile input here is what a compromised signer or a hostile values file
//! can hand r2r; the bundles are re-signed with the test's own key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::craft::{put_member, resign};
use common::*;
use r2r::bundle::manifest::Manifest;

const HUB_DB: &str = "hub-db/prod/jupyterhub.sqlite";

/// A forged line, with a right-to-left override for good measure.
const FORGED: &str = "x\n  signature:  verified, key FORGED\u{202e}dlrow";

/// Runs r2r with a wall-clock guard: a run past `limit` is killed and the
/// test fails, so a hang shows as a failure rather than a stuck suite.
fn r2r_within(args: &[&str], limit: Duration) -> Run {
    let out = tempfile::tempdir().unwrap();
    let (o, e) = (out.path().join("out"), out.path().join("err"));
    let mut child = Command::new(R2R)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("r2r {args:?} was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(o).unwrap(),
        stderr: std::fs::read_to_string(e).unwrap(),
    }
}

/// A hub database with `sql` run in it.
fn database(dir: &Path, sql: &str) -> PathBuf {
    let path = dir.join(format!("db-{}.sqlite", sql.len()));
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(sql).unwrap();
    path
}

const PLAIN_DB: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN);
    INSERT INTO users VALUES (1, 'ada', 1);";

/// The example community as a directory bundle carrying a hub database.
fn bundle_with_db(tmp: &Path, keys: &Keys, users: &[&str]) -> PathBuf {
    let db = rusqlite::Connection::open(tmp.join("hub.sqlite")).unwrap();
    db.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN);")
        .unwrap();
    for u in users {
        db.execute("INSERT INTO users (name, admin) VALUES (?1, 0)", [u])
            .unwrap();
    }
    drop(db);
    let bundle = tmp.join("bundle");
    let hub_db = format!("prod={}", s(&tmp.join("hub.sqlite")));
    export(
        &example_repo(),
        "example",
        keys,
        &bundle,
        &["--format", "dir", "--hub-db", &hub_db, "--quiet"],
    );
    assert!(bundle.join(HUB_DB).is_file());
    bundle
}

// Flaw 5: `a: [[[[…` was scanned in quadratic time before yaml_serde's
// recursion limit applied (100 KB took ~15 s; 16 MiB, days).
#[test]
fn deeply_nested_flow_yaml_is_refused_before_the_quadratic_scan() {
    for len in [100_000usize, 16 << 20] {
        for open in ["[", "{", "[\n"] {
            let text = format!("a: {}", open.repeat(len / open.len()));
            let start = Instant::now();
            let err = r2r::values::tree::parse_yaml(&text).unwrap_err();
            let took = start.elapsed();
            // Not a performance bound: a watchdog far above the guard's
            // milliseconds and far below the old scan (38 s for 100 KB).
            assert!(
                took < Duration::from_secs(20),
                "{len} bytes of {open:?} took {took:?}"
            );
            assert!(err.to_string().contains("nested deeper than 64"), "{err}");
        }
    }
}

#[test]
fn yaml_nested_within_the_limit_still_parses() {
    let text = format!("a: {}1{}\n", "[".repeat(40), "]".repeat(40));
    let v = r2r::values::tree::parse_yaml(&text).unwrap();
    assert!(v.get("a").is_some_and(yaml_serde::Value::is_sequence));
}

// Flaw 6: a `users` VIEW over an endless recursive query never finished
// and filled /var/tmp with the sort's spill files.
#[test]
fn a_users_view_over_an_endless_query_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = bundle_with_db(tmp.path(), &keys, &["ada"]);
    let hostile = database(
        tmp.path(),
        "CREATE VIEW users AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) \
         SELECT n AS id, 'u' || n AS name, 0 AS admin FROM c;",
    );
    put_member(&bundle, &keys.key, HUB_DB, &std::fs::read(hostile).unwrap());
    let r = r2r_within(
        &[
            "inspect",
            s(&bundle),
            "--pubkey",
            s(&keys.public),
            "--users",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(HUB_DB) && r.stderr.contains("`users` is a view, not a plain table"),
        "{r:?}"
    );
}

#[test]
fn virtual_tables_and_views_under_other_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fts = database(
        tmp.path(),
        "CREATE VIRTUAL TABLE Users USING fts5(name, admin);",
    );
    let err = r2r::data::hubdb::read_file(&fts, "prod", Duration::from_secs(5)).unwrap_err();
    assert!(
        format!("{err:#}").contains("`users` is a virtual, not a plain table"),
        "{err:#}"
    );
    let groups = database(
        tmp.path(),
        &format!(
            "{PLAIN_DB} CREATE TABLE user_group_map (user_id, group_id); CREATE VIEW GROUPS AS SELECT 1 AS id, 'g' AS name;"
        ),
    );
    let err = r2r::data::hubdb::read_file(&groups, "prod", Duration::from_secs(5)).unwrap_err();
    assert!(format!("{err:#}").contains("`groups` is a view"), "{err:#}");
    let plain = database(tmp.path(), PLAIN_DB);
    let read = r2r::data::hubdb::read_file(&plain, "prod", Duration::from_secs(5)).unwrap();
    assert_eq!(
        (read.users, read.admins),
        (vec!["ada".into()], vec!["ada".into()])
    );
}

// Flaw 6, the same class through a plain table: a generated column that
// costs ~2 ms a row makes reading 4000 users take ~20 s without a limit.
#[test]
fn a_slow_users_table_is_stopped_by_the_time_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let slow = database(
        tmp.path(),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, n INTEGER, admin BOOLEAN, \
           name TEXT GENERATED ALWAYS AS \
           (length(replace(hex(zeroblob(200000 + n)), '0', 'ab')) || '-' || n) VIRTUAL); \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000) \
         INSERT INTO users (n, admin) SELECT x, 0 FROM c;",
    );
    let start = Instant::now();
    let err = r2r::data::hubdb::read_file(&slow, "prod", Duration::from_millis(500)).unwrap_err();
    let took = start.elapsed();
    // A watchdog, not a performance bound: unlimited, the read takes ~20 s.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert!(
        format!("{err:#}").contains("took longer than 0.5s"),
        "{err:#}"
    );
}

fn no_forged_line(out: &str, real: usize) {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("signature:"))
        .collect();
    assert_eq!(lines.len(), real, "forged lines in:\n{out}");
    assert!(
        out.contains("\\n  signature:  verified, key FORGED\\u{202e}dlrow"),
        "the escapes are shown:\n{out}"
    );
    assert!(!out.contains('\u{202e}'), "{out}");
}

// Flaw 10: `\n` and U+202E in bundle text reached the terminal.
#[test]
fn bundle_text_cannot_forge_lines_in_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = bundle_with_db(tmp.path(), &keys, &["ada", FORGED]);
    let mut m = Manifest::parse(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    m.source.cluster = FORGED.into();
    m.source.hubs[0].domain = FORGED.into();
    std::fs::write(bundle.join("bundle.json"), m.to_json()).unwrap();
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("report.json")).unwrap()).unwrap();
    report["cluster"] = FORGED.into();
    report["hubs"][0]["name"] = FORGED.into();
    std::fs::write(
        bundle.join("report.json"),
        serde_json::to_vec(&report).unwrap(),
    )
    .unwrap();
    resign(&bundle, &keys.key, "report.json");
    assert_eq!(verify(&bundle, &keys.public).code, 0);

    let r = r2r(&["inspect", s(&bundle)]);
    assert_eq!(r.code, 0, "{r:?}");
    no_forged_line(&r.stdout, 1);
    assert!(r.stdout.contains("signature:  NOT VERIFIED"), "{r:?}");

    let pk = s(&keys.public);
    let r = r2r(&["inspect", s(&bundle), "--pubkey", pk, "--users"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_forged_line(&r.stdout, 0);

    let r = r2r(&["inspect", s(&bundle), "--pubkey", pk, "--report"]);
    assert_eq!(r.code, 0, "{r:?}");
    no_forged_line(&r.stdout, 0);
    assert!(r.stdout.starts_with("# Portability report"), "{r:?}");
}

// Review of flaw 6's class: time is not the only bound. 3000 users sharing
// one id, all in one group, join to 9 million rows of 1 KB names: 9 GB
// sorted in memory (ORDER BY) and collected within the time limit,
// without a bound on what is gathered.
#[test]
fn a_join_that_multiplies_rows_is_stopped_by_a_memory_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = database(
        tmp.path(),
        "CREATE TABLE users (id INTEGER, name TEXT, admin BOOLEAN); \
         CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT); \
         CREATE TABLE user_group_map (user_id INTEGER, group_id INTEGER); \
         INSERT INTO groups VALUES (1, 'all'); \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) \
         INSERT INTO users SELECT 1, printf('%.1000c%d', 'u', x), 0 FROM c; \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) \
         INSERT INTO user_group_map SELECT 1, 1 FROM c;",
    );
    let err = r2r::data::hubdb::read_file(&wide, "prod", Duration::from_secs(600)).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("more than 268435456 bytes of names"),
        "{text}"
    );
}
