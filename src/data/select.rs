//! Which homes and which entries to carry: `--user` and `--exclude`.

use anyhow::{Context, Result};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::tree::Exclude;

/// `--user` globs over home directory names (default: every home) and
/// `--exclude` patterns over paths inside a home.
///
/// An exclude pattern without `/` matches a name at any depth (`.cache`,
/// `*.pyc`); one with `/` matches the path from the home's root
/// (`work/tmp/*`). A trailing `/` makes it match directories only
/// (`.cache/`). `*` never crosses `/`; `**` does.
#[derive(Debug, Default)]
pub struct Selection {
    users: Option<GlobSet>,
    by_name: GlobSet,
    by_name_dirs: GlobSet,
    by_path: GlobSet,
    by_path_dirs: GlobSet,
}

fn glob(p: &str) -> Result<Glob> {
    GlobBuilder::new(p)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .with_context(|| format!("{p:?} is not a valid pattern"))
}

impl Selection {
    pub fn new(users: &[String], excludes: &[String]) -> Result<Selection> {
        let users = if users.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for u in users {
                b.add(glob(u).context("--user")?);
            }
            Some(b.build()?)
        };
        let mut sets: [GlobSetBuilder; 4] = std::array::from_fn(|_| GlobSetBuilder::new());
        for x in excludes {
            let (pat, dirs_only) = match x.strip_suffix('/') {
                Some(p) => (p, true),
                None => (x.as_str(), false),
            };
            let pat = pat.strip_prefix('/').unwrap_or(pat);
            let slot = match (pat.contains('/'), dirs_only) {
                (false, false) => 0,
                (false, true) => 1,
                (true, false) => 2,
                (true, true) => 3,
            };
            sets[slot].add(glob(pat).context("--exclude")?);
        }
        let [a, b, c, d] = sets;
        Ok(Selection {
            users,
            by_name: a.build()?,
            by_name_dirs: b.build()?,
            by_path: c.build()?,
            by_path_dirs: d.build()?,
        })
    }

    /// Whether a home (a directory name under the hub) is selected.
    pub fn wants_home(&self, name: &[u8]) -> bool {
        match &self.users {
            None => true,
            Some(set) => set.is_match(os(name)),
        }
    }
}

fn os(b: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(b))
}

impl Exclude for Selection {
    fn excluded(&self, rel: &[u8], is_dir: bool) -> bool {
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        self.by_name.is_match(os(name))
            || self.by_path.is_match(os(rel))
            || (is_dir
                && (self.by_name_dirs.is_match(os(name)) || self.by_path_dirs.is_match(os(rel))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_the_documented_rules() {
        let s = Selection::new(
            &["jovyan-*".into()],
            &[".cache/".into(), "*.pyc".into(), "work/tmp/*".into()],
        )
        .unwrap();
        assert!(s.wants_home(b"jovyan-1"));
        assert!(!s.wants_home(b"other"));
        assert!(s.excluded(b".cache", true));
        assert!(s.excluded(b"a/b/.cache", true));
        assert!(!s.excluded(b".cache", false));
        assert!(s.excluded(b"src/x.pyc", false));
        assert!(s.excluded(b"work/tmp/big", false));
        assert!(!s.excluded(b"work/tmp/a/b", false));
        assert!(!s.excluded(b"notes/work/tmp/x", false));
    }
}
