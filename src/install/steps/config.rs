//! Each hub's configuration: its standalone values with the answers in
//! place (the new domain wherever the old one was), the target's Helm
//! overlay, and the charts to install them with.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};

use super::{Done, Planned, files};
use crate::bundle::layout::{Kind, REPORT};
use crate::install::blueprint::StepKind;
use crate::install::{HubPlan, Install, cluster_layer, layout, render::Renderer, scheduling};
use crate::report::Report;
use crate::values::standalone;
use crate::values::tree::{self, KeyPath, Values};

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(
        StepKind::Config,
        "write each hub's values, overlay and chart",
    );
    for h in &i.hubs {
        p.creates.push(layout::hub_values(&h.facts.name));
        if overlay_spec(i).is_some() {
            p.creates.push(layout::hub_overlay(&h.facts.name));
        }
        for folder in &h.facts.chart_folders {
            p.creates.push(format!("{folder}/"));
        }
    }
    for folder in cluster_layer::chart_folders(i) {
        p.creates.push(format!("{folder}/"));
    }
    p.creates.extend(cluster_layer::files_to_write(i));
    p.creates.push(layout::RELEASES.into());
    Ok(p)
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    let report = Report::from_bundle(i.trusted)?;
    let buckets = i.bucket_plan();
    let mut written = 0;
    for h in &i.hubs {
        let name = &h.facts.name;
        let mut values = standalone::from_bundle(i.trusted, name)?.values;
        let replaced = replace_domain(&mut values, &report, h)?
            + replace_settings(&mut values, &report, h)?
            + replace_buckets(&mut values, &buckets);
        if !buckets.is_empty() {
            for (at, url) in crate::install::buckets::foreign(&values, &buckets) {
                i.opts.reporter.warn(&format!(
                    "hub {name}: {at} names {}, which is none of the new buckets (someone else's data, or a bucket the source's terraform did not make): left as it is",
                    crate::text::safe(&url)
                ));
            }
        }
        // The instance types its pods select become the target cloud's.
        let types = i.sizes.machine_types();
        let mapped = scheduling::rewrite(&mut values, &types).len();
        let text = format!(
            "# Hub {name}'s standalone values from bundle {}, installed by `r2r install`.\n# {replaced} settings moved from {} to {}; {mapped} instance-type selectors mapped to the target's machine types.\n{}",
            i.facts.bundle_id,
            h.facts.domain,
            h.new_domain,
            tree::to_helm_text(&values)?
        );
        let path = i.dir.join(layout::hub_values(name));
        written += usize::from(files::write_if_changed(
            i.stamp,
            &path,
            text.as_bytes(),
            0o644,
        )?);
        // Before terraform ran, its outputs are placeholders here.
        if let Some((rel, body)) = render_overlay(i, h)? {
            written += usize::from(files::write_if_changed(
                i.stamp,
                &i.dir.join(rel),
                body.as_bytes(),
                0o644,
            )?);
        }
    }
    written += usize::from(super::helm::write_releases(i)?);
    let mut bytes = 0;
    // Complete charts: every dependency's archive is inside, so nothing is
    // fetched when Helm installs them.
    let charts: Vec<String> = i
        .hubs
        .iter()
        .flat_map(|h| h.facts.chart_folders.iter().map(|f| format!("{f}/")))
        .chain(
            cluster_layer::chart_folders(i)
                .iter()
                .map(|f| format!("{f}/")),
        )
        .collect();
    let members: Vec<String> = i
        .trusted
        .members_under(&Kind::Chart.prefix())
        .filter(|m| charts.iter().any(|c| m.starts_with(c.as_str())))
        .map(str::to_owned)
        .collect();
    for m in &members {
        bytes += files::copy_member(i.stamp, i.trusted, m, &i.dir.join(m))?;
    }
    // After the charts: the support values render its values.jsonnet.
    written += cluster_layer::write(i)?;
    Ok(Done::new(
        format!(
            "{} hubs configured, {written} files written, {} chart files",
            i.hubs.len(),
            members.len()
        ),
        bytes,
    ))
}

/// Puts the new domain in every place the report's `domain` parameter
/// lists. Returns how many settings changed.
fn replace_domain(values: &mut Values, report: &Report, h: &HubPlan) -> Result<usize> {
    if h.new_domain == h.facts.domain {
        return Ok(0);
    }
    let Some(hub) = report.hubs.iter().find(|r| r.name == h.facts.name) else {
        bail!("{REPORT} has no entry for hub {}", h.facts.name);
    };
    let mut n = 0;
    for p in hub
        .parameters
        .iter()
        .filter(|p| p.name == "domain" && !p.value.is_empty())
    {
        for kp in &p.key_paths {
            let path = KeyPath::parse(kp)
                .ok_or_else(|| anyhow!("{REPORT}: hub {}: bad key path {kp:?}", h.facts.name))?;
            let Some(old) = tree::get(values, &path).and_then(Values::as_str) else {
                continue;
            };
            let new = old.replace(&p.value, &h.new_domain);
            if tree::set(values, &path, Values::String(new)) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Points the values that name the source's buckets (`SCRATCH_BUCKET`,
/// `PERSISTENT_BUCKET`, any `s3://`, `gs://`, `az://` URL of one) at the
/// community's new buckets.
fn replace_buckets(values: &mut Values, buckets: &[crate::install::buckets::Bucket]) -> usize {
    crate::install::buckets::rewrite_values(values, buckets)
}

/// Puts each answered provider setting (the community's fork of the home
/// page repository) at every key path its report parameter lists.
fn replace_settings(values: &mut Values, report: &Report, h: &HubPlan) -> Result<usize> {
    let Some(hub) = report.hubs.iter().find(|r| r.name == h.facts.name) else {
        bail!("{REPORT} has no entry for hub {}", h.facts.name);
    };
    let mut n = 0;
    for (name, new) in &h.new_settings {
        for p in hub.parameters.iter().filter(|p| &p.name == name) {
            for kp in &p.key_paths {
                let path = KeyPath::parse(kp).ok_or_else(|| {
                    anyhow!("{REPORT}: hub {}: bad key path {kp:?}", h.facts.name)
                })?;
                if tree::set(values, &path, Values::String(new.clone())) {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

fn overlay_spec<'a>(i: &'a Install) -> Option<&'a crate::install::blueprint::TemplateSpec> {
    i.blueprint
        .templates
        .iter()
        .find(|t| t.per_hub && layout::in_folder(layout::CONFIG, &t.to))
}

/// What an overlay holds where a terraform output is still unknown.
pub(crate) const UNFILLED: &str = "set from: terraform output";

/// The hub's overlay as Helm is to get it: refused while it still holds a
/// placeholder for a terraform output (terraform not applied, or its
/// outputs not read), so no hub is installed without its home volume or
/// identity.
pub(crate) fn overlay(i: &Install, h: &HubPlan) -> Result<Option<(PathBuf, String)>> {
    let out = render_overlay(i, h)?;
    if let Some((rel, body)) = &out
        && let Some(line) = body.lines().find(|l| l.contains(UNFILLED))
    {
        bail!(
            "hub {}: {} still holds a terraform output placeholder ({})\nhint: run `terraform apply` in {}/, then `r2r install --resume --apply` reads its outputs",
            h.facts.name,
            rel.display(),
            line.trim(),
            layout::TERRAFORM
        );
    }
    Ok(out)
}

/// The hub's overlay, nested where the chart keeps basehub's values.
fn render_overlay(i: &Install, h: &HubPlan) -> Result<Option<(PathBuf, String)>> {
    let Some(spec) = overlay_spec(i) else {
        return Ok(None);
    };
    let text = Renderer::new(&i.blueprint.target)?.file(
        &i.blueprint.target,
        &spec.template,
        &i.context(Some(h)),
    )?;
    tree::parse_yaml(&text).with_context(|| {
        format!(
            "blueprint {}: {} rendered for hub {} is not valid YAML",
            i.blueprint.target, spec.template, h.facts.name
        )
    })?;
    let body = if h.facts.values_root.is_empty() {
        text
    } else {
        let indented: String = text
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_owned()
                } else {
                    format!("  {l}\n")
                }
            })
            .collect();
        format!("{}:\n{indented}", h.facts.values_root)
    };
    Ok(Some((
        PathBuf::from(spec.to.replace("{hub}", &h.facts.name)),
        body,
    )))
}
