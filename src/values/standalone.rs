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
use crate::report::Removed;
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
    /// Key paths (relative to the basehub root) to remove.
    pub remove: &'a [String],
    pub remove_reason: &'a str,
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

    let mut removed = Vec::new();
    for rel in i.remove {
        let Some(rel_path) = KeyPath::parse(rel) else {
            anyhow::bail!("provider profile: `{rel}` is not a key path");
        };
        let mut at = root.clone();
        for step in rel_path.steps() {
            at = match step {
                tree::Step::Key(k) => at.key(k),
                tree::Step::Index(n) => at.index(*n),
            };
        }
        // Set to null, not deleted, so Helm drops the chart's default too.
        let present = tree::get(&values, &at).is_some_and(|v| !v.is_null());
        if present && tree::set(&mut values, &at, Values::Null) {
            removed.push(Removed {
                key_path: at.to_string(),
                reason: i.remove_reason.to_owned(),
            });
        }
    }
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
        "# Standalone Helm values for hub `{hub}`, written by r2r.\n# Chart defaults, provider-derived values, then: {}.\n# Secrets are not here: see secrets/{hub}/ in the bundle.\n# Written as JSON, which is YAML, so that Helm's YAML 1.1 reader sees every\n# value with the type it had (`2024-10-07` stays a string).\n",
        if sources.is_empty() {
            "no values files".to_owned()
        } else {
            sources.join(", ")
        }
    );
    out.push_str(&body);
    Ok(out)
}
