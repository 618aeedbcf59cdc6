//! sops-sealed files: recognising them, and reading which keys seal them.
//! The sops format is specified by its implementation (getsops/sops);
//! docs/secrets.md records the parts r2r relies on.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::values::tree::{KeyPath, Map, Step, Values};

/// Secret files a values file list can name are small; a larger file is not
/// inspected and so cannot be proven sealed.
pub(crate) const MAX_SECRET_BYTES: u64 = 16 << 20;

/// True for a file name that follows the `enc-*.secret.*` convention.
pub(crate) fn named_as_secret(file_name: &str) -> bool {
    file_name.starts_with("enc-") && file_name.contains(".secret.")
}

/// True when the file is sops-encrypted: a YAML or JSON document with a
/// top-level `sops` map carrying a `mac`, or a dotenv/INI file with a
/// `sops_mac` entry.
pub(crate) fn is_sealed(path: &Path) -> Result<bool> {
    let text = crate::source::repo::read_text(path, MAX_SECRET_BYTES)?;
    Ok(is_sealed_text(&text))
}

pub(crate) fn is_sealed_text(text: &str) -> bool {
    if let Ok(Values::Mapping(top)) = crate::values::yaml::from_str::<Values>(text)
        && let Some(Values::Mapping(sops)) = top.get("sops")
    {
        return sops.get("mac").is_some();
    }
    text.lines()
        .any(|l| l.trim_start().starts_with("sops_mac="))
}

/// One key that can open a sealed file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct SealingKey {
    /// `gcp_kms`, `kms` (AWS), `azure_kv`, `hc_vault`, `age` or `pgp`.
    pub kind: String,
    /// The key's identifier: KMS resource id or ARN, vault URL, age
    /// recipient, PGP fingerprint.
    pub id: String,
}

impl SealingKey {
    pub(crate) fn describe(&self) -> String {
        let what = match self.kind.as_str() {
            "gcp_kms" => "GCP KMS key",
            "kms" => "AWS KMS key",
            "azure_kv" => "Azure Key Vault key",
            "hc_vault" => "HashiCorp Vault transit key",
            "age" => "age recipient",
            "pgp" => "PGP key",
            _ => "key",
        };
        format!("{what} {}", self.id)
    }
}

/// Every key in a sops metadata block, in all key groups. A dotenv file
/// keeps its metadata as flattened `sops_*` lines; those are read too.
pub(crate) fn sealing_keys(text: &str) -> Vec<SealingKey> {
    let mut out = Vec::new();
    if let Ok(Values::Mapping(top)) = crate::values::yaml::from_str::<Values>(text)
        && let Some(Values::Mapping(meta)) = top.get("sops")
    {
        collect_group(meta, &mut out);
        if let Some(Values::Sequence(groups)) = meta.get("key_groups") {
            for g in groups {
                if let Values::Mapping(g) = g {
                    collect_group(g, &mut out);
                }
            }
        }
    } else {
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            let Some(rest) = k.strip_prefix("sops_") else {
                continue;
            };
            for (kind, field) in ID_FIELDS {
                if rest.starts_with(&format!("{kind}__list_"))
                    && rest.ends_with(&format!("__map_{field}"))
                {
                    out.push(SealingKey {
                        kind: (*kind).into(),
                        id: v.to_owned(),
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The key paths a sealed file holds, sorted: sops encrypts values only,
/// so the names (`jupyterhub.hub.config.GitHubOAuthenticator.client_secret`)
/// say which secrets a community must make anew when it cannot open the
/// file. Never a value. The `sops` metadata is left out; so are a
/// dotenv file's `sops_*` lines and an INI file's `[sops]` section.
pub(crate) fn key_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    match crate::values::tree::parse_yaml(text) {
        Ok(Values::Mapping(mut top)) if top.contains_key("sops") => {
            top.remove("sops");
            crate::values::tree::for_each_leaf(&Values::Mapping(top), &mut |p, _| {
                // A file of metadata alone has no leaf but the root.
                if !p.steps().is_empty() {
                    out.push(every_entry(p));
                }
            });
        }
        // dotenv (`KEY=ENC[…]`) or INI (`[section]` then `key = ENC[…]`),
        // recognised by their sops metadata; any other text is not read,
        // so a value can never be mistaken for a name.
        _ if text.lines().any(|l| {
            let l = l.trim();
            l.starts_with("sops_mac=") || l == "[sops]"
        }) =>
        {
            let mut section: Option<String> = None;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with(['#', ';']) {
                    continue;
                }
                if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    section = Some(name.trim().to_owned());
                    continue;
                }
                let Some((k, _)) = line.split_once('=') else {
                    continue;
                };
                let k = k.trim();
                if k.is_empty() || k.contains("ENC[") {
                    continue;
                }
                match &section {
                    Some(s) if s == "sops" => {}
                    Some(s) => out.push(KeyPath::root().key(s).key(k).to_string()),
                    None if k.starts_with("sops_") => {}
                    None => out.push(KeyPath::root().key(k).to_string()),
                }
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
    out
}

/// A key path with each list position written `[*]`: what a secret is
/// called, not how many there are. 2i2c's cryptnono file holds a list of
/// thousands of sealed strings, which is one thing to make anew.
fn every_entry(p: &KeyPath) -> String {
    let mut out = String::new();
    for step in p.steps() {
        match step {
            Step::Index(_) => out.push_str("[*]"),
            Step::Key(k) => {
                let one = KeyPath::root().key(k).to_string();
                if !out.is_empty() && !one.starts_with('[') {
                    out.push('.');
                }
                out.push_str(&one);
            }
        }
    }
    out
}

/// Where each key type keeps its identifier.
const ID_FIELDS: &[(&str, &str)] = &[
    ("gcp_kms", "resource_id"),
    ("kms", "arn"),
    ("azure_kv", "vault_url"),
    ("hc_vault", "vault_address"),
    ("age", "recipient"),
    ("pgp", "fp"),
];

fn collect_group(group: &Map, out: &mut Vec<SealingKey>) {
    for (kind, field) in ID_FIELDS {
        let Some(Values::Sequence(entries)) = group.get(*kind) else {
            continue;
        };
        for e in entries {
            let Values::Mapping(e) = e else { continue };
            let id = match (*kind, e.get(*field)) {
                ("azure_kv", Some(Values::String(url))) => {
                    let name = e.get("name").and_then(Values::as_str).unwrap_or("");
                    format!("{}/keys/{name}", url.trim_end_matches('/'))
                }
                ("hc_vault", Some(Values::String(addr))) => {
                    let path = e.get("engine_path").and_then(Values::as_str).unwrap_or("");
                    let name = e.get("key_name").and_then(Values::as_str).unwrap_or("");
                    format!("{}/v1/{path}/keys/{name}", addr.trim_end_matches('/'))
                }
                (_, Some(Values::String(id))) => id.clone(),
                _ => continue,
            };
            out.push(SealingKey {
                kind: (*kind).into(),
                id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_sealed_documents() {
        assert!(is_sealed_text("a: ENC[x]\nsops:\n  mac: ENC[y]\n"));
        assert!(is_sealed_text(
            "{\"a\": \"ENC[x]\", \"sops\": {\"mac\": \"ENC[y]\"}}"
        ));
        assert!(is_sealed_text("A=ENC[x]\nsops_mac=ENC[y]\n"));
        assert!(!is_sealed_text("client_secret: hunter2\n"));
        assert!(!is_sealed_text("sops: {}\n"));
        assert!(named_as_secret("enc-prod.secret.values.yaml"));
        assert!(!named_as_secret("prod.values.yaml"));
    }

    #[test]
    fn lists_key_paths_never_values() {
        let yaml = "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_id: ENC[AES256_GCM,data:aWQ=,type:str]\n        client_secret: ENC[AES256_GCM,data:c2VjcmV0,type:str]\n  imagePullSecret:\n    password: ENC[x]\nlist:\n- token: ENC[y]\n- token: ENC[w]\nwords:\n- ENC[a]\n- ENC[b]\nsops:\n  gcp_kms:\n  - resource_id: projects/p/k\n  mac: ENC[z]\n";
        assert_eq!(
            key_paths(yaml),
            [
                "jupyterhub.hub.config.GitHubOAuthenticator.client_id",
                "jupyterhub.hub.config.GitHubOAuthenticator.client_secret",
                "jupyterhub.imagePullSecret.password",
                "list[*].token",
                "words[*]",
            ]
        );
        let json = "{\"a\": {\"b.c\": \"ENC[x]\"}, \"sops\": {\"mac\": \"ENC[y]\"}}";
        assert_eq!(key_paths(json), ["a[\"b.c\"]"]);
        let env = "# comment\nAPI_KEY=ENC[x]\nsops_mac=ENC[y]\nsops_kms__list_0__map_arn=arn\n";
        assert_eq!(key_paths(env), ["API_KEY"]);
        assert!(key_paths("sops:\n  mac: ENC[y]\n").is_empty());
        // Neither YAML nor a sops dotenv or INI file: nothing is read.
        assert!(key_paths("a: [ENC[x], b\nclient_secret=hunter2\n").is_empty());
        let ini = "[db]\npassword = ENC[x]\n[sops]\nmac = ENC[y]\n";
        assert_eq!(key_paths(ini), ["db.password"]);
        for paths in [
            key_paths(yaml),
            key_paths(json),
            key_paths(env),
            key_paths(ini),
        ] {
            assert!(paths.iter().all(|p| !p.contains("ENC[")), "{paths:?}");
        }
    }

    #[test]
    fn reads_sealing_keys() {
        let keys = sealing_keys(
            "a: ENC[x]\nsops:\n  gcp_kms:\n  - resource_id: projects/p/k\n  age:\n  - recipient: age1abc\n    enc: x\n  mac: ENC[y]\n",
        );
        assert_eq!(
            keys.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
            ["age", "gcp_kms"]
        );
        let env =
            sealing_keys("A=ENC[x]\nsops_kms__list_0__map_arn=arn:aws:kms:k\nsops_mac=ENC[y]\n");
        assert_eq!(env[0].id, "arn:aws:kms:k");
    }
}
