//! Paths into a values tree, written the way an operator reads them:
//! `jupyterhub.hub.config.GitHubOAuthenticator.client_secret`, list items as
//! `[0]`, and keys that hold dots or brackets quoted:
//! `userServiceAccount.annotations["iam.gke.io/gcp-service-account"]`.

use std::fmt;

use serde::{Serialize, Serializer};

/// A Helm values document.
pub type Values = yaml_serde::Value;
pub type Map = yaml_serde::Mapping;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(Vec<Step>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// A path of map keys only.
    pub fn keys(keys: &[&str]) -> KeyPath {
        KeyPath(keys.iter().map(|k| Step::Key((*k).to_owned())).collect())
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Step::Key(key.to_owned()));
        p
    }

    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Step::Index(i));
        p
    }

    pub fn from_steps(steps: Vec<Step>) -> KeyPath {
        KeyPath(steps)
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// The map keys along the path, list positions left out.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
    }

    pub fn last_key(&self) -> Option<&str> {
        self.key_names().last()
    }

    pub fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// `rel` below this path: a profile's basehub-relative path under
    /// daskhub's `basehub`, a condition under a subchart's section.
    pub fn join(&self, rel: &KeyPath) -> KeyPath {
        let mut steps = self.0.clone();
        steps.extend(rel.0.iter().cloned());
        KeyPath(steps)
    }

    /// Parses the written form back; `None` when it is not one.
    pub fn parse(s: &str) -> Option<KeyPath> {
        let mut steps = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("[\"") {
                let end = r.find("\"]")?;
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end + 2..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                steps.push(Step::Index(r[..end].parse().ok()?));
                rest = &r[end + 1..];
            } else {
                let r = if steps.is_empty() {
                    rest
                } else {
                    rest.strip_prefix('.')?
                };
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return None;
                }
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end..];
            }
        }
        Some(KeyPath(steps))
    }
}

fn plain(key: &str) -> bool {
    !key.is_empty() && !key.contains(['.', '[', ']', '"'])
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if plain(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Step::Key(k) => write!(f, "[\"{k}\"]")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for KeyPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A map key as text: YAML allows numbers and booleans as keys.
pub fn key_text(key: &Values) -> String {
    match key {
        Values::String(s) => s.clone(),
        Values::Number(n) => n.to_string(),
        Values::Bool(b) => b.to_string(),
        Values::Null => "null".into(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_owned(),
    }
}

/// The same document as JSON. YAML allows non-string keys; JSON (and so
/// JSON Schema) sees them as strings.
pub fn to_json(v: &Values) -> Result<serde_json::Value, serde_json::Error> {
    Ok(match v {
        Values::Mapping(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| Ok((key_text(k), to_json(v)?)))
                .collect::<Result<_, serde_json::Error>>()?,
        ),
        Values::Sequence(s) => serde_json::Value::Array(
            s.iter()
                .map(to_json)
                .collect::<Result<_, serde_json::Error>>()?,
        ),
        Values::Tagged(t) => to_json(&t.value)?,
        other => serde_json::to_value(other)?,
    })
}

/// Writes values for Helm. The text is JSON, which every YAML reader takes:
/// Helm reads YAML 1.1, where an unquoted `2024-10-07`, `yes` or `0755` is
/// not a string, and a YAML 1.2 writer leaves such strings unquoted. In JSON
/// every string is quoted, so no value changes type on the way to Helm.
pub fn to_helm_text(v: &Values) -> Result<String, serde_json::Error> {
    let mut out = serde_json::to_string_pretty(&to_json(v)?)?;
    out.push('\n');
    Ok(out)
}

pub fn get<'a>(v: &'a Values, path: &KeyPath) -> Option<&'a Values> {
    let mut cur = v;
    for step in path.steps() {
        cur = match (step, cur) {
            (Step::Key(k), Values::Mapping(m)) => m.get(k.as_str())?,
            (Step::Index(i), Values::Sequence(s)) => s.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets a value, creating maps along a key-only path. Returns false when
/// the path crosses a value that is not a map (nothing is changed then).
pub fn set(v: &mut Values, path: &KeyPath, new: Values) -> bool {
    let Some((last, parents)) = path.steps().split_last() else {
        *v = new;
        return true;
    };
    let mut cur = v;
    for step in parents {
        cur = match step {
            Step::Key(k) => {
                if cur.is_null() {
                    *cur = Values::Mapping(Map::new());
                }
                let Values::Mapping(m) = cur else {
                    return false;
                };
                m.entry(Values::String(k.clone()))
                    .or_insert_with(|| Values::Mapping(Map::new()))
            }
            Step::Index(i) => match cur {
                Values::Sequence(s) if *i < s.len() => &mut s[*i],
                _ => return false,
            },
        };
    }
    match (last, cur) {
        (Step::Key(k), cur) => {
            if cur.is_null() {
                *cur = Values::Mapping(Map::new());
            }
            let Values::Mapping(m) = cur else {
                return false;
            };
            m.insert(Values::String(k.clone()), new);
            true
        }
        (Step::Index(i), Values::Sequence(s)) if *i < s.len() => {
            s[*i] = new;
            true
        }
        _ => false,
    }
}

/// Removes the value at a path and returns it.
pub fn remove(v: &mut Values, path: &KeyPath) -> Option<Values> {
    let (last, parents) = path.steps().split_last()?;
    let mut cur = v;
    for step in parents {
        cur = match (step, cur) {
            (Step::Key(k), Values::Mapping(m)) => m.get_mut(k.as_str())?,
            (Step::Index(i), Values::Sequence(s)) => s.get_mut(*i)?,
            _ => return None,
        };
    }
    match (last, cur) {
        (Step::Key(k), Values::Mapping(m)) => m.shift_remove(k.as_str()),
        (Step::Index(i), Values::Sequence(s)) if *i < s.len() => Some(s.remove(*i)),
        _ => None,
    }
}

/// Calls `f` for every scalar (and empty collection) with its path, in
/// document order.
pub fn for_each_leaf(v: &Values, f: &mut dyn FnMut(&KeyPath, &Values)) {
    fn walk(v: &Values, at: &KeyPath, f: &mut dyn FnMut(&KeyPath, &Values)) {
        match v {
            Values::Mapping(m) if !m.is_empty() => {
                for (k, child) in m {
                    walk(child, &at.key(&key_text(k)), f);
                }
            }
            Values::Sequence(s) if !s.is_empty() => {
                for (i, child) in s.iter().enumerate() {
                    walk(child, &at.index(i), f);
                }
            }
            Values::Tagged(t) => walk(&t.value, at, f),
            _ => f(at, v),
        }
    }
    walk(v, &KeyPath::root(), f);
}

/// Parses a YAML values document as Helm reads it; an empty file is an
/// empty map.
pub fn parse_yaml(text: &str) -> Result<Values, yaml_serde::Error> {
    let mut v: Values = super::yaml::from_str(text)?;
    v.apply_merge()?;
    if v.is_null() {
        v = Values::Mapping(Map::new());
    }
    yaml11_octals(&mut v, text);
    Ok(v)
}

/// Helm reads values with a YAML 1.1 parser, where a plain `0755` is the
/// octal integer 493; yaml_serde follows YAML 1.2 and keeps it a string,
/// which written back out would be quoted and change its meaning (file
/// modes in `extraFiles` are the common case). The parser does not report
/// quoting, so a string of octal digits becomes an integer only when the
/// source has it unquoted after its key.
fn yaml11_octals(v: &mut Values, text: &str) {
    fn octal(s: &str) -> Option<i64> {
        let digits = s.strip_prefix('0')?;
        if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        i64::from_str_radix(digits, 8).ok()
    }
    // Every `key: 0755` written plain, found in one pass over the text, so
    // a hostile values file with many octal-looking strings costs linear
    // time, not lines × strings.
    let mut plain: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_prefix("- ").unwrap_or(line).trim_start();
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let value = rest.split(" #").next().unwrap_or("").trim();
        if octal(value).is_some() {
            plain.insert((key.trim_end(), value));
        }
    }
    fn walk(v: &mut Values, key: Option<&str>, plain: &std::collections::HashSet<(&str, &str)>) {
        match v {
            Values::Mapping(m) => {
                for (k, child) in m.iter_mut() {
                    walk(child, k.as_str(), plain);
                }
            }
            Values::Sequence(items) => {
                for child in items {
                    walk(child, None, plain);
                }
            }
            Values::String(s) => {
                let (Some(key), Some(n)) = (key, octal(s)) else {
                    return;
                };
                if plain.contains(&(key, s.as_str())) {
                    *v = Values::Number(n.into());
                }
            }
            _ => {}
        }
    }
    walk(v, None, &plain);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_octals_become_numbers_quoted_ones_stay_text() {
        let v = parse_yaml("a:\n  mode: 0755\n  quoted: '0644'\n  - x\nb: [{mode: 0600}]\n");
        // The `- x` line makes that document invalid; a valid one:
        assert!(v.is_err());
        let v =
            parse_yaml("a:\n  mode: 0755 # rwx\n  quoted: '0644'\nb:\n  - mode: 0600\n").unwrap();
        assert_eq!(
            get(&v, &KeyPath::parse("a.mode").unwrap()),
            Some(&Values::from(493))
        );
        assert_eq!(
            get(&v, &KeyPath::parse("a.quoted").unwrap()),
            Some(&Values::from("0644"))
        );
        assert_eq!(
            get(&v, &KeyPath::parse("b[0].mode").unwrap()),
            Some(&Values::from(384))
        );
    }

    #[test]
    fn key_paths_round_trip() {
        let p = KeyPath::keys(&["userServiceAccount", "annotations"])
            .key("iam.gke.io/gcp-service-account")
            .key("x")
            .index(2);
        let text = p.to_string();
        assert_eq!(
            text,
            "userServiceAccount.annotations[\"iam.gke.io/gcp-service-account\"].x[2]"
        );
        assert_eq!(KeyPath::parse(&text), Some(p));
        assert_eq!(KeyPath::parse("a..b"), None);
    }

    #[test]
    fn set_get_remove() {
        let mut v = parse_yaml("a: {b: 1}\nl: [1, 2]\n").unwrap();
        assert!(set(
            &mut v,
            &KeyPath::keys(&["a", "c", "d"]),
            Values::from("x")
        ));
        assert!(!set(
            &mut v,
            &KeyPath::keys(&["a", "b", "z"]),
            Values::from("x")
        ));
        assert_eq!(
            get(&v, &KeyPath::keys(&["a", "c", "d"])),
            Some(&Values::from("x"))
        );
        assert_eq!(
            remove(&mut v, &KeyPath::keys(&["l"]).index(0)),
            Some(Values::from(1))
        );
        let mut leaves = Vec::new();
        for_each_leaf(&v, &mut |p, _| leaves.push(p.to_string()));
        assert_eq!(leaves, ["a.b", "a.c.d", "l[0]"]);
    }

    #[test]
    fn plain_octal_is_an_integer_as_in_helm() {
        let v = parse_yaml("f:\n  mode: 0755\n  quoted: '0755'\n  dec: 0899\n").unwrap();
        assert_eq!(
            get(&v, &KeyPath::keys(&["f", "mode"])),
            Some(&Values::from(493))
        );
        assert_eq!(
            get(&v, &KeyPath::keys(&["f", "quoted"])),
            Some(&Values::from("0755"))
        );
        assert_eq!(
            get(&v, &KeyPath::keys(&["f", "dec"])),
            Some(&Values::from("0899"))
        );
    }
}
