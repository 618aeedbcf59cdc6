//! A sops encoder for the tests, written from sops' format (getsops/sops
//! `aes/cipher.go`, `sops.go`) independently of r2r's decoder: AES-256-GCM
//! with a 32-byte IV per value, the key path joined with `:` as associated
//! data, a SHA-512 MAC over the plaintext leaves, and the data key wrapped
//! for an age recipient by the stock `age` binary.

use std::io::Write;
use std::process::{Command, Stdio};

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Key, Nonce};
use ct_codecs::{Base64, Encoder};
use sha2::{Digest, Sha256, Sha512};
use yaml_serde::{Mapping, Value};

pub(crate) const LASTMODIFIED: &str = "2026-11-21T10:00:00Z";

struct Sealer {
    key: [u8; 32],
    counter: u64,
    mac: Sha512,
}

impl Sealer {
    fn enc(&mut self, plain: &[u8], kind: &str, aad: &str) -> String {
        self.counter += 1;
        let iv: [u8; 32] = Sha256::digest(format!("iv {}", self.counter)).into();
        let cipher = AesGcm::<Aes256, U32>::new(Key::<AesGcm<Aes256, U32>>::from_slice(&self.key));
        let out = cipher
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let (data, tag) = out.split_at(out.len() - 16);
        let b = |x: &[u8]| Base64::encode_to_string(x).unwrap();
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            b(data),
            b(&iv),
            b(tag)
        )
    }

    fn walk(&mut self, v: &mut Value, path: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m.iter_mut() {
                    path.push(k.as_str().unwrap().to_owned());
                    self.walk(child, path);
                    path.pop();
                }
            }
            Value::Sequence(items) => {
                for child in items {
                    self.walk(child, path);
                }
            }
            Value::Null => {}
            leaf => {
                let (plain, kind) = match &*leaf {
                    Value::String(s) => (s.clone(), "str"),
                    Value::Bool(b) => ((if *b { "True" } else { "False" }).to_owned(), "bool"),
                    Value::Number(n) if n.is_i64() => (n.to_string(), "int"),
                    Value::Number(n) => (format!("{}", n.as_f64().unwrap()), "float"),
                    other => panic!("unsupported leaf {other:?}"),
                };
                self.mac.update(plain.as_bytes());
                if path.iter().any(|k| k.ends_with("_unencrypted")) {
                    return;
                }
                let aad = format!("{}:", path.join(":"));
                *leaf = Value::String(self.enc(plain.as_bytes(), kind, &aad));
            }
        }
    }
}

/// Seals a YAML document to `recipient`, as `sops --encrypt --age` would.
pub(crate) fn seal(plain_yaml: &str, recipient: &str) -> String {
    let mut doc: Value = yaml_serde::from_str(plain_yaml).unwrap();
    let mut s = Sealer {
        key: Sha256::digest(plain_yaml.as_bytes()).into(),
        counter: 0,
        mac: Sha512::new(),
    };
    s.walk(&mut doc, &mut Vec::new());
    let mac: String = s
        .mac
        .clone()
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mac = s.enc(mac.as_bytes(), "str", LASTMODIFIED);

    let mut age = Command::new("age")
        .args(["-r", recipient, "-a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("age is needed: apt-get install age");
    age.stdin.take().unwrap().write_all(&s.key).unwrap();
    let wrapped = age.wait_with_output().unwrap();
    assert!(wrapped.status.success());

    let mut entry = Mapping::new();
    entry.insert("recipient".into(), recipient.into());
    entry.insert(
        "enc".into(),
        String::from_utf8(wrapped.stdout).unwrap().into(),
    );
    let mut meta = Mapping::new();
    for k in ["kms", "gcp_kms", "azure_kv", "hc_vault"] {
        meta.insert(k.into(), Value::Sequence(vec![]));
    }
    meta.insert("age".into(), Value::Sequence(vec![Value::Mapping(entry)]));
    meta.insert("lastmodified".into(), LASTMODIFIED.into());
    meta.insert("mac".into(), mac.into());
    meta.insert("unencrypted_suffix".into(), "_unencrypted".into());
    meta.insert("version".into(), "3.9.0".into());
    if let Value::Mapping(m) = &mut doc {
        m.insert("sops".into(), Value::Mapping(meta));
    }
    yaml_serde::to_string(&doc).unwrap()
}

/// A fresh age key pair from stock `age-keygen`: (identity file, recipient).
pub(crate) fn age_keygen(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    super::require("age-keygen", "age");
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (path, recipient)
}
