//! sops-sealed files: recognising them, and reading which keys seal them.
//! The sops format is specified by its implementation (getsops/sops);
//! docs/secrets.md records the parts r2r relies on.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::values::tree::{Map, Values};

/// Secret files a values file list can name are small; a larger file is not
/// inspected and so cannot be proven sealed.
pub const MAX_SECRET_BYTES: u64 = 16 << 20;

/// True for a file name that follows the `enc-*.secret.*` convention.
pub fn named_as_secret(file_name: &str) -> bool {
    file_name.starts_with("enc-") && file_name.contains(".secret.")
}

/// True when the file is sops-encrypted: a YAML or JSON document with a
/// top-level `sops` map carrying a `mac`, or a dotenv/INI file with a
/// `sops_mac` entry.
pub fn is_sealed(path: &Path) -> Result<bool> {
    let text = crate::source::repo::read_text(path, MAX_SECRET_BYTES)?;
    Ok(is_sealed_text(&text))
}

pub fn is_sealed_text(text: &str) -> bool {
    if let Ok(Values::Mapping(top)) = yaml_serde::from_str::<Values>(text)
        && let Some(Values::Mapping(sops)) = top.get("sops")
    {
        return sops.get("mac").is_some();
    }
    text.lines()
        .any(|l| l.trim_start().starts_with("sops_mac="))
}

/// One key that can open a sealed file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SealingKey {
    /// `gcp_kms`, `kms` (AWS), `azure_kv`, `hc_vault`, `age` or `pgp`.
    pub kind: String,
    /// The key's identifier: KMS resource id or ARN, vault URL, age
    /// recipient, PGP fingerprint.
    pub id: String,
}

impl SealingKey {
    pub fn describe(&self) -> String {
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
pub fn sealing_keys(text: &str) -> Vec<SealingKey> {
    let mut out = Vec::new();
    if let Ok(Values::Mapping(top)) = yaml_serde::from_str::<Values>(text)
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
