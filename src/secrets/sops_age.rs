//! Opening a sops file sealed to an age key the exporter holds, without the
//! `sops` binary: the data key comes out of the armored age stanza in
//! `sops.age[]`, each `ENC[AES256_GCM,…]` leaf is opened with it (the key
//! path, joined with `:`, is the associated data), and the file's MAC
//! (SHA-512 over the leaves, sealed with `lastmodified` as associated data)
//! must match before anything is returned. docs/secrets.md has the details.

use std::io::Read;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Key, Nonce};
use age::Identity;
use anyhow::{Context, Result, anyhow, bail};
use ct_codecs::{Base64, Decoder};
use regex::Regex;
use sha2::{Digest, Sha512};

use crate::values::tree::{KeyPath, Map, Values, key_text};

/// sops uses a 32-byte GCM nonce.
type SopsCipher = AesGcm<Aes256, U32>;

/// The age identities the exporter holds (from `--age-identity` files or
/// `SOPS_AGE_KEY_FILE`).
pub(crate) struct AgeIdentities(Vec<Box<dyn Identity + Send + Sync>>);

impl AgeIdentities {
    pub(crate) fn empty() -> AgeIdentities {
        AgeIdentities(Vec::new())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the identities in an age identity file (`age-keygen` output).
    pub(crate) fn add_file(&mut self, path: &std::path::Path) -> Result<()> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open age identity file {}", path.display()))?;
        let ids = age::IdentityFile::from_buffer(std::io::BufReader::new(file))
            .with_context(|| format!("{} is not an age identity file", path.display()))?
            .into_identities()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        if ids.is_empty() {
            bail!("{} holds no age identity", path.display());
        }
        self.0.extend(ids);
        Ok(())
    }
}

/// Why a file could not be opened natively. `NotForUs` means another route
/// (the `sops` binary) may still open it; the others mean the file is bad.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{0}")]
    NotForUs(String),
    #[error(transparent)]
    Bad(#[from] anyhow::Error),
}

/// Decrypts a sealed YAML or JSON document. The result has no `sops` key.
pub(crate) fn open(text: &str, ids: &AgeIdentities) -> Result<Values, OpenError> {
    let mut doc: Values = crate::values::yaml::from_str(text)
        .map_err(|_| OpenError::NotForUs("not a YAML or JSON sops document".into()))?;
    let Values::Mapping(top) = &mut doc else {
        return Err(OpenError::NotForUs(
            "not a YAML or JSON sops document".into(),
        ));
    };
    let Some(Values::Mapping(meta)) = top.shift_remove("sops") else {
        return Err(OpenError::NotForUs("has no sops metadata".into()));
    };
    if let Some(Values::Sequence(groups)) = meta.get("key_groups")
        && groups.len() > 1
    {
        return Err(OpenError::NotForUs(
            "is split across several key groups (Shamir); only sops itself can open it".into(),
        ));
    }
    for k in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
        if meta
            .get(k)
            .and_then(Values::as_str)
            .is_some_and(|r| !r.is_empty())
        {
            return Err(OpenError::NotForUs(format!(
                "uses {k}, which selects by YAML comments; only sops itself can open it"
            )));
        }
    }
    let key = data_key(&meta, ids)?;
    let rules = Rules::from_meta(&meta)?;
    let mut mac = Sha512::new();
    if rules.mac_only_encrypted {
        // sops seeds this variant's MAC with sha256("sops").
        mac.update(sha2::Sha256::digest(b"sops"));
    }
    let mut ctx = Walk {
        key: &key,
        rules: &rules,
        mac: &mut mac,
    };
    let mut path = Vec::new();
    for (k, v) in top.iter_mut() {
        path.push(key_text(k));
        ctx.value(v, &mut path)?;
        path.pop();
    }
    let computed = hex_upper(&mac.finalize());
    let stored = meta
        .get("mac")
        .and_then(Values::as_str)
        .context("sops metadata has no mac")?;
    let modified = meta
        .get("lastmodified")
        .and_then(Values::as_str)
        .context("sops metadata has no lastmodified")?;
    let (plain, _) = decrypt_value(stored, &key, modified).context("cannot open the sops MAC")?;
    if plain.as_slice() != computed.as_bytes() {
        return Err(OpenError::Bad(anyhow!(
            "MAC mismatch: the file was altered after sops sealed it"
        )));
    }
    Ok(doc)
}

fn data_key(meta: &Map, ids: &AgeIdentities) -> Result<[u8; 32], OpenError> {
    let mut stanzas = Vec::new();
    let mut push = |m: &Map| {
        if let Some(Values::Sequence(entries)) = m.get("age") {
            for e in entries {
                if let Some(enc) = e.get("enc").and_then(Values::as_str) {
                    stanzas.push(enc.to_owned());
                }
            }
        }
    };
    push(meta);
    if let Some(Values::Sequence(groups)) = meta.get("key_groups") {
        for g in groups {
            if let Values::Mapping(g) = g {
                push(g);
            }
        }
    }
    if stanzas.is_empty() {
        return Err(OpenError::NotForUs("is not sealed to any age key".into()));
    }
    if ids.is_empty() {
        return Err(OpenError::NotForUs(
            "is sealed to an age key, but no age identity was given".into(),
        ));
    }
    for enc in &stanzas {
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let Ok(decryptor) = age::Decryptor::new(reader) else {
            continue;
        };
        let Ok(mut r) = decryptor.decrypt(ids.0.iter().map(|i| i.as_ref() as &dyn Identity)) else {
            continue;
        };
        let mut key = Vec::new();
        r.by_ref()
            .take(64)
            .read_to_end(&mut key)
            .map_err(|e| anyhow!("cannot read the sops data key: {e}"))?;
        return key
            .try_into()
            .map_err(|_| OpenError::Bad(anyhow!("the sops data key is not 32 bytes")));
    }
    Err(OpenError::NotForUs(
        "is sealed to age recipients, none of which matches the given identities".into(),
    ))
}

/// Which leaves sops left unencrypted (`unencrypted_suffix` and friends).
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    fn from_meta(meta: &Map) -> Result<Rules> {
        // sops treats an empty setting as unset.
        let s = |k: &str| {
            meta.get(k)
                .and_then(Values::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let re = |k: &str| -> Result<Option<Regex>> {
            s(k).map(|r| {
                Regex::new(&r).with_context(|| format!("sops metadata {k} is not a regex"))
            })
            .transpose()
        };
        let mut rules = Rules {
            unencrypted_suffix: s("unencrypted_suffix"),
            encrypted_suffix: s("encrypted_suffix"),
            unencrypted_regex: re("unencrypted_regex")?,
            encrypted_regex: re("encrypted_regex")?,
            mac_only_encrypted: match meta.get("mac_only_encrypted") {
                Some(Values::Bool(b)) => *b,
                Some(Values::String(s)) => s.eq_ignore_ascii_case("true"),
                _ => false,
            },
        };
        if rules.encrypted_suffix.is_none()
            && rules.unencrypted_regex.is_none()
            && rules.encrypted_regex.is_none()
            && rules.unencrypted_suffix.is_none()
        {
            rules.unencrypted_suffix = Some("_unencrypted".into());
        }
        Ok(rules)
    }

    fn should_encrypt(&self, path: &[String]) -> bool {
        if let Some(sfx) = &self.unencrypted_suffix
            && path.iter().any(|k| k.ends_with(sfx.as_str()))
        {
            return false;
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|k| re.is_match(k))
        {
            return false;
        }
        if let Some(sfx) = &self.encrypted_suffix {
            return path.iter().any(|k| k.ends_with(sfx.as_str()));
        }
        if let Some(re) = &self.encrypted_regex {
            return path.iter().any(|k| re.is_match(k));
        }
        true
    }
}

struct Walk<'a> {
    key: &'a [u8; 32],
    rules: &'a Rules,
    mac: &'a mut Sha512,
}

impl Walk<'_> {
    fn value(&mut self, v: &mut Values, path: &mut Vec<String>) -> Result<(), OpenError> {
        match v {
            Values::Mapping(m) => {
                for (k, child) in m.iter_mut() {
                    path.push(key_text(k));
                    self.value(child, path)?;
                    path.pop();
                }
            }
            // List items share their list's path.
            Values::Sequence(items) => {
                for child in items {
                    self.value(child, path)?;
                }
            }
            Values::Null => {}
            leaf => self.leaf(leaf, path)?,
        }
        Ok(())
    }

    fn leaf(&mut self, v: &mut Values, path: &[String]) -> Result<(), OpenError> {
        let shown = || KeyPath::keys(&path.iter().map(String::as_str).collect::<Vec<_>>());
        let encrypted = self.rules.should_encrypt(path);
        match v.as_str() {
            Some(s) if encrypted && !s.is_empty() => {
                let aad = format!("{}:", path.join(":"));
                let (plain, kind) = decrypt_value(s, self.key, &aad)
                    .with_context(|| format!("cannot open the value at {}", shown()))?;
                self.mac.update(&plain);
                *v = typed(plain, &kind).with_context(|| format!("the value at {}", shown()))?;
            }
            // sops encrypts every non-empty leaf it should; a plaintext one
            // there was put in afterwards, and with `mac_only_encrypted`
            // nothing else would notice.
            Some(_) | None if encrypted && !matches!(v.as_str(), Some("")) => {
                return Err(OpenError::Bad(anyhow!(
                    "the value at {} should be encrypted but is in plaintext: the file was altered after sops sealed it",
                    shown()
                )));
            }
            _ => {
                if !self.rules.mac_only_encrypted {
                    self.mac.update(plain_bytes(v).as_bytes());
                }
            }
        }
        Ok(())
    }
}

/// Opens one `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value; returns the
/// plaintext and its type.
fn decrypt_value(s: &str, key: &[u8; 32], aad: &str) -> Result<(Vec<u8>, String)> {
    let inner = s
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|r| r.strip_suffix(']'))
        .context("is not an ENC[AES256_GCM,…] value")?;
    let mut fields = [None; 4];
    for part in inner.split(',') {
        let (name, value) = part.split_once(':').context("malformed ENC[] value")?;
        let slot = ["data", "iv", "tag", "type"]
            .iter()
            .position(|n| *n == name)
            .context("malformed ENC[] value")?;
        fields[slot] = Some(value);
    }
    let [Some(data), Some(iv), Some(tag), Some(kind)] = fields else {
        bail!("malformed ENC[] value");
    };
    let b64 =
        |x: &str| Base64::decode_to_vec(x, None).map_err(|_| anyhow!("bad base64 in ENC[] value"));
    let (mut ct, iv, tag) = (b64(data)?, b64(iv)?, b64(tag)?);
    if iv.len() != 32 || tag.len() != 16 {
        bail!(
            "ENC[] value has a {}-byte iv and {}-byte tag, not 32 and 16",
            iv.len(),
            tag.len()
        );
    }
    ct.extend_from_slice(&tag);
    let cipher = SopsCipher::new(Key::<SopsCipher>::from_slice(key));
    let plain = cipher
        .decrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            anyhow!("authentication failed (wrong key, or the value was moved or altered)")
        })?;
    Ok((plain, kind.to_owned()))
}

fn typed(plain: Vec<u8>, kind: &str) -> Result<Values> {
    let text = || String::from_utf8(plain.clone()).map_err(|_| anyhow!("is not UTF-8"));
    Ok(match kind {
        "str" | "bytes" => Values::String(text()?),
        "int" | "int64" => Values::Number(
            text()?
                .parse::<i64>()
                .map_err(|_| anyhow!("is not an int"))?
                .into(),
        ),
        "float" => Values::Number(
            text()?
                .parse::<f64>()
                .map_err(|_| anyhow!("is not a float"))?
                .into(),
        ),
        "bool" => Values::Bool(match text()?.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => bail!("is not a bool"),
        }),
        other => bail!("has the unknown sops type `{other}`"),
    })
}

/// How sops turns an unencrypted leaf into MAC input (Go's formatting).
fn plain_bytes(v: &Values) -> String {
    match v {
        Values::String(s) => s.clone(),
        Values::Bool(true) => "True".into(),
        Values::Bool(false) => "False".into(),
        Values::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => format!("{f}"),
            _ => n.to_string(),
        },
        _ => String::new(),
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
