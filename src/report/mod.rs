//! The portability report: for each hub, every way it still depends on the
//! provider it is leaving, and what the community must do about it. Written
//! into the bundle as `report.json` (format in docs/portability-report.md)
//! and shown by `r2r inspect --report`.

pub(crate) mod findings;
pub(crate) mod markdown;
pub(crate) mod profile;

use serde::{Deserialize, Serialize};

pub(crate) const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// The replica cannot run until this is resolved.
    Blocker,
    /// The replica runs, but still leans on the provider until this is done.
    Action,
    /// Worth checking; the configuration may be wrong.
    Warning,
    /// Recorded so nothing is silent.
    Info,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Finding {
    pub category: String,
    pub severity: Severity,
    /// What depends on the provider.
    pub subject: String,
    /// Where: a bundle member, with a key path after `:` when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What the community must do.
    pub action: String,
    /// For a sealed file (`kms`): the key paths it holds, so the community
    /// knows which secrets to make anew. Names only, never a value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_paths: Vec<String>,
}

/// A setting the installer asks for. Each listed key path in the hub's
/// standalone values holds `value` as (part of) a string; the installer
/// replaces it with the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub description: String,
    pub value: String,
    pub key_paths: Vec<String>,
}

/// A provider setting the standalone values changed. Exactly one of:
/// set to null (neither field), replaced by `replaced_with`, or
/// `removed_item` taken out of the list at `key_path`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removed {
    pub key_path: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_with: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_item: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Validation {
    /// Whether the z2jh schema was available.
    pub checked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    pub violations: Vec<crate::values::validate::Violation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HubReport {
    pub name: String,
    pub domain: String,
    /// The provider's DNS zone the domain is in; absent when the domain is
    /// the community's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_zone: Option<String>,
    pub helm_chart: String,
    /// The standalone values member.
    pub values: String,
    /// The age-sealed merged secrets member, when secrets were opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
    /// How the provider-derived values were obtained.
    pub derived_by: String,
    pub findings: Vec<Finding>,
    pub parameters: Vec<Parameter>,
    pub removed: Vec<Removed>,
    pub validation: Validation,
    /// Every image the standalone values name, and the places that name
    /// images r2r cannot list.
    #[serde(default)]
    pub images: crate::images::discover::Discovery,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub blockers: usize,
    pub actions: usize,
    pub warnings: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProviderRef {
    pub name: String,
    pub display_name: String,
    /// `built-in` or the profile file's name.
    pub profile: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    pub report_version: u32,
    pub provider: ProviderRef,
    pub cluster: String,
    pub cloud: String,
    /// Age recipients the opened secrets are sealed to.
    pub recipients: Vec<String>,
    pub summary: Summary,
    pub cluster_findings: Vec<Finding>,
    pub hubs: Vec<HubReport>,
}

/// The most `report.json` may hold; a large cluster's is a few hundred KiB.
pub(crate) const MAX_REPORT_BYTES: u64 = 64 << 20;

impl Report {
    /// The portability report of a verified bundle, checked against its
    /// signed digest: the one reader for the installer and `push-images`.
    pub(crate) fn from_bundle(trusted: &crate::bundle::verify::Trusted) -> anyhow::Result<Report> {
        use anyhow::Context as _;
        let member = crate::bundle::layout::REPORT;
        serde_json::from_slice(&trusted.read_small(member, MAX_REPORT_BYTES)?)
            .with_context(|| format!("member {member} is not a portability report"))
    }
}

impl Report {
    pub(crate) fn summarise(&mut self) {
        let all = self
            .cluster_findings
            .iter()
            .chain(self.hubs.iter().flat_map(|h| h.findings.iter()));
        let mut s = Summary {
            blockers: 0,
            actions: 0,
            warnings: 0,
        };
        for f in all {
            match f.severity {
                Severity::Blocker => s.blockers += 1,
                Severity::Action => s.actions += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => {}
            }
        }
        s.warnings += self
            .hubs
            .iter()
            .map(|h| h.validation.violations.len())
            .sum::<usize>();
        self.summary = s;
    }

    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }
}
