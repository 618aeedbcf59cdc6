//! minisign keys and signatures, in minisign's own file formats so that the
//! stock `minisign` tool can sign with r2r's keys and verify r2r's bundles.
//!
//! The minisign crate prompts on the terminal when it is given no password;
//! r2r never lets it, so that a missing password is an error, never a hang.

use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

use crate::fsutil;

/// File names `r2r keygen` writes.
pub const SECRET_KEY_FILE: &str = "r2r.key";
pub const PUBLIC_KEY_FILE: &str = "r2r.pub";

/// Environment variable that holds the secret key's password.
pub const PASSWORD_ENV: &str = "R2R_KEY_PASSWORD";

const MAX_KEY_FILE_BYTES: u64 = 16 << 10;
/// Upper bound on `SHA256SUMS.minisig` when reading.
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;

/// Where a password comes from when a key needs one.
pub trait PasswordSource {
    fn password(&self, purpose: &str) -> Result<String>;
}

/// Writes a new key pair into `dir`. Refuses to replace existing keys: a lost
/// secret key cannot be recovered, and bundles signed with it become
/// unverifiable against a new one.
pub fn generate(dir: &Path, password: Option<String>) -> Result<(PathBuf, PathBuf, String)> {
    let sk_path = dir.join(SECRET_KEY_FILE);
    let pk_path = dir.join(PUBLIC_KEY_FILE);
    for path in [&sk_path, &pk_path] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; refusing to replace a key",
                path.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pair = match password {
        Some(pw) => KeyPair::generate_encrypted_keypair(Some(pw)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .context("cannot generate a key pair")?;
    let key_id = key_id(pair.pk.keynum());
    let sk_box = pair
        .sk
        .to_box(Some(&format!("r2r secret key {key_id}")))
        .context("cannot encode the secret key")?;
    let pk_box = pair.pk.to_box().context("cannot encode the public key")?;
    fsutil::write_new(&sk_path, sk_box.into_string().as_bytes(), 0o600)?;
    fsutil::write_new(&pk_path, pk_box.into_string().as_bytes(), 0o644)?;
    Ok((sk_path, pk_path, key_id))
}

/// Loads a minisign secret key, asking `passwords` only if it is encrypted.
pub fn load_secret_key(
    path: &Path,
    passwords: &dyn PasswordSource,
) -> Result<(SecretKey, PublicKey)> {
    let text = read_key_file(path)?;
    let sk_box = SecretKeyBox::from_string(&text)
        .with_context(|| format!("{} is not a minisign secret key", path.display()))?;
    let sk = match sk_box.clone().into_unencrypted_secret_key() {
        Ok(sk) => sk,
        Err(_) if is_unencrypted_without_checksum(&text) => {
            let bytes = key_bytes(&text).unwrap_or_default();
            SecretKey::from_bytes(&bytes)
                .with_context(|| format!("{} is not a minisign secret key", path.display()))?
        }
        Err(_) => {
            let pw = passwords.password(&format!("password for {}", path.display()))?;
            sk_box.into_secret_key(Some(pw)).map_err(|e| {
                anyhow::anyhow!("cannot decrypt the secret key {}: {e}", path.display())
            })?
        }
    };
    let pk = PublicKey::from_secret_key(&sk)
        .with_context(|| format!("{} holds no usable key", path.display()))?;
    Ok((sk, pk))
}

/// Loads a public key from a minisign `.pub` file, or from the bare base64
/// key that `minisign -P` accepts.
pub fn load_public_key(arg: &str) -> Result<PublicKey> {
    let path = Path::new(arg);
    if path.exists() {
        let text = read_key_file(path)?;
        return PublicKeyBox::from_string(&text)
            .and_then(PublicKeyBox::into_public_key)
            .map_err(|e| anyhow::anyhow!("{} is not a minisign public key: {e}", path.display()));
    }
    if arg.starts_with("RW") && arg.len() == 56 {
        return PublicKey::from_base64(arg)
            .map_err(|e| anyhow::anyhow!("bad public key {arg}: {e}"));
    }
    bail!("public key file {arg} does not exist")
}

/// Signs `data` (prehashed Ed25519, as `minisign -S` does by default).
pub fn sign(sk: &SecretKey, pk: &PublicKey, data: &[u8], trusted_comment: &str) -> Result<String> {
    let sig = minisign::sign(
        Some(pk),
        sk,
        Cursor::new(data),
        Some(trusted_comment),
        Some(&untrusted_comment(&key_id(pk.keynum()))),
    )
    .context("cannot sign SHA256SUMS")?;
    Ok(sig.into_string())
}

/// What a good signature tells.
#[derive(Debug, Clone)]
pub struct Signed {
    pub key_id: String,
    pub trusted_comment: String,
}

/// Why a signature is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("SHA256SUMS.minisig is not a minisign signature: {0}")]
    Malformed(String),
    #[error("signed by key {signed_by}, not by the given public key {expected}")]
    WrongKey { signed_by: String, expected: String },
    #[error("the signature does not match SHA256SUMS (or its trusted comment was altered)")]
    Invalid,
    #[error("legacy (non-prehashed) minisign signatures are not accepted")]
    Legacy,
}

pub fn verify(pk: &PublicKey, signature: &[u8], data: &[u8]) -> Result<Signed, SignatureError> {
    let text = std::str::from_utf8(signature)
        .map_err(|_| SignatureError::Malformed("not UTF-8".into()))?;
    let sig =
        SignatureBox::from_string(text).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    // minisign leaves the untrusted comment unauthenticated and parses
    // leniently (trimmed lines, CRLF, extra lines, loose base64). A bundle
    // admits one spelling only, so that every byte of the file is checked.
    if sig.to_string() != text {
        return Err(SignatureError::Malformed(
            "not in canonical minisign form".into(),
        ));
    }
    let expected = untrusted_comment(&key_id(sig.keynum()));
    if sig.untrusted_comment().ok().as_deref() != Some(expected.as_str()) {
        return Err(SignatureError::Malformed(format!(
            "the untrusted comment must be {expected:?}"
        )));
    }
    if !sig.is_prehashed() {
        return Err(SignatureError::Legacy);
    }
    if sig.keynum() != pk.keynum() {
        return Err(SignatureError::WrongKey {
            signed_by: key_id(sig.keynum()),
            expected: key_id(pk.keynum()),
        });
    }
    minisign::verify(pk, &sig, Cursor::new(data), true, false, false)
        .map_err(|_| SignatureError::Invalid)?;
    let trusted_comment = sig
        .trusted_comment()
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    Ok(Signed {
        key_id: key_id(pk.keynum()),
        trusted_comment,
    })
}

/// The one untrusted comment a bundle signature carries. Stock minisign
/// writes it with `-c`.
pub fn untrusted_comment(key_id: &str) -> String {
    format!("r2r bundle signature from key {key_id}")
}

/// The key id as `minisign` prints it: the 8 key-number bytes, little endian, in hex.
pub fn key_id(keynum: &[u8]) -> String {
    let mut le = [0u8; 8];
    let n = keynum.len().min(8);
    le[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(le))
}

/// Stock `minisign -G -W` (0.11) writes unencrypted keys with an all-zero
/// checksum, which the crate's unencrypted loader calls corrupt. Such a key
/// is still checked: signing verifies its own signature with the public half.
fn is_unencrypted_without_checksum(text: &str) -> bool {
    const KDF_NONE: [u8; 2] = [0, 0];
    key_bytes(text).is_some_and(|b| b.len() >= 4 && b[2..4] == KDF_NONE && b.ends_with(&[0u8; 32]))
}

fn key_bytes(text: &str) -> Option<Vec<u8>> {
    use ct_codecs::{Base64, Decoder};
    Base64::decode_to_vec(text.lines().nth(1)?.trim(), None).ok()
}

fn read_key_file(path: &Path) -> Result<String> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as a key file", path.display()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);
    impl PasswordSource for Fixed {
        fn password(&self, _: &str) -> Result<String> {
            Ok(self.0.to_owned())
        }
    }

    #[test]
    fn sign_and_verify_with_both_key_kinds() {
        for password in [None, Some("pw")] {
            let dir = tempfile::tempdir().unwrap();
            generate(dir.path(), password.map(str::to_owned)).unwrap();
            let (sk, pk) =
                load_secret_key(&dir.path().join(SECRET_KEY_FILE), &Fixed("pw")).unwrap();
            let pub_pk =
                load_public_key(dir.path().join(PUBLIC_KEY_FILE).to_str().unwrap()).unwrap();
            let sig = sign(&sk, &pk, b"data", "r2r test").unwrap();
            let ok = verify(&pub_pk, sig.as_bytes(), b"data").unwrap();
            assert_eq!(ok.trusted_comment, "r2r test");
            assert!(matches!(
                verify(&pub_pk, sig.as_bytes(), b"datA"),
                Err(SignatureError::Invalid)
            ));
        }
    }

    #[test]
    fn wrong_password_is_an_error_not_a_prompt() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), Some("right".into())).unwrap();
        assert!(load_secret_key(&dir.path().join(SECRET_KEY_FILE), &Fixed("wrong")).is_err());
    }

    #[test]
    fn refuses_to_replace_keys() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), None).unwrap();
        assert!(generate(dir.path(), None).is_err());
    }
}
