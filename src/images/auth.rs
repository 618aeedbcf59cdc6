//! Registry credentials, from the files Docker and Podman already keep:
//! `REGISTRY_AUTH_FILE`, then `$DOCKER_CONFIG/config.json`, then
//! `~/.docker/config.json`. Without an entry for a registry, r2r goes
//! anonymously; the client trades either for a bearer token when the
//! registry asks for one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// Credentials per registry host, read once.
#[derive(Default)]
pub(crate) struct Credentials {
    by_host: BTreeMap<String, RegistryAuth>,
    /// A credential helper the files name, which r2r does not run.
    pub helper: Option<String>,
}

impl Credentials {
    /// What to tell the user when the auth file names a credential helper,
    /// which r2r does not run.
    pub(crate) fn helper_warning(&self) -> Option<String> {
        self.helper.as_ref().map(|helper| format!(
            "r2r does not run credential helpers (credsStore {helper}); registries without an entry in the auth file are used anonymously"
        ))
    }

    pub(crate) fn from_env() -> Result<Credentials> {
        let mut paths = Vec::new();
        if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
            paths.push(PathBuf::from(p));
        }
        match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => paths.push(Path::new(&dir).join("config.json")),
            None => {
                if let Some(home) = std::env::var_os("HOME") {
                    paths.push(Path::new(&home).join(".docker/config.json"));
                }
            }
        }
        let mut creds = Credentials::default();
        for p in paths {
            if p.is_file() {
                creds.read(&p)?;
            }
        }
        Ok(creds)
    }

    fn read(&mut self, path: &Path) -> Result<()> {
        let text = crate::source::repo::read_text(path, 1 << 20)?;
        let file: AuthFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a registry auth file", path.display()))?;
        for (key, e) in file.auths {
            let host = host_of(&key);
            if self.by_host.contains_key(&host) {
                continue; // the earlier file wins
            }
            let auth = entry_auth(&e)
                .with_context(|| format!("{}: the entry for {key} is malformed", path.display()))?;
            if let Some(a) = auth {
                self.by_host.insert(host, a);
            }
        }
        if self.helper.is_none() {
            self.helper = file.creds_store;
        }
        Ok(())
    }

    /// The credentials for `registry` (as written in the reference).
    pub(crate) fn for_registry(&self, registry: &str) -> RegistryAuth {
        let hosts: &[&str] = match registry {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
                &["docker.io", "index.docker.io", "registry-1.docker.io"]
            }
            other => &[other],
        };
        hosts
            .iter()
            .find_map(|h| self.by_host.get(*h).cloned())
            .unwrap_or(RegistryAuth::Anonymous)
    }
}

/// `https://index.docker.io/v1/` and `quay.io/org` both key by host.
fn host_of(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_owned()
}

fn entry_auth(e: &Entry) -> Result<Option<RegistryAuth>> {
    if let Some(token) = e.registry_token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(RegistryAuth::Bearer(token.to_owned())));
    }
    if let (Some(u), Some(p)) = (&e.username, &e.password) {
        return Ok(Some(RegistryAuth::Basic(u.clone(), p.clone())));
    }
    let Some(b64) = e.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| anyhow::anyhow!("`auth` is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| anyhow::anyhow!("`auth` is not UTF-8"))?;
    let Some((user, pass)) = text.split_once(':') else {
        bail!("`auth` is not user:password");
    };
    Ok(Some(RegistryAuth::Basic(user.to_owned(), pass.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_spellings_and_keys_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5001/org":{"username":"a","password":"b"}}}"#,
        )
        .unwrap();
        let mut c = Credentials::default();
        c.read(&p).unwrap();
        assert!(
            matches!(c.for_registry("docker.io"), RegistryAuth::Basic(u, p) if u == "u" && p == "p")
        );
        assert!(matches!(c.for_registry("127.0.0.1:5001"), RegistryAuth::Basic(u, _) if u == "a"));
        assert!(matches!(c.for_registry("quay.io"), RegistryAuth::Anonymous));
        std::fs::write(&p, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        let err = Credentials::default().read(&p).unwrap_err();
        assert!(format!("{err:#}").contains("entry for x"), "{err:#}");
    }
}
