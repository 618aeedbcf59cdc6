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
use super::facts::{Facts, HubFacts};
use super::pools::{
    self, DASK_PURPOSE, GPU_TAINT, Gpu, HUB_NAME, HUB_PURPOSE, INSTANCE_TYPE, Pool, Taint,
};
use super::scheduling::{self, Demand, Unmet};
use crate::bundle::layout::{self, Kind};

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Sizes {
    pub core_machine_type: String,
    /// The core pool's labels: the hub's and dask-gateway's core pods
    /// select them.
    pub core_node_labels: BTreeMap<String, String>,
    pub user_node_pools: Vec<Pool>,
    /// Every source machine type and the target type it becomes.
    pub machine_map: Vec<Mapped>,
    /// Pools made for a selector no carried pool meets: pool → the values
    /// key (`<hub>: <path>`) it was made for.
    pub added_pools: BTreeMap<String, String>,
    /// Per hub, the instance-type selectors rewritten to the mapped types.
    pub rewritten: BTreeMap<String, Vec<String>>,
    /// Selectors no pool meets even so (shown as warnings).
    pub unmet: Vec<Unmet>,
    /// GB of each selected hub's home disk.
    pub home_disks: BTreeMap<String, u64>,
    /// Every value taken from the bundle that a limit bounds.
    pub bounds: Vec<Bound>,
}

/// A source machine type and the target type it maps to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Mapped {
    pub source: String,
    pub target: String,
    pub cpus: u32,
    pub gib: u32,
    pub gpu: Option<Gpu>,
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
    let table = Table::new(all, cloud);
    let mut sizes = machine_sizes(facts, &table, hubs);
    if let Some(table) = &table {
        complete(&mut sizes, table, hubs);
    }
    unique_names(&mut sizes.user_node_pools, cloud);
    let tfvars = match facts.source.tfvars.as_str() {
        "" => "no terraform variables: the blueprint's defaults",
        member => member,
    };
    let pools_from = match facts.source.pools_from.as_str() {
        "" => tfvars,
        member => member,
    };
    let mut bounds = vec![bound(
        "sizes.user_pools".into(),
        "user node pools".into(),
        sizes.user_node_pools.len() as u64,
        pools_from.into(),
        limits.user_pools,
    )];
    for p in &sizes.user_node_pools {
        let key = |k: &str| format!("sizes.user_node_pools.{}.{k}", p.name);
        let what = |k: &str| format!("user node pool {}: {k} nodes", p.name);
        let source = match sizes.added_pools.get(&p.name) {
            Some(why) => format!("r2r's default, a pool made for {why}"),
            None => pools_from.to_owned(),
        };
        bounds.push(bound(
            key("min"),
            what("min"),
            p.min,
            source.clone(),
            limits.user_pool_min,
        ));
        bounds.push(bound(
            key("max"),
            what("max"),
            p.max,
            source,
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
    /// Source machine type → target machine type, for the selectors.
    pub(crate) fn machine_types(&self) -> BTreeMap<String, String> {
        self.machine_map
            .iter()
            .map(|m| (m.source.clone(), m.target.clone()))
            .collect()
    }

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

/// The machine tables seen from one target cloud.
struct Table<'a> {
    all: &'a BTreeMap<String, Machines>,
    target: &'a Machines,
}

impl<'a> Table<'a> {
    fn new(all: &'a BTreeMap<String, Machines>, cloud: &str) -> Option<Table<'a>> {
        Some(Table {
            all,
            target: all.get(cloud)?,
        })
    }

    /// vCPUs and GiB of a type of any cloud.
    fn shape(&self, t: &str) -> Option<(u32, u32)> {
        self.all
            .values()
            .find_map(|m| m.types.get(t).copied())
            .or_else(|| gcp_shape(t))
    }

    /// The GPUs a type has (AWS, Azure) or gets (GCP's N1 with an
    /// accelerator), in any cloud's table.
    fn gpu_of(&self, t: &str) -> Option<Gpu> {
        self.all.values().find_map(|m| gpu(m, t))
    }

    /// The target type for `t` with `want` GPUs (none: a CPU type): `t`
    /// itself when the target has it with those GPUs, else the smallest
    /// type with at least its vCPUs, memory and GPUs of the same kind.
    fn map(&self, t: &str, want: Option<&Gpu>) -> Option<Mapped> {
        let kind = want.map(|g| g.kind.as_str());
        let count = want.map_or(0, |g| g.count);
        let fits = |name: &str| {
            let g = gpu(self.target, name);
            g.as_ref().map(|g| g.kind.as_str()) == kind && g.map_or(0, |g| g.count) >= count
        };
        let mapped = |name: &str, (cpus, gib): (u32, u32)| Mapped {
            source: t.to_owned(),
            target: name.to_owned(),
            cpus,
            gib,
            gpu: gpu(self.target, name),
        };
        if let Some(shape) = self.target.types.get(t)
            && fits(t)
        {
            return Some(mapped(t, *shape));
        }
        let (cpu, mem) = self.shape(t)?;
        self.target
            .types
            .iter()
            .filter(|(n, (c, m))| *c >= cpu && *m >= mem && fits(n))
            .min_by_key(|(name, (c, m))| (*c, *m, (*name).clone()))
            .map(|(n, shape)| mapped(n, *shape))
    }

    /// `map`, or the target's default user type when nothing fits.
    fn map_or_default(&self, t: &str, want: Option<&Gpu>) -> Mapped {
        self.map(t, want).unwrap_or_else(|| {
            let user = &self.target.user;
            let (cpus, gib) = self.target.types.get(user).copied().unwrap_or_default();
            Mapped {
                source: t.to_owned(),
                target: user.clone(),
                cpus,
                gib,
                gpu: None,
            }
        })
    }
}

fn gpu(m: &Machines, t: &str) -> Option<Gpu> {
    m.gpus.get(t).map(|(kind, count)| Gpu {
        kind: kind.clone(),
        count: *count,
    })
}

/// The labels 2i2c's modules put on the core pool.
fn core_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (HUB_PURPOSE.to_owned(), "core".to_owned()),
        (DASK_PURPOSE.to_owned(), "core".to_owned()),
    ])
}

/// The carried pools of the selected hubs (a pool labelled for another
/// hub stays behind), each on its mapped type.
fn machine_sizes(facts: &Facts, table: &Option<Table<'_>>, hubs: &[&HubFacts]) -> Sizes {
    let Some(table) = table else {
        return Sizes::default();
    };
    let target = table.target;
    let src = &facts.source;
    let mut map: Vec<Mapped> = Vec::new();
    let mut remember = |m: Mapped| {
        if !map.iter().any(|x| x.source == m.source) {
            map.push(m.clone());
        }
        m
    };
    let core = src.core_machine_type.as_deref().map_or_else(
        || target.core.clone(),
        |t| remember(table.map_or_default(t, None)).target,
    );
    let selected = |p: &Pool| {
        p.labels
            .get(HUB_NAME)
            .is_none_or(|h| hubs.is_empty() || hubs.iter().any(|x| &x.name == h))
    };
    let mut pools: Vec<Pool> = Vec::new();
    for (i, p) in src.user_pools.iter().filter(|p| selected(p)).enumerate() {
        let m = remember(table.map_or_default(&p.machine_type, p.gpu.as_ref()));
        let mut taints: Vec<Taint> = p.taints.clone();
        taints.retain(|t| t.key != GPU_TAINT || m.gpu.is_some());
        if m.gpu.is_some() && !taints.iter().any(|t| t.key == GPU_TAINT) {
            taints.push(Taint::new(GPU_TAINT, "present", "NoSchedule"));
        }
        let mut pool = Pool {
            name: pool_name(&p.name, i),
            machine_type: m.target,
            min: p.min,
            max: p.max.max(p.min).max(1),
            labels: p.labels.clone(),
            taints,
            gpu: m.gpu,
        };
        pools::tidy(&mut pool);
        pools.push(pool);
    }
    if pools.is_empty() {
        let (labels, taints) = scheduling::pool_for(&user_demand());
        pools.push(Pool {
            name: "user".into(),
            machine_type: target.user.clone(),
            min: 0,
            max: 10,
            labels,
            taints,
            gpu: None,
        });
    }
    Sizes {
        core_machine_type: core,
        core_node_labels: core_labels(),
        user_node_pools: pools,
        machine_map: map,
        ..Sizes::default()
    }
}

/// The demand of z2jh's default user pods: `hub.jupyter.org/node-purpose:
/// user` is what the default pool is for.
fn user_demand() -> Demand {
    Demand {
        path: "singleuser".into(),
        labels: BTreeMap::new(),
        role: scheduling::Role::User,
        tolerations: Vec::new(),
        gpu: false,
    }
}

/// Maps every instance type the hubs select (a type no pool had maps by
/// its shape), records the selectors it rewrites, and makes a pool for
/// each selector no pool meets yet.
fn complete(sizes: &mut Sizes, table: &Table<'_>, hubs: &[&HubFacts]) {
    for h in hubs {
        for t in scheduling::selected_types(&h.demands) {
            if !sizes.machine_map.iter().any(|m| m.source == t) {
                let m = table.map_or_default(&t, table.gpu_of(&t).as_ref());
                sizes.machine_map.push(m);
            }
        }
    }
    let types = sizes.machine_types();
    for h in hubs {
        let mut unmet = Vec::new();
        let mut rewritten = Vec::new();
        for d in &h.demands {
            let mapped = mapped_demand(d, &types, &mut rewritten);
            let mut pools = sizes.user_node_pools.clone();
            pools.push(scheduling::core_pool(
                &sizes.core_machine_type,
                &sizes.core_node_labels,
            ));
            if !pools.iter().any(|p| scheduling::meets(&mapped, p)) {
                unmet.push(mapped);
            }
        }
        for d in unmet {
            add_pool(sizes, table, &h.name, &d);
        }
        if !rewritten.is_empty() {
            sizes.rewritten.insert(h.name.clone(), rewritten);
        }
    }
}

/// A demand with its instance types mapped, the rewrites noted.
fn mapped_demand(d: &Demand, types: &BTreeMap<String, String>, noted: &mut Vec<String>) -> Demand {
    let mut mapped = d.clone();
    if let Some(accepted) = mapped.labels.get_mut(INSTANCE_TYPE) {
        for t in accepted.iter_mut() {
            if let Some(new) = types.get(t.as_str()).filter(|n| *n != t) {
                noted.push(format!("{}: {t} -> {new}", d.path));
                t.clone_from(new);
            }
        }
    }
    mapped
}

/// A pool for a demand no pool met, unless another pool made for an
/// earlier one meets it; a demand that names no pool's labels (only core
/// pods') stays unmet.
fn add_pool(sizes: &mut Sizes, table: &Table<'_>, hub: &str, d: &Demand) {
    let mut pools = sizes.user_node_pools.clone();
    pools.push(scheduling::core_pool(
        &sizes.core_machine_type,
        &sizes.core_node_labels,
    ));
    if pools.iter().any(|p| scheduling::meets(d, p)) {
        return;
    }
    if d.role == scheduling::Role::Other && !d.labels.contains_key(INSTANCE_TYPE) {
        sizes
            .unmet
            .extend(scheduling::unmet(hub, std::slice::from_ref(d), &pools));
        return;
    }
    let machine_type = d
        .labels
        .get(INSTANCE_TYPE)
        .and_then(|t| t.first())
        .cloned()
        .unwrap_or_else(|| table.target.user.clone());
    let (labels, taints) = scheduling::pool_for(d);
    let n = sizes.user_node_pools.len();
    let name = pool_name(&format!("{hub}-{machine_type}"), n);
    let name = if sizes.user_node_pools.iter().any(|p| p.name == name) {
        format!("user-{n}")
    } else {
        name
    };
    let mut pool = Pool {
        name: name.clone(),
        gpu: gpu(table.target, &machine_type),
        machine_type,
        min: 0,
        max: 10,
        labels,
        taints,
    };
    pools::tidy(&mut pool);
    if scheduling::meets(d, &pool) {
        sizes.added_pools.insert(name, format!("{hub}: {}", d.path));
        sizes.user_node_pools.push(pool);
    } else {
        sizes
            .unmet
            .extend(scheduling::unmet(hub, std::slice::from_ref(d), &pools));
    }
}

/// Each cloud's module shortens pool names (AKS to 12 letters and digits);
/// two that would become one are renamed `pool<i>`.
fn unique_names(pools: &mut [Pool], cloud: &str) {
    let reduce = |n: &str| -> String {
        match cloud {
            "azure" => {
                let c: String = n
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                let c = if c.starts_with(|c: char| c.is_ascii_lowercase()) {
                    c
                } else {
                    format!("u{c}")
                };
                c.chars().take(12).collect()
            }
            "gcp" => n
                .chars()
                .take(34)
                .collect::<String>()
                .trim_matches('-')
                .into(),
            _ => n
                .chars()
                .take(50)
                .collect::<String>()
                .trim_matches('-')
                .into(),
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, p) in pools.iter_mut().enumerate() {
        let mut r = reduce(&p.name);
        if seen.contains(&r) || r == "core" || r == "coretmp" {
            p.name = format!("pool{i}");
            r = reduce(&p.name);
        }
        seen.push(r);
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
    // At most 40: eksctl's names (`dask-<hub>-<types>-<generation>`) can
    // be longer; the modules shorten further, and unique_names keeps them
    // apart.
    let short: String = clean.trim_matches('-').chars().take(40).collect();
    let short = short.trim_matches('-').to_owned();
    if short.is_empty() {
        format!("user-{i}")
    } else {
        short
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
        assert_eq!(
            pool_name("dask-staging-r5-4xlarge-r7i-4xlarge-r6i-4xlarge-g", 2),
            "dask-staging-r5-4xlarge-r7i-4xlarge-r6i"
        );
    }

    #[test]
    fn gpu_types_map_to_gpu_types_and_cpu_types_to_cpu_types() {
        let all = crate::install::blueprint::machines().unwrap();
        let t4 = Gpu {
            kind: "nvidia-tesla-t4".into(),
            count: 1,
        };
        let to = |cloud: &str, t: &str, g: Option<&Gpu>| {
            let m = Table::new(&all, cloud).unwrap().map(t, g).unwrap();
            (m.target, m.gpu.map(|g| g.kind))
        };
        let t4_name = Some("nvidia-tesla-t4".to_owned());
        assert_eq!(
            to("azure", "g4dn.xlarge", Some(&t4)),
            ("Standard_NC4as_T4_v3".into(), t4_name.clone())
        );
        // n1-standard-4 has 15 GB, less than g4dn.xlarge's 16 GiB.
        assert_eq!(
            to("gcp", "g4dn.xlarge", Some(&t4)),
            ("n1-highmem-4".into(), t4_name.clone())
        );
        assert_eq!(
            to("aws", "n1-highmem-8", Some(&t4)),
            ("g4dn.4xlarge".into(), t4_name.clone())
        );
        assert_eq!(
            to("aws", "g4dn.xlarge", Some(&t4)),
            ("g4dn.xlarge".into(), t4_name)
        );
        // Without GPUs, never a GPU type.
        assert_eq!(to("gcp", "r5.xlarge", None), ("n2-highmem-4".into(), None));
        assert_eq!(
            to("aws", "n2-highmem-16", None),
            ("r5.4xlarge".into(), None)
        );
        assert_eq!(
            to("azure", "r5.4xlarge", None),
            ("Standard_E16s_v5".into(), None)
        );
    }

    #[test]
    fn pool_names_stay_apart_after_each_cloud_shortens_them() {
        let pool = |n: &str| Pool {
            name: n.into(),
            ..Pool::default()
        };
        let mut pools = vec![
            pool("nb-staging-r5-xlarge-g"),
            pool("nb-staging-r5-xlarge-h"),
            pool("core"),
        ];
        unique_names(&mut pools, "azure");
        let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["nb-staging-r5-xlarge-g", "pool1", "pool2"]);
        let mut pools = vec![
            pool("nb-staging-r5-xlarge-g"),
            pool("nb-staging-r5-xlarge-h"),
        ];
        unique_names(&mut pools, "gcp");
        assert_eq!(pools[1].name, "nb-staging-r5-xlarge-h");
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
