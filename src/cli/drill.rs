//! `r2r drill`: export → verify → install locally → compare → report.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::output::OutputFlags;
use super::print;
use crate::drill;
use crate::exit;

/// Run a disaster-recovery drill: export a cluster into a signed bundle,
/// verify it, install it with `--target local` into a scratch directory,
/// compare the restored homes with the bundle's signed indexes, and write
/// a report (markdown and JSON) of what was carried, the bytes, the time
/// of each phase and every difference.
///
/// With no arguments it drills the example community in examples/, which
/// needs nothing but this machine. Keys (minisign and age) are made fresh
/// in the scratch directory; domains and OAuth clients are kept as they
/// are, as a drill should. Exits 4 when the replica differs.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r drill                                   # the example community, offline\n  \
    r2r drill --infra infrastructure --cluster 2i2c-uk --homes /mnt/nfs/export --work /scratch/drill\n  \
    r2r drill --infra infra --cluster nasa-cryo --homes s3://homes-bucket/export --json")]
pub(super) struct Args {
    /// The infrastructure repository. Default: examples/community.
    #[arg(long, value_name = "REPO")]
    infra: Option<PathBuf>,
    /// The cluster. Default: `example` (with the default --infra).
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Where the homes are (as `export --homes`). Default with the example:
    /// examples/community/homes.
    #[arg(long, value_name = "URL")]
    homes: Option<String>,
    /// Carry images from here (as `export --image-source`). Default with the
    /// example: its OCI layout; otherwise images are not carried.
    #[arg(long, value_name = "SOURCE")]
    image_source: Option<String>,
    /// A hub to drill; repeatable. Default: every hub.
    #[arg(long = "hub", value_name = "NAME")]
    hubs: Vec<String>,
    /// Exclude paths from the homes (as `export --exclude`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Fetch a chart repository from a mirror (as `export --chart-repo`);
    /// repeatable.
    #[arg(long = "chart-repo", value_name = "ORIGINAL=MIRROR")]
    chart_repos: Vec<String>,
    /// A folder mirroring chart repositories (as `export
    /// --chart-repos-dir`). Default with the example: its chart-repos/.
    #[arg(long = "chart-repos-dir", value_name = "DIR")]
    chart_repos_dirs: Vec<PathBuf>,
    /// The scratch directory (must be new or empty). Default: r2r-drill-<cluster>.
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    #[command(flatten)]
    mode: OutputFlags,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub(super) fn run(args: Args) -> Result<u8> {
    let (json, printer) = (args.mode.json, args.mode.printer());
    let request = request(args)?;
    let drilled = drill::run(&request, &*printer)?;
    if json {
        print::json(&drilled.report)?;
    } else {
        print::out_raw(&drilled.markdown);
        print::out(&format!(
            "\nreport: {} and drill-report.json",
            s(&drilled.markdown_file)
        ));
    }
    Ok(if drilled.report.ok {
        exit::OK
    } else {
        exit::CORRUPT
    })
}

/// The drill asked for: with no --infra, the example community in
/// examples/, with its homes and images.
fn request(args: Args) -> Result<drill::Request> {
    let example = args.infra.is_none();
    let infra = args
        .infra
        .unwrap_or_else(|| PathBuf::from("examples/community"));
    if example && !infra.join("config").is_dir() {
        bail!(
            "no --infra given and {} is not here; run the drill from r2r's repository, or give --infra and --cluster",
            infra.display()
        );
    }
    let cluster = match (args.cluster, example) {
        (Some(c), _) => c,
        (None, true) => "example".into(),
        (None, false) => bail!("--cluster is required with --infra"),
    };
    let homes = args
        .homes
        .or_else(|| example.then(|| s(&infra.join("homes"))));
    let images = args
        .image_source
        .or_else(|| example.then(|| format!("oci:{}", s(&infra.join("images")))));
    let work = args
        .work
        .unwrap_or_else(|| PathBuf::from(format!("r2r-drill-{cluster}")));
    Ok(drill::Request {
        infra,
        cluster,
        example,
        homes,
        images,
        hubs: args.hubs,
        excludes: args.exclude,
        chart_repos: args.chart_repos,
        chart_repos_dirs: args.chart_repos_dirs,
        work,
    })
}
