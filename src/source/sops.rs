//! Recognising sops-encrypted files, so that a file named as a secret is
//! never carried in plaintext.

use std::path::Path;

use anyhow::Result;

/// Secret files a values file list can name are small; a larger file is not
/// inspected and so cannot be proven sealed.
const MAX_SECRET_BYTES: u64 = 16 << 20;

/// True for a file name that follows the `enc-*.secret.*` convention.
pub fn named_as_secret(file_name: &str) -> bool {
    file_name.starts_with("enc-") && file_name.contains(".secret.")
}

/// True when the file is sops-encrypted: a YAML or JSON document with a
/// top-level `sops` map carrying a `mac`, or a dotenv/INI file with a
/// `sops_mac` entry.
pub fn is_sealed(path: &Path) -> Result<bool> {
    let text = super::repo::read_text(path, MAX_SECRET_BYTES)?;
    Ok(is_sealed_text(&text))
}

pub fn is_sealed_text(text: &str) -> bool {
    if let Ok(yaml_serde::Value::Mapping(top)) = yaml_serde::from_str::<yaml_serde::Value>(text)
        && let Some(yaml_serde::Value::Mapping(sops)) = top.get("sops")
    {
        return sops.get("mac").is_some();
    }
    text.lines()
        .any(|l| l.trim_start().starts_with("sops_mac="))
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
}
