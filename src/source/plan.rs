//! The export plan: which repository file becomes which bundle member, and
//! the source description that goes into `bundle.json`. Planning reads the
//! repository and checks everything it names before a byte is written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::charts::repos::{Fetcher, Mirrors};
use super::charts::resolve::{CompleteChart, Override, ResolvedDep, Resolver};
use super::cluster::ClusterConfig;
use super::repo::InfraRepo;
use crate::bundle::layout::{Kind, MemberPath};
use crate::bundle::manifest::{Chart, ChartDependency, Hub, Source, Support};
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

pub struct ExportPlan {
    pub source: Source,
    pub members: Vec<Planned>,
    pub warnings: Vec<String>,
    /// Every chart folder the bundle carries, complete, as Helm loads it.
    pub charts: Vec<CompleteChart>,
    /// Where fetched archives and generated chart files wait to be written;
    /// removed with the plan.
    _work: tempfile::TempDir,
}

impl ExportPlan {
    /// The planned member at `path`, if any.
    pub fn member(&self, path: &str) -> Option<&Planned> {
        self.members.iter().find(|m| m.path.as_str() == path)
    }

    /// The complete chart a carried folder (`charts/basehub@lis`) holds.
    pub fn chart_at(&self, chart_path: &str) -> Option<&CompleteChart> {
        let folder = chart_path.strip_prefix("charts/")?;
        self.charts.iter().find(|c| c.folder == folder)
    }
}

/// How chart dependencies are fetched.
#[derive(Debug, Default)]
pub struct ChartOptions {
    /// `--chart-repo ORIGINAL=MIRROR` entries.
    pub mirrors: Vec<String>,
    /// `--chart-repos-dir` folders.
    pub mirror_trees: Vec<PathBuf>,
}

pub fn plan(
    repo: &InfraRepo,
    cluster_name: &str,
    hub_names: &[String],
    chart_opts: &ChartOptions,
) -> Result<ExportPlan> {
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
    let work = tempfile::Builder::new()
        .prefix("r2r-charts-")
        .tempdir()
        .context("cannot create a temporary folder for chart archives")?;
    let mirrors = Mirrors::parse(&chart_opts.mirrors)?.with_trees(&chart_opts.mirror_trees)?;
    let fetcher = Fetcher::new(mirrors, work.path());
    let epoch =
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => Some(v.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={v:?} is not a Unix time in seconds")
            })?),
            Err(_) => None,
        };
    let mut resolver = Resolver::new(repo, fetcher, work.path(), epoch);

    let mut hubs = Vec::new();
    for hub in cluster.select_hubs(hub_names)? {
        let who = format!("{named_in} (hub {})", hub.name);
        let mut values_files = Vec::new();
        for name in &hub.helm_chart_values_files {
            let src = repo.resolve(&cluster_dir, name, &who)?;
            values_files.push(b.add_values_file(&hub.name, name, src)?);
        }
        let (chart_override, over) = match &hub.chart_override {
            Some(name) => {
                let src = repo.resolve(&cluster_dir, name, &who)?;
                let member = b.add_config(&hub.name, name, src.clone())?;
                let over = Override {
                    file: src,
                    hub: hub.name.clone(),
                };
                (Some(member), Some(over))
            }
            None => (None, None),
        };
        let chart_dir = chart_dir(repo, &hub.helm_chart, &who)?;
        let i = resolver.complete(&chart_dir, over.as_ref(), &who)?;
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
            chart_path: Some(format!("charts/{}", resolver.chart(i).folder)),
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
            let chart_path = if repo.root().join("helm-charts/support/Chart.yaml").is_file() {
                let dir = chart_dir(repo, "support", &who)?;
                let i = resolver.complete(&dir, None, &who)?;
                Some(format!("charts/{}", resolver.chart(i).folder))
            } else {
                b.warnings.push("cluster.yaml configures support, but helm-charts/support is not in the repository; the support chart is not carried".into());
                None
            };
            Some(Support {
                helm_chart: "support".into(),
                values_files,
                chart_path,
            })
        }
        None => None,
    };

    let complete = resolver.into_charts();
    let mut charts = Vec::new();
    for chart in &complete {
        for (rel, src) in &chart.files {
            let path = format!("charts/{}/{rel}", chart.folder);
            if sops::named_as_secret(file_name(rel)) {
                refuse_plaintext(repo, src, false)?;
            }
            b.add(&[&path], Kind::Chart, src.clone())?;
        }
        charts.push(Chart {
            name: chart.name.clone(),
            version: chart.version.clone(),
            path: format!("charts/{}", chart.folder),
            file_dependencies: chart.file_dependencies.clone(),
            dependencies: chart.dependencies.iter().map(record).collect(),
        });
    }
    charts.sort_by(|a, b| a.path.cmp(&b.path));

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
        charts: complete,
        _work: work,
    })
}

/// `helm-charts/<name>`, which must hold a Chart.yaml.
fn chart_dir(repo: &InfraRepo, name: &str, asked_by: &str) -> Result<PathBuf> {
    let dir = repo.root().join("helm-charts").join(name);
    if !dir.join("Chart.yaml").is_file() {
        bail!("{asked_by} uses chart `{name}`, but helm-charts/{name}/Chart.yaml does not exist");
    }
    Ok(dir)
}

fn record(d: &ResolvedDep) -> ChartDependency {
    ChartDependency {
        name: d.name.clone(),
        alias: d.alias.clone(),
        condition: d.condition.clone(),
        constraint: d.constraint.clone(),
        version: d.version.clone(),
        repository: d.repository.clone(),
        archive: d.archive.clone(),
        sha256: d.sha256.clone(),
        fetched_from: d.fetched_from.clone(),
        digest_checked_against: d.digest_checked_against.clone(),
    }
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
