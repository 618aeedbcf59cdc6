//! `.helmignore`: which files of a chart directory Helm leaves out when it
//! loads or packages the chart. r2r packages `file://` dependencies the way
//! `helm dependency build` does, so it applies the same rules: one shell
//! glob per line, `!` negates, a trailing `/` matches directories only, a
//! leading `/` or a pattern with `/` in it is matched against the whole
//! relative path, any other against the base name; `**` is not supported,
//! as in Helm. Helm also always ignores hidden files under `templates/`.

use globset::{Glob, GlobMatcher};

/// Longest `.helmignore` read; a real one is a few hundred bytes.
pub const MAX_BYTES: u64 = 1 << 20;
const MAX_RULES: usize = 4096;

struct Rule {
    matcher: GlobMatcher,
    negate: bool,
    dir_only: bool,
    whole_path: bool,
}

pub struct Rules(Vec<Rule>);

impl Rules {
    /// Parses `.helmignore` text; `None` means no file.
    pub fn parse(text: Option<&str>) -> Result<Rules, String> {
        let mut rules = Vec::new();
        for (n, line) in text.unwrap_or_default().lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains("**") {
                return Err(format!(
                    ".helmignore line {}: `**` is not supported by Helm",
                    n + 1
                ));
            }
            rules.push(rule(line).map_err(|e| format!(".helmignore line {}: {e}", n + 1))?);
            if rules.len() > MAX_RULES {
                return Err(format!(".helmignore has more than {MAX_RULES} rules"));
            }
        }
        // Helm's default, added after the file's: hidden files in templates/.
        rules.push(rule("templates/.?*")?);
        Ok(Rules(rules))
    }

    /// Whether `rel` (a `/`-separated path relative to the chart) is left
    /// out, decided as Helm's `ignore.Rules.Ignore` decides it: the first
    /// positive rule that matches ignores it, and a negated rule ignores
    /// whatever it does *not* match (Helm's own, surprising, semantics).
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        let base = rel.rsplit('/').next().unwrap_or(rel);
        for r in &self.0 {
            let hit = if r.whole_path {
                r.matcher.is_match(rel)
            } else {
                r.matcher.is_match(base)
            };
            if r.negate {
                if (r.dir_only && !is_dir) || !hit {
                    return true;
                }
                continue;
            }
            if r.dir_only && !is_dir {
                continue;
            }
            if hit {
                return true;
            }
        }
        false
    }

    /// Whether a file is left out because it, or a folder above it, is.
    pub fn excludes_file(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        (1..parts.len()).any(|i| self.ignored(&parts[..i].join("/"), true))
            || self.ignored(rel, false)
    }
}

fn rule(line: &str) -> Result<Rule, String> {
    let (negate, pat) = match line.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, line),
    };
    let (dir_only, pat) = match pat.strip_suffix('/') {
        Some(p) => (true, p),
        None => (false, pat),
    };
    let (whole_path, pat) = match pat.strip_prefix('/') {
        Some(p) => (true, p),
        None => (pat.contains('/'), pat),
    };
    // Go's filepath.Match, which Helm uses, has no `{a,b}`: braces are
    // literal there, so they are made literal for globset too.
    let go = pat.replace('{', "[{]").replace('}', "[}]");
    let glob = Glob::new(&go).map_err(|e| format!("bad pattern {pat:?}: {e}"))?;
    Ok(Rule {
        matcher: globset::GlobBuilder::new(glob.glob())
            .literal_separator(true)
            .build()
            .map_err(|e| format!("bad pattern {pat:?}: {e}"))?
            .compile_matcher(),
        negate,
        dir_only,
        whole_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_as_helm_reads_them() {
        let r = Rules::parse(Some(
            "# comment\nvalues.schema.yaml\n*.swp\n.git/\n/docs\nci/*.yaml\n",
        ))
        .unwrap();
        assert!(r.excludes_file("values.schema.yaml"));
        assert!(r.excludes_file("templates/values.schema.yaml"), "base name");
        assert!(r.excludes_file("a/b.swp"));
        assert!(r.excludes_file(".git/config"));
        assert!(!r.excludes_file(".gitkeep"));
        assert!(r.excludes_file("docs/x.md"));
        assert!(r.excludes_file("ci/a.yaml"));
        assert!(r.excludes_file("templates/.hidden.yaml"));
        assert!(!r.excludes_file("values.yaml"));
        assert!(!r.excludes_file("templates/hub.yaml"));
        assert!(Rules::parse(Some("a/**/b\n")).is_err());
        // Helm's negation: a file the negated pattern does not match is
        // ignored, one it matches is left to the later rules.
        // Braces are literal, as in Go's filepath.Match.
        let braces = Rules::parse(Some("*.{bak,orig}\n{unclosed\n")).unwrap();
        assert!(!braces.excludes_file("x.bak"));
        assert!(braces.excludes_file("x.{bak,orig}"));
        assert!(braces.excludes_file("{unclosed"));
        let neg = Rules::parse(Some("!*.yaml\n")).unwrap();
        assert!(neg.excludes_file("README.md"));
        assert!(!neg.excludes_file("values.yaml"));
    }
}
