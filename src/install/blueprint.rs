//! Blueprints: what a target asks, renders and runs, as data under
//! `blueprints/` (embedded at build time, so the binary needs nothing else).
//! Adding a target means adding a folder there; the step kinds it may list
//! are the fixed set in [`StepKind`].

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use include_dir::{Dir, include_dir};
use serde::Deserialize;

static BLUEPRINTS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/blueprints");
static TERRAFORM: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/terraform");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Blueprint {
    pub target: String,
    pub title: String,
    pub about: String,
    /// The folder of `terraform/` this target's workspace is made from.
    #[serde(default)]
    pub module: Option<String>,
    /// The key of `machines.yaml` whose machine types this target uses.
    #[serde(default)]
    pub machines: Option<String>,
    #[serde(default)]
    pub questions: Vec<Question>,
    #[serde(default)]
    pub hub_questions: Vec<Question>,
    #[serde(default)]
    pub templates: Vec<TemplateSpec>,
    pub steps: Vec<StepKind>,
    /// Commands shown in NEXT-STEPS.md, as argument vectors of templates.
    #[serde(default)]
    pub commands: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Question {
    /// Dotted key in the answers file; hub questions live under `hubs.<hub>.`.
    pub key: String,
    pub prompt: String,
    #[serde(default)]
    pub help: Option<String>,
    pub kind: AnswerKind,
    /// A template for the derived default; empty output means none.
    #[serde(default)]
    pub default: Option<String>,
    /// A template; the question applies only when it renders `true`.
    #[serde(default)]
    pub when: Option<String>,
    /// No answer is a valid answer.
    #[serde(default)]
    pub optional: bool,
    /// Interactive mode shows the derived default for confirmation instead
    /// of taking it silently.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AnswerKind {
    /// A cloud identifier: project, account, region, bucket name.
    Name,
    /// A DNS-1123 label.
    Label,
    Domain,
    /// An email address (`local@domain`), as the ACME account's contact.
    Email,
    Path,
    /// A file that must exist.
    File,
    Secret,
    /// REGISTRY[/PREFIX].
    Registry,
    /// An image reference.
    Image,
    /// s3://, gs://, azblob:// or a path.
    ObjectUrl,
    /// An OAuth client id, or `keep`.
    OauthClient,
    /// A git repository URL (https://… or git@host:…).
    GitUrl,
    /// A comma-separated list of globs.
    Globs,
    /// A comma-separated subset of the bundle's hubs.
    Hubs,
    /// A comma-separated subset of the bundle's buckets.
    Buckets,
    /// A whole number (a size above its limit, `blueprints/limits.yaml`).
    Number,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateSpec {
    pub template: String,
    /// Output path in the install directory; `{hub}` for per-hub templates.
    pub to: String,
    #[serde(default)]
    pub per_hub: bool,
    /// `homes`: only for hubs whose homes are restored. Read by the blueprint's
    /// reader, not the code: the restore-Jobs step, the one step with such
    /// templates, renders them for those hubs only.
    #[serde(default)]
    #[allow(dead_code)]
    pub when: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepKind {
    Config,
    Secrets,
    Terraform,
    Images,
    Homes,
    Buckets,
    HubDb,
    Helm,
    UploadBundle,
    RestoreJobs,
    NextSteps,
}

impl StepKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StepKind::Config => "config",
            StepKind::Secrets => "secrets",
            StepKind::Terraform => "terraform",
            StepKind::Images => "images",
            StepKind::Homes => "homes",
            StepKind::Buckets => "buckets",
            StepKind::HubDb => "hub_db",
            StepKind::Helm => "helm",
            StepKind::UploadBundle => "upload_bundle",
            StepKind::RestoreJobs => "restore_jobs",
            StepKind::NextSteps => "next_steps",
        }
    }
}

/// Questions every target shares (`blueprints/common.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Common {
    pub questions: Vec<Question>,
    pub hub_questions: Vec<Question>,
}

/// The targets, by folder name, sorted.
pub(crate) fn targets() -> Vec<&'static str> {
    let mut out: Vec<&str> = BLUEPRINTS
        .dirs()
        .filter(|d| d.get_file(d.path().join("blueprint.yaml")).is_some())
        .filter_map(|d| d.path().to_str())
        .collect();
    out.sort_unstable();
    out
}

fn text(path: &str) -> Result<&'static str> {
    BLUEPRINTS
        .get_file(path)
        .and_then(|f| f.contents_utf8())
        .ok_or_else(|| anyhow!("blueprints/{path} is missing from this build"))
}

pub(crate) fn load(target: &str) -> Result<Blueprint> {
    if !targets().contains(&target) {
        bail!(
            "no blueprint for target {target:?}; the targets are: {}",
            targets().join(", ")
        );
    }
    let path = format!("{target}/blueprint.yaml");
    let bp: Blueprint = crate::values::yaml::from_str(text(&path)?)
        .with_context(|| format!("blueprints/{path} is not a valid blueprint"))?;
    if bp.target != target {
        bail!("blueprints/{path} names target {:?}", bp.target);
    }
    Ok(bp)
}

pub(crate) fn common() -> Result<Common> {
    crate::values::yaml::from_str(text("common.yaml")?)
        .context("blueprints/common.yaml is not valid")
}

/// Every template a target may render or include: the target's own files,
/// then the shared ones at the top of `blueprints/`, by file name.
pub(crate) fn templates(target: &str) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut add = |dir: &'static Dir<'static>| {
        for f in dir.files() {
            let Some(name) = f.path().file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".tera")
                && !out.iter().any(|(n, _)| n == name)
                && let Some(body) = f.contents_utf8()
            {
                out.push((name.to_owned(), body));
            }
        }
    };
    if let Some(d) = BLUEPRINTS.get_dir(target) {
        add(d);
    }
    add(&BLUEPRINTS);
    out
}

/// `machines.yaml`: per cloud, the default core and user types and each
/// type's vCPUs and GiB.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Machines {
    pub core: String,
    pub user: String,
    pub types: BTreeMap<String, (u32, u32)>,
    /// The types with GPUs: their kind (GKE's accelerator name) and count.
    #[serde(default)]
    pub gpus: BTreeMap<String, (String, u64)>,
}

pub(crate) fn machines() -> Result<BTreeMap<String, Machines>> {
    crate::values::yaml::from_str(text("machines.yaml")?)
        .context("blueprints/machines.yaml is not valid")
}

/// `limits.yaml`: the largest sizes taken from a bundle unasked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub user_pools: u64,
    pub user_pool_min: u64,
    pub user_pool_max: u64,
    pub home_disk_gb: u64,
}

pub(crate) fn limits() -> Result<Limits> {
    yaml_serde::from_str(text("limits.yaml")?).context("blueprints/limits.yaml is not valid")
}

/// The files of `terraform/<module>/`, relative to it.
pub(crate) fn module_files(module: &str) -> Result<Vec<(String, &'static [u8])>> {
    let dir = TERRAFORM
        .get_dir(module)
        .ok_or_else(|| anyhow!("terraform/{module} is missing from this build"))?;
    let mut out = Vec::new();
    for f in dir.files() {
        let rel = f
            .path()
            .strip_prefix(module)
            .ok()
            .and_then(|p| p.to_str())
            .ok_or_else(|| anyhow!("terraform/{module}: a file name is not UTF-8"))?;
        out.push((rel.to_owned(), f.contents()));
    }
    out.sort();
    Ok(out)
}
