//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF
//! distribution registry) on a free loopback port, with its storage in a
//! temporary directory, optionally behind htpasswd authentication.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::s3::{Server, free_port, wait_for};

pub(crate) struct Registry {
    pub server: Server,
    pub storage: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

pub(crate) const USER: &str = "community";
pub(crate) const PASSWORD: &str = "s3cret-pass";

pub(crate) fn start(with_auth: bool) -> Registry {
    super::require("docker-registry", "docker-registry");
    let storage = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = storage.path().join("data");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        root.display()
    );
    if with_auth {
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        let htpasswd = storage.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: r2r-test\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let config_path = storage.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new("docker-registry")
        .args(["serve", super::s(&config_path)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start docker-registry");
    wait_for(port, "docker-registry", &mut child);
    Registry {
        server: Server { child, port },
        storage,
        host: format!("127.0.0.1:{port}"),
    }
}

impl Registry {
    /// Where the registry keeps a blob's bytes on disk.
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// An auth file (REGISTRY_AUTH_FILE) for the authenticated registry.
pub(crate) fn auth_file(dir: &Path, host: &str) -> PathBuf {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let p = dir.join("auth.json");
    std::fs::write(
        &p,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{token}"}}}}}}"#),
    )
    .unwrap();
    p
}

/// `skopeo copy --all` from an OCI layout to the registry, the way a
/// provider's CI would push. Stock tool, independent of r2r.
pub(crate) fn seed(layout: &Path, name: &str, to: &str, creds: Option<&str>) {
    super::require("skopeo", "skopeo");
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    cmd.arg(format!("oci:{}:{name}", layout.display()))
        .arg(format!("docker://{to}"));
    let run = super::run(&mut cmd);
    assert_eq!(run.code, 0, "skopeo copy to {to} failed: {}", run.stderr);
}

/// The digest of the manifest (or index) `reference` names, as skopeo sees it.
pub(crate) fn remote_digest(reference: &str, creds: Option<&str>) -> String {
    use sha2::Digest;
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("sha256:{:x}", sha2::Sha256::digest(&out.stdout))
}
