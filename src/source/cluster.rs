//! `cluster.yaml`: the cluster, its provider, and its hubs with the values
//! files merged, in order, for each.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A cluster.yaml larger than this is not a configuration file.
const MAX_CLUSTER_YAML_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Deserialize)]
pub struct ClusterConfig {
    pub name: String,
    pub provider: String,
    #[serde(default)]
    pub hubs: Vec<HubConfig>,
    #[serde(default)]
    pub support: Option<SupportConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HubConfig {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub domain: String,
    pub helm_chart: String,
    #[serde(default)]
    pub helm_chart_values_files: Vec<String>,
    #[serde(default)]
    pub chart_override: Option<String>,
    #[serde(default)]
    pub domain_override_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SupportConfig {
    #[serde(default)]
    pub helm_chart_values_files: Vec<String>,
}

pub const PROVIDERS: [&str; 4] = ["gcp", "aws", "azure", "kubeconfig"];

impl ClusterConfig {
    pub fn load(path: &Path) -> Result<ClusterConfig> {
        let text = super::repo::read_text(path, MAX_CLUSTER_YAML_BYTES)?;
        let config: ClusterConfig = crate::values::yaml::from_str(&text)
            .with_context(|| format!("{} is not a valid cluster.yaml", path.display()))?;
        config
            .validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    /// Names become folder names in the bundle and Kubernetes names in the
    /// replica: they must be DNS-1123 labels.
    fn validate(&self) -> Result<()> {
        check_label("cluster name", &self.name)?;
        if !PROVIDERS.contains(&self.provider.as_str()) {
            bail!(
                "provider `{}` is not one of {}",
                self.provider,
                PROVIDERS.join(", ")
            );
        }
        let mut seen = std::collections::HashSet::new();
        for hub in &self.hubs {
            check_label("hub name", &hub.name)?;
            check_label(&format!("hub {}: helm_chart", hub.name), &hub.helm_chart)?;
            check_domain(&hub.name, &hub.domain)?;
            if !seen.insert(hub.name.as_str()) {
                bail!("hub `{}` is listed twice", hub.name);
            }
        }
        Ok(())
    }

    /// The hubs to export: all of them, or exactly those named.
    pub fn select_hubs(&self, names: &[String]) -> Result<Vec<&HubConfig>> {
        if names.is_empty() {
            return Ok(self.hubs.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                self.hubs.iter().find(|h| &h.name == n).with_context(|| {
                    let known: Vec<&str> = self.hubs.iter().map(|h| h.name.as_str()).collect();
                    format!(
                        "cluster {} has no hub named `{n}`; its hubs are: {}",
                        self.name,
                        known.join(", ")
                    )
                })
            })
            .collect()
    }
}

/// A DNS-1123 label: lowercase letters, digits and `-`, 1 to 63 long, not
/// starting or ending with `-`.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_label(what: &str, s: &str) -> Result<()> {
    if !is_dns_label(s) {
        bail!(
            "{what} {s:?} is not a DNS-1123 label (lowercase letters, digits and `-`, at most 63)"
        );
    }
    Ok(())
}

fn check_domain(hub: &str, domain: &str) -> Result<()> {
    let ok = domain.len() <= 253
        && domain.split('.').count() >= 2
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !ok {
        bail!("hub {hub}: domain {domain:?} is not a valid DNS name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ClusterConfig> {
        let c: ClusterConfig = crate::values::yaml::from_str(yaml)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn reads_a_minimal_cluster() {
        let c = parse("name: c\nprovider: gcp\nhubs:\n- name: h\n  domain: h.example.org\n  helm_chart: basehub\n").unwrap();
        assert_eq!(c.hubs[0].name, "h");
        assert!(c.select_hubs(&["nope".into()]).is_err());
    }

    #[test]
    fn refuses_hostile_names() {
        for yaml in [
            "name: ../c\nprovider: gcp\n",
            "name: c\nprovider: mars\n",
            "name: c\nprovider: gcp\nhubs:\n- {name: ../h, domain: a.b, helm_chart: basehub}\n",
            "name: c\nprovider: gcp\nhubs:\n- {name: h, domain: 'a b', helm_chart: basehub}\n",
            "name: c\nprovider: gcp\nhubs:\n- {name: h, domain: a.b, helm_chart: ../../x}\n",
            "name: c\nprovider: gcp\nhubs:\n- {name: h, domain: a.b, helm_chart: basehub}\n- {name: h, domain: a.b, helm_chart: basehub}\n",
        ] {
            assert!(parse(yaml).is_err(), "accepted {yaml}");
        }
    }
}
