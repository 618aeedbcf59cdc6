//! `r2r export`: repository → signed bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::data_args::DataArgs;
use super::image_args::ImageArgs;
use super::output::{OutputFlags, Printer};
use super::password::EnvOrPrompt;
use super::print;
use crate::bundle::sign;
use crate::bundle::writer::{Format, Signer};
use crate::exit;
use crate::export::{Options, pipeline};
use crate::progress::Reporter;
use crate::report::profile::Profile;
use crate::secrets::leak::Allowed;
use crate::secrets::open::Openers;
use crate::secrets::seal::Recipients;
use crate::secrets::sops_age::AgeIdentities;
use crate::source::plan;
use crate::values::validate::Z2jh;

/// Export a cluster from a 2i2c-style infrastructure repository into one
/// signed bundle.
///
/// The bundle carries cluster.yaml; each selected hub's values files in merge
/// order; chart overrides and domain override files; every chart the hubs
/// and the support release install, complete as `helm dependency build`
/// leaves it (each dependency's archive fetched from its https or oci://
/// repository, or a --chart-repo mirror, and checked against its digest),
/// so the replica installs them offline; the cluster's terraform variables
/// and eksctl config. sops-encrypted files are carried sealed.
///
/// It adds, per hub, standalone values (config/HUB/values.yaml: chart
/// defaults, provider-derived values, values files, provider staff settings
/// removed); the hub's secrets opened and re-sealed with age for the
/// community (secrets/HUB/secret-values.yaml.age) when --recipient is given
/// and the secrets can be opened; and report.json, the portability report
/// (`r2r inspect --report`).
///
/// Every member is scanned for plaintext secrets first; a hit stops the
/// export and names the file and key path. The bundle appears at --output
/// only when complete.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r export --infra infrastructure --cluster 2i2c-uk --sign-key keys/r2r.key --output 2i2c-uk.r2r.tar\n  \
    r2r export --infra infrastructure --cluster utoronto --hub staging --hub prod \\\n      \
    --sign-key keys/r2r.key --output utoronto-bundle --format dir\n  \
    r2r export --infra infrastructure --cluster nasa-cryo --sign-key k --output b.tar --dry-run\n  \
    # air-gapped: charts from a mirror registry and a local copy of a repository:\n  \
    r2r export --infra infra --cluster c --sign-key k --output b.tar \\\n      \
    --chart-repo oci://ghcr.io/2i2c-org/jupyterhub-home-nfs=oci://registry.internal/2i2c \\\n      \
    --chart-repo https://jupyterhub.github.io/helm-chart/=/srv/mirror/jupyterhub\n  \
    # open age-sealed secrets with your key, re-seal them for the community:\n  \
    r2r export --infra infra --cluster c --sign-key k --output b.tar \\\n      \
    --age-identity ~/.config/sops/age/keys.txt --recipient age1community…\n  \
    # as the provider's operator, with sops and KMS access:\n  \
    r2r export --infra infra --cluster c --sign-key k --output b.tar \\\n      \
    --decrypt-with sops --recipients-file community.recipients --z2jh charts/jupyterhub")]
pub(super) struct Args {
    /// The infrastructure repository (holds config/clusters/ and helm-charts/).
    #[arg(long, value_name = "REPO")]
    infra: PathBuf,
    /// The cluster to export: a folder name under config/clusters/.
    #[arg(long, value_name = "NAME")]
    cluster: String,
    /// A hub to export; repeat for several. Default: every hub of the cluster.
    #[arg(long = "hub", value_name = "NAME")]
    hubs: Vec<String>,
    /// minisign secret key to sign with (from `r2r keygen`); its password
    /// comes from R2R_KEY_PASSWORD or a prompt.
    #[arg(long, value_name = "KEY")]
    sign_key: PathBuf,
    /// Where to write the bundle.
    #[arg(long, value_name = "PATH")]
    output: PathBuf,
    /// Store the bundle as one tar file or as a directory. Default: `tar`
    /// when PATH ends in .tar, else `dir`.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Replace an existing bundle at PATH (only once the new one is complete).
    #[arg(long)]
    force: bool,
    /// Show what would be carried, and write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    mode: OutputFlags,
    /// Seal opened secrets to this age recipient (age1…); repeatable.
    #[arg(long = "recipient", value_name = "AGE1…")]
    recipients: Vec<String>,
    /// Seal opened secrets to every recipient in FILE (one per line, as
    /// `age -R` reads); repeatable.
    #[arg(long = "recipients-file", value_name = "FILE")]
    recipients_files: Vec<PathBuf>,
    /// An age identity file that opens sops files sealed to age; repeatable.
    /// SOPS_AGE_KEY_FILE is used too when set.
    #[arg(long = "age-identity", value_name = "FILE")]
    age_identities: Vec<PathBuf>,
    /// Open sops files that no age identity opens with this tool (the
    /// provider's own sops, with its KMS access).
    #[arg(long, value_enum, value_name = "TOOL")]
    decrypt_with: Option<DecryptWith>,
    /// Let one leak-scan hit through: MEMBER:KEYPATH exactly as the refusal
    /// prints it; repeatable.
    #[arg(long = "allow-plaintext", value_name = "MEMBER:KEYPATH")]
    allow_plaintext: Vec<String>,
    /// The Zero to JupyterHub chart (a directory with values.yaml and
    /// values.schema.yaml) to validate each hub against.
    #[arg(long, value_name = "DIR")]
    z2jh: Option<PathBuf>,
    /// What identifies the provider being left; default: the built-in 2i2c
    /// profile (blueprints/providers/2i2c.yaml).
    #[arg(long, value_name = "FILE")]
    provider_profile: Option<PathBuf>,
    /// Fetch the charts of the repository ORIGINAL (as a Chart.yaml names
    /// it: https://… or oci://…) from MIRROR instead: a URL of the same
    /// kind, or a local directory holding its archives (and, for https, its
    /// index.yaml). A trailing slash on either side is ignored; repeatable.
    #[arg(long = "chart-repo", value_name = "ORIGINAL=MIRROR")]
    chart_repos: Vec<String>,
    /// A folder mirroring many chart repositories: `https/<host>/<path>/`
    /// with each index.yaml and its archives, `oci/<host>/<path>/` with
    /// `<name>-<version>.tgz`. Repositories without a folder there are
    /// fetched as usual; repeatable.
    #[arg(long = "chart-repos-dir", value_name = "DIR")]
    chart_repos_dirs: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    images: ImageArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DecryptWith {
    /// The `sops` binary on PATH (or R2R_SOPS).
    Sops,
}

/// `--format`; the bundle layer's `Format` stays free of clap.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// One uncompressed tar file.
    Tar,
    /// A directory holding the members as files.
    Dir,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Tar => Format::Tar,
            FormatArg::Dir => Format::Dir,
        }
    }
}

fn options(args: &Args) -> Result<Options> {
    let mut recipients = Recipients::default();
    for r in &args.recipients {
        recipients.add(r, "--recipient")?;
    }
    for f in &args.recipients_files {
        recipients.add_file(f)?;
    }
    let mut age = AgeIdentities::empty();
    for f in &args.age_identities {
        age.add_file(f)?;
    }
    let opening = !args.age_identities.is_empty() || args.decrypt_with.is_some();
    if opening && recipients.is_empty() {
        bail!(
            "--age-identity and --decrypt-with open secrets, which must then be sealed for the community\nhint: add --recipient age1… or --recipients-file FILE"
        );
    }
    if !recipients.is_empty()
        && let Some(f) = std::env::var_os("SOPS_AGE_KEY_FILE")
    {
        age.add_file(std::path::Path::new(&f))
            .context("SOPS_AGE_KEY_FILE is set")?;
    }
    let (profile, profile_name) = match &args.provider_profile {
        Some(p) => (Profile::load(p)?, p.display().to_string()),
        None => (Profile::built_in()?, "built-in".to_owned()),
    };
    Ok(Options {
        openers: Openers {
            age,
            sops_binary: args.decrypt_with.is_some(),
        },
        recipients,
        allowed: Allowed::parse(&args.allow_plaintext)?,
        z2jh: args.z2jh.as_deref().map(Z2jh::load).transpose()?,
        profile,
        profile_name,
    })
}

/// What user data to carry; `work_dir` holds its temporary files (the
/// bundle writer's work folder).
fn data_request(
    args: &Args,
    work_dir: &Path,
    reporter: Arc<Printer>,
) -> Result<crate::data::export::Request> {
    let d = &args.data;
    let mut pack = crate::data::pack::Options::new(work_dir.to_owned());
    if d.chunk_mib == 0 || !(1..=9).contains(&d.level) {
        bail!("--chunk-mib must be at least 1 and --level between 1 and 9");
    }
    pack.chunk_bytes = d.chunk_mib << 20;
    pack.level = d.level;
    if let Some(j) = d.jobs {
        pack.jobs = j.max(1);
    }
    let hub_dbs = d
        .hub_dbs
        .iter()
        .map(|v| crate::data::export::name_value("--hub-db", v).map(|(h, p)| (h, PathBuf::from(p))))
        .collect::<Result<_>>()?;
    let buckets = d
        .buckets
        .iter()
        .map(|v| crate::data::export::name_value("--bucket", v))
        .collect::<Result<_>>()?;
    Ok(crate::data::export::Request {
        buckets,
        hub_dbs,
        homes: d.homes.clone(),
        users: d.users.clone(),
        excludes: d.excludes.clone(),
        pack,
        reporter,
    })
}

pub(super) fn run(args: Args) -> Result<u8> {
    let printer = args.mode.printer();
    let request = pipeline::Request {
        infra: args.infra.clone(),
        cluster: args.cluster.clone(),
        hubs: args.hubs.clone(),
        charts: plan::ChartOptions {
            mirrors: args.chart_repos.clone(),
            mirror_trees: args.chart_repos_dirs.clone(),
            reporter: printer.clone(),
        },
        options: options(&args)?,
    };
    let ready = pipeline::start(&request, &*printer)?;
    let s = &ready.prepared.report.summary;
    printer.step(&format!(
        "portability: {} blockers, {} actions, {} warnings (r2r inspect --report)",
        s.blockers, s.actions, s.warnings
    ));
    if args.dry_run {
        // A dry run writes nothing: no work folder.
        let planned = data_request(
            &args,
            crate::fsutil::parent_of(&args.output),
            printer.clone(),
        )?;
        let images = args.images.wanted().then_some(args.images.extra.as_slice());
        let rows = ready.dry_run(&planned, images)?;
        show_dry_run(&ready, &rows, args.mode.json)?;
        return Ok(exit::OK);
    }
    let (sk, pk) = sign::load_secret_key(&args.sign_key, &EnvOrPrompt { confirm: false })?;
    let target = pipeline::Target {
        output: args.output.clone(),
        format: args
            .format
            .map_or_else(|| Format::from_path(&args.output), Format::from),
        force: args.force,
        resume: args.data.resume,
        signer: Signer { sk, pk },
    };
    let data = |work_dir: &Path| data_request(&args, work_dir, printer.clone());
    let images = || args.images.request(printer.clone());
    let carry = pipeline::Carry {
        resumable: args.data.homes.is_some()
            || !args.data.buckets.is_empty()
            || args.images.wanted(),
        data: &data,
        images: args.images.wanted().then_some(pipeline::Images {
            extra: &args.images.extra,
            request: &images,
        }),
    };
    let out = ready.write(&target, &carry, &*printer)?;
    show_exported(&out, args.mode.json)?;
    Ok(exit::OK)
}

fn show_exported(out: &pipeline::Exported, json: bool) -> Result<()> {
    if json {
        return print::json(out);
    }
    print::out(&format!(
        "wrote {} ({}): cluster {}, hubs {}, {} members, {}, signed by key {}",
        out.bundle.display(),
        out.format,
        out.cluster,
        out.hubs.join(", "),
        out.members,
        print::bytes(out.bytes),
        out.key_id
    ));
    if let Some(i) = &out.images {
        print::out(&format!(
            "  images: {} ({} blobs, {}; {} shared blobs stored once)",
            i.images.len(),
            i.blobs,
            print::bytes(i.bytes),
            i.shared
        ));
    }
    Ok(())
}

fn show_dry_run(
    ready: &pipeline::Ready,
    rows: &[pipeline::PlannedMember],
    json: bool,
) -> Result<()> {
    if json {
        return print::json(&rows);
    }
    let source = &ready.plan.source;
    print::out(&format!(
        "would export cluster {} ({}):",
        source.cluster, source.provider
    ));
    for r in rows {
        print::out(&format!("  {:<7} {}  ← {}", r.kind, r.path, r.source));
    }
    Ok(())
}
