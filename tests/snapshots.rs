//! What a person sees: for every command, and for every command's --help,
//! one whole run of the real binary on the example community pinned as a
//! snapshot of its command line, exit code, stdout and stderr (as uv's
//! `uv_snapshot!` does). Parts that differ between runs or machines (paths,
//! times, rates, key ids, ports) are redacted by the filters in
//! `redactions`; everything else is compared word for word, so a changed
//! message fails here and its new text is reviewed in tests/snapshots/.
//!
//! One export of the example, made once and shared (`world`), serves every
//! test that reads a bundle; its own run is the export snapshot. Update
//! after an intended change with `INSTA_UPDATE=always cargo test --test
//! snapshots` (or `cargo insta review`), then read the diff.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::registry;
use common::{R2R, Run, example_repo, project, s};

/// Every subcommand; each has a --help snapshot.
const COMMANDS: [&str; 8] = [
    "keygen",
    "export",
    "verify",
    "inspect",
    "restore-homes",
    "push-images",
    "install",
    "drill",
];

/// The answers a local install of the example needs (as tests/install.rs).
const ANSWERS: &str = "\
hubs:
  staging:
    oauth_client_id: keep
  prod:
    domain: hub.example.net
    oauth_client_id: new-client-id
    oauth_client_secret: env:PROD_OAUTH_SECRET
";

/// The shared fixture: a key pair and the example community exported once,
/// with its homes and images, as a person would (progress on, not --quiet).
struct World {
    /// DIR/keys/r2r.pub, whose secret key signed the bundle.
    public: PathBuf,
    bundle: PathBuf,
    /// The export's own run, the `export` snapshot.
    export: Shown,
}

/// The world's folder: wiped and remade by each run of this test binary
/// (`cargo test` runs its tests as threads of one process); under the
/// target directory, not a temporary one, because a static is never
/// dropped and a temporary directory would be left behind.
fn world_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("snapshots-world")
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = world_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let keygen = r2r(&["keygen", "--out", s(&dir.join("keys")), "--no-password"]);
        assert_eq!(keygen.run.code, 0, "{:?}", keygen.run);
        let (key, public) = (dir.join("keys/r2r.key"), dir.join("keys/r2r.pub"));
        let bundle = dir.join("example.r2r.tar");
        let repo = example_repo();
        let images = format!("oci:{}", s(&repo.join("images")));
        let homes = fixed_time_copy(&repo.join("homes"), &dir.join("homes"));
        let mut args = vec!["export", "--infra", s(&repo)];
        args.extend(["--cluster", "example", "--sign-key", s(&key)]);
        args.extend(["--output", s(&bundle), "--homes", s(&homes)]);
        args.extend(["--images", "--image-source", &images]);
        let mirrors = common::chart_mirrors(&repo);
        args.extend(mirrors.iter().map(String::as_str));
        let export = r2r(&args);
        assert_eq!(
            export.run.code, 0,
            "the shared export failed: {:?}",
            export.run
        );
        World {
            public,
            bundle,
            export,
        }
    })
}

/// The time every input file and every made archive carries.
const FIXED_TIME: &str = "1700000000";

/// A copy of `from` whose files all carry [`FIXED_TIME`]: a checkout's
/// mtimes are the clone's, and they land in the homes' tar headers, whose
/// compressed size, shown in the output, would follow them.
fn fixed_time_copy(from: &Path, to: &Path) -> PathBuf {
    let cp = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(cp.success(), "cp -a {} {}", from.display(), to.display());
    let touch = Command::new("find")
        .arg(to)
        .args([
            "-exec",
            "touch",
            "-h",
            "-d",
            &format!("@{FIXED_TIME}"),
            "{}",
            "+",
        ])
        .status()
        .unwrap();
    assert!(touch.success(), "touch under {}", to.display());
    to.to_owned()
}

/// One run: the command line as typed and what it printed.
struct Shown {
    line: String,
    run: Run,
}

/// Runs the real binary in the project's folder (where `r2r drill` finds
/// examples/community, as a person trying r2r from its repository would)
/// with no credentials, password or terminal width but those given here,
/// so the output does not depend on the caller's environment.
fn r2r(args: &[&str]) -> Shown {
    r2r_with(args, &[])
}

fn r2r_with(args: &[&str], env: &[(&str, &str)]) -> Shown {
    let no_docker = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("snapshots-no-docker-config");
    std::fs::create_dir_all(&no_docker).unwrap();
    let mut cmd = Command::new(R2R);
    cmd.args(args)
        .current_dir(project())
        .env("COLUMNS", "100")
        .env("DOCKER_CONFIG", &no_docker)
        .env("R2R_RETRY_FIRST_MS", "50")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("R2R_KEY_PASSWORD")
        // Chart archives and the bundle's dates are made at this time, so
        // sizes do not change with the clock (gzip's output does).
        .env("SOURCE_DATE_EPOCH", FIXED_TIME)
        .env_remove("SOPS_AGE_KEY_FILE")
        .envs(env.iter().copied());
    Shown {
        line: format!("r2r {}", args.join(" ")),
        run: common::run(&mut cmd),
    }
}

/// The text a snapshot holds, in uv's shape.
fn transcript(shown: &Shown) -> String {
    let r = &shown.run;
    format!(
        "$ {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        shown.line,
        r.code,
        r.stdout,
        homes_in_order(&r.stderr)
    )
}

/// Homes are packed and restored in parallel, one per core, and each
/// reports (`LABEL: HUB/HOME: …`) when it finishes, in whichever order
/// they finish: each run of such lines is sorted, so the snapshot keeps
/// every line but not an order no run promises.
fn homes_in_order(text: &str) -> String {
    let per_home = regex::Regex::new(r"^[a-z ]+: [\w.-]+/[\w.-]+: ").unwrap();
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for line in text.split_inclusive('\n') {
        if per_home.is_match(line) {
            run.push(line);
            continue;
        }
        run.sort_unstable();
        out.append(&mut run);
        out.push(line);
    }
    run.sort_unstable();
    out.append(&mut run);
    out.concat()
}

/// Regular expressions and their replacements, applied in order: exact
/// directories first (the shared world lives under the target directory,
/// which may live under the project), then the shapes of volatile values.
fn redactions(tmp: &[&Path]) -> Vec<(String, String)> {
    let mut f = Vec::new();
    let mut dir = |p: &Path, name: &str| {
        f.push((regex::escape(s(p)), name.to_owned()));
        if let Ok(c) = p.canonicalize()
            && c != p
        {
            f.push((regex::escape(s(&c)), name.to_owned()));
        }
    };
    dir(&world_dir(), "[WORLD]");
    for t in tmp {
        dir(t, "[TMP]");
    }
    dir(&project(), "[PROJECT]");
    // Any other temporary directory (tempfile's names).
    let tmp_root = regex::escape(s(&std::env::temp_dir()));
    f.push((format!(r"{tmp_root}/\.tmp[A-Za-z0-9]+"), "[TMP]".to_owned()));
    let shapes: &[(&str, &str)] = &[
        // A loopback server's random port.
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        // Wall-clock times, RFC 3339 or with a space.
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
            "[TIME]",
        ),
        // Rates of transfer.
        (r"\d+(\.\d+)? ?(B|[KMGT]i?B)/s", "[RATE]"),
        // A progress line printed every 10 s of a long step: how many
        // there are depends on the machine's speed; the step's last line,
        // ending in `(done)`, stays.
        (r"(?m)^[^\n]*\(\[RATE\]\)\n", ""),
        // A bundle's id ends in its creation time.
        (r"-\d{14}\b", "-[STAMP]"),
        // The version, which `inspect` shows as the bundle's writer.
        (r"\br2r \d+\.\d+\.\d+(-[0-9A-Za-z.]+)?", "r2r [VERSION]"),
        // The drill report's seconds per phase.
        (r"(?m)^(\| [a-z_]+ \| )\d+\.\d+( \|)", "${1}[SECONDS]${2}"),
        // Durations: 1.2s, 0.87 s, 340ms, 2 min.
        (r"\b\d+(\.\d+)? ?(ns|µs|us|ms|s|m|min|h)\b", "[DURATION]"),
        // minisign key ids (16 hex digits) and age public keys.
        (r"\b[0-9A-F]{16}\b", "[KEY_ID]"),
        (r"age1[a-z0-9]{58}", "[AGE_RECIPIENT]"),
    ];
    f.extend(
        shapes
            .iter()
            .map(|(re, with)| ((*re).to_owned(), (*with).to_owned())),
    );
    f
}

/// Asserts the snapshot `name` of `shown`, with the volatile parts of its
/// text (and the paths of the test's own temporary directories) redacted.
fn check(name: &str, shown: &Shown, tmp: &[&Path]) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (re, with) in redactions(tmp) {
        settings.add_filter(&re, with);
    }
    settings.bind(|| insta::assert_snapshot!(name, transcript(shown)));
}

#[test]
fn help_of_r2r_and_of_every_command() {
    check("help", &r2r(&["--help"]), &[]);
    for c in COMMANDS {
        check(&format!("help-{c}"), &r2r(&[c, "--help"]), &[]);
    }
}

#[test]
fn usage_error() {
    check("usage-error", &r2r(&["verify"]), &[]);
}

#[test]
fn keygen_then_keygen_again_refuses() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("keys");
    let args = ["keygen", "--out", s(&out), "--no-password"];
    check("keygen", &r2r(&args), &[t.path()]);
    check("keygen-existing", &r2r(&args), &[t.path()]);
}

#[test]
fn export() {
    check("export", &world().export, &[]);
}

#[test]
fn verify() {
    let w = world();
    let args = ["verify", s(&w.bundle), "--pubkey", s(&w.public)];
    check("verify", &r2r(&args), &[]);
}

#[test]
fn verify_with_the_wrong_key() {
    let w = world();
    let other = common::keys();
    let args = ["verify", s(&w.bundle), "--pubkey", s(&other.public)];
    check("verify-wrong-key", &r2r(&args), &[other.dir.path()]);
}

#[test]
fn inspect() {
    let w = world();
    let (b, k) = (s(&w.bundle), s(&w.public));
    check("inspect", &r2r(&["inspect", b, "--pubkey", k]), &[]);
    for view in ["report", "users", "images"] {
        let flag = format!("--{view}");
        let shown = r2r(&["inspect", b, "--pubkey", k, &flag]);
        check(&format!("inspect-{view}"), &shown, &[]);
    }
}

#[test]
fn restore_homes_then_verify_restored() {
    let w = world();
    let t = tempfile::tempdir().unwrap();
    let to = t.path().join("homes");
    let (b, k) = (s(&w.bundle), s(&w.public));
    let args = ["restore-homes", b, "--pubkey", k, "--to", s(&to)];
    check("restore-homes", &r2r(&args), &[t.path()]);
    let args = [
        "verify",
        b,
        "--pubkey",
        k,
        "--restored",
        s(&to),
        "--no-owner",
    ];
    check("verify-restored", &r2r(&args), &[t.path()]);
}

#[test]
fn push_images() {
    let w = world();
    let registry = registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let to = format!("{}/community", registry.host);
    let (map, values) = (t.path().join("map.json"), t.path().join("values"));
    let (b, k) = (s(&w.bundle), s(&w.public));
    let mut args = vec!["push-images", b, "--pubkey", k, "--to", &to];
    args.extend(["--mapping", s(&map), "--rewrite-values", s(&values)]);
    check("push-images", &r2r(&args), &[t.path()]);
}

#[test]
fn install_local() {
    let w = world();
    let t = tempfile::tempdir().unwrap();
    let answers = t.path().join("answers.yaml");
    std::fs::write(&answers, ANSWERS).unwrap();
    let dir = t.path().join("replica");
    let (b, k) = (s(&w.bundle), s(&w.public));
    let template = ["install", b, "--pubkey", k, "--print-answers-template"];
    check("install-answers-template", &r2r(&template), &[t.path()]);
    let missing = ["install", b, "--pubkey", k, "--dir", s(&dir), "--yes"];
    check("install-missing-answers", &r2r(&missing), &[t.path()]);
    let mut args = vec!["install", b, "--pubkey", k, "--answers", s(&answers)];
    args.extend(["--dir", s(&dir), "--yes"]);
    let secret = [("PROD_OAUTH_SECRET", "hunter2-oauth")];
    let mut dry = args.clone();
    dry.push("--dry-run");
    check("install-dry-run", &r2r_with(&dry, &secret), &[t.path()]);
    check("install", &r2r_with(&args, &secret), &[t.path()]);
    check("install-again", &r2r_with(&args, &secret), &[t.path()]);
}

#[test]
fn drill() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("drill");
    // No --infra: the example community, from the working directory, with
    // the world's copy of its homes, whose times are fixed.
    world();
    let homes = world_dir().join("homes");
    let shown = r2r(&["drill", "--work", s(&work), "--homes", s(&homes)]);
    check("drill", &shown, &[t.path()]);
}
