//! The export pipeline between reading a repository and writing a bundle:
//! open what secrets can be opened, build each hub's standalone values,
//! validate them, seal the secrets for the community, scan every member for
//! plaintext secrets, and write the portability report. Nothing here writes
//! to disk; the result is a list of generated members for the bundle writer.

pub(crate) mod pipeline;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bundle::layout::{self, Kind, MemberPath, REPORT, SUPPORT_FOLDER, VALUES_FILE};
use crate::report::findings::{self, SealedFile};
use crate::report::profile::Profile;
use crate::report::{Finding, HubReport, Parameter, ProviderRef, Report, Summary, Validation};
use crate::secrets::leak::{self, Allowed, Hit};
use crate::secrets::open::{Opened, Openers};
use crate::secrets::seal::Recipients;
use crate::source::cluster::ClusterConfig;
use crate::source::plan::{ExportPlan, Planned};
use crate::source::repo::{InfraRepo, read_text};
use crate::values::derived::DeployVars;
use crate::values::standalone::{self, Inputs};
use crate::values::tree::{self, KeyPath, Map, Values};
use crate::values::validate::Z2jh;
use crate::values::{merge, params};

const MAX_SCAN_BYTES: u64 = 16 << 20;

pub(crate) struct Options {
    pub openers: Openers,
    pub recipients: Recipients,
    pub allowed: Allowed,
    pub z2jh: Option<Z2jh>,
    pub profile: Profile,
    /// `built-in` or the profile file's name.
    pub profile_name: String,
}

pub(crate) struct Generated {
    pub path: MemberPath,
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

pub(crate) struct Prepared {
    pub generated: Vec<Generated>,
    pub report: Report,
    /// Leak-scan hits let through by --allow-plaintext.
    pub allowed: Vec<Hit>,
    pub warnings: Vec<String>,
}

/// The cluster being exported, as every stage of preparing it reads it.
struct Export<'a> {
    repo: &'a InfraRepo,
    plan: &'a ExportPlan,
    opts: &'a Options,
    cluster: ClusterConfig,
    /// cluster.yaml as parsed YAML, for the keys ClusterConfig does not name.
    raw_cluster: Values,
    cluster_dir: PathBuf,
}

pub(crate) fn prepare(repo: &InfraRepo, plan: &ExportPlan, opts: &Options) -> Result<Prepared> {
    let cluster_dir = repo.cluster_dir(&plan.source.cluster)?;
    let cluster_yaml_path = cluster_dir.join("cluster.yaml");
    let cluster = ClusterConfig::load(&cluster_yaml_path)?;
    let raw_cluster = tree::parse_yaml(&read_text(&cluster_yaml_path, 4 << 20)?)
        .context("cluster.yaml is not valid YAML")?;
    let ex = Export {
        repo,
        plan,
        opts,
        cluster,
        raw_cluster,
        cluster_dir,
    };
    let mut generated = Vec::new();
    let mut warnings = Vec::new();
    let mut hubs = Vec::new();
    for hub in &plan.source.hubs {
        hubs.push(ex.hub(hub, &mut generated, &mut warnings)?);
    }
    let cluster_findings = ex.cluster_findings(&mut generated)?;
    let report = ex.report(cluster_findings, hubs, &generated);
    generated.push(Generated {
        path: MemberPath::parse(REPORT)?,
        kind: Kind::Report,
        bytes: report.to_json()?,
    });

    let allowed = leak_scan(plan, &generated, &opts.allowed)?;
    Ok(Prepared {
        generated,
        report,
        allowed,
        warnings,
    })
}

impl Export<'_> {
    /// A hub's standalone values and sealed secrets (added to `generated`),
    /// and its part of the portability report.
    fn hub(
        &self,
        hub: &crate::bundle::manifest::Hub,
        generated: &mut Vec<Generated>,
        warnings: &mut Vec<String>,
    ) -> Result<HubReport> {
        let (repo, plan, opts) = (self.repo, self.plan, self.opts);
        let ValuesFiles {
            plain: plain_files,
            mut sealed,
            secrets,
        } = split_values_files(repo, plan, &hub.values_files, opts)?;
        let domain = self.domain(hub, &mut sealed, warnings)?;
        let vars = DeployVars {
            cluster: deploy_cluster_name(
                &self.raw_cluster,
                &self.cluster.provider,
                &self.cluster.name,
            ),
            hub: hub.name.clone(),
            domain: domain.clone(),
            provider: self.cluster.provider.clone(),
            account_id: account_id(&self.raw_cluster, &self.cluster.provider),
        };
        let override_src = hub
            .chart_override
            .as_deref()
            .and_then(|path| plan.member(path))
            .map(|m| m.src.clone());
        let built = standalone::build(&Inputs {
            repo,
            chart: &hub.helm_chart,
            chart_override: override_src.as_deref(),
            vars: &vars,
            files: &plain_files,
            staff: &opts.profile.staff,
            provider: &opts.profile.display_name,
        })
        .with_context(|| format!("hub {}: building standalone values", hub.name))?;
        let values_path = layout::hub_values(&hub.name)?;
        if plan.member(values_path.as_str()).is_some() {
            bail!(
                "hub {}: the repository already has a values file named {VALUES_FILE}; r2r writes the standalone values under that name",
                hub.name
            );
        }
        let sources: Vec<String> = plain_files.iter().map(|(s, _)| s.clone()).collect();
        let text = standalone::render(&built.values, &hub.name, &sources)?;
        generated.push(Generated {
            path: values_path.clone(),
            kind: Kind::Config,
            bytes: text.into_bytes(),
        });

        let secrets_member = match secrets {
            Some(values) => Some(seal(&values, opts, &hub.name, generated)?),
            None => None,
        };
        let validation = validate(opts.z2jh.as_ref(), &built);
        let vm = values_path.as_str();
        let mut found = findings::sealed_files(&sealed, &opts.profile, secrets_member.as_deref());
        let images = hub_images(plan, hub, &built.values)?;
        let parameters = hub_findings(&built, &domain, vm, &hub.name, &images, opts, &mut found);
        Ok(HubReport {
            name: hub.name.clone(),
            domain: domain.clone(),
            domain_zone: opts.profile.dns_zone_of(&domain).map(str::to_owned),
            helm_chart: hub.helm_chart.clone(),
            values: values_path.to_string(),
            secrets: secrets_member,
            derived_by: built.derived_by,
            findings: found,
            parameters,
            removed: built.removed,
            validation,
            images,
        })
    }

    /// The hub's domain: its domain override file's `domain` when the file
    /// can be read (opening it when sealed), else the one cluster.yaml gives.
    fn domain(
        &self,
        hub: &crate::bundle::manifest::Hub,
        sealed: &mut Vec<SealedFile>,
        warnings: &mut Vec<String>,
    ) -> Result<String> {
        let Some(path) = &hub.domain_override_file else {
            return Ok(hub.domain.clone());
        };
        let m = self
            .plan
            .member(path)
            .with_context(|| format!("{path} is not in the plan"))?;
        let doc = if m.kind == Kind::Secret {
            let (file, values) = open_sealed(self.repo, m, self.opts)?;
            sealed.push(file);
            values
        } else {
            Some(tree::parse_yaml(&read_text(&m.src, MAX_SCAN_BYTES)?)?)
        };
        match doc
            .as_ref()
            .and_then(|d| d.get("domain"))
            .and_then(Values::as_str)
        {
            Some(d) => Ok(d.to_owned()),
            None => {
                warnings.push(format!(
                    "hub {}: its domain is overridden by {path}, which could not be read; using {}",
                    hub.name, hub.domain
                ));
                Ok(hub.domain.clone())
            }
        }
    }

    /// Findings about the cluster rather than one hub: the support release's
    /// and the charts' sealed files (the support secrets sealed for the
    /// community are added to `generated`), monitoring, cloud ids, who pays,
    /// and the terraform state.
    fn cluster_findings(&self, generated: &mut Vec<Generated>) -> Result<Vec<Finding>> {
        let (repo, plan, opts) = (self.repo, self.plan, self.opts);
        let mut cluster_findings = Vec::new();
        if let Some(support) = &plan.source.support {
            let files = split_values_files(repo, plan, &support.values_files, opts)?;
            let sealed_to = match files.secrets {
                Some(values) => Some(seal(&values, opts, SUPPORT_FOLDER, generated)?),
                None => None,
            };
            let sealed = files.sealed;
            cluster_findings.extend(findings::sealed_files(
                &sealed,
                &opts.profile,
                sealed_to.as_deref(),
            ));
        }
        cluster_findings.extend(findings::sealed_files(
            &chart_sealed_files(plan)?,
            &opts.profile,
            None,
        ));
        let provider_hosts = self.provider_hosts()?;
        let monitoring_files: Vec<String> = opts
            .profile
            .monitoring
            .secret_files
            .iter()
            .filter(|f| self.cluster_dir.join(f).is_file())
            .map(|f| format!("config/clusters/{}/{f}", self.cluster.name))
            .collect();
        cluster_findings.extend(findings::monitoring(
            &monitoring_files,
            &provider_hosts,
            &opts.profile,
        ));
        let tfvars: Vec<(String, String)> = plan
            .members
            .iter()
            .filter(|m| m.kind == Kind::Infra && m.path.as_str().ends_with(".tfvars"))
            .filter_map(|m| Some((m.path.to_string(), read_text(&m.src, MAX_SCAN_BYTES).ok()?)))
            .collect();
        cluster_findings.extend(findings::cloud_ids(&self.raw_cluster, &tfvars));
        cluster_findings.extend(findings::provider_pays(&self.raw_cluster, &opts.profile));
        cluster_findings.push(findings::terraform_state(
            terraform_backend(repo, &self.cluster.provider),
            &opts.profile,
        ));
        Ok(cluster_findings)
    }

    /// Hosts in the support release's values that lie in the provider's DNS
    /// zone, with where each is first named; one per host.
    fn provider_hosts(&self) -> Result<Vec<(String, String)>> {
        let mut provider_hosts = Vec::new();
        for m in self.plan.members.iter().filter(|m| m.kind == Kind::Config) {
            if !m
                .path
                .as_str()
                .starts_with(&layout::group_prefix(Kind::Config, SUPPORT_FOLDER))
            {
                continue;
            }
            let doc = tree::parse_yaml(&read_text(&m.src, MAX_SCAN_BYTES)?)
                .with_context(|| format!("{} is not valid YAML", self.repo.shown(&m.src)))?;
            tree::for_each_leaf(&doc, &mut |p, v| {
                if let Some(s) = v.as_str()
                    && p.key_names().any(|k| k == "hosts")
                    && self.opts.profile.dns_zone_of(s).is_some()
                {
                    provider_hosts.push((s.to_owned(), format!("{}:{p}", m.path)));
                }
            });
        }
        provider_hosts.sort();
        provider_hosts.dedup_by(|a, b| a.0 == b.0);
        Ok(provider_hosts)
    }

    /// The portability report, summarised; it names the community's
    /// recipients only when secrets were sealed to them.
    fn report(
        &self,
        cluster_findings: Vec<Finding>,
        hubs: Vec<HubReport>,
        generated: &[Generated],
    ) -> Report {
        let opts = self.opts;
        let mut report = Report {
            report_version: crate::report::REPORT_VERSION,
            provider: ProviderRef {
                name: opts.profile.name.clone(),
                display_name: opts.profile.display_name.clone(),
                profile: opts.profile_name.clone(),
            },
            cluster: self.cluster.name.clone(),
            cloud: self.cluster.provider.clone(),
            recipients: if generated.iter().any(|g| g.kind == Kind::Secret) {
                opts.recipients.to_strings()
            } else {
                Vec::new()
            },
            summary: Summary {
                blockers: 0,
                actions: 0,
                warnings: 0,
            },
            cluster_findings,
            hubs,
        };
        report.summarise();
        report
    }
}

/// The hub's jupyterhub values checked against the Zero to JupyterHub
/// schema, when --z2jh gives it.
fn validate(z2jh: Option<&Z2jh>, built: &standalone::Standalone) -> Validation {
    match z2jh {
        Some(z) => {
            let prefix = built.root.key("jupyterhub");
            let section = tree::get(&built.values, &prefix)
                .cloned()
                .unwrap_or_else(|| Values::Mapping(Map::new()));
            Validation {
                checked: true,
                schema: Some(z.dir.join("values.schema.yaml").display().to_string()),
                violations: z.check(&section, &prefix),
            }
        }
        None => Validation {
            checked: false,
            schema: None,
            violations: Vec::new(),
        },
    }
}

/// Adds the findings about a hub's standalone values (`vm`, its member)
/// to `found`; returns the parameters a community sets for itself.
fn hub_findings(
    built: &standalone::Standalone,
    domain: &str,
    vm: &str,
    hub: &str,
    images: &crate::images::discover::Discovery,
    opts: &Options,
    found: &mut Vec<Finding>,
) -> Vec<Parameter> {
    found.push(findings::domain(domain, vm, &opts.profile));
    found.extend(findings::oauth(
        &built.values,
        &built.root,
        domain,
        vm,
        &opts.profile,
    ));
    found.extend(findings::images(images, &built.values, vm, &opts.profile));
    found.extend(findings::unlisted_images(images, vm));
    found.extend(findings::staff(
        &built.removed,
        &built.values,
        vm,
        &opts.profile,
    ));
    found.extend(findings::nfs(&built.values, &built.root, vm, hub));
    let (provider_params, provider_findings) =
        findings::provider_settings(&built.values, &built.root, vm, &opts.profile);
    found.extend(provider_findings);
    let mut parameters = params::find(&built.values, &built.root, domain);
    parameters.extend(provider_params);
    parameters
}

/// Every image the hub runs: its values coalesced over the complete chart
/// it installs (every enabled subchart's defaults), and the templates.
fn hub_images(
    plan: &ExportPlan,
    hub: &crate::bundle::manifest::Hub,
    values: &Values,
) -> Result<crate::images::discover::Discovery> {
    let Some(chart) = hub.chart_path.as_deref().and_then(|p| plan.chart_at(p)) else {
        return Ok(crate::images::discover::discover(values));
    };
    let coalesced =
        crate::values::coalesce::coalesce(&chart.loaded, values).with_context(|| {
            format!(
                "hub {}: coalescing its values over {}",
                hub.name,
                layout::chart(&chart.folder)
            )
        })?;
    Ok(crate::images::discover::discover_chart(&coalesced, values))
}

/// A values-file list split into plaintext files, in order, and sealed
/// ones; the sealed ones that opened are merged, in order.
struct ValuesFiles {
    plain: Vec<(String, PathBuf)>,
    sealed: Vec<SealedFile>,
    secrets: Option<Values>,
}

fn split_values_files(
    repo: &InfraRepo,
    plan: &ExportPlan,
    paths: &[String],
    opts: &Options,
) -> Result<ValuesFiles> {
    let mut out = ValuesFiles {
        plain: Vec::new(),
        sealed: Vec::new(),
        secrets: None,
    };
    for path in paths {
        let m = plan
            .member(path)
            .with_context(|| format!("{path} is not in the plan"))?;
        if m.kind != Kind::Secret {
            out.plain.push((path.clone(), m.src.clone()));
            continue;
        }
        let (file, values) = open_sealed(repo, m, opts)?;
        if let Some(v) = values {
            merge::layer(
                out.secrets
                    .get_or_insert_with(|| Values::Mapping(Map::new())),
                v,
            );
        }
        out.sealed.push(file);
    }
    Ok(out)
}

fn open_sealed(
    repo: &InfraRepo,
    m: &Planned,
    opts: &Options,
) -> Result<(SealedFile, Option<Values>)> {
    let shown = repo.shown(&m.src);
    Ok(match opts.openers.open(&m.src, &shown)? {
        Opened::Plain {
            values,
            route,
            keys,
            key_paths,
        } => (
            SealedFile {
                member: m.path.to_string(),
                keys,
                key_paths,
                opened_by: Some(route),
                why_sealed: String::new(),
            },
            Some(values),
        ),
        Opened::Sealed {
            keys,
            key_paths,
            why,
        } => (
            SealedFile {
                member: m.path.to_string(),
                keys,
                key_paths,
                opened_by: None,
                why_sealed: why,
            },
            None,
        ),
    })
}

/// The sops files a chart carries as its own (2i2c's support chart has
/// `enc-support.secret.values.yaml` and `enc-cryptnono.secret.values.yaml`,
/// which its deployer passes to every support install). They travel inside
/// the chart as the provider sealed them; the report names their keys and
/// what they hold.
fn chart_sealed_files(plan: &ExportPlan) -> Result<Vec<SealedFile>> {
    let mut out = Vec::new();
    for m in plan.members.iter().filter(|m| m.kind == Kind::Chart) {
        let name = m.path.as_str().rsplit('/').next().unwrap_or_default();
        if !crate::secrets::sops::named_as_secret(name) {
            continue;
        }
        let text = read_text(&m.src, crate::secrets::sops::MAX_SECRET_BYTES)
            .with_context(|| format!("chart member {}", m.path))?;
        out.push(SealedFile {
            member: m.path.to_string(),
            keys: crate::secrets::sops::sealing_keys(&text),
            key_paths: crate::secrets::sops::key_paths(&text),
            opened_by: None,
            why_sealed:
                "a chart's own secret file travels inside the chart as the provider sealed it"
                    .into(),
        });
    }
    Ok(out)
}

/// Seals a folder's opened secrets for the community as
/// `secrets/<folder>/secret-values.yaml.age`; returns the member path.
fn seal(
    secrets: &Values,
    opts: &Options,
    folder: &str,
    generated: &mut Vec<Generated>,
) -> Result<String> {
    let path = layout::sealed_secrets(folder)?;
    let plain = tree::to_helm_text(secrets)
        .with_context(|| format!("cannot serialise the secrets of {folder}"))?;
    let header = format!(
        "# Secret Helm values for {folder}, opened from the provider's sops files by r2r.\n"
    );
    let bytes = opts
        .recipients
        .seal(format!("{header}{plain}").as_bytes())
        .with_context(|| format!("sealing the secrets of {folder}"))?;
    generated.push(Generated {
        path: path.clone(),
        kind: Kind::Secret,
        bytes,
    });
    Ok(path.to_string())
}

/// The cluster name 2i2c's deployer passes to values.jsonnet: on AWS the
/// EKS cluster's name (`aws.clusterName`), elsewhere cluster.yaml's `name`.
fn deploy_cluster_name(cluster_yaml: &Values, provider: &str, name: &str) -> String {
    let eks = KeyPath::keys(&["aws", "clusterName"]);
    match tree::get(cluster_yaml, &eks).and_then(Values::as_str) {
        Some(n) if provider == "aws" && !n.is_empty() => n.to_owned(),
        _ => name.to_owned(),
    }
}

/// GCP project or AWS account number, as the provider's deployer passes
/// them to values.jsonnet; for other clouds it passes Python's `None`,
/// printed as the text "None", and so does r2r.
fn account_id(cluster_yaml: &Values, provider: &str) -> String {
    let path = match provider {
        "gcp" => "gcp.project",
        "aws" => "aws.account",
        _ => return "None".into(),
    };
    KeyPath::parse(path)
        .and_then(|p| tree::get(cluster_yaml, &p).map(tree::key_text))
        .unwrap_or_default()
}

/// The state bucket from a `backend` block in terraform/<cloud>/*.tf.
fn terraform_backend(repo: &InfraRepo, provider: &str) -> Option<String> {
    let dir: PathBuf = repo.root().join("terraform").join(provider);
    let re = regex::Regex::new(
        r#"backend\s+"(\w+)"\s*\{[^}]*?(?:bucket|storage_account_name)\s*=\s*"([^"]+)""#,
    )
    .ok()?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
    {
        // Only regular files inside the repository: a symlink could name
        // another project's backend.
        let Ok(real) = repo.existing_file(path, "terraform") else {
            continue;
        };
        let Ok(text) = read_text(&real, 1 << 20) else {
            continue;
        };
        if let Some(c) = re.captures(&text) {
            return Some(format!(
                "the {} backend `{}` ({})",
                &c[1],
                &c[2],
                repo.shown(path)
            ));
        }
    }
    None
}

/// Every member the bundle will hold, scanned before a byte is written.
fn leak_scan(plan: &ExportPlan, generated: &[Generated], allowed: &Allowed) -> Result<Vec<Hit>> {
    let mut hits = Vec::new();
    for m in &plan.members {
        hits.extend(scan_file(m.path.as_str(), &m.src)?);
    }
    // A value copied from a repository file into the standalone values is
    // named once, in the file it was written in.
    let written: std::collections::HashSet<String> =
        hits.iter().map(|h| h.fingerprint.clone()).collect();
    for g in generated.iter().filter(|g| g.kind == Kind::Config) {
        hits.extend(
            leak::scan_member(g.path.as_str(), &g.bytes)
                .into_iter()
                .filter(|h| !written.contains(&h.fingerprint)),
        );
    }
    hits.sort();
    hits.dedup();
    let (refused, let_through) = allowed.filter(hits);
    if !refused.is_empty() {
        let lines: Vec<String> = refused
            .iter()
            .map(|h| {
                format!(
                    "  {}: {} {}\n    to carry it anyway: {}",
                    h.member,
                    h.key_path,
                    h.reason,
                    h.allow_flag()
                )
            })
            .collect();
        bail!(
            "refusing to export: {} plaintext secret{} found (values not shown)\n{}\nhint: seal them with sops, or move them to an enc-*.secret.* file",
            refused.len(),
            if refused.len() == 1 { "" } else { "s" },
            lines.join("\n")
        );
    }
    Ok(let_through)
}

fn scan_file(member: &str, src: &Path) -> Result<Vec<Hit>> {
    let len = std::fs::metadata(src)
        .with_context(|| format!("cannot read {}", src.display()))?
        .len();
    if len > MAX_SCAN_BYTES {
        let file =
            std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
        return leak::scan_stream(member, std::io::BufReader::new(file))
            .with_context(|| format!("scanning {}", src.display()));
    }
    let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    Ok(leak::scan_member(member, &bytes))
}
