//! `bundle.json`: what the bundle came from and what every content member is.
//!
//! The manifest is itself covered by `SHA256SUMS`, so everything here is
//! signed. Readers still validate it fully: a signer can be compromised.

use serde::{Deserialize, Serialize};

use super::layout::{self, Kind, MemberPath};

/// The version of the format this r2r writes and reads. See the changelog in
/// `docs/bundle-format.md`.
pub const FORMAT_VERSION: u32 = 1;

/// Upper bound on `bundle.json` when reading: it grows with the number of
/// members, never with their bytes.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub r2r_version: String,
    /// RFC 3339, UTC, whole seconds.
    pub created: String,
    pub source: Source,
    pub members: Vec<MemberRecord>,
}

/// The deployment the bundle was exported from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// Always `2i2c-infrastructure` in format version 1.
    pub kind: String,
    pub cluster: String,
    /// `gcp`, `aws`, `azure` or `kubeconfig`, as cluster.yaml says.
    pub provider: String,
    pub hubs: Vec<Hub>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<Support>,
    #[serde(default)]
    pub charts: Vec<Chart>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hub {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub domain: String,
    /// The chart directory name under `charts/`.
    pub helm_chart: String,
    /// Member paths of the values files, in merge order.
    pub values_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_override: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_override_file: Option<String>,
    /// The member folder of the complete chart this hub installs
    /// (`charts/basehub`, `charts/basehub@lis` for a chart override).
    /// Absent in bundles written before r2r carried complete charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Support {
    pub helm_chart: String,
    pub values_files: Vec<String>,
    /// The member folder of the complete support chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chart {
    pub name: String,
    #[serde(default)]
    pub version: String,
    /// Member folder, e.g. `charts/basehub`.
    pub path: String,
    /// Folders (under `charts/`) of the complete charts this one packages
    /// from `file://` dependencies.
    #[serde(default)]
    pub file_dependencies: Vec<String>,
    /// Every dependency in Chart.yaml, resolved to the archive the folder
    /// carries.
    #[serde(default)]
    pub dependencies: Vec<ChartDependency>,
    /// For a chart carried as its repository publishes it (cert-manager,
    /// which the cluster layer installs): where its archive came from and
    /// what its digest was checked against; the folder holds its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<ChartDependency>,
}

/// One dependency of a carried chart, as `helm dependency build` would
/// have resolved it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChartDependency {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// The version constraint Chart.yaml gives.
    pub constraint: String,
    /// The version carried.
    pub version: String,
    /// The repository as Chart.yaml names it.
    pub repository: String,
    /// Path inside the chart's folder: `charts/<name>-<version>.tgz`.
    pub archive: String,
    /// sha256 of the archive (empty for a chart vendored as files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// Where the exporter read it: the repository, its mirror, or `charts/<folder>`
    /// for a `file://` dependency r2r packaged.
    pub fetched_from: String,
    /// What the archive's digest was checked against.
    pub digest_checked_against: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberRecord {
    pub path: String,
    pub kind: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("bundle.json is not valid JSON for format version {FORMAT_VERSION}: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "bundle format version {0} is not supported by r2r {ver} (it reads version {FORMAT_VERSION})",
        ver = env!("CARGO_PKG_VERSION")
    )]
    Version(u32),
    #[error("bundle.json lists member `{path}`: {reason}")]
    Member { path: String, reason: String },
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses and checks every invariant that does not need the other
    /// members: version, path syntax, kinds, digests, uniqueness.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        // Read the version alone first so that a newer bundle gets the
        // version message, not a confusing schema error.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let v: Version = serde_json::from_slice(bytes)?;
        if v.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version(v.format_version));
        }
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        let mut seen = std::collections::HashSet::new();
        for m in &manifest.members {
            let bad = |reason: String| ManifestError::Member {
                path: m.path.clone(),
                reason,
            };
            let path = MemberPath::parse(&m.path).map_err(|e| bad(e.to_string()))?;
            if path.is_control() {
                return Err(bad("control members are not listed in bundle.json".into()));
            }
            if !is_sha256_hex(&m.sha256) {
                return Err(bad("sha256 is not 64 lowercase hex digits".into()));
            }
            if let Some(kind) = Kind::parse(&m.kind)
                && path.top() != kind.folder()
            {
                return Err(bad(format!(
                    "kind `{kind}` members belong under `{}/`",
                    kind.folder()
                )));
            }
            if !seen.insert(m.path.as_str()) {
                return Err(bad("listed twice".into()));
            }
        }
        // A chart folder becomes a path on the installer's disk: one
        // component under charts/, a valid member name.
        let folders = manifest
            .source
            .hubs
            .iter()
            .filter_map(|h| h.chart_path.as_deref())
            .chain(
                manifest
                    .source
                    .support
                    .iter()
                    .filter_map(|s| s.chart_path.as_deref()),
            )
            .chain(manifest.source.charts.iter().map(|c| c.path.as_str()));
        for folder in folders {
            let ok = layout::chart_folder(folder)
                .is_some_and(|f| !f.is_empty() && !f.contains('/'))
                && MemberPath::parse(folder).is_ok();
            if !ok {
                return Err(ManifestError::Member {
                    path: folder.to_owned(),
                    reason: format!(
                        "a chart folder must be one name under {}",
                        Kind::Chart.prefix()
                    ),
                });
            }
        }
        Ok(manifest)
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            r2r_version: "0.1.0".into(),
            created: "2026-11-21T00:00:00Z".into(),
            source: Source {
                kind: "2i2c-infrastructure".into(),
                cluster: "c".into(),
                provider: "gcp".into(),
                hubs: vec![],
                support: None,
                charts: vec![],
            },
            members: vec![MemberRecord {
                path: "config/cluster.yaml".into(),
                kind: "config".into(),
                size: 3,
                sha256: "a".repeat(64),
            }],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_json()).ok(), Some(m));
    }

    #[test]
    fn rejects_newer_version() {
        let mut m = sample();
        m.format_version = 2;
        assert!(matches!(
            Manifest::parse(&m.to_json()),
            Err(ManifestError::Version(2))
        ));
    }

    #[test]
    fn rejects_bad_members() {
        for (path, kind, sha) in [
            ("../x", "config", "a".repeat(64)),
            ("charts/x", "config", "a".repeat(64)),
            ("config/x", "config", "A".repeat(64)),
            ("SHA256SUMS", "config", "a".repeat(64)),
        ] {
            let mut m = sample();
            m.members[0] = MemberRecord {
                path: path.into(),
                kind: kind.into(),
                size: 1,
                sha256: sha,
            };
            assert!(Manifest::parse(&m.to_json()).is_err(), "{path} {kind}");
        }
        let mut m = sample();
        m.members.push(m.members[0].clone());
        assert!(Manifest::parse(&m.to_json()).is_err());
        for folder in [
            "charts/../x",
            "charts/a/b",
            "charts/",
            "config/x",
            "/charts/x",
        ] {
            let mut m = sample();
            m.source.support = Some(Support {
                helm_chart: "support".into(),
                values_files: vec![],
                chart_path: Some(folder.into()),
            });
            assert!(Manifest::parse(&m.to_json()).is_err(), "{folder}");
        }
    }
}
