//! Fuzz targets, one per parser of untrusted bytes the library exposes
//! (issue 14). Under `cargo test` on stable, bolero runs each target's seed
//! corpus (`tests/__fuzz__/<target>/corpus/`) and then random inputs for
//! `TEST_TIME` (override with `BOLERO_RANDOM_TEST_TIME_MS`; replay a failure
//! with the `BOLERO_RANDOM_SEED` it prints). `cargo bolero test fuzz::NAME`
//! runs the same targets under libFuzzer on a nightly toolchain.
//!
//! Every target asserts that no input panics and that each finishes within
//! `PER_INPUT`: a parser that is quadratic or never ends on some input
//! fails here, not on a user's machine.
//!
//! The seeds are real inputs from the example community (an exported
//! directory bundle with homes and a hub database, its charts, repository
//! indexes and values) and the hostile inputs of issue 14 (deep flow YAML,
//! a `users` view over an endless query, a virtual `Users` table, tar
//! chunks with GNU long names, global or foreign PAX records). The
//! signature target verifies against `__fuzz__/signature/r2r.pub` over
//! `__fuzz__/signature/signed-SHA256SUMS`, from the same export.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long bolero generates random inputs for one target.
const TEST_TIME: Duration = Duration::from_secs(3);

/// The longest any one input may take. Generous: real inputs take
/// milliseconds, and the hub database reader stops itself at `DB_LIMIT`.
const PER_INPUT: Duration = Duration::from_secs(10);

const DB_LIMIT: Duration = Duration::from_secs(2);

type Target = fn(&[u8]);

/// Every target by the name of its corpus folder.
const TARGETS: [(&str, Target); 10] = [
    ("yaml", yaml),
    ("sums", sums),
    ("manifest", manifest),
    ("signature", signature),
    ("home_index", home_index),
    ("hub_db", hub_db),
    ("chart_yaml", chart_yaml),
    ("repo_index", repo_index),
    ("helmignore", helmignore),
    ("tar_chunk", tar_chunk),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__")
}

/// Runs `f` on `input` and fails if it took longer than [`PER_INPUT`].
fn bounded(name: &str, input: &[u8], f: Target) {
    let start = Instant::now();
    f(input);
    let took = start.elapsed();
    assert!(
        took < PER_INPUT,
        "fuzz target {name}: an input of {} bytes took {took:?}",
        input.len()
    );
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// values files, Chart.lock, and the depth guard in front of both.
fn yaml(input: &[u8]) {
    let t = text(input);
    let _ = r2r::values::tree::parse_yaml(&t);
    let _ = r2r::source::charts::lock::parse(&t);
}

fn sums(input: &[u8]) {
    let _ = r2r::bundle::sums::Sums::parse(input);
}

fn manifest(input: &[u8]) {
    let _ = r2r::bundle::manifest::Manifest::parse(input);
}

fn signature(input: &[u8]) {
    let dir = fuzz_dir().join("signature");
    let pk = r2r::bundle::sign::load_public_key(&dir.join("r2r.pub").to_string_lossy())
        .expect("the fuzz key loads");
    let data = std::fs::read(dir.join("signed-SHA256SUMS")).expect("the signed data reads");
    let _ = r2r::bundle::sign::verify(&pk, input, &data);
}

/// A decompressed home chunk, read as restore reads it: through the
/// header guard, then the `tar` crate, names and data of every entry.
fn tar_chunk(input: &[u8]) {
    use std::io::Read;
    let mut archive = tar::Archive::new(r2r::data::tarball::HeaderGuard::new(input));
    let Ok(entries) = archive.entries() else {
        return;
    };
    for entry in entries {
        let Ok(mut entry) = entry else {
            return;
        };
        let _ = entry.path_bytes().len() + entry.link_name_bytes().map_or(0, |l| l.len());
        if std::io::copy(&mut (&mut entry).take(1 << 20), &mut std::io::sink()).is_err() {
            return;
        }
    }
}

fn home_index(input: &[u8]) {
    use r2r::data::index::IndexReader;
    let Ok((_, mut reader)) = IndexReader::open(std::io::Cursor::new(input)) else {
        return;
    };
    while let Ok(Some(_)) = reader.next_entry() {}
}

fn hub_db(input: &[u8]) {
    let mut tmp = tempfile::NamedTempFile::new().expect("a temporary file");
    tmp.write_all(input).expect("the temporary file is written");
    let _ = r2r::data::hubdb::read_file(tmp.path(), "fuzz", DB_LIMIT);
}

fn chart_yaml(input: &[u8]) {
    let _ = r2r::source::charts::archive::parse_chart_yaml(&text(input), "Chart.yaml");
}

fn repo_index(input: &[u8]) {
    let _ = r2r::source::charts::repos::parse_index(&text(input));
}

/// The rules, then matching them against a few paths (a glob can be slow
/// where the parse is not).
fn helmignore(input: &[u8]) {
    use r2r::source::charts::helmignore::Rules;
    let Ok(rules) = Rules::parse(Some(&text(input))) else {
        return;
    };
    for (p, dir) in [
        ("templates/hub.yaml", false),
        ("charts", true),
        ("a/b/c/.git", true),
    ] {
        let _ = rules.ignored(p, dir);
        let _ = rules.excludes_file(p);
    }
}

/// Every seed through its target, whatever bolero finds on disk: the
/// corpus is part of the test, and a missing one fails.
#[test]
fn every_seed_runs_within_bounds() {
    for (name, target) in TARGETS {
        let corpus = fuzz_dir().join(name).join("corpus");
        let seeds: Vec<PathBuf> = std::fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!seeds.is_empty(), "{} has no seeds", corpus.display());
        for seed in seeds {
            bounded(name, &std::fs::read(&seed).unwrap(), target);
        }
    }
}

macro_rules! fuzz_target {
    ($test:ident, $name:literal, $target:expr) => {
        #[test]
        fn $test() {
            bolero::check!(name = $name)
                .with_test_time(TEST_TIME)
                .for_each(|input: &[u8]| bounded($name, input, $target));
        }
    };
}

fuzz_target!(fuzz_yaml, "yaml", yaml);
fuzz_target!(fuzz_sums, "sums", sums);
fuzz_target!(fuzz_manifest, "manifest", manifest);
fuzz_target!(fuzz_signature, "signature", signature);
fuzz_target!(fuzz_home_index, "home_index", home_index);
fuzz_target!(fuzz_hub_db, "hub_db", hub_db);
fuzz_target!(fuzz_chart_yaml, "chart_yaml", chart_yaml);
fuzz_target!(fuzz_repo_index, "repo_index", repo_index);
fuzz_target!(fuzz_helmignore, "helmignore", helmignore);
fuzz_target!(fuzz_tar_chunk, "tar_chunk", tar_chunk);
