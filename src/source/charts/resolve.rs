//! Complete chart folders: each chart a hub (or the support release)
//! installs, laid out as `helm dependency build` leaves it, so that Helm
//! installs it with no network: the chart's own files, every dependency's
//! archive in `charts/<name>-<version>.tgz` (a `file://` one packaged from
//! its own complete folder), a `Chart.lock`, and the `values.schema.json`
//! the provider's deployer generates from `values.schema.yaml`.
//!
//! A hub with a chart override (2i2c's `chart_override`, a Chart.yaml that
//! replaces basehub's) gets folders of its own, `<chart>@<hub>`, with the
//! override's dependency versions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::archive::{self, ChartMeta, Dependency, LoadedChart, Source};
use super::helmignore::{self, Rules};
use super::lock::{self, Locked};
use super::repos::{self, Fetcher};
use super::version::{Constraint, Version};
use crate::bundle::manifest::ChartDependency;
use crate::source::repo::{InfraRepo, read_text};

const MAX_CHART_YAML: u64 = 1 << 20;
const MAX_VALUES: u64 = 16 << 20;
const MAX_TEMPLATE: u64 = 4 << 20;
/// `file://` dependencies nest no deeper than this.
const MAX_DEPTH: usize = 8;

/// A Chart.yaml that replaces the one of the chart it names, for one hub.
#[derive(Debug, Clone)]
pub struct Override {
    pub file: PathBuf,
    pub hub: String,
}

/// A chart folder as the bundle carries it.
#[derive(Debug)]
pub struct CompleteChart {
    /// Its folder under `charts/`: the chart's directory name, with
    /// `@<hub>` for an override.
    pub folder: String,
    pub name: String,
    pub version: String,
    /// (path inside the folder, file to copy), sorted by path.
    pub files: Vec<(String, PathBuf)>,
    pub dependencies: Vec<ChartDependency>,
    /// Folders of the complete charts its `file://` dependencies are.
    pub file_dependencies: Vec<String>,
    /// The chart as Helm loads it: for defaults, templates and subcharts.
    pub loaded: LoadedChart,
    /// For a chart carried as a repository published it (cert-manager):
    /// where its archive came from and what its digest was checked against.
    pub fetched: Option<ChartDependency>,
}

pub struct Resolver<'a> {
    repo: &'a InfraRepo,
    fetcher: Fetcher,
    work: PathBuf,
    /// SOURCE_DATE_EPOCH, when set: the time written into what r2r builds.
    epoch: Option<u64>,
    done: HashMap<(PathBuf, Option<PathBuf>), usize>,
    charts: Vec<CompleteChart>,
    stack: Vec<PathBuf>,
    counter: usize,
    /// What the caller should say (an out-of-date Chart.lock).
    pub warnings: Vec<String>,
    /// Override files that replaced a chart's Chart.yaml.
    applied: std::collections::HashSet<PathBuf>,
}

impl<'a> Resolver<'a> {
    /// A resolver that writes what it fetches and builds under `work`.
    pub fn new(repo: &'a InfraRepo, fetcher: Fetcher, work: &Path, epoch: Option<u64>) -> Self {
        Resolver {
            repo,
            fetcher,
            work: work.to_owned(),
            epoch,
            done: HashMap::new(),
            charts: Vec::new(),
            stack: Vec::new(),
            counter: 0,
            warnings: Vec::new(),
            applied: Default::default(),
        }
    }

    /// Whether the override file replaced the Chart.yaml of some chart
    /// resolved so far.
    pub fn applied(&self, file: &Path) -> bool {
        self.applied.contains(file)
    }

    /// Every complete chart built so far, in the order they were finished
    /// (a `file://` dependency before the chart that packages it).
    pub fn into_charts(self) -> Vec<CompleteChart> {
        self.charts
    }

    pub fn chart(&self, i: usize) -> &CompleteChart {
        &self.charts[i]
    }

    /// The complete folder of the chart in `dir`; its index.
    pub fn complete(
        &mut self,
        dir: &Path,
        over: Option<&Override>,
        asked_by: &str,
    ) -> Result<usize> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("{asked_by}: chart {} not found", dir.display()))?;
        let key = (dir.clone(), over.map(|o| o.file.clone()));
        if let Some(i) = self.done.get(&key) {
            return Ok(*i);
        }
        if self.stack.contains(&dir) {
            bail!(
                "{asked_by}: charts depend on each other in a circle through {}",
                self.repo.shown(&dir)
            );
        }
        if self.stack.len() >= MAX_DEPTH {
            bail!("{asked_by}: file:// dependencies nest more than {MAX_DEPTH} deep");
        }
        self.stack.push(dir.clone());
        let built = self.build(&dir, over, asked_by);
        self.stack.pop();
        let chart = built?;
        self.charts.push(chart);
        let i = self.charts.len() - 1;
        self.done.insert(key, i);
        Ok(i)
    }

    fn build(
        &mut self,
        dir: &Path,
        over: Option<&Override>,
        asked_by: &str,
    ) -> Result<CompleteChart> {
        let dir_name = super::chart_name(self.repo, dir, asked_by)?;
        // The folder becomes a path and a name on the installer's side,
        // which takes DNS labels only: refuse here, not there.
        if !crate::source::cluster::is_dns_label(&dir_name) {
            bail!(
                "{asked_by}: chart directory {} is not named as a DNS label (lowercase letters, digits and '-'), which the installer needs",
                self.repo.shown(dir)
            );
        }
        let own_yaml = self.repo.existing_file(&dir.join("Chart.yaml"), asked_by)?;
        let own = read_meta(&own_yaml, &self.repo.shown(&own_yaml))?;
        // The override replaces the Chart.yaml of the chart it names.
        let replaced = match over {
            Some(o) => {
                let m = read_meta(&o.file, &self.repo.shown(&o.file))?;
                (m.name == own.name).then_some(o)
            }
            None => None,
        };
        if let Some(o) = replaced {
            self.applied.insert(o.file.clone());
        }
        let chart_yaml = replaced.map_or(own_yaml, |o| o.file.clone());
        let named_in = self.repo.shown(&chart_yaml);
        let meta = read_meta(&chart_yaml, &named_in)?;
        if !plain_name(&meta.name) {
            bail!(
                "{named_in}: the chart name {:?} is not a plain chart name",
                meta.name
            );
        }
        let folder = match over {
            Some(o) => format!("{dir_name}@{}", o.hub),
            None => dir_name.clone(),
        };
        let mut files = self.source_files(dir, &meta, &chart_yaml, &dir_name)?;
        let (mut dependencies, mut file_dependencies) = (Vec::new(), Vec::new());
        let mut subcharts = Vec::new();
        let mut locked = Vec::new();
        let pins = if replaced.is_none() {
            self.committed_lock(dir, &meta, &named_in)?
        } else {
            None
        };
        for (n, dep) in meta.dependencies.iter().enumerate() {
            let pin = pins.as_ref().and_then(|p| p.get(n)).map(String::as_str);
            let what = format!(
                "chart {} ({named_in}): dependency {} {} from {}",
                meta.name,
                dep.name,
                dep.version,
                if dep.repository.is_empty() {
                    "its charts/ folder"
                } else {
                    &dep.repository
                }
            );
            let (resolved, loaded, file_dep, archive_src) = self
                .dependency(dir, dep, pin, over, &what)
                .with_context(|| what.clone())?;
            locked.push(Locked {
                name: dep.name.clone(),
                repository: dep.repository.clone(),
                version: resolved.version.clone(),
            });
            if let Some(f) = file_dep {
                file_dependencies.push(f);
            }
            if let Some(src) = archive_src
                && !files.iter().any(|(r, _)| *r == resolved.archive)
            {
                files.push((resolved.archive.clone(), src));
            }
            subcharts.push(loaded);
            dependencies.push(resolved);
        }
        if !meta.dependencies.is_empty() {
            let text = lock::render(&meta.dependencies, &locked, &self.generated_time());
            files.push((
                "Chart.lock".into(),
                self.write_work("Chart.lock", text.as_bytes())?,
            ));
        }
        subcharts.extend(self.unlisted_subcharts(dir, &meta, &files)?);
        self.schema_json(dir, &mut files)?;
        files.sort();
        files.dedup_by(|a, b| a.0 == b.0);
        let loaded = LoadedChart {
            meta: meta.clone(),
            values: read_optional(self.repo, &dir.join("values.yaml"), MAX_VALUES)?,
            templates: self.templates(&files)?,
            subcharts,
        };
        Ok(CompleteChart {
            folder,
            name: meta.name.clone(),
            version: meta.version.clone(),
            files,
            dependencies,
            file_dependencies,
            loaded,
            fetched: None,
        })
    }

    /// A chart carried as its repository publishes it, in folder `folder`:
    /// fetched like a dependency (through the mirrors, its digest checked
    /// against the index), its files unpacked so the bundle holds a chart
    /// folder Helm installs with no network. Returns its index.
    pub fn carry_published(&mut self, dep: &Dependency, folder: &str) -> Result<usize> {
        let constraint = Constraint::parse(&dep.version).map_err(|e| anyhow::anyhow!("{e}"))?;
        let fetched = self.fetcher.fetch(dep, &constraint)?;
        let loaded = repos::check_archive(&fetched, dep)?;
        let bytes = std::fs::File::open(&fetched.path)
            .with_context(|| format!("cannot open {}", fetched.path.display()))?;
        let mut files = Vec::new();
        for (rel, data) in archive::unpack(bytes, &fetched.from)? {
            // No text from the archive in the work folder's names.
            let path = self.write_work("carried", &data)?;
            files.push((rel, path));
        }
        files.sort();
        let record = ChartDependency {
            name: dep.name.clone(),
            alias: String::new(),
            condition: String::new(),
            constraint: dep.version.clone(),
            version: fetched.version.clone(),
            repository: dep.repository.clone(),
            archive: format!("{}-{}.tgz", dep.name, fetched.version),
            sha256: fetched.sha256.clone(),
            fetched_from: fetched.from.clone(),
            digest_checked_against: fetched.checked.clone(),
        };
        self.charts.push(CompleteChart {
            folder: folder.to_owned(),
            name: loaded.meta.name.clone(),
            version: loaded.meta.version.clone(),
            files,
            dependencies: Vec::new(),
            file_dependencies: Vec::new(),
            loaded,
            fetched: Some(record),
        });
        Ok(self.charts.len() - 1)
    }

    /// Resolves one dependency: its record, the chart as loaded, the
    /// folder of its complete chart when it is a `file://` one, and the
    /// archive file to carry.
    fn dependency(
        &mut self,
        dir: &Path,
        dep: &Dependency,
        pin: Option<&str>,
        over: Option<&Override>,
        what: &str,
    ) -> Result<(
        ChartDependency,
        LoadedChart,
        Option<String>,
        Option<PathBuf>,
    )> {
        // An in-sync Chart.lock fixes the version, as `helm dependency
        // build` installs exactly what the lock says.
        // The name becomes part of a member path (`charts/<name>-<version>.tgz`).
        if !plain_name(&dep.name) {
            bail!(
                "the dependency name {:?} is not a plain chart name",
                dep.name
            );
        }
        let constraint =
            Constraint::parse(pin.unwrap_or(&dep.version)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut record = ChartDependency {
            name: dep.name.clone(),
            alias: dep.alias.clone(),
            condition: dep.condition.clone(),
            constraint: dep.version.clone(),
            version: String::new(),
            repository: dep.repository.clone(),
            archive: String::new(),
            sha256: String::new(),
            fetched_from: String::new(),
            digest_checked_against: String::new(),
        };
        if dep.repository.is_empty() {
            // Vendored in the chart's own charts/<name>/, carried as files.
            let sub = dir.join("charts").join(&dep.name);
            let loaded = load_dir(self.repo, &sub, None, what)?;
            check_version(&loaded.meta, &constraint)?;
            record.version = loaded.meta.version.clone();
            record.archive = format!("charts/{}", dep.name);
            record.fetched_from = self.repo.shown(&sub);
            record.digest_checked_against = "nothing: carried as the repository's files".into();
            return Ok((record, loaded, None, None));
        }
        if let Some(rel) = dep.repository.strip_prefix("file://") {
            let sub_dir = super::file_dependency(self.repo, dir, rel)?;
            let i = self.complete(&sub_dir, over, what)?;
            let sub = &self.charts[i];
            check_version(&sub.loaded.meta, &constraint)?;
            let (name, version, folder) =
                (sub.name.clone(), sub.version.clone(), sub.folder.clone());
            let path = self.package(i, &sub_dir)?;
            let loaded = repos::check_archive(
                &repos::Fetched {
                    path: path.clone(),
                    sha256: String::new(),
                    version: version.clone(),
                    from: format!("charts/{folder}"),
                    checked: String::new(),
                },
                &Dependency {
                    name: name.clone(),
                    ..dep.clone()
                },
            )?;
            let (sha256, _) = crate::bundle::digest::sha256_reader(std::fs::File::open(&path)?)?;
            record.version = version.clone();
            record.archive = format!("charts/{name}-{version}.tgz");
            record.sha256 = sha256;
            record.fetched_from = format!("charts/{folder}, packaged by r2r");
            record.digest_checked_against = "nothing: r2r packaged it from the repository".into();
            return Ok((record, loaded, Some(folder), Some(path)));
        }
        let fetched = self.fetcher.fetch(dep, &constraint)?;
        let loaded = repos::check_archive(&fetched, dep)?;
        record.version = fetched.version.clone();
        record.archive = format!("charts/{}-{}.tgz", dep.name, fetched.version);
        record.sha256 = fetched.sha256.clone();
        record.fetched_from = fetched.from.clone();
        record.digest_checked_against = fetched.checked.clone();
        Ok((record, loaded, None, Some(fetched.path)))
    }

    /// Charts in the repository's `charts/` that no dependency entry names:
    /// Helm renders them too, so their defaults and templates count.
    fn unlisted_subcharts(
        &self,
        dir: &Path,
        meta: &ChartMeta,
        files: &[(String, PathBuf)],
    ) -> Result<Vec<LoadedChart>> {
        let listed: Vec<&str> = meta.dependencies.iter().map(|d| d.name.as_str()).collect();
        let mut folders: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (rel, src) in files {
            let Some(rest) = rel.strip_prefix("charts/") else {
                continue;
            };
            if rest.starts_with(['.', '_']) {
                continue;
            }
            match rest.split_once('/') {
                Some((folder, _)) if !listed.contains(&folder) && !folders.contains(&folder) => {
                    folders.push(folder);
                    let sub = dir.join("charts").join(folder);
                    if sub.join("Chart.yaml").is_file() {
                        out.push(load_dir(self.repo, &sub, None, &self.repo.shown(&sub))?);
                    }
                }
                None if rest.ends_with(".tgz") && src.starts_with(self.repo.root()) => {
                    let file = std::fs::File::open(src)
                        .with_context(|| format!("cannot open {}", self.repo.shown(src)))?;
                    out.push(archive::load(file, &self.repo.shown(src))?);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The versions a committed Chart.lock fixes, one per dependency, when
    /// its digest says it matches Chart.yaml (what `helm dependency build`
    /// uses). An out-of-date lock is re-resolved, as `helm dependency
    /// update` (which 2i2c's deployer runs) would, and said.
    fn committed_lock(
        &mut self,
        dir: &Path,
        meta: &ChartMeta,
        named_in: &str,
    ) -> Result<Option<Vec<String>>> {
        let path = dir.join("Chart.lock");
        let Some(text) = read_optional(self.repo, &path, MAX_CHART_YAML)? else {
            return Ok(None);
        };
        let shown = self.repo.shown(&path);
        let lock = lock::parse(&text).with_context(|| format!("{shown} is not a Chart.lock"))?;
        let in_sync = lock.dependencies.len() == meta.dependencies.len()
            && lock::digest(&meta.dependencies, &lock.dependencies) == lock.digest;
        if !in_sync {
            self.warnings.push(format!(
                "{shown} is out of date with {named_in}: its dependencies are resolved again, as helm dependency update would"
            ));
            return Ok(None);
        }
        Ok(Some(
            lock.dependencies.into_iter().map(|l| l.version).collect(),
        ))
    }

    /// The chart's own files, less what `helm dependency build` replaces:
    /// archives and folders under `charts/` (except charts vendored there
    /// without a repository) and an old `Chart.lock`.
    fn source_files(
        &self,
        dir: &Path,
        meta: &ChartMeta,
        chart_yaml: &Path,
        dir_name: &str,
    ) -> Result<Vec<(String, PathBuf)>> {
        // Fetched dependencies replace whatever an earlier `helm dependency
        // update` left for them; anything else under charts/ (a chart
        // vendored with or without a dependency entry) stays, as Helm keeps it.
        let fetched: Vec<&str> = meta
            .dependencies
            .iter()
            .filter(|d| !d.repository.is_empty())
            .map(|d| d.name.as_str())
            .collect();
        let replaced = |rel: &str| {
            let Some(rest) = rel.strip_prefix("charts/") else {
                return false;
            };
            match rest.split_once('/') {
                Some((folder, _)) => fetched.contains(&folder),
                None => fetched.iter().any(|n| {
                    rest.strip_prefix(n)
                        .is_some_and(|v| v.starts_with('-') && v.ends_with(".tgz"))
                }),
            }
        };
        let mut out = Vec::new();
        for (rel, src) in super::list_files(self.repo, dir, dir_name)? {
            if rel == "Chart.lock" || rel == "requirements.lock" || replaced(&rel) {
                continue;
            }
            let src = if rel == "Chart.yaml" {
                chart_yaml.to_owned()
            } else {
                src
            };
            out.push((rel, src));
        }
        Ok(out)
    }

    /// `values.schema.json` from `values.schema.yaml`, as 2i2c's deployer
    /// writes it before `helm upgrade`, so Helm checks the values the same
    /// way on the replica. A chart that has its own JSON keeps it.
    fn schema_json(&mut self, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<()> {
        if files.iter().any(|(r, _)| r == "values.schema.json") {
            return Ok(());
        }
        let Some((_, yaml)) = files.iter().find(|(r, _)| r == "values.schema.yaml") else {
            return Ok(());
        };
        let shown = self.repo.shown(yaml);
        let text = read_text(yaml, MAX_VALUES)?;
        let doc = crate::values::tree::parse_yaml(&text)
            .with_context(|| format!("{shown} is not valid YAML"))?;
        let json = crate::values::tree::to_json(&doc)
            .with_context(|| format!("{shown} cannot be written as JSON"))?;
        let mut bytes = serde_json::to_vec_pretty(&json)?;
        bytes.push(b'\n');
        let _ = dir;
        let path = self.write_work("values.schema.json", &bytes)?;
        files.push(("values.schema.json".into(), path));
        Ok(())
    }

    /// The chart's templates, from its files, for finding image references.
    /// One that cannot be read as text is said, not skipped in silence: its
    /// images would go unlisted.
    fn templates(&mut self, files: &[(String, PathBuf)]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (rel, src) in files.iter().filter(|(r, _)| r.starts_with("templates/")) {
            match read_text(src, MAX_TEMPLATE) {
                Ok(text) => out.push((rel.clone(), text)),
                Err(e) => self.warnings.push(format!(
                    "{}: not read for image references: {}",
                    self.repo.shown(src),
                    crate::text::one_line(&e)
                )),
            }
        }
        Ok(out)
    }

    /// Packages complete chart `i` (from `dir`) as Helm packages a
    /// `file://` dependency: its `.helmignore` applied, one folder inside.
    fn package(&mut self, i: usize, dir: &Path) -> Result<PathBuf> {
        let ignore_file = dir.join(".helmignore");
        let text = match ignore_file.symlink_metadata() {
            Ok(_) => {
                let real = self.repo.existing_file(&ignore_file, "the chart")?;
                Some(read_text(&real, helmignore::MAX_BYTES)?)
            }
            Err(_) => None,
        };
        let rules = Rules::parse(text.as_deref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.repo.shown(&ignore_file)))?;
        let chart = &self.charts[i];
        let kept: Vec<(String, Source<'_>)> = chart
            .files
            .iter()
            .filter(|(rel, _)| !rules.excludes_file(rel))
            .map(|(rel, src)| (rel.clone(), Source::File(src)))
            .collect();
        let mtime = self.epoch.unwrap_or(0);
        self.counter += 1;
        // No Chart.yaml text in the work folder's names.
        let path = self.work.join(format!("{}-package.tgz", self.counter));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        archive::write(std::io::BufWriter::new(file), &chart.name, &kept, mtime)
            .with_context(|| format!("packaging charts/{}", chart.folder))?;
        Ok(path)
    }

    fn write_work(&mut self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        self.counter += 1;
        let path = self.work.join(format!("{}-{name}", self.counter));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// `generated:` for Chart.lock, and the time in a packaged archive:
    /// SOURCE_DATE_EPOCH, else the Unix epoch. Never the clock or a file's
    /// mtime, so two clones of one commit, and a resumed export, build the
    /// same bytes.
    fn generated_time(&self) -> String {
        let secs = self.epoch.unwrap_or(0);
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string()
    }
}

/// A chart name that is one path component: letters, digits, `-`, `_`,
/// `.`, not starting with `.`.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn read_meta(path: &Path, shown: &str) -> Result<ChartMeta> {
    archive::parse_chart_yaml(&read_text(path, MAX_CHART_YAML)?, shown)
}

fn read_optional(repo: &InfraRepo, path: &Path, limit: u64) -> Result<Option<String>> {
    if path.symlink_metadata().is_err() {
        return Ok(None);
    }
    let real = repo.existing_file(path, "the chart")?;
    Ok(Some(read_text(&real, limit)?))
}

fn check_version(meta: &ChartMeta, constraint: &Constraint) -> Result<()> {
    let v =
        Version::parse(&meta.version).map_err(|e| anyhow::anyhow!("chart {}: {e}", meta.name))?;
    if !constraint.matches(&v) {
        bail!(
            "chart {} is version {}, which does not match {constraint}",
            meta.name,
            meta.version
        );
    }
    Ok(())
}

/// A chart vendored as a directory, read as Helm would load it (its own
/// `charts/` are not followed: a vendored chart brings what it needs).
fn load_dir(
    repo: &InfraRepo,
    dir: &Path,
    chart_yaml: Option<&Path>,
    what: &str,
) -> Result<LoadedChart> {
    let yaml = chart_yaml.map_or_else(|| dir.join("Chart.yaml"), Path::to_owned);
    let real = repo.existing_file(&yaml, what)?;
    let meta = read_meta(&real, &repo.shown(&real))?;
    let mut templates = Vec::new();
    for (rel, src) in super::list_files(repo, dir, &meta.name)? {
        if rel.starts_with("templates/") {
            templates.push((rel, read_text(&src, MAX_TEMPLATE)?));
        }
    }
    Ok(LoadedChart {
        meta,
        values: read_optional(repo, &dir.join("values.yaml"), MAX_VALUES)?,
        templates,
        subcharts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name from a Chart.yaml becomes part of a member path: it must be
    /// one plain component.
    #[test]
    fn chart_names_are_one_plain_component() {
        for ok in ["jupyterhub", "dask-gateway", "my_chart", "a.b"] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "a b",
            "a\\b",
            &"a".repeat(129),
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
    }
}
