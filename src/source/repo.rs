//! The infrastructure repository on disk, and the one way to turn a name it
//! contains into a file: resolved inside the repository, or refused.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

pub struct InfraRepo {
    root: PathBuf,
}

impl InfraRepo {
    pub fn open(root: &Path) -> Result<InfraRepo> {
        let root = root
            .canonicalize()
            .with_context(|| format!("infrastructure repository {} not found", root.display()))?;
        if !root.join("config/clusters").is_dir() {
            bail!(
                "{} does not look like an infrastructure repository: it has no config/clusters/",
                root.display()
            );
        }
        Ok(InfraRepo { root })
    }

    /// A folder that is not a whole repository (the install directory's
    /// copy of a carried chart), whose files are confined to it the same
    /// way: for rendering the support chart's `values.jsonnet` at install.
    pub fn folder(root: &Path) -> Result<InfraRepo> {
        let root = root
            .canonicalize()
            .with_context(|| format!("folder {} not found", root.display()))?;
        Ok(InfraRepo { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn cluster_dir(&self, cluster: &str) -> Result<PathBuf> {
        let dir = self.root.join("config/clusters").join(cluster);
        if !dir.join("cluster.yaml").is_file() {
            let known = self.clusters().unwrap_or_default().join(", ");
            bail!(
                "cluster `{cluster}` not found: {} has no cluster.yaml\n\
                 hint: the clusters in this repository are: {known}",
                dir.display()
            );
        }
        Ok(dir)
    }

    pub fn clusters(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(self.root.join("config/clusters"))?
            .filter_map(std::result::Result::ok)
            .filter(|e| e.path().join("cluster.yaml").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Resolves `name`, written in `named_in`, relative to `base`. The name
    /// must be relative without `..`, and the file it reaches (after any
    /// symlinks) must be a regular file inside the repository.
    pub fn resolve(&self, base: &Path, name: &str, named_in: &str) -> Result<PathBuf> {
        let rel = Path::new(name);
        let clean = !name.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !clean {
            bail!(
                "{named_in} names {name:?}, which is not a plain relative path inside the repository"
            );
        }
        self.existing_file(&base.join(rel), named_in)
    }

    /// Checks that `path` is a regular file inside the repository.
    pub fn existing_file(&self, path: &Path, named_in: &str) -> Result<PathBuf> {
        let real = match path.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "{named_in} names {}, which does not exist",
                    self.shown(path)
                )
            }
            Err(e) => return Err(e).with_context(|| format!("cannot resolve {}", path.display())),
        };
        if !real.starts_with(&self.root) {
            bail!(
                "{named_in} names {}, which resolves outside the repository (to {})",
                self.shown(path),
                real.display()
            );
        }
        if !real.is_file() {
            bail!(
                "{named_in} names {}, which is not a regular file",
                self.shown(path)
            );
        }
        let Some(target) = self.git_link_target(&real) else {
            return Ok(real);
        };
        let target = self.existing_file_no_link(&target, named_in)?;
        if self.git_link_target(&target).is_some() {
            bail!(
                "{named_in} names {}, a link checked out as a file whose target is another such link; r2r follows one",
                self.shown(path)
            );
        }
        Ok(target)
    }

    fn existing_file_no_link(&self, path: &Path, named_in: &str) -> Result<PathBuf> {
        let real = path
            .canonicalize()
            .with_context(|| format!("{named_in}: cannot resolve {}", self.shown(path)))?;
        if !real.starts_with(&self.root) || !real.is_file() {
            bail!(
                "{named_in} names {}, which is not a regular file inside the repository",
                self.shown(path)
            );
        }
        Ok(real)
    }

    /// A symbolic link that git checked out as a plain file (as it does with
    /// `core.symlinks=false`, on Windows, or from some archives): the file
    /// holds only the link's target. 2i2c's daskhub/values.jsonnet is such a
    /// link to basehub's. It is followed only when the content is a short
    /// relative path to a file of the same extension, so an ordinary file
    /// is never mistaken for one; the target is then checked like any name.
    fn git_link_target(&self, file: &Path) -> Option<PathBuf> {
        const MAX_LINK: u64 = 1024;
        if fs::metadata(file).ok()?.len() > MAX_LINK {
            return None;
        }
        let text = fs::read_to_string(file).ok()?;
        let target = Path::new(&text);
        let plain = !text.is_empty()
            && text.contains('/')
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            && target.is_relative()
            && target.extension().is_some()
            && target.extension() == file.extension();
        if !plain {
            return None;
        }
        let resolved = file.parent()?.join(target);
        resolved.is_file().then_some(resolved)
    }

    /// A path as the user knows it: relative to the repository root.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Reads a small text file whole, refusing one larger than `limit`.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    if text.len() as u64 > limit {
        bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(text)
}
