//! Node and disk sizes for the target cloud, carried over from the source
//! cluster's terraform variables: a machine type maps to the smallest type
//! of the target cloud with at least its vCPUs and memory
//! (`blueprints/machines.yaml`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::blueprint::Machines;
use super::facts::{Facts, Pool};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sizes {
    pub core_machine_type: String,
    pub user_node_pools: Vec<Pool>,
}

pub fn for_target(facts: &Facts, cloud: &str, all: &BTreeMap<String, Machines>) -> Sizes {
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

/// A hub's home disk: the source's size when known, else twice the homes
/// carried, at least 10 GB.
pub fn disk_gb(source: Option<u64>, home_bytes: u64) -> u64 {
    let from_data = (home_bytes.saturating_mul(2)).div_ceil(1 << 30);
    source.unwrap_or(0).max(from_data).max(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_shapes_and_disks() {
        assert_eq!(gcp_shape("n2-highmem-16"), Some((16, 128)));
        assert_eq!(gcp_shape("n2-standard-4"), Some((4, 16)));
        assert_eq!(gcp_shape("weird"), None);
        assert_eq!(disk_gb(Some(570), 0), 570);
        assert_eq!(disk_gb(None, 0), 10);
        assert_eq!(disk_gb(None, 40 << 30), 80);
        assert_eq!(pool_name("n2-highmem-4-a", 0), "n2-highmem-4-a");
        assert_eq!(pool_name("Big_Pool", 1), "big-pool");
    }
}
