//! `Chart.lock`, as `helm dependency build` writes it beside the archives
//! it fetched: each dependency's name, repository and resolved version, the
//! time, and a digest over Chart.yaml's dependencies and the locked ones.
//!
//! Helm compares that digest with Chart.yaml before it trusts the lock
//! (`helm dependency build` refuses an out-of-sync lock), so r2r computes
//! it exactly as Helm's `resolver.HashReq` does: sha256 over Go's
//! `json.Marshal` of `[requested, locked]`, the fields in the order and with
//! the omissions of Helm's `chart.Dependency` struct.

use serde_json::{Value, json};

use super::archive::Dependency;

/// A Chart.lock as read.
#[derive(Debug, serde::Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub dependencies: Vec<Locked>,
    #[serde(default)]
    pub digest: String,
}

/// Reads a Chart.lock.
pub fn parse(text: &str) -> Result<Lock, yaml_serde::Error> {
    crate::values::yaml::from_str(text)
}

/// One locked dependency.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Locked {
    pub name: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default, deserialize_with = "super::archive::text")]
    pub version: String,
}

/// The text of `Chart.lock`. `generated` is RFC 3339, UTC.
pub fn render(requested: &[Dependency], locked: &[Locked], generated: &str) -> String {
    let mut out = String::from("dependencies:\n");
    for l in locked {
        out.push_str(&format!(
            "- name: {}\n  repository: {}\n  version: {}\n",
            scalar(&l.name),
            scalar(&l.repository),
            scalar(&l.version)
        ));
    }
    out.push_str(&format!("digest: {}\n", digest(requested, locked)));
    out.push_str(&format!("generated: {}\n", scalar(generated)));
    out
}

/// `sha256:` and the hex of Helm's hash of the two lists.
pub fn digest(requested: &[Dependency], locked: &[Locked]) -> String {
    let req: Vec<String> = requested.iter().map(dependency_json).collect();
    let lock: Vec<String> = locked
        .iter()
        .map(|l| {
            dependency_json(&Dependency {
                name: l.name.clone(),
                version: l.version.clone(),
                repository: l.repository.clone(),
                ..Dependency::default()
            })
        })
        .collect();
    let pair = format!("[[{}],[{}]]", req.join(","), lock.join(","));
    format!(
        "sha256:{}",
        crate::bundle::digest::sha256_bytes(pair.as_bytes())
    )
}

/// Helm's `chart.Dependency` as Go marshals it: `name`, `version`
/// (omitempty), `repository`, `condition`, `tags`, `enabled`,
/// `import-values`, `alias` (all omitempty), in that order.
fn dependency_json(d: &Dependency) -> String {
    let mut fields = vec![format!("\"name\":{}", go_json(&json!(d.name)))];
    if !d.version.is_empty() {
        fields.push(format!("\"version\":{}", go_json(&json!(d.version))));
    }
    fields.push(format!("\"repository\":{}", go_json(&json!(d.repository))));
    if !d.condition.is_empty() {
        fields.push(format!("\"condition\":{}", go_json(&json!(d.condition))));
    }
    if !d.tags.is_empty() {
        fields.push(format!("\"tags\":{}", go_json(&json!(d.tags))));
    }
    if d.enabled {
        fields.push("\"enabled\":true".into());
    }
    if !d.import_values.is_empty() {
        fields.push(format!(
            "\"import-values\":{}",
            go_json(&Value::Array(d.import_values.clone()))
        ));
    }
    if !d.alias.is_empty() {
        fields.push(format!("\"alias\":{}", go_json(&json!(d.alias))));
    }
    format!("{{{}}}", fields.join(","))
}

/// Go's `encoding/json` output: compact, map keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped.
fn go_json(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_json).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_string(k), go_json(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::String(s) => go_string(s),
        other => other.to_string(),
    }
}

fn go_string(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A YAML scalar Helm's reader gives back as the same string.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | '+'))
        && !s.starts_with(['-', ':'])
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        );
    if plain {
        s.to_owned()
    } else {
        Value::String(s.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_marshals_in_struct_order_and_escapes_html() {
        let d = Dependency {
            name: "a".into(),
            version: ">=1 <2".into(),
            repository: "https://x/".into(),
            condition: "a.enabled".into(),
            tags: vec![],
            enabled: false,
            import_values: vec![],
            alias: "b".into(),
        };
        assert_eq!(
            format!("[{}]", dependency_json(&d)),
            r#"[{"name":"a","version":"\u003e=1 \u003c2","repository":"https://x/","condition":"a.enabled","alias":"b"}]"#
        );
        let l = Locked {
            name: "a".into(),
            repository: String::new(),
            version: "1.5.0".into(),
        };
        assert!(render(&[d], &[l], "2026-01-01T00:00:00Z").contains("  repository: \"\"\n"));
    }
}
