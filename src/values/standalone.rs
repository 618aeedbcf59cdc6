//! One values file per hub that Helm can install with nothing else from the
//! provider's repository: the chart's defaults, then what the provider
//! derives in `values.jsonnet`, then each plaintext values file in
//! cluster.yaml order, by Helm's rules; provider staff settings removed.
//! Secrets are not in it: they are sealed separately for the community.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::derived::{self, DeployVars};
use super::jsonnet;
use super::merge;
use super::tree::{self, KeyPath, Values};
use crate::bundle::layout::{self, Kind};
use crate::bundle::verify::Trusted;
use crate::report::Removed;
use crate::report::profile::Staff;
use crate::source::charts;
use crate::source::repo::{InfraRepo, read_text};

const MAX_VALUES_BYTES: u64 = 16 << 20;

pub struct Inputs<'a> {
    pub repo: &'a InfraRepo,
    pub chart: &'a str,
    pub chart_override: Option<&'a Path>,
    pub vars: &'a DeployVars,
    /// Plaintext values files, in merge order: (name as shown, path).
    pub files: &'a [(String, PathBuf)],
    /// The provider's staff settings to turn off.
    pub staff: &'a Staff,
    /// Who the staff are, for the report (`2i2c`).
    pub provider: &'a str,
}

pub struct Standalone {
    pub values: Values,
    /// Where basehub's values sit: the root, or `basehub` for daskhub.
    pub root: KeyPath,
    pub derived_by: String,
    pub removed: Vec<Removed>,
}

pub fn build(i: &Inputs<'_>) -> Result<Standalone> {
    let mut values = charts::default_values(i.repo, i.chart, i.chart_override)?;
    let root = if i.chart != "basehub"
        && tree::get(&values, &KeyPath::keys(&["basehub"])).is_some_and(Values::is_mapping)
    {
        KeyPath::keys(&["basehub"])
    } else {
        KeyPath::root()
    };

    let jsonnet_file = i
        .repo
        .root()
        .join("helm-charts")
        .join(i.chart)
        .join("values.jsonnet");
    let derived_by = if jsonnet_file.symlink_metadata().is_ok() {
        let rendered = jsonnet::render(i.repo, &jsonnet_file, i.vars)?;
        merge::layer(&mut values, rendered);
        format!("{} (rendered with rsjsonnet)", i.repo.shown(&jsonnet_file))
    } else {
        let mut layer = Values::Mapping(Default::default());
        tree::set(&mut layer, &root, derived::derive(i.vars));
        merge::layer(&mut values, layer);
        "r2r (values.jsonnet is not in the repository; derived values computed from cluster.yaml)"
            .into()
    };

    for (shown, path) in i.files {
        let text = read_text(path, MAX_VALUES_BYTES)?;
        let layer =
            tree::parse_yaml(&text).with_context(|| format!("{shown} is not valid YAML"))?;
        if !layer.is_mapping() {
            anyhow::bail!("{shown} is not a map of values");
        }
        merge::layer(&mut values, layer);
    }
    // Nulls stay: installed over the carried chart, they must still delete
    // the chart's defaults, as they did on the provider's side.

    let removed = turn_off_staff(&mut values, &root, i.staff, i.provider)?;
    Ok(Standalone {
        values,
        root,
        derived_by,
        removed,
    })
}

/// The YAML text of the standalone values, with a header saying where it
/// came from.
pub fn render(values: &Values, hub: &str, sources: &[String]) -> Result<String> {
    let body = tree::to_helm_text(values).context("cannot write the standalone values")?;
    let mut out = format!(
        "# Standalone Helm values for hub `{hub}`, written by r2r.\n# Chart defaults, provider-derived values, then: {}.\n# Secrets are not here: see {secrets} in the bundle.\n# Written as JSON, which is YAML, so that Helm's YAML 1.1 reader sees every\n# value with the type it had (`2024-10-07` stays a string).\n",
        if sources.is_empty() {
            "no values files".to_owned()
        } else {
            sources.join(", ")
        },
        secrets = layout::group_prefix(Kind::Secret, hub),
    );
    out.push_str(&body);
    Ok(out)
}

/// A hub's standalone values, read from a bundle.
pub struct FromBundle {
    pub member: layout::MemberPath,
    pub values: Values,
}

/// Reads a hub's standalone values from a verified bundle, checked against
/// their signed digest: the one reader for the installer and `push-images`.
pub fn from_bundle(trusted: &Trusted, hub: &str) -> Result<FromBundle> {
    let member = layout::hub_values(hub)?;
    let bytes = trusted.read_small(member.as_str(), MAX_VALUES_BYTES)?;
    let text = String::from_utf8(bytes).with_context(|| format!("member {member} is not UTF-8"))?;
    let values =
        tree::parse_yaml(&text).with_context(|| format!("member {member} is not valid YAML"))?;
    Ok(FromBundle { member, values })
}

/// Turns off the provider's staff settings: nulls, disabled forms, and
/// staff teams taken out of lists. Each change is recorded for the report.
fn turn_off_staff(
    values: &mut Values,
    root: &KeyPath,
    staff: &Staff,
    provider: &str,
) -> Result<Vec<Removed>> {
    let mut removed = Vec::new();
    let under_root = |rel: &str| -> Result<KeyPath> {
        let Some(rel_path) = KeyPath::parse(rel) else {
            anyhow::bail!("provider profile: `{rel}` is not a key path");
        };
        Ok(root.join(&rel_path))
    };
    let reason = format!("{provider} staff settings");
    for rel in &staff.remove {
        let at = under_root(rel)?;
        // Set to null, not deleted, so Helm drops the chart's default too.
        let present = tree::get(values, &at).is_some_and(|v| !v.is_null());
        if present && tree::set(values, &at, Values::Null) {
            removed.push(Removed {
                key_path: at.to_string(),
                reason: reason.clone(),
                replaced_with: None,
                removed_item: None,
            });
        }
    }
    for d in &staff.disable {
        let at = under_root(&d.key_path)?;
        let off: Values = serde_json::from_value(d.value.clone())
            .with_context(|| format!("provider profile: the disabled form of {}", d.key_path))?;
        let present = tree::get(values, &at).is_some_and(|v| !v.is_null() && *v != off);
        if present && tree::set(values, &at, off) {
            removed.push(Removed {
                key_path: at.to_string(),
                reason: if d.why.is_empty() {
                    reason.clone()
                } else {
                    format!("{reason}: {}", d.why)
                },
                replaced_with: Some(d.value.clone()),
                removed_item: None,
            });
        }
    }
    if !staff.github_teams.is_empty() {
        let mut found = Vec::new();
        drop_items(values, &KeyPath::root(), &staff.github_teams, &mut found);
        for (at, item) in found {
            removed.push(Removed {
                key_path: at.to_string(),
                reason: format!("{reason}: the staff GitHub team {item}"),
                replaced_with: None,
                removed_item: Some(item),
            });
        }
    }
    Ok(removed)
}

/// Takes every string equal to one of `items` out of the lists under `v`.
fn drop_items(v: &mut Values, at: &KeyPath, items: &[String], found: &mut Vec<(KeyPath, String)>) {
    match v {
        Values::Sequence(list) => {
            let before = list.len();
            let mut gone = Vec::new();
            list.retain(|x| match x.as_str() {
                Some(s) if items.iter().any(|i| i == s) => {
                    gone.push(s.to_owned());
                    false
                }
                _ => true,
            });
            if list.len() != before {
                found.extend(gone.into_iter().map(|g| (at.clone(), g)));
            }
            for (n, x) in list.iter_mut().enumerate() {
                drop_items(x, &at.index(n), items, found);
            }
        }
        Values::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                drop_items(x, &at.key(&tree::key_text(k)), items, found);
            }
        }
        _ => {}
    }
}
