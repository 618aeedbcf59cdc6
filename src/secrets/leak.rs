//! The leak scan: no plaintext secret enters a bundle. Every member is
//! scanned before anything is written, for secret-named keys holding
//! plaintext (`client_secret`, `password`, `apiToken`, …) and for values
//! shaped like credentials wherever they sit (private keys, cloud and forge
//! tokens, JWTs, age secret keys). A hit names the member and key path,
//! never the value. The only way past a hit is `--allow-plaintext
//! MEMBER:KEYPATH`, one exact place at a time.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::sync::LazyLock;

use anyhow::{Result, bail};
use regex::Regex;
use serde::Serialize;

use crate::values::tree::{self, KeyPath, Values};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Hit {
    pub member: String,
    pub key_path: String,
    pub reason: String,
    /// SHA-256 of the offending text, so that a copy of the same value in a
    /// generated member (the standalone values) is reported once, where it
    /// was written. Never serialised or shown.
    #[serde(skip)]
    pub fingerprint: String,
}

impl Hit {
    /// The flag that would let exactly this one through.
    pub(crate) fn allow_flag(&self) -> String {
        format!("--allow-plaintext '{}:{}'", self.member, self.key_path)
    }
}

/// Key names (lower-cased, `_`, `-` and `.` removed) whose plaintext string
/// values are secrets.
const SECRET_KEY_ENDINGS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "cryptkey",
    "credentials",
];

/// Key names that end like a secret but hold the name of one
/// (`existingSecret`, `envFromSecret`).
const REFERENCE_KEY_PREFIXES: &[&str] = &["existing", "envfrom"];

static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY", "a PEM private key"),
        (r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", "an age secret key"),
        (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
        (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", "a GitHub token"),
        (r"\bgithub_pat_[A-Za-z0-9_]{40,}\b", "a GitHub token"),
        (r"\bglpat-[A-Za-z0-9_-]{20,}\b", "a GitLab token"),
        (r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", "a Slack token"),
        (r"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
        (r"\bsk_live_[0-9A-Za-z]{16,}\b", "a Stripe secret key"),
        (r#""private_key_id"\s*:"#, "a cloud service-account key"),
        (
            r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
            "a JSON Web Token",
        ),
    ]
    .into_iter()
    .filter_map(|(re, what)| Regex::new(re).ok().map(|r| (r, what)))
    .collect()
});

fn secret_key(key: &str) -> bool {
    // sops leaves a `…_unencrypted` key in plaintext by design; what it
    // holds is judged by the name before the suffix.
    let key = key.strip_suffix("_unencrypted").unwrap_or(key);
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_ENDINGS.iter().any(|e| k.ends_with(e))
        && !REFERENCE_KEY_PREFIXES.iter().any(|p| k.starts_with(p))
}

/// A value under a secret-named key that is not itself a secret: empty,
/// sealed, a placeholder (`${X}`, `{{ x }}`, `{env:X}`, `<x>`, `$X`), or
/// several lines of code or prose (multi-line credentials, such as private
/// keys, are caught by their shape instead).
fn inert(s: &str) -> bool {
    let s = s.trim();
    s.is_empty()
        || s.starts_with("ENC[")
        || s.contains('\n')
        || (s.starts_with("{env:") && s.ends_with('}'))
        || (s.starts_with("{{") && s.ends_with("}}"))
        || (s.starts_with("${") && s.ends_with('}'))
        || (s.starts_with('<') && s.ends_with('>'))
        || (s.starts_with('$')
            && s[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn shape_match(s: &str) -> Option<(&'static str, &str)> {
    SHAPES
        .iter()
        .find_map(|(re, w)| re.find(s).map(|m| (*w, m.as_str())))
}

/// Scans a values document. `sops` metadata of a sealed file is skipped: it
/// holds wrapped keys, not plaintext.
pub(crate) fn scan_values(member: &str, doc: &Values) -> Vec<Hit> {
    let mut hits = Vec::new();
    let sops = KeyPath::keys(&["sops"]);
    tree::for_each_leaf(doc, &mut |path, v| {
        if path.starts_with(&sops) {
            return;
        }
        let Some(s) = v.as_str() else { return };
        let mut offending = s;
        let reason = if let Some((what, matched)) = shape_match(s) {
            offending = matched;
            Some(format!("holds {what} in plaintext"))
        } else if inert(s) {
            None
        } else if path.last_key().is_some_and(secret_key) {
            Some("is a secret-named key holding a plaintext value".to_owned())
        } else if env_value_of_secret(doc, path) {
            Some("is the plaintext value of a secret-named environment variable".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            hits.push(Hit {
                member: member.to_owned(),
                key_path: path.to_string(),
                reason,
                fingerprint: fingerprint(offending),
            });
        }
    });
    hits
}

fn fingerprint(text: &str) -> String {
    crate::bundle::digest::sha256_bytes(text.as_bytes())
}

/// An unquoted right-hand side that is code, not data: a call
/// (`os.environ.get("X_PASSWORD")`, `std.extVar('x')`), an index or a
/// dotted reference (`var.db_password`, `secrets.token`). A literal secret
/// in code is quoted; these only name where one comes from.
fn code_expression(value: &str) -> bool {
    static REFERENCE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z_$][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+[,;]?$").ok()
    });
    value.contains(['(', ')', '[', ']', '{', '}'])
        || REFERENCE.as_ref().is_some_and(|re| re.is_match(value))
}

/// Scans a text member line by line for credential shapes, and for
/// `key = "value"` / `key: value` lines with secret-named keys.
pub(crate) fn scan_text(member: &str, text: &str) -> Vec<Hit> {
    // `key: v`, `key = "v w"`, `export KEY='v'`: a quoted value is taken
    // whole, an unquoted one up to a space or comment.
    static ASSIGN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"^\s*(?:(?:export|local|const|let|var)\s+)?"?([A-Za-z0-9_.-]+)"?\s*[:=]\s*(?:"([^"]*)"|'([^']*)'|([^\s#]*))"#,
        )
        .ok()
    });
    let mut hits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}", n + 1);
        let found = if let Some((what, matched)) = shape_match(line) {
            Some((format!("holds {what} in plaintext"), matched))
        } else {
            ASSIGN
                .as_ref()
                .and_then(|re| re.captures(line))
                .and_then(|c| {
                    let key = c.get(1)?.as_str();
                    let (value, quoted) = match (c.get(2).or(c.get(3)), c.get(4)) {
                        (Some(q), _) => (q.as_str(), true),
                        (None, Some(u)) => (u.as_str(), false),
                        (None, None) => return None,
                    };
                    // An unquoted short word is more often a reference (a
                    // resource name) than a secret, and an unquoted
                    // expression is code that fetches one.
                    (secret_key(key)
                        && !inert(value)
                        && (quoted || (value.len() >= 8 && !code_expression(value))))
                    .then(|| {
                        (
                            format!("assigns a plaintext value to the secret-named `{key}`"),
                            value,
                        )
                    })
                })
        };
        if let Some((reason, value)) = found {
            hits.push(Hit {
                member: member.to_owned(),
                key_path: at,
                reason,
                fingerprint: fingerprint(value),
            });
        }
    }
    hits
}

/// Scans one member by its name: YAML and JSON as documents, other UTF-8
/// text line by line; binary files are not text and cannot hold a YAML key.
pub(crate) fn scan_member(member: &str, bytes: &[u8]) -> Vec<Hit> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let structured = [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| member.ends_with(ext));
    if structured && let Ok(doc) = tree::parse_yaml(text) {
        let mut hits = scan_values(member, &doc);
        // Shapes inside comments never reach the document.
        hits.extend(
            scan_text(member, text)
                .into_iter()
                .filter(|h| h.reason.starts_with("holds")),
        );
        dedup_by_reason(hits)
    } else {
        scan_text(member, text)
    }
}

/// A credential inside a document shows up both under its key path and on
/// its line; the key path is the more useful place to name.
/// Line hits are dropped only when every one of them is accounted for by a
/// key-path hit of the same kind; one more (say, in a comment) keeps them
/// all, since reporting twice is safe and missing one is not.
fn dedup_by_reason(mut hits: Vec<Hit>) -> Vec<Hit> {
    let count = |line: bool, reason: &str| {
        hits.iter()
            .filter(|h| h.key_path.starts_with("line ") == line && h.reason == reason)
            .count()
    };
    let reasons: BTreeSet<String> = hits.iter().map(|h| h.reason.clone()).collect();
    let covered: BTreeSet<String> = reasons
        .into_iter()
        .filter(|r| count(true, r) <= count(false, r))
        .collect();
    hits.retain(|h| !(h.key_path.starts_with("line ") && covered.contains(&h.reason)));
    hits
}

/// `extraEnv: [{name: GITHUB_TOKEN, value: …}]`: the value of an
/// environment entry whose name says it is a secret.
fn env_value_of_secret(doc: &Values, path: &KeyPath) -> bool {
    let Some((tree::Step::Key(last), parent)) = path.steps().split_last() else {
        return false;
    };
    if last != "value" {
        return false;
    }
    let parent = KeyPath::from_steps(parent.to_vec());
    tree::get(doc, &parent)
        .and_then(|m| m.get("name"))
        .and_then(Values::as_str)
        .is_some_and(secret_key)
}

/// `--allow-plaintext MEMBER:KEYPATH` entries.
#[derive(Debug, Default)]
pub(crate) struct Allowed(BTreeSet<(String, String)>);

impl Allowed {
    pub(crate) fn parse(entries: &[String]) -> Result<Allowed> {
        let mut set = BTreeSet::new();
        for e in entries {
            let Some((member, path)) = e.split_once(':') else {
                bail!(
                    "--allow-plaintext {e:?}: expected MEMBER:KEYPATH, e.g. config/prod/prod.values.yaml:jupyterhub.hub.services.x.apiToken"
                );
            };
            if path.is_empty() || member.is_empty() {
                bail!("--allow-plaintext {e:?}: both the member and the key path are needed");
            }
            set.insert((member.to_owned(), path.to_owned()));
        }
        Ok(Allowed(set))
    }

    /// Splits hits into those still refused and the allowances used.
    pub(crate) fn filter(&self, hits: Vec<Hit>) -> (Vec<Hit>, Vec<Hit>) {
        hits.into_iter()
            .partition(|h| !self.0.contains(&(h.member.clone(), h.key_path.clone())))
    }
}

/// Scans a large text member line by line without holding it; lines are
/// capped so one enormous line cannot exhaust memory.
pub(crate) fn scan_stream(member: &str, mut r: impl std::io::BufRead) -> std::io::Result<Vec<Hit>> {
    const MAX_LINE: u64 = 1 << 20;
    let mut hits = Vec::new();
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = std::io::Read::take(&mut r, MAX_LINE).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(hits);
        }
        n += 1;
        if let Ok(text) = std::str::from_utf8(&line) {
            for mut h in scan_text(member, text) {
                h.key_path = format!("line {n}");
                hits.push(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shapes() {
        let doc = tree::parse_yaml(
            "a:\n  client_secret: hunter2hunter2\n  secretName: tls\n  existingSecret: x\n  token: ''\n  sealed_token: ENC[AES256_GCM,data:x]\nb: [\"AKIAABCDEFGHIJKLMNOP\"]\nsops:\n  password: nope\n",
        )
        .unwrap();
        let hits = scan_values("m.yaml", &doc);
        let paths: Vec<_> = hits.iter().map(|h| h.key_path.as_str()).collect();
        assert_eq!(paths, ["a.client_secret", "b[0]"]);
        assert!(hits.iter().all(|h| !h.reason.contains("hunter2")));
        let text = scan_text("x.tfvars", "ok = 1\ndb_password = \"s3cr3tvalue\"\n");
        assert_eq!(text[0].key_path, "line 2");
    }

    /// Regression: 2i2c's basehub/values.jsonnet (line 115) holds Python that
    /// reads a password from the environment; every cluster was refused.
    #[test]
    fn code_that_reads_a_secret_is_not_one() {
        let code = concat!(
            "            \"JUPYTERHUB_USAGE_QUOTAS_PROMETHEUS_PASSWORD\": os.environ.get(\"JUPYTERHUB_USAGE_QUOTAS_PROMETHEUS_PASSWORD\")\n",
            "local password = std.extVar('DB_PASSWORD');\n",
            "db_password = var.db_password\n",
            "api_token: secrets.hub_token,\n",
            "token = os.environ[\"TOKEN\"]\n",
        );
        assert_eq!(scan_text("values.jsonnet", code), []);
        let literal = "local password = 'hunter2hunter2';\nPASSWORD=hunter2hunter2\n";
        let lines: Vec<_> = scan_text("x.jsonnet", literal)
            .into_iter()
            .map(|h| h.key_path)
            .collect();
        assert_eq!(lines, ["line 1", "line 2"]);
    }

    #[test]
    fn a_copy_has_the_same_fingerprint() {
        let a = scan_values(
            "a.yaml",
            &tree::parse_yaml("env: [{name: MYSQL_ROOT_PASSWORD, value: tutorial}]").unwrap(),
        );
        let b = scan_values(
            "b.yaml",
            &tree::parse_yaml("x: {env: [{name: MYSQL_ROOT_PASSWORD, value: tutorial}]}").unwrap(),
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
        assert!(!a[0].fingerprint.contains("tutorial"));
    }

    #[test]
    fn env_lists_quoted_values_and_comments() {
        let doc = tree::parse_yaml(
            "env:\n- name: GITHUB_TOKEN\n  value: abcdefghijklmnop1234\n- name: HOME\n  value: /home/x\nk:\n  client_secret: '{abc123xyz}'\n  api_key: '{env:OPENAI_API_KEY}'\n",
        )
        .unwrap();
        let paths: Vec<_> = scan_values("m.yaml", &doc)
            .into_iter()
            .map(|h| h.key_path)
            .collect();
        assert_eq!(paths, ["env[0].value", "k.client_secret"]);
        let lines: Vec<_> = scan_text(
            "x.sh",
            "password = \"has space inside\"\nexport GITHUB_TOKEN='short'\ntoken = var.x\n",
        )
        .into_iter()
        .map(|h| h.key_path)
        .collect();
        assert_eq!(lines, ["line 1", "line 2"]);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop";
        let both = format!("a: {jwt}\n# old: {jwt}\n");
        let hits = scan_member("m.yaml", both.as_bytes());
        assert_eq!(hits.len(), 3, "{hits:?}");
        let one = format!("a: {jwt}\n");
        assert_eq!(scan_member("m.yaml", one.as_bytes()).len(), 1);
    }
}
