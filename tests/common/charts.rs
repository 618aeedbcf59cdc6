//! The internet's chart repositories, on loopback: the shared fixture's
//! `chart-repos/https/` served by a static HTTP server (Python's
//! http.server), and its `chart-repos/oci/` archives pushed to a real OCI
//! registry (Debian's docker-registry) as Helm chart artifacts by Helm's
//! own engine (PyPI helm-python-sdk). `--chart-repo` flags point every
//! repository URL the 2i2c charts name at them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::registry::{self, Registry};
use super::s3::{Server, free_port, wait_for};

pub(crate) struct ChartRepos {
    pub http: Server,
    pub registry: Registry,
    /// `--chart-repo ORIGINAL=MIRROR` for every repository.
    pub args: Vec<String>,
}

/// The fixture's repositories: `(scheme, host/path)` for each folder that
/// holds archives.
pub(crate) fn fixture_repos() -> Vec<(String, String)> {
    let root = fixture_root();
    let mut out = Vec::new();
    for scheme in ["https", "oci"] {
        let base = root.join(scheme);
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            let mut has_archive = false;
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "tgz") {
                    has_archive = true;
                }
            }
            if has_archive {
                let rel = d.strip_prefix(&base).unwrap().to_str().unwrap().to_owned();
                out.push((scheme.to_owned(), rel));
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn fixture_root() -> PathBuf {
    super::project()
        .join("../shared/fixtures/chart-repos")
        .canonicalize()
        .expect("../shared/fixtures/chart-repos is missing")
}

/// Serves `https_dir` over HTTP on a free loopback port.
pub(crate) fn http_server(https_dir: &Path) -> Server {
    super::require("python3", "python3");
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(https_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start python3 -m http.server");
    wait_for(port, "http.server", &mut child);
    Server { child, port }
}

/// Pushes every archive under `oci_dir` to `registry` with Helm's engine.
pub(crate) fn push_charts(registry: &str, oci_dir: &Path) {
    let script = super::project().join("tests/fixtures/push-charts.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(registry)
        .arg(oci_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pushing the OCI charts failed (needs PyPI helm-python-sdk: pip install helm-python-sdk, or run scripts/test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts both servers over `https_dir` (default: the fixture's) and the
/// fixture's OCI archives, and the flags that point every repository at them.
pub(crate) fn start(https_dir: Option<&Path>) -> ChartRepos {
    let root = fixture_root();
    let http = http_server(https_dir.unwrap_or(&root.join("https")));
    let registry = registry::start(false);
    push_charts(&registry.host, &root.join("oci"));
    let mut args = Vec::new();
    for (scheme, rel) in fixture_repos() {
        let mirror = match scheme.as_str() {
            "https" => format!("http://127.0.0.1:{}/{rel}", http.port),
            _ => format!("oci://{}/{rel}", registry.host),
        };
        // The URL exactly as the Chart.yaml files spell it is matched
        // without its trailing slash, so either form works.
        args.push("--chart-repo".into());
        args.push(format!("{scheme}://{rel}/={mirror}"));
    }
    ChartRepos {
        http,
        registry,
        args,
    }
}
