//! `r2r export`: repository → signed bundle.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use super::password::EnvOrPrompt;
use super::print;
use crate::bundle::sign;
use crate::bundle::writer::{self, BundleWriter, Format, Signer};
use crate::exit;
use crate::source::plan;
use crate::source::repo::InfraRepo;

/// Export a cluster from a 2i2c-style infrastructure repository into one
/// signed bundle.
///
/// The bundle carries cluster.yaml; each selected hub's values files in merge
/// order; chart overrides and domain override files; the chart directories
/// the hubs use, with file:// dependencies followed; the cluster's terraform
/// variables and eksctl config. sops-encrypted secret files are carried
/// sealed, marked `secret`. A file cluster.yaml names but the repository
/// lacks is an error. The bundle appears at --output only when complete.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r export --infra infrastructure --cluster 2i2c-uk --sign-key keys/r2r.key --output 2i2c-uk.r2r.tar\n  \
    r2r export --infra infrastructure --cluster utoronto --hub staging --hub prod \\\n      \
    --sign-key keys/r2r.key --output utoronto-bundle --format dir\n  \
    r2r export --infra infrastructure --cluster nasa-cryo --sign-key k --output b.tar --dry-run")]
pub struct Args {
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
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
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

#[derive(Serialize)]
struct PlannedOut<'a> {
    path: &'a str,
    kind: &'a str,
    source: String,
}

#[derive(Serialize)]
struct Output {
    bundle: PathBuf,
    format: &'static str,
    key_id: String,
    cluster: String,
    hubs: Vec<String>,
    members: usize,
    bytes: u64,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = InfraRepo::open(&args.infra)?;
    let plan = plan::plan(&repo, &args.cluster, &args.hubs)?;
    for w in &plan.warnings {
        print::warn(w);
    }
    if args.dry_run {
        return dry_run(&repo, &plan, args.json);
    }
    let (sk, pk) = sign::load_secret_key(&args.sign_key, &EnvOrPrompt { confirm: false })?;
    let signer = Signer { sk, pk };
    let format = args
        .format
        .map_or_else(|| Format::from_path(&args.output), Format::from);
    let created = writer::creation_time()?;
    let mut bundle = BundleWriter::create(&args.output, format, created, args.force).map_err(|e| {
        if args.output.exists() && !args.force {
            e.context("not replacing it\nhint: pass --force to replace it once the new bundle is complete")
        } else {
            e
        }
    })?;
    print::progress(&format!(
        "exporting cluster {} ({}): {} hubs, {} files",
        plan.source.cluster,
        plan.source.provider,
        plan.source.hubs.len(),
        plan.members.len()
    ));
    for m in &plan.members {
        bundle
            .add_file(m.path.clone(), m.kind, &m.src)
            .with_context(|| format!("exporting {}", repo.shown(&m.src)))?;
    }
    let written = bundle.finish(plan.source, &signer)?;
    let out = Output {
        bundle: args.output.clone(),
        format: match format {
            Format::Tar => "tar",
            Format::Dir => "dir",
        },
        key_id: written.key_id,
        cluster: written.manifest.source.cluster.clone(),
        hubs: written
            .manifest
            .source
            .hubs
            .iter()
            .map(|h| h.name.clone())
            .collect(),
        members: written.members,
        bytes: written.bytes,
    };
    if args.json {
        print::json(&out)?;
    } else {
        println!(
            "wrote {} ({}): cluster {}, hubs {}, {} members, {}, signed by key {}",
            out.bundle.display(),
            out.format,
            out.cluster,
            out.hubs.join(", "),
            out.members,
            print::bytes(out.bytes),
            out.key_id
        );
    }
    Ok(exit::OK)
}

fn dry_run(repo: &InfraRepo, plan: &plan::ExportPlan, json: bool) -> Result<u8> {
    let rows: Vec<PlannedOut> = plan
        .members
        .iter()
        .map(|m| PlannedOut {
            path: m.path.as_str(),
            kind: m.kind.as_str(),
            source: repo.shown(&m.src),
        })
        .collect();
    if json {
        print::json(&rows)?;
    } else {
        println!(
            "would export cluster {} ({}):",
            plan.source.cluster, plan.source.provider
        );
        for r in &rows {
            println!("  {:<7} {}  ← {}", r.kind, r.path, r.source);
        }
    }
    Ok(exit::OK)
}
