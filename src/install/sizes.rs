//! Node and disk sizes for the target cloud, carried over from the source
//! cluster's terraform variables: a machine type maps to the smallest type
//! of the target cloud with at least its vCPUs and memory
//! (`blueprints/machines.yaml`).
//!
//! Every number that costs money (pools, their min and max nodes, each
//! hub's home disk) comes from the bundle, so it is bounded by
//! `blueprints/limits.yaml`: a value above its limit needs an answer under
//! `sizes.` giving the number to use, and each value is kept as a
//! [`Bound`] for the plan to show beside its limit and source.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::answers::Answers;
use super::blueprint::{Blueprint, Limits, Machines};
use super::facts::{Facts, HubFacts, Pool};
use crate::bundle::layout::{self, Kind};

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Sizes {
    pub core_machine_type: String,
    pub user_node_pools: Vec<Pool>,
    /// GB of each selected hub's home disk.
    pub home_disks: BTreeMap<String, u64>,
    /// Every value taken from the bundle that a limit bounds.
    pub bounds: Vec<Bound>,
}

/// One number from the bundle and its limit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Bound {
    /// The answers key that gives the number to use above the limit.
    pub key: String,
    pub what: String,
    /// What the bundle asks for.
    pub value: u64,
    /// The member it comes from (and how).
    pub source: String,
    pub limit: u64,
    /// What the install uses: the value, or the answer when it is above.
    pub used: u64,
}

impl Bound {
    pub(crate) fn over(&self) -> bool {
        self.value > self.limit
    }

    /// The question (and the refusal) for a value above its limit.
    pub(crate) fn prompt(&self) -> String {
        format!(
            "{}: the bundle asks for {} (from {}), above the limit of {} (blueprints/limits.yaml); \
             give the number to use: {} to allow the bundle's, or at most {}",
            self.what, self.value, self.source, self.limit, self.value, self.limit
        )
    }
}

/// The sizes of `hubs` (the selected ones) for `cloud`, each bounded value
/// recorded but not yet settled (see [`Sizes::settle`]).
pub(crate) fn for_target(
    facts: &Facts,
    cloud: &str,
    all: &BTreeMap<String, Machines>,
    limits: &Limits,
    hubs: &[&HubFacts],
) -> Sizes {
    let mut sizes = machine_sizes(facts, cloud, all);
    let tfvars = match facts.source.tfvars.as_str() {
        "" => "no terraform variables: the blueprint's defaults",
        member => member,
    };
    let mut bounds = vec![bound(
        "sizes.user_pools".into(),
        "user node pools".into(),
        sizes.user_node_pools.len() as u64,
        tfvars.into(),
        limits.user_pools,
    )];
    for p in &sizes.user_node_pools {
        let key = |k: &str| format!("sizes.user_node_pools.{}.{k}", p.name);
        let what = |k: &str| format!("user node pool {}: {k} nodes", p.name);
        bounds.push(bound(
            key("min"),
            what("min"),
            p.min,
            tfvars.into(),
            limits.user_pool_min,
        ));
        bounds.push(bound(
            key("max"),
            what("max"),
            p.max,
            tfvars.into(),
            limits.user_pool_max,
        ));
    }
    for h in hubs {
        let (gb, source) = disk_gb(h, tfvars);
        sizes.home_disks.insert(h.name.clone(), gb);
        bounds.push(bound(
            format!("sizes.home_disks.{}", h.name),
            format!("home disk of hub {} (GB)", h.name),
            gb,
            source,
            limits.home_disk_gb,
        ));
    }
    sizes.bounds = bounds;
    sizes
}

/// The sizes an install renders into its terraform workspace, for the
/// hubs it selects, not yet settled; none when it renders no workspace.
pub(crate) fn of_install(
    bp: &Blueprint,
    facts: &Facts,
    answers: &Answers,
) -> Result<Option<Sizes>> {
    let Some(ws) = super::steps::terraform::workspace(bp, facts)? else {
        return Ok(None);
    };
    let cloud = ws.machines.clone().unwrap_or_else(|| ws.target.clone());
    let selected = super::answers::selected_hubs(answers, facts);
    let hubs: Vec<&HubFacts> = facts
        .hubs
        .iter()
        .filter(|h| selected.contains(&h.name))
        .collect();
    let machines = super::blueprint::machines()?;
    let limits = super::blueprint::limits()?;
    Ok(Some(for_target(facts, &cloud, &machines, &limits, &hubs)))
}

fn bound(key: String, what: String, value: u64, source: String, limit: u64) -> Bound {
    Bound {
        key,
        what,
        value,
        source,
        limit,
        used: value,
    }
}

impl Sizes {
    /// The values above their limits: each needs an answer.
    pub(crate) fn over_limit(&self) -> impl Iterator<Item = &Bound> {
        self.bounds.iter().filter(|b| b.over())
    }

    /// Takes the answer of every value above its limit, and refuses when
    /// one has none: nothing the bundle asks for beyond a limit reaches a
    /// file unseen.
    pub(crate) fn settle(&mut self, answers: &Answers) -> Result<()> {
        for b in self.bounds.iter_mut().filter(|b| b.over()) {
            let Some(v) = answers.get(&b.key) else {
                bail!(
                    "{}\nhint: answer {} in the answers file (or at the prompt)",
                    b.prompt(),
                    b.key
                );
            };
            let n = number(v).with_context(|| format!("answer {}", b.key))?;
            if n > b.limit && n != b.value {
                bail!(
                    "answer {}: {n} is above the limit of {} and is not the bundle's {}; \
                     give {} to allow the bundle's value, or at most {}",
                    b.key,
                    b.limit,
                    b.value,
                    b.value,
                    b.limit
                );
            }
            b.used = n;
        }
        let used = |key: &str, old: u64| {
            self.bounds
                .iter()
                .find(|b| b.key == key)
                .map_or(old, |b| b.used)
        };
        let keep = used("sizes.user_pools", self.user_node_pools.len() as u64);
        let mut pools = std::mem::take(&mut self.user_node_pools);
        pools.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        for p in &mut pools {
            p.min = used(&format!("sizes.user_node_pools.{}.min", p.name), p.min);
            p.max = used(&format!("sizes.user_node_pools.{}.max", p.name), p.max).max(p.min);
        }
        let disks: Vec<(String, u64)> = self
            .home_disks
            .iter()
            .map(|(h, gb)| (h.clone(), used(&format!("sizes.home_disks.{h}"), *gb)))
            .collect();
        self.user_node_pools = pools;
        self.home_disks = disks.into_iter().collect();
        Ok(())
    }
}

/// A whole number, as an answers file or a prompt gives it.
pub(crate) fn number(v: &serde_json::Value) -> Result<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .context("a whole number is expected")
}

fn machine_sizes(facts: &Facts, cloud: &str, all: &BTreeMap<String, Machines>) -> Sizes {
    let Some(target) = all.get(cloud) else {
        return Sizes::default();
    };
    let map = |t: &str, fallback: &str| -> String {
        if target.types.contains_key(t) {
            return t.to_owned();
        }
        let shape = all
            .values()
            .find_map(|m| m.types.get(t).copied())
            .or_else(|| gcp_shape(t));
        shape
            .and_then(|(cpu, mem)| {
                target
                    .types
                    .iter()
                    .filter(|(_, (c, m))| *c >= cpu && *m >= mem)
                    .min_by_key(|(name, (c, m))| (*c, *m, (*name).clone()))
                    .map(|(n, _)| n.clone())
            })
            .unwrap_or_else(|| fallback.to_owned())
    };
    let src = &facts.source;
    let core = src
        .core_machine_type
        .as_deref()
        .map_or_else(|| target.core.clone(), |t| map(t, &target.core));
    let mut names: Vec<String> = Vec::new();
    let mut pools: Vec<Pool> = src
        .user_pools
        .iter()
        .enumerate()
        .map(|(i, p)| Pool {
            name: {
                let mut n = pool_name(&p.name, i);
                if names.contains(&n) {
                    n = format!("user-{i}");
                }
                names.push(n.clone());
                n
            },
            machine_type: map(&p.machine_type, &target.user),
            min: p.min,
            max: p.max.max(p.min).max(1),
        })
        .collect();
    if pools.is_empty() {
        pools.push(Pool {
            name: "user".into(),
            machine_type: target.user.clone(),
            min: 0,
            max: 10,
        });
    }
    Sizes {
        core_machine_type: core,
        user_node_pools: pools,
        ..Sizes::default()
    }
}

/// GCP's `<family>-<class>-<vcpus>`, for types the table does not list.
fn gcp_shape(t: &str) -> Option<(u32, u32)> {
    let mut parts = t.rsplitn(2, '-');
    let cpus: u32 = parts.next()?.parse().ok()?;
    let class = parts.next()?;
    let per_cpu = if class.ends_with("highmem") {
        8
    } else if class.ends_with("standard") {
        4
    } else if class.ends_with("highcpu") {
        1
    } else {
        return None;
    };
    Some((cpus, cpus.checked_mul(per_cpu)?))
}

/// Pool names end up in cloud resource names: lowercase, digits and '-'.
fn pool_name(name: &str, i: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-').to_owned();
    if clean.is_empty() || clean.len() > 40 {
        format!("user-{i}")
    } else {
        clean
    }
}

/// A hub's home disk and where its size comes from: the source's size
/// when known, else twice the homes carried, at least 10 GB.
fn disk_gb(h: &HubFacts, tfvars: &str) -> (u64, String) {
    let from_data = (h.home_bytes.saturating_mul(2)).div_ceil(1 << 30);
    let source = h.source_disk_gb.unwrap_or(0);
    if source >= from_data && source >= 10 {
        (source, format!("{tfvars}, the hub's disk"))
    } else if from_data >= 10 {
        (
            from_data,
            format!(
                "{}, twice the bytes of its homes",
                layout::shown(Kind::Home, &h.name, layout::HUB_RECORD)
            ),
        )
    } else {
        (10, "the smallest disk r2r makes".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_shapes_and_disks() {
        assert_eq!(gcp_shape("n2-highmem-16"), Some((16, 128)));
        assert_eq!(gcp_shape("n2-standard-4"), Some((4, 16)));
        assert_eq!(gcp_shape("weird"), None);
        assert_eq!(pool_name("n2-highmem-4-a", 0), "n2-highmem-4-a");
        assert_eq!(pool_name("Big_Pool", 1), "big-pool");
    }

    #[test]
    fn a_value_above_its_limit_takes_only_an_explicit_answer() {
        let mut sizes = Sizes {
            home_disks: BTreeMap::from([("prod".to_owned(), 18_600_000)]),
            bounds: vec![bound(
                "sizes.home_disks.prod".into(),
                "home disk".into(),
                18_600_000,
                "homes/prod/_hub.json".into(),
                10_000,
            )],
            ..Sizes::default()
        };
        let mut answers = Answers::default();
        let e = format!("{:#}", sizes.clone().settle(&answers).unwrap_err());
        assert!(
            e.contains("18600000") && e.contains("homes/prod/_hub.json") && e.contains("10000")
        );
        answers.set("sizes.home_disks.prod", serde_json::json!(20_000));
        assert!(
            sizes.clone().settle(&answers).is_err(),
            "neither the bundle's nor under"
        );
        answers.set("sizes.home_disks.prod", serde_json::json!("500"));
        let mut lowered = sizes.clone();
        lowered.settle(&answers).unwrap();
        assert_eq!(lowered.home_disks["prod"], 500);
        answers.set("sizes.home_disks.prod", serde_json::json!(18_600_000));
        sizes.settle(&answers).unwrap();
        assert_eq!(sizes.home_disks["prod"], 18_600_000);
    }
}
