//! Helm chart archives (`name-version.tgz`): reading one that came from a
//! chart repository, and writing one for a `file://` dependency the way
//! `helm dependency build` packages it.
//!
//! A downloaded archive is untrusted: it is read with bounds on its size,
//! its entry count and its nesting, paths are checked, and nothing is
//! extracted to disk. What r2r needs from it is small: `Chart.yaml`, the
//! default values, the templates (to find image references written in
//! them) and the charts it bundles.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Decompressed bytes read from one archive, nested ones included.
pub const MAX_UNPACKED: u64 = 128 << 20;
/// Bytes of one archive, compressed.
pub const MAX_ARCHIVE: u64 = 64 << 20;
const MAX_ENTRIES: usize = 20_000;
const MAX_DEPTH: usize = 4;

/// The parts of Chart.yaml r2r reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ChartMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "text")]
    pub version: String,
    #[serde(default, rename = "appVersion", deserialize_with = "text")]
    pub app_version: String,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

/// One `dependencies:` entry, with every field Helm reads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Dependency {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "text")]
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub condition: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, rename = "import-values")]
    pub import_values: Vec<serde_json::Value>,
    #[serde(default)]
    pub alias: String,
}

impl Dependency {
    /// The key its values sit under in the parent's values.
    pub fn key(&self) -> &str {
        if self.alias.is_empty() {
            &self.name
        } else {
            &self.alias
        }
    }
}

/// A YAML scalar as text: Helm reads `version: 1.10` as the string "1.10".
pub(super) fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = yaml_serde::Value::deserialize(d)?;
    Ok(match v {
        yaml_serde::Value::String(s) => s,
        yaml_serde::Value::Number(n) => n.to_string(),
        yaml_serde::Value::Bool(b) => b.to_string(),
        _ => String::new(),
    })
}

pub fn parse_chart_yaml(text: &str, named: &str) -> Result<ChartMeta> {
    crate::values::yaml::from_str(text)
        .with_context(|| format!("{named} is not a valid Chart.yaml"))
}

/// A chart as read from an archive: its metadata, default values,
/// templates, and the charts it carries under `charts/`.
#[derive(Debug, Clone)]
pub struct LoadedChart {
    pub meta: ChartMeta,
    pub values: Option<String>,
    /// (path inside the chart, text) of each template.
    pub templates: Vec<(String, String)>,
    pub subcharts: Vec<LoadedChart>,
}

/// Reads a chart archive from `r` (gzip-compressed tar).
pub fn load(r: impl Read, named: &str) -> Result<LoadedChart> {
    let mut budget = MAX_UNPACKED;
    load_nested(r, named, 0, &mut budget)
}

fn load_nested(r: impl Read, named: &str, depth: usize, budget: &mut u64) -> Result<LoadedChart> {
    if depth > MAX_DEPTH {
        bail!("{named}: charts nest more than {MAX_DEPTH} archives deep");
    }
    let files = read_entries(r, named, budget)?;
    let Some(top) = files.keys().next().and_then(|p| p.split('/').next()) else {
        bail!("{named}: the archive is empty");
    };
    let top = top.to_owned();
    let prefix = format!("{top}/");
    if let Some(stray) = files.keys().find(|p| !p.starts_with(&prefix)) {
        bail!(
            "{named}: `{stray}` is outside the chart's folder `{top}`; a chart archive holds one folder"
        );
    }
    let inside: BTreeMap<&str, &Vec<u8>> =
        files.iter().map(|(p, d)| (&p[prefix.len()..], d)).collect();
    build(&inside, named, depth, budget)
}

/// The files of a chart archive, by path inside its one folder, with the
/// same bounds as [`load`]: for a chart the bundle carries as it came
/// (cert-manager), whose files become members.
pub fn unpack(r: impl Read, named: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut budget = MAX_UNPACKED;
    let files = read_entries(r, named, &mut budget)?;
    let Some(top) = files.keys().next().and_then(|p| p.split('/').next()) else {
        bail!("{named}: the archive is empty");
    };
    let prefix = format!("{top}/");
    let mut out = Vec::new();
    for (p, d) in &files {
        let Some(rel) = p.strip_prefix(&prefix) else {
            bail!("{named}: `{p}` is outside the chart's folder; a chart archive holds one folder");
        };
        out.push((rel.to_owned(), d.clone()));
    }
    Ok(out)
}

/// A chart from its files (paths relative to the chart's folder).
fn build(
    files: &BTreeMap<&str, &Vec<u8>>,
    named: &str,
    depth: usize,
    budget: &mut u64,
) -> Result<LoadedChart> {
    let utf8 = |p: &str, d: &[u8]| {
        String::from_utf8(d.to_vec()).with_context(|| format!("{named}: {p} is not UTF-8"))
    };
    let chart_yaml = files
        .get("Chart.yaml")
        .with_context(|| format!("{named}: no Chart.yaml"))?;
    let meta = parse_chart_yaml(
        &utf8("Chart.yaml", chart_yaml)?,
        &format!("{named}: Chart.yaml"),
    )?;
    let values = match files.get("values.yaml") {
        Some(d) => Some(utf8("values.yaml", d)?),
        None => None,
    };
    let mut templates = Vec::new();
    let mut sub_dirs: BTreeMap<&str, BTreeMap<&str, &Vec<u8>>> = BTreeMap::new();
    let mut subcharts = Vec::new();
    for (p, d) in files {
        if let Some(t) = p.strip_prefix("templates/") {
            if let Ok(text) = String::from_utf8(d.to_vec()) {
                templates.push((format!("templates/{t}"), text));
            }
        } else if let Some(rest) = p.strip_prefix("charts/") {
            // Helm skips what under charts/ starts with `.` or `_`.
            if rest.starts_with(['.', '_']) {
                continue;
            }
            match rest.split_once('/') {
                Some((dir, file)) => {
                    sub_dirs.entry(dir).or_default().insert(file, d);
                }
                None if rest.ends_with(".tgz") => {
                    let inner = format!("{named} > charts/{rest}");
                    subcharts.push(load_nested(d.as_slice(), &inner, depth + 1, budget)?);
                }
                None => {}
            }
        }
    }
    for (dir, files) in &sub_dirs {
        if files.contains_key("Chart.yaml") {
            let inner = format!("{named} > charts/{dir}");
            subcharts.push(build(files, &inner, depth + 1, budget)?);
        }
    }
    Ok(LoadedChart {
        meta,
        values,
        templates,
        subcharts,
    })
}

/// Every regular file of the archive, by normalised path, within the
/// byte budget. Links, devices and unsafe paths are refused.
fn read_entries(r: impl Read, named: &str, budget: &mut u64) -> Result<BTreeMap<String, Vec<u8>>> {
    let gz = flate2::read::GzDecoder::new(r);
    // The decoder is bounded too: a gzip bomb stops at the budget.
    let mut tar = tar::Archive::new(gz.take(*budget + 1));
    let mut out = BTreeMap::new();
    for (n, entry) in tar
        .entries()
        .with_context(|| format!("{named}: not a tar archive"))?
        .enumerate()
    {
        if n >= MAX_ENTRIES {
            bail!("{named}: more than {MAX_ENTRIES} entries");
        }
        let mut entry = entry.with_context(|| format!("{named}: a damaged tar entry"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() {
            continue;
        }
        let path = entry
            .path()
            .with_context(|| format!("{named}: an entry has an unreadable name"))?
            .to_string_lossy()
            .into_owned();
        let path = clean(&path).with_context(|| format!("{named}: entry {path:?}"))?;
        if !kind.is_file() {
            bail!("{named}: entry {path} is a link or special file; chart archives hold files");
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > *budget {
            bail!("{named}: unpacks to more than {MAX_UNPACKED} bytes");
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut data)
            .with_context(|| format!("{named}: cannot read {path}"))?;
        *budget -= data.len() as u64;
        if out.insert(path.clone(), data).is_some() {
            bail!("{named}: {path} appears twice");
        }
    }
    Ok(out)
}

/// A relative path without `.`/`..`/empty components or a leading `/`.
fn clean(path: &str) -> Result<String> {
    let path = path.strip_prefix("./").unwrap_or(path);
    if path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!("unsafe path in a chart archive");
    }
    Ok(path.to_owned())
}

/// One file of a chart being packaged.
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Writes a chart archive: every file under the folder `top`, in the
/// given (sorted) order, with fixed owners, modes and `mtime`, so the same
/// chart always gives the same bytes.
pub fn write(out: impl Write, top: &str, files: &[(String, Source<'_>)], mtime: u64) -> Result<()> {
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (rel, src) in files {
        let path = format!("{top}/{rel}");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        match src {
            Source::File(p) => {
                let f = std::fs::File::open(p)
                    .with_context(|| format!("cannot open {}", p.display()))?;
                let len = f
                    .metadata()
                    .with_context(|| format!("cannot read {}", p.display()))?
                    .len();
                header.set_size(len);
                tar.append_data(&mut header, &path, f.take(len))
                    .with_context(|| format!("cannot package {}", p.display()))?;
            }
            Source::Bytes(b) => {
                header.set_size(b.len() as u64);
                tar.append_data(&mut header, &path, *b)
                    .with_context(|| format!("cannot package {path}"))?;
            }
        }
    }
    let gz = tar
        .into_inner()
        .context("cannot finish the chart archive")?;
    gz.finish().context("cannot finish the chart archive")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let list: Vec<(String, Source<'_>)> = files
            .iter()
            .map(|(p, d)| (p.to_string(), Source::Bytes(d)))
            .collect();
        write(&mut out, "top", &list, 0).unwrap();
        out
    }

    #[test]
    fn writes_and_reads_back_with_nested_charts() {
        let inner = {
            let mut out = Vec::new();
            write(
                &mut out,
                "sub",
                &[(
                    "Chart.yaml".into(),
                    Source::Bytes(b"name: sub\nversion: 1.0.0\nappVersion: v2\n"),
                )],
                0,
            )
            .unwrap();
            out
        };
        let outer = archive(&[
            ("Chart.yaml", b"name: top\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 1.x\n  repository: https://x\n  alias: s\n"),
            ("values.yaml", b"a: 1\n"),
            ("templates/d.yaml", b"image: busybox\n"),
            ("charts/sub-1.0.0.tgz", &inner),
        ]);
        let c = load(outer.as_slice(), "top.tgz").unwrap();
        assert_eq!(c.meta.name, "top");
        assert_eq!(c.meta.dependencies[0].key(), "s");
        assert_eq!(c.values.as_deref(), Some("a: 1\n"));
        assert_eq!(c.templates[0].0, "templates/d.yaml");
        assert_eq!(c.subcharts[0].meta.app_version, "v2");
        assert_eq!(
            archive(&[("Chart.yaml", b"name: x\n")]),
            archive(&[("Chart.yaml", b"name: x\n")])
        );
    }

    #[test]
    fn refuses_what_a_chart_archive_never_holds() {
        let two_tops = archive(&[("Chart.yaml", b"name: x\n")]);
        assert!(load(&two_tops[..10], "cut.tgz").is_err());
        let no_chart = archive(&[("values.yaml", b"a: 1\n")]);
        let e = load(no_chart.as_slice(), "x.tgz").unwrap_err();
        assert!(format!("{e:#}").contains("no Chart.yaml"), "{e:#}");
        assert!(clean("../x").is_err() && clean("/x").is_err() && clean("a//b").is_err());
    }
}
