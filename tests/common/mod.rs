//! Helpers shared by the integration tests: running the real `r2r` binary,
//! the fixtures, the stock tools, and crafting tar files byte by byte.
#![allow(dead_code)]

pub(crate) mod charts;
pub(crate) mod craft;
pub(crate) mod oci_build;
pub(crate) mod registry;
pub(crate) mod s3;
pub(crate) mod sops;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const R2R: &str = env!("CARGO_BIN_EXE_r2r");

pub(crate) fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn example_repo() -> PathBuf {
    project().join("examples/community")
}

/// The real 2i2c repository subset in `../shared`.
pub(crate) fn shared_infra() -> PathBuf {
    let p = project().join("../shared/fixtures/2i2c-infrastructure");
    assert!(
        p.join("config/clusters").is_dir(),
        "{} is missing: the tests need the shared fixtures beside the project",
        p.display()
    );
    p
}

/// Every cluster of the shared 2i2c fixture, sorted; there are 11, and the
/// tests that span them all say so.
pub(crate) fn fixture_clusters() -> Vec<String> {
    let mut c: Vec<String> = std::fs::read_dir(shared_infra().join("config/clusters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    c.sort();
    assert_eq!(c.len(), 11, "the shared fixture has 11 clusters: {c:?}");
    c
}

/// Fails the test, saying how to install it, when a stock tool is missing.
pub(crate) fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; install it with `apt-get install {package}` (or run scripts/test, which does)"
    );
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub(crate) fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("cannot run command");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub(crate) fn r2r(args: &[&str]) -> Run {
    run(Command::new(R2R).args(args).env_remove("R2R_KEY_PASSWORD"))
}

/// A fresh unencrypted key pair in its own temporary directory.
pub(crate) struct Keys {
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub public: PathBuf,
}

pub(crate) fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let out = r2r(&["keygen", "--out", s(dir.path()), "--no-password"]);
    assert_eq!(out.code, 0, "{out:?}");
    Keys {
        key: dir.path().join("r2r.key"),
        public: dir.path().join("r2r.pub"),
        dir,
    }
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `r2r export` of `cluster` from `repo` to `out`, signed with `key`, not
/// yet run: callers add flags or environment. R2R_KEY_PASSWORD is cleared.
pub(crate) fn export_cmd(repo: &Path, cluster: &str, key: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(R2R);
    cmd.args(["export", "--infra", s(repo), "--cluster", cluster])
        .args(["--sign-key", s(key), "--output", s(out)])
        .args(chart_mirrors(repo))
        .env_remove("R2R_KEY_PASSWORD");
    cmd
}

/// A local copy of every chart repository `repo`'s charts name, so the
/// export resolves chart dependencies offline: the example community (and
/// its copies) carries its own stand-ins in chart-repos/; the shared 2i2c
/// clusters use the shared fixture's real archives. (tests/charts.rs
/// serves the latter over HTTP and OCI instead.)
pub(crate) fn chart_mirrors(repo: &Path) -> Vec<String> {
    let own = repo.join("chart-repos");
    let dir = if own.is_dir() {
        own
    } else {
        project().join("../shared/fixtures/chart-repos")
    };
    vec![
        "--chart-repos-dir".into(),
        s(&dir.canonicalize().unwrap_or(dir.clone())).to_owned(),
    ]
}

/// The two `--allow-plaintext` flags hhmi needs: its values files hold a
/// real plaintext password (MYSQL_ROOT_PASSWORD), which the leak scan
/// refuses; tests about other things let it through.
pub(crate) fn hhmi_allowances() -> Vec<String> {
    [
        "config/spyglass/spyglass.values.yaml",
        "config/staging/staging.values.yaml",
    ]
    .iter()
    .flat_map(|f| {
        [
            "--allow-plaintext".to_owned(),
            format!("{f}:jupyterhub.singleuser.extraContainers[0].env[0].value"),
        ]
    })
    .collect()
}

/// Exports `cluster` from `repo` to `out`, asserting success.
pub(crate) fn export(repo: &Path, cluster: &str, keys: &Keys, out: &Path, extra: &[&str]) -> Run {
    let r = run(export_cmd(repo, cluster, &keys.key, out).args(extra));
    assert_eq!(r.code, 0, "export failed: {r:?}");
    r
}

/// The example community exported with its homes and image layout, as
/// `DIR/example.r2r.tar`.
pub(crate) fn example_bundle(dir: &Path, keys: &Keys) -> PathBuf {
    let out = dir.join("example.r2r.tar");
    let images = format!("oci:{}", s(&example_repo().join("images")));
    let homes = example_repo().join("homes");
    export(
        &example_repo(),
        "example",
        keys,
        &out,
        &[
            "--homes",
            s(&homes),
            "--images",
            "--image-source",
            &images,
            "--quiet",
        ],
    );
    out
}

pub(crate) fn verify(bundle: &Path, public: &Path) -> Run {
    r2r(&["verify", s(bundle), "--pubkey", s(public), "--json"])
}

/// Copies a directory tree: folders, regular files, and symlinks as links.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), dest).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// One tar entry as the tests craft it: raw name bytes, type flag, data.
pub(crate) struct Raw {
    pub name: Vec<u8>,
    pub kind: u8,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
}

impl Raw {
    pub(crate) fn file(name: &str, data: &[u8]) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            kind: b'0',
            data: data.to_vec(),
            link: vec![],
        }
    }
}

/// Writes a ustar archive with exactly these entries, bypassing every check
/// a tar library would make, so that hostile names and types get through.
pub(crate) fn write_raw_tar(path: &Path, entries: &[Raw]) {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        {
            let u = h.as_ustar_mut().unwrap();
            u.name[..e.name.len()].copy_from_slice(&e.name);
            u.linkname[..e.link.len()].copy_from_slice(&e.link);
        }
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.as_mut_bytes()[156] = e.kind;
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    std::fs::write(path, out).unwrap();
}

/// Reads every member of a tar bundle, in order, with the `tar` crate
/// (independently of r2r's reader): (name, data, byte offset of the data).
pub(crate) fn read_tar(path: &Path) -> Vec<(String, Vec<u8>, u64)> {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let offset = e.raw_file_position();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data, offset)
        })
        .collect()
}

pub(crate) fn raw_from(members: &[(String, Vec<u8>, u64)]) -> Vec<Raw> {
    members.iter().map(|(n, d, _)| Raw::file(n, d)).collect()
}

/// A file of `../shared` (the fixtures and bench generators), which the
/// tests need.
pub(crate) fn shared(p: &str) -> PathBuf {
    let path = project().join("../shared").join(p);
    assert!(
        path.is_file(),
        "{} is missing: the tests need ../shared",
        path.display()
    );
    path
}

pub(crate) fn python(args: &[&str]) -> Run {
    require("python3", "python3");
    run(Command::new("python3").args(args))
}

/// tree-digest.py over `dir`, with owners when running as root.
pub(crate) fn tree_digest(dir: &Path) -> Vec<String> {
    let script = shared("fixtures/tree-digest.py");
    let mut args = vec![s(&script), s(dir), "--dir-mtimes"];
    if !rustix::process::geteuid().is_root() {
        args.push("--no-owner");
    }
    let r = python(&args);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.is_empty(), "tree-digest.py printed nothing");
    r.stdout.lines().map(str::to_owned).collect()
}
