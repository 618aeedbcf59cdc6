//! The Helm charts the hubs and the support release install: found in the
//! repository, their dependencies resolved as `helm dependency build`
//! resolves them (`resolve`), fetched from chart repositories (`repos`),
//! and carried as complete folders Helm installs offline.

pub mod archive;
pub mod helmignore;
pub mod lock;
pub mod repos;
pub mod resolve;
pub mod version;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::repo::{InfraRepo, read_text};
use crate::values::tree::Values;

const MAX_CHART_YAML_BYTES: u64 = 1 << 20;
const MAX_VALUES_BYTES: u64 = 16 << 20;

pub(super) fn chart_name(repo: &InfraRepo, dir: &Path, asked_by: &str) -> Result<String> {
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

fn read_chart_yaml(path: &Path) -> Result<archive::ChartMeta> {
    let text = read_text(path, MAX_CHART_YAML_BYTES)?;
    archive::parse_chart_yaml(&text, &path.display().to_string())
}

/// For each dependency, in order, its directory when it is a `file://` one.
fn local_dep_dirs(
    repo: &InfraRepo,
    dir: &Path,
    chart: &archive::ChartMeta,
    named_in: &str,
) -> Result<Vec<Option<PathBuf>>> {
    let mut out = Vec::new();
    for dep in &chart.dependencies {
        let Some(rel) = dep.repository.strip_prefix("file://") else {
            out.push(None);
            continue;
        };
        let real = file_dependency(repo, dir, rel).with_context(|| named_in.to_owned())?;
        out.push(Some(real));
    }
    Ok(out)
}

/// The chart directory a `file://REL` dependency of the chart in `dir`
/// names: it must exist inside the repository and hold a Chart.yaml.
pub(super) fn file_dependency(repo: &InfraRepo, dir: &Path, rel: &str) -> Result<PathBuf> {
    let real = dir
        .join(rel)
        .canonicalize()
        .with_context(|| format!("dependency file://{rel} does not exist"))?;
    if !real.starts_with(repo.root()) {
        bail!("dependency file://{rel} points outside the repository");
    }
    if !real.join("Chart.yaml").is_file() {
        bail!("dependency file://{rel} has no Chart.yaml");
    }
    Ok(real)
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
        let key = dep.key().to_owned();
        if key.is_empty() {
            bail!("{named_in}: a file:// dependency has neither name nor alias");
        }
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
pub(super) fn list_files(
    repo: &InfraRepo,
    dir: &Path,
    chart: &str,
) -> Result<Vec<(String, PathBuf)>> {
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
