//! Rendering a release with `helm template`, offline, from the carried
//! chart and the values files the installer passes.
//!
//! A subchart's values.schema.json may `$ref` a schema on the network
//! (nginx-ingress 2.4.4 refers to raw.githubusercontent.com), which Helm
//! fetches while validating values and, offline, fails on. Only that
//! subchart's schema is then set aside, in a private copy of the chart, and
//! recorded as not checked with the URL; every other schema still applies.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::objects::{self, MAX_MANIFEST_BYTES, Object};
use super::{Finding, Severity};
use crate::install::steps::helm::Release;
use crate::install::tools;

/// How many subcharts' remote schemas one release may set aside.
const MAX_SET_ASIDE: usize = 8;
/// How long one `helm template` may take (daskhub takes about a second).
const MAX_RENDER: std::time::Duration = std::time::Duration::from_secs(120);
/// The most a subchart archive may unpack to while its schema is set aside.
const MAX_UNPACKED: u64 = 256 << 20;

pub(super) fn release(dir: &Path, r: &Release, findings: &mut Vec<Finding>) -> Result<Vec<Object>> {
    let origin = format!("release {}", r.name);
    if tools::which("helm").is_none() {
        findings.push(Finding::new(
            Severity::NotChecked,
            &origin,
            "",
            "not rendered: no `helm` on PATH (install Helm from https://helm.sh)",
        ));
        return Ok(Vec::new());
    }
    if let Some(sealed) = &r.sealed_secrets {
        findings.push(Finding::new(
            Severity::NotChecked,
            &origin,
            sealed.as_str(),
            "rendered without its sealed secrets: what only they set is not checked",
        ));
    }
    let (values, _unfilled) = fill_placeholders(dir, r, findings)?;
    let mut chart = dir.join(&r.chart);
    let mut copy: Option<tempfile::TempDir> = None;
    for _ in 0..=MAX_SET_ASIDE {
        match template(dir, r, &values, &chart)? {
            Ok(text) => {
                return Ok(objects::parse_stream(
                    &text,
                    &origin,
                    &r.namespace,
                    findings,
                ));
            }
            Err(err) => {
                let Some((sub, url)) = remote_schema(&err) else {
                    findings.push(Finding::new(
                        Severity::Error,
                        &origin,
                        r.chart.as_str(),
                        format!("helm template failed: {}", crate::text::safe(err.trim())),
                    ));
                    return Ok(Vec::new());
                };
                let tmp = match copy.take() {
                    Some(t) => t,
                    None => copy_chart(&chart)?,
                };
                if let Err(e) = set_aside_schema(tmp.path(), &sub) {
                    findings.push(Finding::new(
                        Severity::Error,
                        &origin,
                        r.chart.as_str(),
                        format!(
                            "helm template failed on the remote schema {} of {sub}, which cannot be set aside: {}",
                            crate::text::safe(&url),
                            crate::text::one_line(&e)
                        ),
                    ));
                    return Ok(Vec::new());
                }
                findings.push(Finding::new(
                    Severity::NotChecked,
                    &origin,
                    format!("{sub}/values.schema.json"),
                    format!(
                        "the values schema of subchart {sub} is not checked: it refers to {}, which cannot be fetched offline",
                        crate::text::safe(&url)
                    ),
                ));
                chart = tmp.path().to_path_buf();
                copy = Some(tmp);
            }
        }
    }
    bail!(
        "release {}: more than {MAX_SET_ASIDE} subcharts refer to remote schemas",
        r.name
    )
}

/// `helm template`: the rendered stream, or Helm's error text.
fn template(
    dir: &Path,
    r: &Release,
    values: &[String],
    chart: &Path,
) -> Result<Result<String, String>> {
    let mut argv = tools::strings(&["helm", "template", &r.name]);
    argv.push(chart.display().to_string());
    argv.extend(tools::strings(&["--namespace", &r.namespace]));
    for v in values {
        argv.extend(["--values".to_owned(), v.clone()]);
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir(dir);
    let done = crate::process::run(cmd, MAX_MANIFEST_BYTES as u64, MAX_RENDER)
        .with_context(|| format!("release {}: helm template", r.name))?;
    if done.stdout.len() > MAX_MANIFEST_BYTES {
        bail!(
            "release {}: helm template printed more than {MAX_MANIFEST_BYTES} bytes",
            r.name
        );
    }
    if !done.status.success() {
        return Ok(Err(done.stderr));
    }
    String::from_utf8(done.stdout)
        .map(Ok)
        .with_context(|| format!("release {}: helm's output is not UTF-8", r.name))
}

/// The release's values files, where one still holds a terraform output
/// placeholder (an install without --apply: terraform has not run) replaced
/// by a private copy holding a well-formed stand-in, each placeholder a
/// warning: what it feeds is checked for form only. The folder holding the
/// copies lives as long as the returned guard.
fn fill_placeholders(
    dir: &Path,
    r: &Release,
    findings: &mut Vec<Finding>,
) -> Result<(Vec<String>, Option<tempfile::TempDir>)> {
    let placeholder = crate::install::steps::config::UNFILLED;
    let mut tmp: Option<tempfile::TempDir> = None;
    let mut out = Vec::new();
    for v in &r.values {
        let path = dir.join(v);
        let text = match std::fs::read(&path) {
            Ok(b) if b.len() <= MAX_MANIFEST_BYTES => String::from_utf8_lossy(&b).into_owned(),
            // Missing or huge: Helm itself says so when it reads it.
            _ => {
                out.push(v.clone());
                continue;
            }
        };
        if !text.contains(placeholder) {
            out.push(v.clone());
            continue;
        }
        for line in text.lines().filter(|l| l.contains(placeholder)) {
            let key = line.split(':').next().unwrap_or_default().trim();
            findings.push(Finding::new(
                Severity::Warning,
                v.as_str(),
                key,
                format!(
                    "waits for `terraform apply` ({}); rendered with a stand-in value, so what it feeds is checked for form only",
                    crate::text::safe(line.trim())
                ),
            ));
        }
        let folder = match &tmp {
            Some(t) => t.path().to_path_buf(),
            None => {
                let t = tempfile::Builder::new().prefix("r2r-check-").tempdir()?;
                let p = t.path().to_path_buf();
                tmp = Some(t);
                p
            }
        };
        let copy = folder.join(format!("{}-{}", out.len(), v.replace('/', "_")));
        std::fs::write(
            &copy,
            text.replace(placeholder, "r2r-check-stand-in-for-terraform-output"),
        )
        .with_context(|| format!("cannot write {}", copy.display()))?;
        out.push(copy.display().to_string());
    }
    Ok((out, tmp))
}

/// The subchart whose schema Helm could not load from the network, and the
/// URL: Helm names the chart on the line before `failing loading "URL"`.
fn remote_schema(err: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = err.lines().collect();
    lines.iter().enumerate().find_map(|(n, l)| {
        let rest = l.split("failing loading \"").nth(1)?;
        let url = rest.split('"').next()?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return None;
        }
        let sub = lines[..n]
            .iter()
            .rev()
            .find_map(|p| p.trim().strip_suffix(':'))?
            .trim();
        crate::install::names::label(sub).ok()?;
        Some((sub.to_owned(), url.to_owned()))
    })
}

/// A private copy of a chart folder: regular files and folders only.
fn copy_chart(chart: &Path) -> Result<tempfile::TempDir> {
    let tmp = tempfile::Builder::new()
        .prefix("r2r-check-")
        .tempdir()
        .context("cannot make a temporary folder")?;
    copy_tree(chart, tmp.path())?;
    Ok(tmp)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let kind = e.file_type()?;
        let target = to.join(e.file_name());
        if kind.is_dir() {
            std::fs::create_dir(&target)?;
            copy_tree(&e.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(e.path(), &target)
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Removes `values.schema.json` from subchart `sub` in `chart/charts/`,
/// whether it is an unpacked folder or a `sub-VERSION.tgz` archive.
fn set_aside_schema(chart: &Path, sub: &str) -> Result<()> {
    let charts = chart.join("charts");
    let folder = charts.join(sub).join("values.schema.json");
    if folder.is_file() {
        std::fs::remove_file(&folder)?;
        return Ok(());
    }
    let prefix = format!("{sub}-");
    for e in std::fs::read_dir(&charts).with_context(|| format!("{}", charts.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_it = name
            .strip_prefix(&prefix)
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()) && v.ends_with(".tgz"));
        if is_it {
            return strip_archive(&path, &format!("{sub}/values.schema.json"));
        }
    }
    bail!("no archive of subchart {sub} under {}", charts.display())
}

/// Rewrites a chart archive without the member `drop`.
fn strip_archive(path: &Path, drop: &str) -> Result<()> {
    let tmp = path.with_extension("tgz.new");
    {
        let input = std::fs::File::open(path)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(input));
        let out = std::fs::File::create(&tmp)?;
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ));
        let mut total: u64 = 0;
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            if name == drop {
                continue;
            }
            total = total.saturating_add(entry.size());
            if total > MAX_UNPACKED {
                bail!(
                    "{}: unpacks to more than {}",
                    path.display(),
                    crate::text::bytes(MAX_UNPACKED)
                );
            }
            let mut header = entry.header().clone();
            builder.append_data(&mut header, &name, &mut entry)?;
        }
        builder.into_inner()?.finish()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_names_the_subchart_whose_schema_is_remote() {
        let err = "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nnginx-ingress:\nfailing loading \"https://raw.githubusercontent.com/x/_definitions.json\": HTTP request failed\n";
        assert_eq!(
            remote_schema(err),
            Some((
                "nginx-ingress".into(),
                "https://raw.githubusercontent.com/x/_definitions.json".into()
            ))
        );
        assert_eq!(remote_schema("Error: template: bad"), None);
    }
}
