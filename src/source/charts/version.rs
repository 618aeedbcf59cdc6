//! Chart versions and version constraints as Helm reads them.
//!
//! Helm resolves `dependencies[].version` with Masterminds/semver v3, whose
//! rules differ from Cargo's: a bare `1.2.3` means exactly that version,
//! `1.2` means any 1.2.x, `x`/`*` are wildcards, `a - b` is a range, `,` or
//! a space joins constraints and `||` offers alternatives. A pre-release
//! matches only an alternative in which some constraint names a
//! pre-release. This module follows those rules; the cases are in the tests.

use std::cmp::Ordering;
use std::fmt;

/// Longest version or constraint accepted (Masterminds' own limits).
const MAX_VERSION_LEN: usize = 256;
const MAX_CONSTRAINT_LEN: usize = 512;
const MAX_GROUPS: usize = 32;

/// A version: `v1.2.3-pre.1+build`, with missing minor and patch read as 0.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Ident>,
    original: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident {
    Num(u64),
    Text(String),
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let (v, _) = parse_partial(text)?;
        Ok(v)
    }

    /// Only `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, with no `v` and no leading
    /// zeros: how Helm reads an OCI registry's tags (`StrictNewVersion`),
    /// skipping the others.
    pub fn parse_strict(text: &str) -> Result<Version, String> {
        let core = text.split(['-', '+']).next().unwrap_or(text);
        let parts: Vec<&str> = core.split('.').collect();
        let strict = parts.len() == 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p.len() == 1 || !p.starts_with('0'))
            });
        if !strict {
            return Err(format!("{text:?} is not a strict semantic version"));
        }
        Version::parse(text)
    }

    pub fn has_pre(&self) -> bool {
        !self.pre.is_empty()
    }

    /// As written.
    pub fn original(&self) -> &str {
        &self.original
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semantic-version precedence; build metadata is ignored.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(&self.pre, &other.pre),
            })
    }
}

fn cmp_pre(a: &[Ident], b: &[Ident]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Ident::Num(x), Ident::Num(y)) => x.cmp(y),
            (Ident::Num(_), Ident::Text(_)) => Ordering::Less,
            (Ident::Text(_), Ident::Num(_)) => Ordering::Greater,
            (Ident::Text(x), Ident::Text(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Which parts of a constraint's version were left open (`1.x`, `1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Patch,
    Minor,
    All,
}

/// Parses a version whose minor and patch may be missing or wildcards.
fn parse_partial(text: &str) -> Result<(Version, Open), String> {
    if text.len() > MAX_VERSION_LEN {
        return Err(format!("version is longer than {MAX_VERSION_LEN} bytes"));
    }
    let original = text.to_owned();
    let body = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let (body, _build) = match body.split_once('+') {
        Some((b, m)) => {
            idents(m, false).map_err(|e| format!("invalid version {text:?}: {e}"))?;
            (b, Some(m))
        }
        None => (body, None),
    };
    let (core, pre) = match body.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (body, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("invalid version {text:?}"));
    }
    let mut nums = [0u64; 3];
    let mut open = Open::None;
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "x" | "X" | "*") {
            if open == Open::None {
                open = [Open::All, Open::Minor, Open::Patch][i];
            }
            continue;
        }
        if open != Open::None || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid version {text:?}"));
        }
        nums[i] = p
            .parse()
            .map_err(|_| format!("invalid version {text:?}: number too large"))?;
    }
    if open == Open::None && parts.len() < 3 {
        open = [Open::All, Open::Minor, Open::Patch][parts.len()];
    }
    let pre = match pre {
        Some(p) => idents(p, true).map_err(|e| format!("invalid version {text:?}: {e}"))?,
        None => Vec::new(),
    };
    Ok((
        Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            original,
        },
        open,
    ))
}

fn idents(text: &str, numeric: bool) -> Result<Vec<Ident>, String> {
    text.split('.')
        .map(|id| {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("bad identifier {id:?}"));
            }
            Ok(match id.parse::<u64>() {
                Ok(n) if numeric => Ident::Num(n),
                _ => Ident::Text(id.to_owned()),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Single {
    op: Op,
    v: Version,
    open: Open,
}

/// `>= 1.2, < 2 || ^3`: alternatives of constraints that must all hold.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<Vec<Single>>,
    original: String,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, String> {
        if text.len() > MAX_CONSTRAINT_LEN {
            return Err(format!(
                "version constraint is longer than {MAX_CONSTRAINT_LEN} bytes"
            ));
        }
        let alternatives: Vec<&str> = text.split("||").collect();
        if alternatives.len() > MAX_GROUPS {
            return Err(format!("more than {MAX_GROUPS} `||` alternatives"));
        }
        let groups = alternatives
            .into_iter()
            .map(|g| {
                parse_group(g).map_err(|e| format!("invalid version constraint {text:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Constraint {
            groups,
            original: text.to_owned(),
        })
    }

    /// Whether `v` satisfies the constraint. A pre-release version passes
    /// a constraint only when that constraint itself names a pre-release
    /// (Masterminds checks this in each operator but an exact `!=`).
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| {
            g.iter()
                .all(|c| (!v.has_pre() || c.v.has_pre() || c.exact_ne()) && c.matches(v))
        })
    }

    /// The version this constraint pins, when it names exactly one
    /// (`1.2.3`, `=1.2.3`); Helm then asks an OCI registry for that tag
    /// instead of listing tags.
    pub fn exact(&self) -> Option<&Version> {
        match self.groups.as_slice() {
            [g] => match g.as_slice() {
                [c] if c.op == Op::Eq && c.open == Open::None => Some(&c.v),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Splits one alternative into its constraints: `,` or whitespace between
/// them, `a - b` as a range, and an operator possibly followed by spaces.
fn parse_group(text: &str) -> Result<Vec<Single>, String> {
    let words: Vec<&str> = text
        .split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err("an empty alternative".into());
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words.get(i + 1) == Some(&"-") {
            let to = words.get(i + 2).ok_or("a range `a - b` without its end")?;
            out.push(single(">=", words[i])?);
            out.push(single("<=", to)?);
            i += 3;
            continue;
        }
        let w = words[i];
        let split = w
            .find(|c: char| c.is_ascii_alphanumeric() || c == '*')
            .unwrap_or(w.len());
        let (op, ver) = w.split_at(split);
        if ver.is_empty() {
            // An operator written apart from its version: `>= 1.2`.
            let next = words.get(i + 1).ok_or("an operator without a version")?;
            out.push(single(op, next)?);
            i += 2;
        } else {
            out.push(single(op, ver)?);
            i += 1;
        }
    }
    Ok(out)
}

fn single(op: &str, ver: &str) -> Result<Single, String> {
    let op = match op {
        "" | "=" => Op::Eq,
        "!=" => Op::Ne,
        ">" => Op::Gt,
        "<" => Op::Lt,
        ">=" | "=>" => Op::Ge,
        "<=" | "=<" => Op::Le,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        other => return Err(format!("unknown operator {other:?}")),
    };
    let (v, open) = parse_partial(ver)?;
    Ok(Single { op, v, open })
}

impl Single {
    fn exact_ne(&self) -> bool {
        self.op == Op::Ne && self.open == Open::None
    }

    fn matches(&self, v: &Version) -> bool {
        let c = &self.v;
        match self.op {
            Op::Eq if self.open == Open::None => v == c,
            Op::Eq | Op::Tilde => self.in_tilde(v),
            Op::Ne if self.open == Open::None => v != c,
            Op::Ne => !self.in_tilde(v),
            Op::Gt if self.open == Open::None => v > c,
            Op::Gt => match self.open {
                Open::All => false,
                Open::Minor => v.major > c.major,
                _ => v.major > c.major || (v.major == c.major && v.minor > c.minor),
            },
            Op::Lt => v < c,
            Op::Ge => v >= c,
            Op::Le if self.open == Open::None => v <= c,
            Op::Le => match self.open {
                Open::All => true,
                Open::Minor => v.major <= c.major,
                _ => v.major < c.major || (v.major == c.major && v.minor <= c.minor),
            },
            Op::Caret => self.in_caret(v),
        }
    }

    /// `~1.2.3` is >=1.2.3 <1.3.0; `~1.2`, `1.2`, `1.2.x` are 1.2.*; `~1`, `1`
    /// are 1.*; `*` is anything.
    fn in_tilde(&self, v: &Version) -> bool {
        let c = &self.v;
        if self.open == Open::All {
            return true;
        }
        if v < c || v.major != c.major {
            return false;
        }
        self.open == Open::Minor || v.minor == c.minor
    }

    /// `^1.2.3` is >=1.2.3 <2; `^0.2.3` is <0.3; `^0.0.3` is exactly 0.0.3.
    fn in_caret(&self, v: &Version) -> bool {
        let c = &self.v;
        if self.open == Open::All {
            return true;
        }
        if v < c {
            return false;
        }
        if c.major > 0 || self.open == Open::Minor {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.open == Open::Patch {
            return v.minor == c.minor;
        }
        v.minor == 0 && v.patch == c.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn exact_versions_as_2i2c_pins_them() {
        assert!(ok("4.3.3", "4.3.3"));
        assert!(!ok("4.3.3", "4.3.4"));
        assert!(ok(
            "0.1.0-0.dev.git.336.hca79dc0",
            "0.1.0-0.dev.git.336.hca79dc0"
        ));
        assert!(!ok(
            "0.1.0-0.dev.git.336.hca79dc0",
            "0.1.0-0.dev.git.318.h477a6fa"
        ));
        assert!(ok("v1.20.3", "v1.20.3"));
        assert!(ok("=1.2.3", "1.2.3"));
        assert_eq!(
            Constraint::parse("1.2.3")
                .unwrap()
                .exact()
                .map(std::string::ToString::to_string),
            Some("1.2.3".into())
        );
        assert!(Constraint::parse("1.2").unwrap().exact().is_none());
    }

    #[test]
    fn wildcards_and_short_versions_are_ranges() {
        assert!(ok("1.2", "1.2.9"));
        assert!(!ok("1.2", "1.3.0"));
        assert!(ok("1.2.x", "1.2.0"));
        assert!(ok("1", "1.9.9"));
        assert!(!ok("1", "2.0.0"));
        assert!(ok("*", "9.9.9"));
        assert!(ok("1.40.*", "1.40.7"));
        assert!(!ok("*", "1.0.0-rc.1"), "a wildcard skips pre-releases");
    }

    #[test]
    fn operators_tilde_caret_and_ranges() {
        assert!(ok(">= 1.2, < 2.0.0", "1.9.0"));
        assert!(!ok(">= 1.2, < 2.0.0", "2.0.0"));
        assert!(ok(">=1.2 <2", "1.2.0"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.2 - 1.4", "1.4.9"), "an open end covers its minor");
        assert!(ok("<1.0 || >=3", "3.1.0"));
        assert!(!ok("!=1.2.3", "1.2.3"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(!ok(">1.2", "1.2.5"));
        assert!(ok("<=1.2", "1.2.9"));
        assert!(!ok("<=1.2", "1.3.0"));
    }

    #[test]
    fn pre_releases_need_a_constraint_that_names_one() {
        assert!(!ok(">=1.0.0", "1.5.0-beta.1"));
        // Each constraint that names no pre-release refuses one, as
        // Masterminds does: `<2.0.0` here.
        assert!(!ok(">=1.0.0-0, <2.0.0", "1.5.0-beta.1"));
        assert!(ok(">=1.0.0-0, <2.0.0-0", "1.5.0-beta.1"));
        assert!(ok(">=0.1.0-0", "0.1.0-0.dev.git.336.hca79dc0"));
        assert!(ok("!=1.2.3", "1.5.0-beta.1"));
        assert!(!ok("!=1.2", "1.5.0-beta.1"));
    }

    #[test]
    fn oci_tags_are_read_strictly() {
        assert!(Version::parse_strict("1.2.3").is_ok());
        assert!(Version::parse_strict("1.2.1-0.dev.git.1.h1c81b4b").is_ok());
        for bad in ["v1.3.0", "1.2", "01.2.3", "latest", "1.2.3.4"] {
            assert!(Version::parse_strict(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_follows_semver() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-alpha.beta"));
        assert!(v("1.0.0-beta.2") < v("1.0.0-beta.11"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("0.1.0-0.dev.git.318.h477a6fa") < v("0.1.0-0.dev.git.336.hca79dc0"));
        assert_eq!(v("v1.2.3+build"), v("1.2.3"));
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("latest").is_err());
        assert!(Constraint::parse("what").is_err());
    }
}
