//! The Helm chart directories the hubs use, with `file://` dependencies
//! followed (daskhub → basehub), so the bundle holds every local chart a
//! `helm dependency build` would need.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::repo::{InfraRepo, read_text};
use crate::values::tree::Values;

const MAX_CHART_YAML_BYTES: u64 = 1 << 20;
const MAX_VALUES_BYTES: u64 = 16 << 20;

/// One chart directory, with every file in it.
#[derive(Debug, Clone)]
pub struct ChartDir {
    /// The directory's name, which is how hubs and `file://` refer to it.
    pub name: String,
    /// `version` from Chart.yaml.
    pub version: String,
    pub dir: PathBuf,
    /// (path relative to the chart directory, absolute path), sorted.
    pub files: Vec<(String, PathBuf)>,
    /// Names of the charts this one reaches through `file://`.
    pub file_deps: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ChartYaml {
    #[serde(default)]
    version: Option<yaml_serde::Value>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    repository: Option<String>,
}

/// A chart a hub asks for: its name and an optional override Chart.yaml
/// whose `file://` dependencies are resolved as if it were the chart's own.
pub struct ChartRequest {
    pub name: String,
    pub override_file: Option<PathBuf>,
    pub asked_by: String,
}

/// Collects every chart the requests reach, each once, sorted by name.
pub fn collect(repo: &InfraRepo, requests: &[ChartRequest]) -> Result<Vec<ChartDir>> {
    let mut found: BTreeMap<String, ChartDir> = BTreeMap::new();
    let mut queue: Vec<(PathBuf, Option<PathBuf>, String)> = Vec::new();
    for r in requests {
        let dir = repo.root().join("helm-charts").join(&r.name);
        if !dir.join("Chart.yaml").is_file() {
            bail!(
                "{} uses chart `{}`, but helm-charts/{}/Chart.yaml does not exist",
                r.asked_by,
                r.name,
                r.name
            );
        }
        queue.push((dir, r.override_file.clone(), r.asked_by.clone()));
    }
    while let Some((dir, override_file, asked_by)) = queue.pop() {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("{asked_by}: chart {} not found", dir.display()))?;
        let name = chart_name(repo, &dir, &asked_by)?;
        if let Some(existing) = found.get(&name) {
            if existing.dir != dir {
                bail!(
                    "two different chart directories are both named `{name}`: {} and {}",
                    repo.shown(&existing.dir),
                    repo.shown(&dir)
                );
            }
            if override_file.is_none() {
                continue;
            }
        }
        let chart = read_chart_yaml(&repo.existing_file(&dir.join("Chart.yaml"), &asked_by)?)?;
        let mut deps = local_deps(
            repo,
            &dir,
            &chart,
            &format!("{}/Chart.yaml", repo.shown(&dir)),
        )?;
        if let Some(over) = &override_file {
            let over_chart = read_chart_yaml(over)?;
            deps.extend(local_deps(repo, &dir, &over_chart, &repo.shown(over))?);
        }
        let mut file_deps = Vec::new();
        for dep in deps {
            file_deps.push(chart_name(repo, &dep, &asked_by)?);
            queue.push((dep, None, format!("chart {name}")));
        }
        file_deps.sort();
        file_deps.dedup();
        let version = match chart.version {
            Some(yaml_serde::Value::String(s)) => s,
            Some(yaml_serde::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let entry = found.entry(name.clone()).or_insert_with(|| ChartDir {
            name: name.clone(),
            version,
            dir: dir.clone(),
            files: Vec::new(),
            file_deps: Vec::new(),
        });
        entry.file_deps.extend(file_deps);
        entry.file_deps.sort();
        entry.file_deps.dedup();
        if entry.files.is_empty() {
            entry.files = list_files(repo, &dir, &name)?;
        }
    }
    Ok(found.into_values().collect())
}

fn chart_name(repo: &InfraRepo, dir: &Path, asked_by: &str) -> Result<String> {
    if !dir.starts_with(repo.root()) {
        bail!(
            "{asked_by}: chart {} is outside the repository",
            dir.display()
        );
    }
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "{asked_by}: chart directory {} has no usable name",
                dir.display()
            )
        })
}

fn read_chart_yaml(path: &Path) -> Result<ChartYaml> {
    let text = read_text(path, MAX_CHART_YAML_BYTES)?;
    yaml_serde::from_str(&text)
        .with_context(|| format!("{} is not a valid Chart.yaml", path.display()))
}

/// The directories named by `file://` repositories, resolved against `dir`.
fn local_deps(
    repo: &InfraRepo,
    dir: &Path,
    chart: &ChartYaml,
    named_in: &str,
) -> Result<Vec<PathBuf>> {
    Ok(local_dep_dirs(repo, dir, chart, named_in)?
        .into_iter()
        .flatten()
        .collect())
}

/// For each dependency, in order, its directory when it is a `file://` one.
fn local_dep_dirs(
    repo: &InfraRepo,
    dir: &Path,
    chart: &ChartYaml,
    named_in: &str,
) -> Result<Vec<Option<PathBuf>>> {
    let mut out = Vec::new();
    for dep in &chart.dependencies {
        let Some(rel) = dep
            .repository
            .as_deref()
            .and_then(|r| r.strip_prefix("file://"))
        else {
            out.push(None);
            continue;
        };
        let repo_url = format!("file://{rel}");
        let real = dir
            .join(rel)
            .canonicalize()
            .with_context(|| format!("{named_in}: dependency {repo_url} does not exist"))?;
        if !real.starts_with(repo.root()) {
            bail!("{named_in}: dependency {repo_url} points outside the repository");
        }
        if !real.join("Chart.yaml").is_file() {
            bail!("{named_in}: dependency {repo_url} has no Chart.yaml");
        }
        out.push(Some(real));
    }
    Ok(out)
}

/// A chart's default values as Helm computes them: its own `values.yaml`
/// layered over each `file://` dependency's defaults, nested under the
/// dependency's alias or name (daskhub → `basehub:`). Remote dependencies
/// (the jupyterhub chart) are not in the repository and are left to Helm.
pub fn default_values(
    repo: &InfraRepo,
    chart: &str,
    override_file: Option<&Path>,
) -> Result<Values> {
    let dir = repo.root().join("helm-charts").join(chart);
    default_values_in(repo, &dir, override_file, 0)
}

fn default_values_in(
    repo: &InfraRepo,
    dir: &Path,
    override_file: Option<&Path>,
    depth: usize,
) -> Result<Values> {
    if depth > 8 {
        bail!("{}: file:// dependencies nest too deep", repo.shown(dir));
    }
    let chart_yaml = override_file.map_or_else(|| dir.join("Chart.yaml"), Path::to_owned);
    let chart_yaml = repo.existing_file(&chart_yaml, &repo.shown(dir))?;
    let chart = read_chart_yaml(&chart_yaml)?;
    let mut values = Values::Mapping(Default::default());
    let named_in = repo.shown(&chart_yaml);
    for (dep, real) in chart
        .dependencies
        .iter()
        .zip(local_dep_dirs(repo, dir, &chart, &named_in)?)
    {
        let Some(real) = real else { continue };
        let key = dep
            .alias
            .clone()
            .or_else(|| dep.name.clone())
            .with_context(|| {
                format!("{named_in}: a file:// dependency has neither name nor alias")
            })?;
        let nested = default_values_in(repo, &real, None, depth + 1)?;
        crate::values::tree::set(
            &mut values,
            &crate::values::tree::KeyPath::keys(&[&key]),
            nested,
        );
    }
    let own = dir.join("values.yaml");
    if own.symlink_metadata().is_ok() {
        let own = repo.existing_file(&own, &repo.shown(dir))?;
        let text = read_text(&own, MAX_VALUES_BYTES)?;
        let parsed = crate::values::tree::parse_yaml(&text)
            .with_context(|| format!("{} is not valid YAML", repo.shown(&own)))?;
        crate::values::merge::layer(&mut values, parsed);
    }
    Ok(values)
}

/// Every regular file under a chart directory. A symlink is carried as the
/// file it points to only when that is a regular file inside the repository
/// (2i2c's daskhub/values.jsonnet points at basehub's); anything else could
/// carry a file from anywhere on the exporter's machine, and is refused.
fn list_files(repo: &InfraRepo, dir: &Path, chart: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for item in fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let path = item?.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() || meta.is_symlink() {
                let rel = rel.to_str().with_context(|| {
                    format!("chart {chart}: file name {} is not UTF-8", rel.display())
                })?;
                // Also follows a link git checked out as a file.
                let what = if meta.is_symlink() {
                    format!("chart {chart}: symbolic link {rel}")
                } else {
                    format!("chart {chart}: {rel}")
                };
                let src = repo.existing_file(&path, &what)?;
                out.push((rel.to_owned(), src));
            } else {
                bail!(
                    "chart {chart}: {} is a symbolic link or special file; r2r carries regular files only",
                    rel.display()
                );
            }
        }
    }
    out.sort();
    Ok(out)
}
