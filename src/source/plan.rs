//! The export plan: which repository file becomes which bundle member, and
//! the source description that goes into `bundle.json`. Planning reads the
//! repository and checks everything it names before a byte is written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::charts::repos::{Fetcher, Mirrors};
use super::charts::resolve::{CompleteChart, Override, Resolver};
use super::cluster::{ClusterConfig, HubConfig, SupportConfig};
use super::repo::{self, InfraRepo};
use crate::bundle::layout::{self, Kind, MemberPath, SUPPORT_FOLDER};
use crate::bundle::manifest::{Chart, Hub, Source, Support};
use crate::secrets::sops;

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
        let folder = layout::chart_folder(chart_path)?;
        self.charts.iter().find(|c| c.folder == folder)
    }
}

/// How chart dependencies are fetched.
pub struct ChartOptions {
    /// `--chart-repo ORIGINAL=MIRROR` entries.
    pub mirrors: Vec<String>,
    /// `--chart-repos-dir` folders.
    pub mirror_trees: Vec<PathBuf>,
    /// Where registry retries are announced.
    pub reporter: std::sync::Arc<dyn crate::progress::Reporter>,
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
    let mut b = Builder {
        repo,
        members: Vec::new(),
        warnings: Vec::new(),
    };
    b.add(&[layout::CLUSTER], Kind::Config, cluster_yaml.clone())?;
    let work = tempfile::Builder::new()
        .prefix("r2r-charts-")
        .tempdir()
        .context("cannot create a temporary folder for chart archives")?;
    let mirrors = Mirrors::parse(&chart_opts.mirrors)?.with_trees(&chart_opts.mirror_trees)?;
    let fetcher = Fetcher::new(mirrors, work.path(), chart_opts.reporter.clone());
    let epoch = crate::bundle::writer::source_date_epoch()?;
    let mut p = Planner {
        repo,
        cluster_dir: &cluster_dir,
        named_in: repo.shown(&cluster_yaml),
        b,
        resolver: Resolver::new(repo, fetcher, work.path(), epoch),
    };

    let mut hubs = Vec::new();
    for hub in cluster.select_hubs(hub_names)? {
        hubs.push(p.hub(hub)?);
    }
    let support = match &cluster.support {
        Some(s) => {
            let support = p.support(s)?;
            p.cert_manager();
            Some(support)
        }
        None => None,
    };

    let Planner {
        mut b,
        mut resolver,
        ..
    } = p;
    b.warnings.append(&mut resolver.warnings);
    let complete = resolver.into_charts();
    let charts = b.add_charts(&complete)?;
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

/// Plans the members of a cluster's hubs and support release: their files,
/// read from the cluster's folder, and their charts, completed.
struct Planner<'a> {
    repo: &'a InfraRepo,
    cluster_dir: &'a Path,
    /// cluster.yaml as messages name it.
    named_in: String,
    b: Builder<'a>,
    resolver: Resolver<'a>,
}

impl Planner<'_> {
    /// A hub's values files, chart override and domain override file, and
    /// the complete chart it installs with the override applied.
    fn hub(&mut self, hub: &HubConfig) -> Result<Hub> {
        let (repo, cluster_dir, b) = (self.repo, self.cluster_dir, &mut self.b);
        let who = format!("{} (hub {})", self.named_in, hub.name);
        let mut values_files = Vec::new();
        for name in &hub.helm_chart_values_files {
            let src = repo.resolve(cluster_dir, name, &who)?;
            values_files.push(b.add_values_file(&hub.name, name, src)?);
        }
        let (chart_override, over) = match &hub.chart_override {
            Some(name) => {
                let src = repo.resolve(cluster_dir, name, &who)?;
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
        let i = self.resolver.complete(&chart_dir, over.as_ref(), &who)?;
        if let Some(o) = &over
            && !self.resolver.applied(&o.file)
        {
            bail!(
                "{who}: its chart_override {} names a chart that is not {} or one of its file:// dependencies; it would change nothing",
                repo.shown(&o.file),
                hub.helm_chart
            );
        }
        let domain_override_file = match &hub.domain_override_file {
            Some(name) => {
                let src = repo.resolve(cluster_dir, name, &who)?;
                Some(b.add_values_file(&hub.name, name, src)?)
            }
            None => None,
        };
        Ok(Hub {
            name: hub.name.clone(),
            display_name: hub.display_name.clone(),
            domain: hub.domain.clone(),
            helm_chart: hub.helm_chart.clone(),
            values_files,
            chart_override,
            domain_override_file,
            chart_path: Some(layout::chart(&self.resolver.chart(i).folder)),
        })
    }

    /// The support release's values files, and its chart when the
    /// repository has one; a missing support chart is a warning.
    fn support(&mut self, s: &SupportConfig) -> Result<Support> {
        let (repo, cluster_dir, b) = (self.repo, self.cluster_dir, &mut self.b);
        let who = format!("{} (support)", self.named_in);
        let mut values_files = Vec::new();
        for name in &s.helm_chart_values_files {
            let src = repo.resolve(cluster_dir, name, &who)?;
            values_files.push(b.add_values_file(SUPPORT_FOLDER, name, src)?);
        }
        let chart_path = if repo.root().join("helm-charts/support/Chart.yaml").is_file() {
            let dir = chart_dir(repo, "support", &who)?;
            let i = self.resolver.complete(&dir, None, &who)?;
            Some(layout::chart(&self.resolver.chart(i).folder))
        } else {
            b.warnings.push("cluster.yaml configures support, but helm-charts/support is not in the repository; the support chart is not carried".into());
            None
        };
        Ok(Support {
            helm_chart: "support".into(),
            values_files,
            chart_path,
        })
    }
}

/// cert-manager, which the cluster layer installs in front of the support
/// chart: the repository and version the provider's deployer installs
/// (2i2c's `deploy_support` default), fetched like a chart dependency.
pub const CERT_MANAGER_REPOSITORY: &str = "https://charts.jetstack.io";
pub const CERT_MANAGER_VERSION: &str = "v1.20.3";

impl Planner<'_> {
    /// Carries cert-manager with the support chart: the hubs' ingresses
    /// name its ClusterIssuer. A fetch that fails (no mirror offline) is a
    /// warning: the bundle is still whole, and the install says that
    /// cert-manager is the community's to install.
    fn cert_manager(&mut self) {
        let dep = crate::source::charts::archive::Dependency {
            name: layout::CERT_MANAGER.into(),
            version: CERT_MANAGER_VERSION.into(),
            repository: CERT_MANAGER_REPOSITORY.into(),
            ..Default::default()
        };
        if let Err(e) = self.resolver.carry_published(&dep, layout::CERT_MANAGER) {
            self.b.warnings.push(format!(
                "cert-manager {CERT_MANAGER_VERSION} from {CERT_MANAGER_REPOSITORY} is not carried ({}); the install will not install it: install cert-manager yourself, or export again with a mirror (--chart-repo or --chart-repos-dir)",
                crate::text::one_line(&e)
            ));
        }
    }
}

/// `helm-charts/<name>`, which must hold a Chart.yaml.
fn chart_dir(repo: &InfraRepo, name: &str, asked_by: &str) -> Result<PathBuf> {
    let dir = repo.root().join("helm-charts").join(name);
    if !dir.join("Chart.yaml").is_file() {
        bail!("{asked_by} uses chart `{name}`, but helm-charts/{name}/Chart.yaml does not exist");
    }
    Ok(dir)
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
    /// Every file of the complete charts, as members; a file named as a
    /// secret must be sealed. Returns the charts as bundle.json lists them.
    fn add_charts(&mut self, complete: &[CompleteChart]) -> Result<Vec<Chart>> {
        let mut charts = Vec::new();
        for chart in complete {
            for (rel, src) in &chart.files {
                let path = layout::chart_file(&chart.folder, rel);
                if sops::named_as_secret(file_name(rel)) {
                    refuse_plaintext(self.repo, src, false)?;
                }
                self.add(&[&path], Kind::Chart, src.clone())?;
            }
            charts.push(Chart {
                name: chart.name.clone(),
                version: chart.version.clone(),
                path: layout::chart(&chart.folder),
                file_dependencies: chart.file_dependencies.clone(),
                dependencies: chart.dependencies.clone(),
                fetched: chart.fetched.clone(),
            });
        }
        charts.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(charts)
    }

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
            .add(&[Kind::Config.folder(), folder, name], Kind::Config, src)?
            .to_string())
    }

    /// The cluster's terraform variables and eksctl config, where they exist.
    /// 2i2c keeps variables in `terraform/<provider>/projects/<cluster>.tfvars`,
    /// but a repository may file them under another provider's folder (a
    /// kubeconfig cluster's cloud is not in cluster.yaml) or another name;
    /// every `terraform/*/projects/*.tfvars` is weighed by [`tfvars_owner`],
    /// and only the cluster's own are carried.
    fn add_infra(&mut self, cluster: &ClusterConfig) -> Result<()> {
        let known = self.repo.clusters()?;
        let mut found = false;
        for (provider, projects) in self.projects_folders()? {
            for (file, path) in tfvars_in(&projects)? {
                let stem = file.strip_suffix(".tfvars").unwrap_or(&file);
                if stem != cluster.name && known.iter().any(|k| k == stem) {
                    // Another cluster's by the convention; not even read.
                    continue;
                }
                let ours_by_name = by_name(stem, &known) == Some(cluster.name.as_str());
                let what = "the terraform projects folder";
                let src = match self.repo.existing_file(&path, what) {
                    Ok(src) => src,
                    // A file named for this cluster must be inside the
                    // repository; any other is simply not read.
                    Err(e) if ours_by_name => return Err(e),
                    Err(_) => continue,
                };
                let claims = tfvars_claims(&src);
                if tfvars_owner(stem, &claims, &known).as_deref() != Some(cluster.name.as_str()) {
                    continue;
                }
                let rel = format!("terraform/{provider}/projects/{file}");
                self.add(&[Kind::Infra.folder(), &rel], Kind::Infra, src)?;
                found = true;
            }
        }
        if !found {
            self.warnings.push(format!(
                "no terraform variables for cluster {0} under terraform/*/projects/ (looked for {0}.tfvars, {0}-*.tfvars and files setting cluster_name or prefix to \"{0}\"); the bundle carries none",
                cluster.name
            ));
        }
        let rel = format!("eksctl/{}.jsonnet", cluster.name);
        let path = self.repo.root().join(&rel);
        if path.symlink_metadata().is_ok() {
            let src = self.repo.existing_file(&path, "the eksctl folder")?;
            self.add(&[Kind::Infra.folder(), &rel], Kind::Infra, src)?;
            self.add_eksctl_imports(&rel)?;
        }
        Ok(())
    }

    /// The files the eksctl config imports (2i2c's `libsonnet/*.jsonnet`),
    /// so that the installer can render its node groups from the bundle
    /// alone. Only plain relative imports inside `eksctl/` are carried; at
    /// most 32 files.
    fn add_eksctl_imports(&mut self, first: &str) -> Result<()> {
        let mut queue = vec![first.to_owned()];
        let mut seen = vec![first.to_owned()];
        while let Some(rel) = queue.pop() {
            let path = self.repo.root().join(&rel);
            let text = repo::read_text(&path, 4 << 20)?;
            let base = Path::new(&rel).parent().unwrap_or(Path::new("eksctl"));
            for name in jsonnet_imports(&text) {
                let joined = normal_join(base, &name);
                let Some(joined) = joined.filter(|j| j.starts_with("eksctl/")) else {
                    continue;
                };
                if seen.contains(&joined) {
                    continue;
                }
                if seen.len() >= 32 {
                    bail!("eksctl/: {first} imports more than 32 files");
                }
                let src = self
                    .repo
                    .existing_file(&self.repo.root().join(&joined), &rel)?;
                self.add(&[Kind::Infra.folder(), &joined], Kind::Infra, src)?;
                seen.push(joined.clone());
                queue.push(joined);
            }
        }
        Ok(())
    }

    /// `terraform/<provider>/projects/` folders, by provider name, sorted.
    fn projects_folders(&self) -> Result<Vec<(String, PathBuf)>> {
        let terraform = self.repo.root().join("terraform");
        let Ok(entries) = std::fs::read_dir(&terraform) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.with_context(|| format!("cannot read {}", terraform.display()))?;
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let projects = e.path().join("projects");
            if projects.is_dir() {
                out.push((name, projects));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The `*.tfvars` files of a projects folder, by file name, sorted.
fn tfvars_in(projects: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(projects)
        .with_context(|| format!("cannot read {}", projects.display()))?
    {
        let e = e.with_context(|| format!("cannot read {}", projects.display()))?;
        if let Ok(name) = e.file_name().into_string()
            && name.ends_with(".tfvars")
            && name.len() > ".tfvars".len()
        {
            out.push((name, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Variables that name the cluster a tfvars file is for: 2i2c's AWS files
/// set `cluster_name`, its GCP files `prefix`.
const NAMING_VARIABLES: [&str; 3] = ["cluster_name", "prefix", "cluster"];

/// The string values of the naming variables a tfvars file sets; none
/// when it cannot be read as HCL.
fn tfvars_claims(src: &Path) -> Vec<String> {
    let Ok(text) = super::repo::read_text(src, 4 << 20) else {
        return Vec::new();
    };
    let Ok(hcl::Value::Object(top)) = hcl::from_str::<hcl::Value>(&text) else {
        return Vec::new();
    };
    NAMING_VARIABLES
        .iter()
        .filter_map(|k| top.get(*k)?.as_str().map(str::to_owned))
        .collect()
}

/// The known cluster a tfvars stem is named for: itself, or the longest
/// cluster name it starts with followed by `-`, `_` or `.`
/// (`nasa-cryo-prod` is nasa-cryo's, even beside a cluster `nasa`).
fn by_name<'a>(stem: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .filter(|k| {
            stem == k.as_str()
                || stem
                    .strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.starts_with(['-', '_', '.']))
        })
        .max_by_key(|k| k.len())
        .map(String::as_str)
}

/// Which cluster a tfvars file belongs to, from its stem and the values of
/// its naming variables (`claims`), or `None` when it is no known
/// cluster's or its claims disagree. In order:
/// 1. a stem that is a cluster's name: that cluster's (the convention);
/// 2. a naming variable set to exactly one known cluster: that one's;
/// 3. a stem that starts with a cluster's name: that cluster's, unless a
///    naming variable names another cluster: a known one, the stem itself
///    (`nasa-cryo-old.tfvars` with `cluster_name = "nasa-cryo-old"` is a
///    cluster of its own, gone from config/), or a sibling name.
pub fn tfvars_owner(stem: &str, claims: &[String], known: &[String]) -> Option<String> {
    if known.iter().any(|k| k == stem) {
        return Some(stem.to_owned());
    }
    let mut named: Vec<&String> = claims.iter().filter(|c| known.contains(c)).collect();
    named.sort();
    named.dedup();
    match named.as_slice() {
        [one] => return Some((*one).clone()),
        [] => {}
        _ => return None,
    }
    let owner = by_name(stem, known)?;
    let other = claims.iter().any(|c| {
        c != owner
            && (c == stem
                || c.strip_prefix(owner)
                    .is_some_and(|rest| rest.starts_with(['-', '_', '.'])))
    });
    (!other).then(|| owner.to_owned())
}

/// The paths a Jsonnet file imports (`import '…'`, `importstr "…"`), read
/// loosely: a name this misses is reported when the installer renders.
fn jsonnet_imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("import") {
            rest = &rest[at + "import".len()..];
            let after = rest
                .trim_start_matches("str")
                .trim_start_matches("bin")
                .trim_start();
            let Some(q) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(end) = after[1..].find(q) {
                out.push(after[1..=end].to_owned());
            }
        }
    }
    out
}

/// `base/name` with `.` and `..` resolved, as a `/`-separated relative
/// path; none when it climbs out of the repository or is absolute.
fn normal_join(base: &Path, name: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in base.join(name).components() {
        match c {
            std::path::Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(stem: &str, claims: &[&str]) -> Option<String> {
        let known: Vec<String> = ["nasa", "nasa-cryo", "nasa-veda", "2i2c-uk", "hhmi"]
            .map(String::from)
            .to_vec();
        let claims: Vec<String> = claims.iter().map(|c| (*c).to_owned()).collect();
        tfvars_owner(stem, &claims, &known)
    }

    #[test]
    fn eksctl_imports_are_read_and_kept_inside() {
        let text = "local cluster = import './libsonnet/cluster.jsonnet';\n\
                    // import 'commented.jsonnet'\n\
                    local x = importstr \"../notes.txt\"; local y = import\"a.libsonnet\";";
        assert_eq!(
            jsonnet_imports(text),
            ["./libsonnet/cluster.jsonnet", "../notes.txt", "a.libsonnet"]
        );
        let base = Path::new("eksctl");
        assert_eq!(
            normal_join(base, "./libsonnet/cluster.jsonnet").as_deref(),
            Some("eksctl/libsonnet/cluster.jsonnet")
        );
        assert_eq!(
            normal_join(base, "../notes.txt").as_deref(),
            Some("notes.txt")
        );
        assert_eq!(normal_join(base, "../../x"), None);
    }

    #[test]
    fn a_tfvars_file_belongs_to_one_cluster_at_most() {
        let some = |s: &str| Some(s.to_owned());
        // The convention, whatever the file says.
        assert_eq!(owner("2i2c-uk", &["two-eye-two-see-uk"]), some("2i2c-uk"));
        assert_eq!(owner("nasa-veda", &["nasa-cryo"]), some("nasa-veda"));
        // Other names that clearly belong.
        assert_eq!(owner("nasa-cryo-prod", &["nasa-cryo"]), some("nasa-cryo"));
        assert_eq!(owner("nasa-cryo_prod", &[]), some("nasa-cryo"));
        assert_eq!(owner("nasa-cryo.prod", &[]), some("nasa-cryo"));
        assert_eq!(
            owner("2i2c-uk-prod", &["two-eye-two-see-uk"]),
            some("2i2c-uk")
        );
        assert_eq!(owner("earth", &["hhmi"]), some("hhmi"));
        assert_eq!(owner("nasa-x", &[]), some("nasa"));
        // Never another cluster's.
        assert_eq!(owner("nasa-cryo-old", &["nasa-cryo-old"]), None);
        assert_eq!(owner("nasa-cryo-x", &["nasa-cryo-staging"]), None);
        assert_eq!(owner("2i2c-uk-copy", &["hhmi"]), some("hhmi"));
        assert_eq!(owner("both", &["hhmi", "2i2c-uk"]), None);
        assert_eq!(owner("hhmix", &[]), None);
        assert_eq!(owner("uk", &["two-eye-two-see-uk"]), None);
        assert_eq!(owner("template", &[]), None);
    }
}
