//! What the installer knows from the bundle alone: hubs, domains and
//! whether the community owns them, sealed secrets, homes, buckets, images,
//! and the source cluster's sizes from its terraform variables. Question
//! defaults and templates are rendered from these.

use std::collections::BTreeMap;

use std::io::BufReader;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value as Json;

use super::names;
pub(crate) use super::pools::Pool;
use super::{eksctl, pools, scheduling};
use crate::bundle::layout::{self, CLUSTER, IMAGES_INDEX, Kind, REPORT};
use crate::bundle::verify::Trusted;
use crate::data::index::{IndexReader, Type};
use crate::data::names as members;
use crate::data::restore;
use crate::report::Report;
use crate::values::standalone;
use crate::values::tree::{self, KeyPath};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Facts {
    pub cluster: String,
    pub provider: String,
    /// `<cluster>-<creation time>`: names the bundle in buckets and state.
    pub bundle_id: String,
    /// The signer's public key, base64, for the in-cluster restore.
    pub pubkey: String,
    pub hub_names: Vec<String>,
    pub hubs: Vec<HubFacts>,
    pub bucket_names: Vec<String>,
    pub bucket_bytes: BTreeMap<String, u64>,
    /// The source's buckets (its tfvars' `user_buckets`, then any other
    /// the bundle carries), with the hubs each belongs to.
    pub source_buckets: Vec<SourceBucket>,
    pub has_secrets: bool,
    /// Images carried, and the bytes under images/.
    pub images: usize,
    pub image_bytes: u64,
    /// Whether any hub has homes.
    pub homes: bool,
    pub source: SourceFacts,
    /// What the installer should be told about the bundle but can go on
    /// without (a tfvars file that is not HCL).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HubFacts {
    pub name: String,
    pub domain: String,
    pub domain_owned: bool,
    pub chart: String,
    /// The complete chart folder it installs (`charts/basehub@lis`).
    pub chart_path: String,
    /// Every chart folder to copy for it: its own and, through `file://`
    /// dependencies, the charts it packages (basehub for daskhub).
    pub chart_folders: Vec<String>,
    /// Whether the chart folder is complete (every dependency's archive
    /// carried). Bundles written before complete charts carry the
    /// repository's chart only, and Helm must fetch its dependencies.
    pub chart_complete: bool,
    /// Where basehub's values sit in the chart's: `basehub` for daskhub.
    pub values_root: String,
    /// The authenticator when it needs an OAuth client (`github`, …).
    pub oauth: String,
    /// Its config section (`GitHubOAuthenticator`), where client_id goes.
    pub oauth_class: String,
    pub secrets: Option<String>,
    pub homes: bool,
    pub home_bytes: u64,
    pub hub_db: bool,
    /// The source's home disk size for this hub, in GB, when known.
    pub source_disk_gb: Option<u64>,
    /// Settings that name something of the provider's the hub fetches
    /// while it runs (report.json parameters from the profile's
    /// `provider_settings`, like `homepage_repo`): name → current value.
    /// The installer asks the hub question of the same name.
    pub settings: BTreeMap<String, String>,
    /// The node selectors of its values (and of dask-gateway's chart when
    /// it runs one), which the replica's pools must meet.
    #[serde(skip)]
    pub demands: Vec<scheduling::Demand>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct SourceFacts {
    pub cloud: String,
    pub project: String,
    pub account: String,
    pub subscription: String,
    pub region: String,
    pub zone: String,
    pub location: String,
    /// cluster.yaml says the community pays for the account (so owns it).
    pub community_pays: bool,
    pub core_machine_type: Option<String>,
    pub user_pools: Vec<Pool>,
    /// The member the sizes were read from; empty when none.
    pub tfvars: String,
    /// The member the user pools were read from, when not `tfvars` (an
    /// eksctl config).
    pub pools_from: String,
}

/// A bucket of the source cluster.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SourceBucket {
    /// Its key in the source's tfvars, or its name in the bundle.
    pub key: String,
    /// Its real name at the provider (`<cluster_name or prefix>-<key>`).
    pub source_name: String,
    /// The hubs it belongs to; empty when the source does not say.
    pub hubs: Vec<String>,
    pub delete_after_days: Option<u64>,
    /// Its name in the bundle, when the bundle carries its objects.
    pub carried: Option<String>,
}

pub(crate) fn gather(trusted: &Trusted, pubkey: &str) -> Result<Facts> {
    let report = Report::from_bundle(trusted)?;
    let m = &trusted.manifest;
    names::label(&m.source.cluster).context("the bundle's cluster name")?;
    let homes_in = restore::hubs_in(trusted);
    let mut hubs = Vec::new();
    let mut warnings = Vec::new();
    let (cluster_yaml, tfvars, tfvars_member) =
        source_files(trusted, &report.cloud, &mut warnings)?;
    let mut source = source_facts(&report.cloud, &cluster_yaml, &tfvars);
    source.tfvars = tfvars_member;
    eksctl_pools(trusted, &mut source, &mut warnings);
    for h in &report.hubs {
        hubs.push(hub_facts(trusted, h, &homes_in, &tfvars)?);
    }
    let bucket_names = restore::buckets_in(trusted);
    let source_buckets = super::buckets::of_source(&tfvars, &bucket_names);
    let size_under = |prefix: &str| -> u64 {
        m.members
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| r.size)
            .sum()
    };
    let bucket_bytes = bucket_names
        .iter()
        .map(|b| {
            (
                b.clone(),
                size_under(&layout::group_prefix(Kind::Bucket, b)),
            )
        })
        .collect();
    let images = if trusted.has(IMAGES_INDEX) {
        crate::images::push::carried(trusted)?.len()
    } else {
        0
    };
    source.cloud = report.cloud.clone();
    let created: String = m
        .created
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    Ok(Facts {
        cluster: m.source.cluster.clone(),
        provider: report.provider.display_name.clone(),
        bundle_id: format!("{}-{created}", m.source.cluster),
        pubkey: pubkey.to_owned(),
        hub_names: hubs.iter().map(|h| h.name.clone()).collect(),
        has_secrets: hubs.iter().any(|h| h.secrets.is_some()),
        homes: hubs.iter().any(|h| h.homes),
        hubs,
        bucket_names,
        bucket_bytes,
        source_buckets,
        images,
        image_bytes: size_under(&Kind::Image.prefix()),
        source,
        warnings,
    })
}

/// What the installer needs of one hub of the report, its names checked.
fn hub_facts(
    trusted: &Trusted,
    h: &crate::report::HubReport,
    homes_in: &[String],
    tfvars: &Json,
) -> Result<HubFacts> {
    let m = &trusted.manifest;
    names::label(&h.name).with_context(|| format!("the bundle's hub name {:?}", h.name))?;
    names::domain(&h.domain).with_context(|| format!("{REPORT}: hub {}: its domain", h.name))?;
    names::label(&h.helm_chart).with_context(|| format!("{REPORT}: hub {}: its chart", h.name))?;
    let (chart_path, chart_folders) = chart_of(trusted, &h.name, &h.helm_chart)?;
    let chart_complete = m
        .source
        .hubs
        .iter()
        .any(|x| x.name == h.name && x.chart_path.is_some());
    let values_root = if h.helm_chart == "daskhub" {
        "basehub"
    } else {
        ""
    };
    let owned = h.domain_zone.is_none();
    let oauth_finding = h.findings.iter().any(|f| f.category == "oauth");
    let (oauth, oauth_class) = if oauth_finding {
        authenticator(trusted, &h.name, values_root)?
    } else {
        (String::new(), String::new())
    };
    let homes = homes_in.contains(&h.name);
    let home_bytes = if homes {
        home_bytes(trusted, &h.name)?
    } else {
        0
    };
    Ok(HubFacts {
        name: h.name.clone(),
        domain: h.domain.clone(),
        domain_owned: owned,
        chart: h.helm_chart.clone(),
        chart_path,
        chart_folders,
        chart_complete,
        values_root: values_root.into(),
        oauth,
        oauth_class,
        secrets: h.secrets.clone().filter(|s| trusted.has(s)),
        homes,
        home_bytes,
        hub_db: trusted.has(layout::hub_db(&h.name)?.as_str()),
        source_disk_gb: disk_gb(tfvars, &h.name),
        settings: provider_settings(h),
        demands: demands(trusted, &h.name, values_root, &h.helm_chart)?,
    })
}

/// The node selectors of a hub's standalone values: dask-gateway's chart
/// adds its own when the hub is a daskhub or enables it.
fn demands(
    trusted: &Trusted,
    hub: &str,
    root: &str,
    chart: &str,
) -> Result<Vec<scheduling::Demand>> {
    let values = standalone::from_bundle(trusted, hub)?.values;
    let base = if root.is_empty() {
        KeyPath::root()
    } else {
        KeyPath::root().key(root)
    };
    let enabled = tree::get(&values, &base.key("dask-gateway").key("enabled"))
        .and_then(tree::Values::as_bool)
        .unwrap_or(false);
    Ok(scheduling::demands(
        &values,
        &base,
        chart == "daskhub" || enabled,
    ))
}

/// The authenticator a hub's standalone values name, and the config
/// section its client id and secret go in.
fn authenticator(trusted: &Trusted, hub: &str, root: &str) -> Result<(String, String)> {
    let standalone::FromBundle { member, values } = standalone::from_bundle(trusted, hub)?;
    let base = if root.is_empty() {
        KeyPath::root()
    } else {
        KeyPath::root().key(root)
    };
    let path = base
        .key("jupyterhub")
        .key("hub")
        .key("config")
        .key("JupyterHub")
        .key("authenticator_class");
    let class = tree::get(&values, &path)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let section = match class.to_ascii_lowercase().as_str() {
        "github" => "GitHubOAuthenticator".to_owned(),
        "cilogon" => "CILogonOAuthenticator".to_owned(),
        "auth0" => "Auth0OAuthenticator".to_owned(),
        "google" => "GoogleOAuthenticator".to_owned(),
        "generic-oauth" | "generic" => "GenericOAuthenticator".to_owned(),
        other => other.rsplit('.').next().unwrap_or_default().to_owned(),
    };
    if section.is_empty() {
        return Ok((String::new(), String::new()));
    }
    names::identifier(&section)
        .with_context(|| format!("{member}: the authenticator class {class:?}"))?;
    names::printable(&class)?;
    Ok((class, section))
}

/// The bytes of a hub's homes, which size its disk: `_hub.json` says them,
/// and each home's signed index must list as many (the index is what the
/// restore checks every file against, so a `_hub.json` that inflates them
/// is refused here, before it sizes anything).
fn home_bytes(trusted: &Trusted, hub: &str) -> Result<u64> {
    let record = layout::hub_record(hub)?;
    let mut total = 0u64;
    for home in restore::hub_record(trusted, hub)?.homes {
        let index = layout::chunk_index(Kind::Home, hub, &members::stem(&home.home.0))?;
        let mut member = trusted.open(index.as_str())?;
        let mut listed = 0u64;
        {
            let (_, mut lines) = IndexReader::open(BufReader::new(&mut member))
                .map_err(|e| anyhow!("member {index}: {e}"))?;
            while let Some(e) = lines
                .next_entry()
                .map_err(|e| anyhow!("member {index}: {e}"))?
            {
                if e.kind == Type::File {
                    listed = listed.saturating_add(e.size);
                }
            }
        }
        member.finish()?;
        if listed != home.bytes {
            bail!(
                "member {record} says home {} holds {} bytes, but its signed index {index} lists {listed}",
                home.home.shown(),
                home.bytes
            );
        }
        total = total.saturating_add(listed);
    }
    Ok(total)
}

fn source_files(
    trusted: &Trusted,
    cloud: &str,
    warnings: &mut Vec<String>,
) -> Result<(Json, Json, String)> {
    let yaml = match trusted.read_small(CLUSTER, 4 << 20) {
        Ok(b) => String::from_utf8(b)
            .ok()
            .and_then(|t| tree::parse_yaml(&t).ok())
            .and_then(|v| tree::to_json(&v).ok())
            .unwrap_or(Json::Null),
        Err(_) => Json::Null,
    };
    // The export carries only this cluster's variables, under whatever
    // name the repository gave them: `<cluster>.tfvars` first, then any
    // other under the cloud's own folder (another cloud's variables would
    // not fit this cloud's sizes).
    // A kubeconfig cluster (utoronto) names no cloud, but the export
    // carries its variables from the cloud folder they were filed under:
    // any cloud's do then, their machine types mapped like any source's.
    let folder = layout::terraform_projects(cloud);
    let infra = layout::infra("");
    let exact = format!("{folder}{}.tfvars", trusted.manifest.source.cluster);
    let mut others: Vec<&str> = trusted
        .members_under(&folder)
        .filter(|m| m.ends_with(".tfvars") && *m != exact)
        .collect();
    if others.is_empty() && !trusted.has(&exact) {
        others = trusted
            .members_under(&infra)
            .filter(|m| m.ends_with(".tfvars") && layout::is_terraform_projects(m))
            .collect();
    }
    others.sort_unstable();
    let member = if trusted.has(&exact) {
        Some(exact.clone())
    } else {
        others.first().map(|m| (*m).to_owned())
    };
    let tfvars = if let Some(member) = &member {
        let bytes = trusted.read_small(member, 4 << 20)?;
        let text =
            String::from_utf8(bytes).with_context(|| format!("member {member} is not UTF-8"))?;
        match hcl::from_str::<hcl::Value>(&text) {
            Ok(v) => serde_json::to_value(v).unwrap_or(Json::Null),
            Err(e) => {
                warnings.push(format!(
                    "{member} cannot be read as HCL ({e}); sizes fall back to the blueprint's defaults"
                ));
                Json::Null
            }
        }
    } else {
        Json::Null
    };
    Ok((yaml, tfvars, member.unwrap_or_default()))
}

fn s(v: &Json, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    match cur {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn source_facts(cloud: &str, cluster: &Json, tf: &Json) -> SourceFacts {
    let block = &cluster[cloud];
    let zone = s(tf, &["zone"]);
    let found = pools::from_tfvars(tf);
    SourceFacts {
        cloud: cloud.to_owned(),
        project: s(block, &["project"]),
        account: s(block, &["account"]),
        subscription: s(tf, &["subscription_id"]),
        region: [
            s(tf, &["region"]),
            s(block, &["region"]),
            s(block, &["zone"]),
        ]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default(),
        zone,
        location: s(tf, &["location"]),
        community_pays: block["billing"]["paid_by_us"] == Json::Bool(false),
        core_machine_type: found.core_machine_type,
        user_pools: found.user,
        tfvars: String::new(),
        pools_from: String::new(),
    }
}

/// An AWS cluster's pools are in its eksctl config, not its terraform
/// variables: when the bundle carries one, its node groups replace the
/// pools read so far. One that does not render is a warning, and the sizes
/// fall back to the terraform variables' (or the blueprint's defaults).
fn eksctl_pools(trusted: &Trusted, source: &mut SourceFacts, warnings: &mut Vec<String>) {
    let Some(member) = eksctl::member(trusted, &trusted.manifest.source.cluster) else {
        return;
    };
    match eksctl::render(trusted, &member) {
        Ok(config) => {
            let found = pools::from_eksctl(&config);
            if found.core_machine_type.is_some() {
                source.core_machine_type = found.core_machine_type;
            }
            if !found.user.is_empty() {
                source.user_pools = found.user;
                source.pools_from = member;
            }
        }
        Err(e) => warnings.push(format!(
            "{member}: cannot read its node groups ({e:#}); pools fall back to the terraform variables"
        )),
    }
}

/// A hub's home disk in the source's tfvars: GCP `persistent_disks`, AWS
/// `ebs_volumes`, keyed by hub.
fn disk_gb(tf: &Json, hub: &str) -> Option<u64> {
    ["persistent_disks", "ebs_volumes"]
        .iter()
        .find_map(|k| tf[*k][hub]["size"].as_u64())
}

/// The chart folder a hub installs, checked, and every folder to copy with
/// it. Bundles from before complete charts name none: `charts/<chart>`.
fn chart_of(trusted: &Trusted, hub: &str, chart: &str) -> Result<(String, Vec<String>)> {
    let source = &trusted.manifest.source;
    let path = source
        .hubs
        .iter()
        .find(|h| h.name == hub)
        .and_then(|h| h.chart_path.clone())
        .unwrap_or_else(|| layout::chart(chart));
    let mut folders = Vec::new();
    let mut queue = vec![path.clone()];
    while let Some(p) = queue.pop() {
        chart_folder(&p).with_context(|| format!("bundle.json: hub {hub}: chart folder {p:?}"))?;
        if !trusted.has(&format!("{p}/Chart.yaml")) {
            anyhow::bail!("hub {hub}: the bundle does not carry its chart ({p}/Chart.yaml)");
        }
        if folders.contains(&p) {
            continue;
        }
        if folders.len() > 64 {
            anyhow::bail!("bundle.json: hub {hub}: its charts depend on more than 64 folders");
        }
        if let Some(c) = source.charts.iter().find(|c| c.path == p) {
            queue.extend(c.file_dependencies.iter().map(|f| layout::chart(f)));
        }
        folders.push(p);
    }
    folders.sort();
    Ok((path, folders))
}

/// `charts/<label>` or `charts/<label>@<label>`: nothing else can become a
/// path in the install directory.
fn chart_folder(path: &str) -> Result<()> {
    let folder = layout::chart_folder(path)
        .with_context(|| format!("it is not under {}", Kind::Chart.prefix()))?;
    let (chart, hub) = match folder.split_once('@') {
        Some((c, h)) => (c, Some(h)),
        None => (folder, None),
    };
    names::label(chart)?;
    if let Some(h) = hub {
        names::label(h)?;
    }
    Ok(())
}

/// The report's parameters that a provider setting made (not the domain,
/// the NFS server or an image), checked: a name is a question key.
fn provider_settings(h: &crate::report::HubReport) -> BTreeMap<String, String> {
    let provider: Vec<&str> = h
        .findings
        .iter()
        .filter(|f| f.category == "provider-setting")
        .filter_map(|f| f.location.as_deref())
        .collect();
    h.parameters
        .iter()
        .filter(|p| {
            p.key_paths
                .iter()
                .any(|k| provider.iter().any(|l| l.ends_with(&format!(":{k}"))))
        })
        .filter(|p| {
            !p.name.is_empty()
                && p.name.len() <= 63
                && p.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect()
}
