//! A provider profile: the data that says what belongs to the provider a
//! community is leaving (its DNS zones, registries, KMS keys, staff
//! settings). 2i2c's is built in from `blueprints/providers/2i2c.yaml`;
//! another provider is a file of the same shape, not a code change.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

const BUILT_IN: &str = include_str!("../../blueprints/providers/2i2c.yaml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub dns_zones: Vec<String>,
    #[serde(default)]
    pub registries: Vec<String>,
    #[serde(default)]
    pub image_building_prefixes: Vec<String>,
    #[serde(default)]
    pub kms_keys: Vec<String>,
    #[serde(default)]
    pub staff: Staff,
    #[serde(default)]
    pub provider_settings: Vec<ProviderSetting>,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub terraform_state: Explained,
    #[serde(default)]
    pub oauth: Explained,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    /// Settings set to null (Helm then drops the chart's default too).
    /// Prefer `disable`: a null can break the chart's schema.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Settings replaced by their disabled form, one the chart's schema
    /// accepts.
    #[serde(default)]
    pub disable: Vec<Disable>,
    /// GitHub teams (`org:team`) of the provider's staff: removed from every
    /// list in a hub's values that names them.
    #[serde(default)]
    pub github_teams: Vec<String>,
    #[serde(default)]
    pub explain: String,
}

/// A setting and the value that turns it off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    /// Relative to basehub's values (r2r adds `basehub.` for daskhub).
    pub key_path: String,
    pub value: serde_json::Value,
    #[serde(default)]
    pub why: String,
}

/// A setting that names something of the provider's the hub fetches at
/// run time: it becomes an installer parameter (asked per hub, with the
/// current value offered) and an action in the report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderSetting {
    /// The parameter's name; the installer asks the hub question of that name.
    pub name: String,
    /// Relative to basehub's values.
    pub key_path: String,
    /// Only values starting with one of these are the provider's.
    pub prefixes: Vec<String>,
    pub description: String,
    pub action: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Monitoring {
    #[serde(default)]
    pub secret_files: Vec<String>,
    #[serde(default)]
    pub explain: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Explained {
    #[serde(default)]
    pub explain: String,
}

impl Profile {
    pub(crate) fn built_in() -> Result<Profile> {
        crate::values::yaml::from_str(BUILT_IN)
            .context("the built-in 2i2c provider profile is invalid")
    }

    pub(crate) fn load(path: &Path) -> Result<Profile> {
        let text = crate::source::repo::read_text(path, 1 << 20)?;
        crate::values::yaml::from_str(&text)
            .with_context(|| format!("{} is not a valid provider profile", path.display()))
    }

    /// The zone a domain falls under, when it is the provider's.
    pub(crate) fn dns_zone_of(&self, domain: &str) -> Option<&str> {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        self.dns_zones
            .iter()
            .find(|z| d == z.as_str() || d.ends_with(&format!(".{z}")))
            .map(String::as_str)
    }

    pub(crate) fn registry_of(&self, image: &str) -> Option<&str> {
        self.registries
            .iter()
            .find(|r| image.starts_with(r.as_str()))
            .map(String::as_str)
    }

    pub(crate) fn building_prefix_of(&self, value: &str) -> Option<&str> {
        self.image_building_prefixes
            .iter()
            .find(|r| value.starts_with(r.as_str()))
            .map(String::as_str)
    }

    pub(crate) fn owns_key(&self, id: &str) -> bool {
        self.kms_keys.iter().any(|k| id.contains(k.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profile_parses() {
        let p = Profile::built_in().unwrap();
        assert_eq!(p.dns_zone_of("staging.uk.2i2c.cloud"), Some("2i2c.cloud"));
        assert_eq!(p.dns_zone_of("hub.cryointhecloud.com"), None);
        assert!(p.registry_of("quay.io/2i2c/utoronto-image").is_some());
        assert!(p.registry_of("ghcr.io/2i2c-org/nfs-ganesha:1").is_some());
        assert!(!p.staff.disable.is_empty() && !p.staff.github_teams.is_empty());
        assert_eq!(p.provider_settings[0].name, "homepage_repo");
    }
}
