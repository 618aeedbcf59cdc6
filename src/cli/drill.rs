//! `r2r drill`: export → verify → install locally → compare → report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::output::OutputFlags;
use super::print;
use crate::bundle::sign;
use crate::bundle::verify::open_trusted;
use crate::drill::{self, Report};
use crate::exit;
use crate::install::facts;

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
pub struct Args {
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
    /// Print the report as JSON on stdout instead of markdown.
    #[arg(long)]
    json: bool,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(args: Args) -> Result<u8> {
    let example = args.infra.is_none();
    let infra = args
        .infra
        .clone()
        .unwrap_or_else(|| PathBuf::from("examples/community"));
    if example && !infra.join("config").is_dir() {
        bail!(
            "no --infra given and {} is not here; run the drill from r2r's repository, or give --infra and --cluster",
            infra.display()
        );
    }
    let cluster = match (&args.cluster, example) {
        (Some(c), _) => c.clone(),
        (None, true) => "example".into(),
        (None, false) => bail!("--cluster is required with --infra"),
    };
    let homes = args
        .homes
        .clone()
        .or_else(|| example.then(|| s(&infra.join("homes"))));
    let images = args
        .image_source
        .clone()
        .or_else(|| example.then(|| format!("oci:{}", s(&infra.join("images")))));
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("r2r-drill-{cluster}")));
    drill::scratch(&work)?;
    let printer = OutputFlags::default().printer();
    let keys = work.join("keys");
    let bundle = work.join(format!("{cluster}.r2r.tar"));
    let replica = work.join("replica");
    let pubkey = keys.join("r2r.pub");
    let mut report = Report {
        cluster: cluster.clone(),
        bundle: bundle.clone(),
        ..Report::default()
    };

    drill::phase(
        "keygen",
        &strings(&["keygen", "--out", &s(&keys), "--no-password", "--json"]),
        &mut report,
        &*printer,
    )?;
    let age_key = keys.join("community.age");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    crate::fsutil::write_new(
        &age_key,
        format!(
            "# the drill's community age identity\n{}\n",
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string())
        )
        .as_bytes(),
        0o600,
    )?;

    let mut export = strings(&[
        "export",
        "--infra",
        &s(&infra),
        "--cluster",
        &cluster,
        "--sign-key",
        &s(&keys.join("r2r.key")),
        "--output",
        &s(&bundle),
        "--recipient",
        &recipient,
        "--quiet",
        "--json",
    ]);
    for h in &args.hubs {
        export.extend(strings(&["--hub", h]));
    }
    if let Some(h) = &homes {
        export.extend(strings(&["--homes", h]));
    }
    for e in &args.exclude {
        export.extend(strings(&["--exclude", e]));
    }
    if let Some(i) = &images {
        export.extend(strings(&["--images", "--image-source", i]));
    }
    for r in &args.chart_repos {
        export.extend(strings(&["--chart-repo", r]));
    }
    let mut mirror_dirs = args.chart_repos_dirs.clone();
    if example && mirror_dirs.is_empty() {
        // The example's stand-in chart repositories: it drills offline.
        mirror_dirs.push(infra.join("chart-repos"));
    }
    for d in &mirror_dirs {
        export.extend(strings(&["--chart-repos-dir", &s(d)]));
    }
    drill::phase("export", &export, &mut report, &*printer)?;
    let verified = drill::phase(
        "verify",
        &strings(&["verify", &s(&bundle), "--pubkey", &s(&pubkey), "--json"]),
        &mut report,
        &*printer,
    )?;
    report.bundle_bytes = verified["bytes"].as_u64().unwrap_or(0);
    report.members = verified["members"].as_u64().unwrap_or(0);

    let (answers, f) = answers_for(&bundle, &pubkey, &replica, &age_key)?;
    report.hubs = f.hub_names.clone();
    report.images = f.images as u64;
    let answers_file = work.join("answers.yaml");
    crate::fsutil::write_new(&answers_file, answers.as_bytes(), 0o600)?;
    drill::phase(
        "install",
        &strings(&[
            "install",
            &s(&bundle),
            "--pubkey",
            &s(&pubkey),
            "--target",
            "local",
            "--answers",
            &s(&answers_file),
            "--yes",
            "--json",
            "--quiet",
        ]),
        &mut report,
        &*printer,
    )?;
    let compared = if homes.is_some() {
        let c = drill::phase(
            "compare",
            &strings(&[
                "verify",
                &s(&bundle),
                "--pubkey",
                &s(&pubkey),
                "--restored",
                &s(&replica.join("homes")),
                "--json",
            ]),
            &mut report,
            &*printer,
        )?;
        report.homes = c["homes"].as_u64().unwrap_or(0);
        report.home_bytes = c["bytes_hashed"].as_u64().unwrap_or(0);
        report.differences = c["differences"].as_array().cloned().unwrap_or_default();
        c
    } else {
        json!(null)
    };
    report.recovery_seconds = report
        .phases
        .iter()
        .filter(|p| p.name != "keygen")
        .map(|p| p.seconds)
        .sum();
    report.ok = report.phases.iter().all(|p| p.ok)
        && report.differences.is_empty()
        && (homes.is_none() || !compared.is_null());
    let md = drill::markdown(&report);
    crate::fsutil::write_replacing(&work.join("drill-report.md"), md.as_bytes(), 0o644)?;
    let mut js = serde_json::to_vec_pretty(&report)?;
    js.push(b'\n');
    crate::fsutil::write_replacing(&work.join("drill-report.json"), &js, 0o644)?;
    if args.json {
        print::json(&report)?;
    } else {
        print!("{md}");
        println!(
            "\nreport: {} and drill-report.json",
            s(&work.join("drill-report.md"))
        );
    }
    Ok(if report.ok { exit::OK } else { exit::CORRUPT })
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| (*x).to_owned()).collect()
}

/// A drill keeps what it can: the hubs' current domains and OAuth clients.
fn answers_for(
    bundle: &Path,
    pubkey: &Path,
    replica: &Path,
    age_key: &Path,
) -> Result<(String, facts::Facts)> {
    let pk = sign::load_public_key(&s(pubkey))?;
    let trusted = open_trusted(bundle, &pk)?;
    let f = facts::gather(&trusted, &pk.to_base64()).context("cannot read the drill's bundle")?;
    let mut hubs = serde_json::Map::new();
    for h in &f.hubs {
        let mut a = serde_json::Map::new();
        a.insert("domain".into(), json!(h.domain));
        if !h.oauth.is_empty() {
            a.insert("oauth_client_id".into(), json!("keep"));
        }
        hubs.insert(h.name.clone(), json!(a));
    }
    let answers = json!({
        "target": "local",
        "dir": s(replica),
        "age_identity": s(age_key),
        "registry": "",
        "hubs": hubs,
    });
    let text = format!(
        "# The drill's answers.\n{}\n",
        serde_json::to_string_pretty(&answers)?
    );
    Ok((text, f))
}
