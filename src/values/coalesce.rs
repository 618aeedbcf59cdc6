//! The values a chart renders with: the hub's values coalesced over the
//! chart's defaults and, under each dependency's alias, every subchart's
//! defaults, as Helm's `chartutil.CoalesceValues` does (a null in the
//! user's values deletes the default; maps merge; anything else replaces;
//! the parent's `global` reaches every subchart). Which subcharts are
//! enabled is decided as Helm's `ProcessDependencies` decides it: the first
//! `condition` path that holds a boolean, else the `tags`, else enabled.
//!
//! r2r uses this to know every image the replica runs, including those
//! only a subchart's defaults name.

use anyhow::{Context, Result, bail};

use super::tree::{self, KeyPath, Map, Values};
use crate::source::charts::archive::{Dependency, LoadedChart};

/// Subcharts nest no deeper than this.
const MAX_DEPTH: usize = 8;

/// One chart of the tree and where its values sit.
#[derive(Debug)]
pub struct Scope<'a> {
    /// Where the chart's values sit in the coalesced values (root for the
    /// top chart, `basehub.jupyterhub` for daskhub's jupyterhub).
    pub at: KeyPath,
    pub chart: &'a LoadedChart,
    /// The chain of chart names, `daskhub > basehub > jupyterhub`.
    pub label: String,
    /// Whether Helm renders it: its own condition or tags, and every
    /// parent's.
    pub enabled: bool,
}

#[derive(Debug)]
pub struct Coalesced<'a> {
    pub values: Values,
    /// The top chart first, then every subchart, depth first.
    pub scopes: Vec<Scope<'a>>,
}

impl Coalesced<'_> {
    /// The deepest enabled-or-not chart whose values hold `path`.
    pub fn scope_of(&self, path: &KeyPath) -> Option<&Scope<'_>> {
        self.scopes
            .iter()
            .filter(|s| path.starts_with(&s.at))
            .max_by_key(|s| s.at.steps().len())
    }
}

/// Coalesces `user` (the hub's values) over `chart` and its subcharts.
pub fn coalesce<'a>(chart: &'a LoadedChart, user: &Values) -> Result<Coalesced<'a>> {
    let values = coalesce_chart(chart, user.clone(), 0)?;
    let mut scopes = Vec::new();
    let tags = tree::get(&values, &KeyPath::keys(&["tags"])).cloned();
    collect_scopes(
        chart,
        &values,
        KeyPath::root(),
        chart.meta.name.clone(),
        true,
        tags.as_ref(),
        &mut scopes,
        0,
    );
    Ok(Coalesced { values, scopes })
}

fn coalesce_chart(chart: &LoadedChart, user: Values, depth: usize) -> Result<Values> {
    if depth > MAX_DEPTH {
        bail!(
            "chart {}: subcharts nest more than {MAX_DEPTH} deep",
            chart.meta.name
        );
    }
    let mut v = match user {
        Values::Mapping(m) => Values::Mapping(m),
        _ => Values::Mapping(Map::new()),
    };
    if let Some(text) = &chart.values {
        let defaults = tree::parse_yaml(text)
            .with_context(|| format!("chart {}: values.yaml is not valid YAML", chart.meta.name))?;
        let sections: Vec<&str> = chart
            .meta
            .dependencies
            .iter()
            .map(super::super::source::charts::archive::Dependency::key)
            .collect();
        merge_defaults(&mut v, defaults, &sections);
    }
    let global = tree::get(&v, &KeyPath::keys(&["global"])).cloned();
    for (dep, sub) in subcharts(chart) {
        let key = KeyPath::keys(&[dep.key()]);
        let mut sub_user = tree::get(&v, &key)
            .filter(|x| x.is_mapping())
            .cloned()
            .unwrap_or_else(|| Values::Mapping(Map::new()));
        if let Some(g) = &global {
            // The parent's globals win over the subchart's.
            let gk = KeyPath::keys(&["global"]);
            let mut merged = tree::get(&sub_user, &gk)
                .cloned()
                .unwrap_or_else(|| Values::Mapping(Map::new()));
            super::merge::layer(&mut merged, g.clone());
            tree::set(&mut sub_user, &gk, merged);
        }
        let coalesced = coalesce_chart(sub, sub_user, depth + 1)?;
        tree::set(&mut v, &key, coalesced);
    }
    Ok(v)
}

/// Helm's coalesce of defaults under user values: the user's value wins,
/// a user null deletes the default, two maps merge. Inside a subchart's
/// section (`sections`, at the top) a null is kept instead: Helm hands it
/// down, and it deletes the subchart's own default there, or stays null
/// where the subchart has none (checked against Helm's engine).
fn merge_defaults(user: &mut Values, defaults: Values, sections: &[&str]) {
    merge_level(user, defaults, sections, false);
}

fn merge_level(user: &mut Values, defaults: Values, sections: &[&str], keep_null: bool) {
    let (Values::Mapping(u), Values::Mapping(d)) = (user, defaults) else {
        return;
    };
    for (k, dv) in d {
        let section = !keep_null && k.as_str().is_some_and(|k| sections.contains(&k));
        match u.get_mut(&k) {
            None => {
                u.insert(k, dv);
            }
            Some(Values::Null) if keep_null => {}
            Some(Values::Null) => {
                u.shift_remove(&k);
            }
            Some(uv) if uv.is_mapping() && dv.is_mapping() => {
                merge_level(uv, dv, &[], keep_null || section);
            }
            Some(_) => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn collect_scopes<'a>(
    chart: &'a LoadedChart,
    values: &Values,
    at: KeyPath,
    label: String,
    enabled: bool,
    tags: Option<&Values>,
    out: &mut Vec<Scope<'a>>,
    depth: usize,
) {
    out.push(Scope {
        at: at.clone(),
        chart,
        label: label.clone(),
        enabled,
    });
    if depth > MAX_DEPTH {
        return;
    }
    for (dep, sub) in subcharts(chart) {
        let on = enabled && dependency_enabled(&dep, values, &at, tags);
        collect_scopes(
            sub,
            values,
            at.key(dep.key()),
            format!("{label} > {}", dep.key()),
            on,
            tags,
            out,
            depth + 1,
        );
    }
}

/// Each subchart Helm renders with the dependency entry it answers to:
/// by name and, where two entries name one chart (two aliases), by version;
/// a subchart no entry names is rendered too, always, under its own name.
fn subcharts(chart: &LoadedChart) -> Vec<(Dependency, &LoadedChart)> {
    use crate::source::charts::version::{Constraint, Version};
    let fits = |dep: &Dependency, sub: &LoadedChart| {
        sub.meta.name == dep.name
            && match (
                Constraint::parse(&dep.version),
                Version::parse(&sub.meta.version),
            ) {
                (Ok(c), Ok(v)) => c.matches(&v),
                _ => true,
            }
    };
    let mut used = vec![false; chart.subcharts.len()];
    let mut out = Vec::new();
    for dep in &chart.meta.dependencies {
        let found = chart
            .subcharts
            .iter()
            .position(|s| fits(dep, s))
            .or_else(|| chart.subcharts.iter().position(|s| s.meta.name == dep.name));
        if let Some(i) = found {
            used[i] = true;
            out.push((dep.clone(), &chart.subcharts[i]));
        }
    }
    for (i, sub) in chart.subcharts.iter().enumerate() {
        if !used[i] {
            let dep = Dependency {
                name: sub.meta.name.clone(),
                ..Dependency::default()
            };
            out.push((dep, sub));
        }
    }
    out
}

/// Helm's rule: the first condition path holding a boolean decides; else
/// any listed tag that is true enables, all false disables; else enabled.
fn dependency_enabled(
    dep: &Dependency,
    values: &Values,
    at: &KeyPath,
    tags: Option<&Values>,
) -> bool {
    // As Helm: the whole condition trimmed, then split on commas, each part
    // as written (` b.enabled` names no value).
    for cond in dep.condition.trim().split(',').filter(|c| !c.is_empty()) {
        let Some(rel) = KeyPath::parse(cond) else {
            continue;
        };
        if let Some(Values::Bool(b)) = tree::get(values, &at.join(&rel)) {
            return *b;
        }
    }
    let set: Vec<bool> = dep
        .tags
        .iter()
        .filter_map(|t| {
            tags.and_then(|m| m.get(t.as_str()))
                .and_then(Values::as_bool)
        })
        .collect();
    if set.is_empty() {
        true
    } else {
        set.iter().any(|b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::charts::archive::ChartMeta;

    fn chart(
        name: &str,
        values: &str,
        deps: Vec<Dependency>,
        subs: Vec<LoadedChart>,
    ) -> LoadedChart {
        LoadedChart {
            meta: ChartMeta {
                name: name.into(),
                version: "1.0.0".into(),
                app_version: "v9".into(),
                dependencies: deps,
            },
            values: Some(values.into()),
            templates: Vec::new(),
            subcharts: subs,
        }
    }

    #[test]
    fn coalesces_under_aliases_with_conditions_and_globals() {
        let sub = chart(
            "sub",
            "image: {name: a, tag: '1'}\nkeep: 1\ngone: 2\n",
            vec![],
            vec![],
        );
        let off = chart("off", "image: {name: b}\n", vec![], vec![]);
        let top = chart(
            "top",
            "global: {g: 1}\nalias: {gone: 5, other: 1}\noff: {enabled: false}\n",
            vec![
                Dependency {
                    name: "sub".into(),
                    alias: "alias".into(),
                    ..Default::default()
                },
                Dependency {
                    name: "off".into(),
                    condition: "missing.enabled,off.enabled".into(),
                    ..Default::default()
                },
            ],
            vec![sub, off],
        );
        let user =
            tree::parse_yaml("alias: {gone: null, other: null, image: {tag: '2'}}\n").unwrap();
        let c = coalesce(&top, &user).unwrap();
        let at = |p: &str| tree::get(&c.values, &KeyPath::parse(p).unwrap()).cloned();
        assert_eq!(at("alias.image.name"), Some("a".into()));
        assert_eq!(at("alias.image.tag"), Some("2".into()));
        assert_eq!(at("alias.keep"), Some(1.into()));
        assert_eq!(at("alias.gone"), None, "a user null deletes the default");
        assert_eq!(
            at("alias.other"),
            Some(Values::Null),
            "a null the subchart has no default for survives, as in Helm"
        );
        assert_eq!(at("alias.global.g"), Some(1.into()));
        let enabled: Vec<(&str, bool)> = c
            .scopes
            .iter()
            .map(|s| (s.label.as_str(), s.enabled))
            .collect();
        assert_eq!(
            enabled,
            [("top", true), ("top > alias", true), ("top > off", false)]
        );
        let scope = c
            .scope_of(&KeyPath::parse("alias.image.name").unwrap())
            .unwrap();
        assert_eq!(scope.chart.meta.name, "sub");
    }

    #[test]
    fn a_subchart_no_entry_names_is_rendered_under_its_name() {
        let vendored = chart("extra", "image: {name: x, tag: '1'}\n", vec![], vec![]);
        let top = chart("top", "a: 1\n", vec![], vec![vendored]);
        let c = coalesce(&top, &Values::Mapping(Map::new())).unwrap();
        assert_eq!(
            tree::get(&c.values, &KeyPath::parse("extra.image.name").unwrap()),
            Some(&Values::from("x"))
        );
        assert!(
            c.scopes
                .iter()
                .any(|s| s.label == "top > extra" && s.enabled)
        );
    }

    #[test]
    fn two_aliases_of_one_chart_find_their_own_versions() {
        let old = chart("sub", "v: old\n", vec![], vec![]);
        let mut new = chart("sub", "v: new\n", vec![], vec![]);
        new.meta.version = "2.0.0".into();
        let dep = |alias: &str, version: &str| Dependency {
            name: "sub".into(),
            alias: alias.into(),
            version: version.into(),
            ..Default::default()
        };
        let top = chart(
            "top",
            "",
            vec![dep("a", "2.0.0"), dep("b", "1.0.0")],
            vec![old, new],
        );
        let c = coalesce(&top, &Values::Mapping(Map::new())).unwrap();
        let at = |p: &str| tree::get(&c.values, &KeyPath::parse(p).unwrap()).cloned();
        assert_eq!(at("a.v"), Some("new".into()));
        assert_eq!(at("b.v"), Some("old".into()));
    }
}
