//! The export plan: which repository file becomes which bundle member, and
//! the source description that goes into `bundle.json`. Planning reads the
//! repository and checks everything it names before a byte is written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::charts::{self, ChartRequest};
use super::cluster::ClusterConfig;
use super::repo::InfraRepo;
use crate::bundle::layout::{Kind, MemberPath};
use crate::bundle::manifest::{Chart, Hub, Source, Support};
use crate::secrets::sops;

/// Folder for cluster-wide support files. Hub names are DNS labels, which
/// cannot start with `_`, so it never collides with a hub.
pub const SUPPORT_FOLDER: &str = "_support";

#[derive(Debug, Clone)]
pub struct Planned {
    pub path: MemberPath,
    pub kind: Kind,
    pub src: PathBuf,
}

#[derive(Debug)]
pub struct ExportPlan {
    pub source: Source,
    pub members: Vec<Planned>,
    pub warnings: Vec<String>,
}

impl ExportPlan {
    /// The planned member at `path`, if any.
    pub fn member(&self, path: &str) -> Option<&Planned> {
        self.members.iter().find(|m| m.path.as_str() == path)
    }
}

pub fn plan(repo: &InfraRepo, cluster_name: &str, hub_names: &[String]) -> Result<ExportPlan> {
    let cluster_dir = repo.cluster_dir(cluster_name)?;
    let cluster_yaml = cluster_dir.join("cluster.yaml");
    let cluster = ClusterConfig::load(&cluster_yaml)?;
    if cluster.name != cluster_name {
        bail!(
            "{} says its name is `{}`, not `{cluster_name}`",
            repo.shown(&cluster_yaml),
            cluster.name
        );
    }
    let named_in = repo.shown(&cluster_yaml);
    let mut b = Builder {
        repo,
        members: Vec::new(),
        warnings: Vec::new(),
    };
    b.add(
        &["config", "cluster.yaml"],
        Kind::Config,
        cluster_yaml.clone(),
    )?;

    let mut hubs = Vec::new();
    let mut requests = Vec::new();
    for hub in cluster.select_hubs(hub_names)? {
        let who = format!("{named_in} (hub {})", hub.name);
        let mut values_files = Vec::new();
        for name in &hub.helm_chart_values_files {
            let src = repo.resolve(&cluster_dir, name, &who)?;
            values_files.push(b.add_values_file(&hub.name, name, src)?);
        }
        let chart_override = match &hub.chart_override {
            Some(name) => {
                let src = repo.resolve(&cluster_dir, name, &who)?;
                requests.push(ChartRequest {
                    name: hub.helm_chart.clone(),
                    override_file: Some(src.clone()),
                    asked_by: who.clone(),
                });
                Some(b.add_config(&hub.name, name, src)?)
            }
            None => {
                requests.push(ChartRequest {
                    name: hub.helm_chart.clone(),
                    override_file: None,
                    asked_by: who.clone(),
                });
                None
            }
        };
        let domain_override_file = match &hub.domain_override_file {
            Some(name) => {
                let src = repo.resolve(&cluster_dir, name, &who)?;
                Some(b.add_values_file(&hub.name, name, src)?)
            }
            None => None,
        };
        hubs.push(Hub {
            name: hub.name.clone(),
            display_name: hub.display_name.clone(),
            domain: hub.domain.clone(),
            helm_chart: hub.helm_chart.clone(),
            values_files,
            chart_override,
            domain_override_file,
        });
    }

    let support = match &cluster.support {
        Some(s) => {
            let who = format!("{named_in} (support)");
            let mut values_files = Vec::new();
            for name in &s.helm_chart_values_files {
                let src = repo.resolve(&cluster_dir, name, &who)?;
                values_files.push(b.add_values_file(SUPPORT_FOLDER, name, src)?);
            }
            if repo.root().join("helm-charts/support/Chart.yaml").is_file() {
                requests.push(ChartRequest {
                    name: "support".into(),
                    override_file: None,
                    asked_by: who,
                });
            } else {
                b.warnings.push("cluster.yaml configures support, but helm-charts/support is not in the repository; the support chart is not carried".into());
            }
            Some(Support {
                helm_chart: "support".into(),
                values_files,
            })
        }
        None => None,
    };

    let mut charts = Vec::new();
    for chart in charts::collect(repo, &requests)? {
        for (rel, src) in &chart.files {
            let path = format!("charts/{}/{rel}", chart.name);
            if sops::named_as_secret(file_name(rel)) {
                refuse_plaintext(repo, src, false)?;
            }
            b.add(&[&path], Kind::Chart, src.clone())?;
        }
        charts.push(Chart {
            name: chart.name.clone(),
            version: chart.version.clone(),
            path: format!("charts/{}", chart.name),
            file_dependencies: chart.file_deps.clone(),
        });
    }

    b.add_infra(&cluster)?;
    b.members.sort_by_key(|m| kind_rank(m.kind));
    Ok(ExportPlan {
        source: Source {
            kind: "2i2c-infrastructure".into(),
            cluster: cluster.name.clone(),
            provider: cluster.provider.clone(),
            hubs,
            support,
            charts,
        },
        members: b.members,
        warnings: b.warnings,
    })
}

fn file_name(name: &str) -> &str {
    Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(name)
}

/// A file named as a secret must be sealed: plaintext secrets never enter a
/// bundle. The message names the file, never its content.
fn refuse_plaintext(repo: &InfraRepo, src: &Path, known_sealed: bool) -> Result<()> {
    if known_sealed || sops::is_sealed(src)? {
        return Ok(());
    }
    bail!(
        "{} is named as a secret but is not sops-encrypted; refusing to carry a plaintext secret",
        repo.shown(src)
    )
}

/// Members are stored grouped by folder, in this order.
fn kind_rank(kind: Kind) -> usize {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX)
}

struct Builder<'a> {
    repo: &'a InfraRepo,
    members: Vec<Planned>,
    warnings: Vec<String>,
}

impl Builder<'_> {
    fn add(&mut self, parts: &[&str], kind: Kind, src: PathBuf) -> Result<MemberPath> {
        let path = MemberPath::join(parts).with_context(|| {
            format!(
                "cannot carry {}: its name cannot be a bundle member",
                self.repo.shown(&src)
            )
        })?;
        self.members.push(Planned {
            path: path.clone(),
            kind,
            src,
        });
        Ok(path)
    }

    /// A values file goes under `secrets/` when it is sealed with sops, and
    /// must be sealed when its name says it is a secret.
    fn add_values_file(&mut self, folder: &str, name: &str, src: PathBuf) -> Result<String> {
        let sealed = sops::is_sealed(&src)?;
        if sops::named_as_secret(file_name(name)) {
            refuse_plaintext(self.repo, &src, sealed)?;
        }
        let kind = if sealed { Kind::Secret } else { Kind::Config };
        Ok(self
            .add(&[kind.folder(), folder, name], kind, src)?
            .to_string())
    }

    fn add_config(&mut self, folder: &str, name: &str, src: PathBuf) -> Result<String> {
        Ok(self
            .add(&["config", folder, name], Kind::Config, src)?
            .to_string())
    }

    /// The cluster's terraform variables and eksctl config, where they exist.
    fn add_infra(&mut self, cluster: &ClusterConfig) -> Result<()> {
        let providers: &[&str] = match cluster.provider.as_str() {
            // A kubeconfig cluster's cloud is not in cluster.yaml; its
            // tfvars may sit under any provider.
            "kubeconfig" => &["gcp", "aws", "azure"],
            p => &[p][..],
        };
        let mut found = false;
        for p in providers {
            let rel = format!("terraform/{p}/projects/{}.tfvars", cluster.name);
            let path = self.repo.root().join(&rel);
            if path.symlink_metadata().is_ok() {
                let src = self
                    .repo
                    .existing_file(&path, "the terraform projects folder")?;
                self.add(&["infra", &rel], Kind::Infra, src)?;
                found = true;
            }
        }
        if !found {
            self.warnings.push(format!(
                "no terraform/{}/projects/{}.tfvars; the bundle carries no terraform variables",
                providers.join("|"),
                cluster.name
            ));
        }
        let rel = format!("eksctl/{}.jsonnet", cluster.name);
        let path = self.repo.root().join(&rel);
        if path.symlink_metadata().is_ok() {
            let src = self.repo.existing_file(&path, "the eksctl folder")?;
            self.add(&["infra", &rel], Kind::Infra, src)?;
        }
        Ok(())
    }
}
