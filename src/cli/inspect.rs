//! `r2r inspect`: what a bundle holds, for a person or a script.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::output::OutputFlags;
use super::print;
use crate::bundle::digest::sha256_bytes;
use crate::bundle::layout::{IMAGES_INDEX, MANIFEST, REPORT};
use crate::bundle::manifest::{Manifest, Source};
use crate::bundle::reader::Bundle;
use crate::bundle::sign;
use crate::bundle::verify::{self, Depth};
use crate::exit;
use crate::report::MAX_REPORT_BYTES;
use crate::report::{REPORT_VERSION, Report, markdown};

/// Show what a bundle holds: cluster, provider, hubs with domains and charts,
/// and members and bytes per kind. With --report, show the portability
/// report instead: every way each hub still depends on the provider, and
/// what to do about it (markdown, or JSON with --json).
///
/// With --pubkey the signature, SHA256SUMS and bundle.json are verified first
/// (member contents are not hashed; `r2r verify` does that). Without it the
/// output is what the bundle claims, and says so.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r inspect 2i2c-uk.r2r.tar --pubkey r2r.pub\n  \
    r2r inspect 2i2c-uk.r2r.tar --json | jq '.source.hubs[].domain'\n  \
    r2r inspect 2i2c-uk.r2r.tar --pubkey r2r.pub --report > portability.md\n  \
    r2r inspect community.r2r.tar --pubkey r2r.pub --users\n  \
    r2r inspect 2i2c-uk.r2r.tar --pubkey r2r.pub --report --json | jq '.hubs[].findings[] | select(.severity == \"blocker\")'")]
pub(super) struct Args {
    /// The bundle: a .tar file or a directory.
    bundle: PathBuf,
    /// The signer's public key; without it nothing shown is verified.
    #[arg(long, value_name = "PUB")]
    pubkey: Option<String>,
    #[command(flatten)]
    mode: OutputFlags,
    /// Show the portability report (report.json), checked against the
    /// signed manifest: markdown, or the JSON itself with --json.
    #[arg(long)]
    report: bool,
    /// List each carried hub database's users, admins and groups, and the
    /// homes carried per hub. Needs --pubkey: the database is checked
    /// against its signed digest before SQLite reads it.
    #[arg(long, requires = "pubkey", conflicts_with = "report")]
    users: bool,
    /// List the images each hub's values name, with the values path where
    /// each was found and, when the bundle carries it, its digest; and the
    /// places naming images r2r cannot list.
    #[arg(long, conflicts_with_all = ["report", "users"])]
    images: bool,
}

#[derive(Serialize, Default)]
struct KindTotal {
    members: usize,
    bytes: u64,
}

#[derive(Serialize)]
struct Output<'a> {
    bundle: &'a PathBuf,
    signature_verified: bool,
    key_id: Option<&'a str>,
    format_version: u32,
    r2r_version: &'a str,
    created: &'a str,
    source: &'a Source,
    kinds: BTreeMap<&'a str, KindTotal>,
    members: usize,
    bytes: u64,
}

pub(super) fn run(args: Args) -> Result<u8> {
    let pk = args
        .pubkey
        .as_deref()
        .map(sign::load_public_key)
        .transpose()?;
    let outcome = verify::check(&args.bundle, pk.as_ref(), Depth::Manifest);
    if !outcome.ok() {
        for p in &outcome.problems {
            print::warn(&format!(
                "{}: {}",
                print::safe(p.member.as_deref().unwrap_or("bundle")),
                print::safe(&p.reason)
            ));
        }
        let code = outcome.exit_code();
        if outcome.manifest.is_none() || code == exit::BAD_SIGNATURE {
            bail!(
                "cannot inspect {}: it failed verification (see above)",
                args.bundle.display()
            );
        }
        print::warn("showing the bundle despite the problems above");
    }
    let Some(manifest) = &outcome.manifest else {
        bail!("{} has no readable bundle.json", args.bundle.display());
    };
    if pk.is_none() {
        print::warn("NOT VERIFIED: no --pubkey given, so this is only what the bundle claims");
    }
    if args.users
        && let Some(pk) = &pk
    {
        users(&args, pk)?;
        return Ok(exit::OK);
    }
    if args.images {
        images(&args, manifest)?;
        return Ok(if outcome.ok() {
            exit::OK
        } else {
            outcome.exit_code()
        });
    }
    if args.report {
        report(&args, manifest)?;
        return Ok(if outcome.ok() {
            exit::OK
        } else {
            outcome.exit_code()
        });
    }
    let out = summarise(
        &args.bundle,
        manifest,
        outcome.signed.as_ref().map(|s| s.key_id.as_str()),
    );
    if args.mode.json {
        print::json(&out)?;
    } else {
        show(&out);
    }
    Ok(if outcome.ok() {
        exit::OK
    } else {
        outcome.exit_code()
    })
}

fn summarise<'a>(bundle: &'a PathBuf, m: &'a Manifest, key_id: Option<&'a str>) -> Output<'a> {
    let mut kinds: BTreeMap<&str, KindTotal> = BTreeMap::new();
    for r in &m.members {
        let t = kinds.entry(r.kind.as_str()).or_default();
        t.members += 1;
        t.bytes += r.size;
    }
    Output {
        bundle,
        signature_verified: key_id.is_some(),
        key_id,
        format_version: m.format_version,
        r2r_version: &m.r2r_version,
        created: &m.created,
        source: &m.source,
        members: m.members.len(),
        bytes: m.members.iter().map(|r| r.size).sum(),
        kinds,
    }
}

fn show(o: &Output) {
    let s = print::safe;
    print::out(&format!("bundle {}", o.bundle.display()));
    match o.key_id {
        Some(k) => print::out(&format!("  signature:  verified, key {}", s(k))),
        None => print::out("  signature:  NOT VERIFIED"),
    }
    print::out(&format!(
        "  format:     version {}, written by r2r {} at {}",
        o.format_version,
        s(o.r2r_version),
        s(o.created)
    ));
    print::out(&format!(
        "  cluster:    {} (provider {})",
        s(&o.source.cluster),
        s(&o.source.provider)
    ));
    print::out("  hubs:");
    for h in &o.source.hubs {
        print::out(&format!(
            "    {:<12} https://{}  chart {}  ({} values files{})",
            s(&h.name),
            s(&h.domain),
            s(h.chart_path.as_deref().unwrap_or(&h.helm_chart)),
            h.values_files.len(),
            if h.chart_override.is_some() {
                ", chart override"
            } else {
                ""
            }
        ));
    }
    if !o.source.charts.is_empty() {
        print::out("  charts:");
        for c in &o.source.charts {
            let deps: Vec<String> = c
                .dependencies
                .iter()
                .map(|d| format!("{} {}", d.name, d.version))
                .collect();
            let deps = if deps.is_empty() {
                String::new()
            } else {
                format!(", with {}", deps.join(", "))
            };
            print::out(&format!(
                "    {:<20} {} {}{}",
                s(&c.path),
                s(&c.name),
                s(&c.version),
                s(&deps)
            ));
        }
    }
    print::out("  members:");
    for (kind, t) in &o.kinds {
        print::out(&format!(
            "    {:<8} {:>5}  {:>10}",
            s(kind),
            t.members,
            print::bytes(t.bytes)
        ));
    }
    print::out(&format!(
        "    {:<8} {:>5}  {:>10}",
        "total",
        o.members,
        print::bytes(o.bytes)
    ));
}

fn report(args: &Args, manifest: &Manifest) -> Result<()> {
    let parsed = load_report(args, manifest)?;
    if args.mode.json {
        print::json(&parsed)?;
    } else {
        // Each string is escaped before it is laid out, so none can start
        // a line of its own in the markdown.
        let shown: Report =
            serde_json::from_value(print::safe_json(serde_json::to_value(&parsed)?))
                .context("cannot escape the report for a terminal")?;
        print::out_raw(&markdown::render(&shown));
    }
    Ok(())
}

/// Reads a small member and checks it against the manifest's digest, so a
/// verified manifest means verified contents.
fn checked_member(
    args: &Args,
    manifest: &Manifest,
    member: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>> {
    let Some(record) = manifest.members.iter().find(|m| m.path == member) else {
        return Ok(None);
    };
    let bundle =
        Bundle::open(&args.bundle).map_err(|e| anyhow!("{}: {e}", args.bundle.display()))?;
    let entry = bundle
        .get(member)
        .with_context(|| format!("{}: {member} is listed but missing", args.bundle.display()))?;
    let bytes = bundle
        .read_small(entry, limit)
        .map_err(|e| anyhow!("{member} {e}"))?;
    if sha256_bytes(&bytes) != record.sha256 {
        bail!("{member} does not match its digest in {MANIFEST}: the bundle is corrupt");
    }
    Ok(Some(bytes))
}

#[derive(Serialize)]
struct HubImages {
    hub: String,
    images: Vec<ImageRow>,
    unlisted: Vec<crate::images::discover::Unlisted>,
}

#[derive(Serialize)]
struct ImageRow {
    reference: String,
    canonical: String,
    values_path: String,
    /// Every place the hub's chart tree names it.
    places: Vec<crate::images::discover::Place>,
    /// The digest the bundle carries it by; absent when not carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    carried: Option<String>,
}

/// `--images`: per hub, from report.json, matched with images/index.json.
fn images(args: &Args, manifest: &Manifest) -> Result<()> {
    use crate::images::oci::{LayoutIndex, MAX_MANIFEST_BYTES};
    let report = load_report(args, manifest)?;
    let index = checked_member(args, manifest, IMAGES_INDEX, MAX_MANIFEST_BYTES as u64)?
        .map(|b| serde_json::from_slice::<LayoutIndex>(&b))
        .transpose()
        .with_context(|| format!("{IMAGES_INDEX} is malformed"))?;
    let out = image_rows(&report, index.as_ref());
    if args.mode.json {
        return print::json(&out);
    }
    if index.is_none() {
        print::out("(the bundle carries no images: it was exported without --images)");
    }
    show_images(&out);
    Ok(())
}

/// The registry's digest, checked: this runs without --pubkey too.
fn registry_digest(d: &crate::images::oci::Descriptor) -> String {
    d.original()
        .ok()
        .filter(|o| crate::images::oci::check_digest(&o.digest).is_ok())
        .map_or_else(|| "(malformed digest)".to_owned(), |o| o.digest)
}

/// Each hub's images, marked with the digest the bundle carries them by;
/// then, under no hub, those carried that no hub names (`--image`).
fn image_rows(report: &Report, index: Option<&crate::images::oci::LayoutIndex>) -> Vec<HubImages> {
    use crate::images::oci::REF_NAME;
    let carried = |canonical: &str| index.and_then(|i| i.find(canonical)).map(registry_digest);
    let mut out: Vec<HubImages> = report
        .hubs
        .iter()
        .map(|h| HubImages {
            hub: h.name.clone(),
            images: h
                .images
                .images
                .iter()
                .map(|i| ImageRow {
                    reference: i.reference.clone(),
                    canonical: i.canonical.clone(),
                    values_path: i.values_path.clone(),
                    places: i.places.clone(),
                    carried: carried(&i.canonical),
                })
                .collect(),
            unlisted: h.images.unlisted.clone(),
        })
        .collect();
    let named: Vec<&str> = out
        .iter()
        .flat_map(|h| h.images.iter().map(|i| i.canonical.as_str()))
        .collect();
    let extra: Vec<ImageRow> = index
        .iter()
        .flat_map(|i| i.manifests.iter())
        .filter_map(|d| d.annotations.get(REF_NAME).map(|n| (n, d)))
        .filter(|(n, _)| !named.contains(&n.as_str()))
        .map(|(n, d)| ImageRow {
            reference: n.clone(),
            canonical: n.clone(),
            values_path: "(--image)".into(),
            places: Vec::new(),
            carried: Some(registry_digest(d)),
        })
        .collect();
    if !extra.is_empty() {
        out.push(HubImages {
            hub: String::new(),
            images: extra,
            unlisted: Vec::new(),
        });
    }
    out
}

fn show_images(out: &[HubImages]) {
    let s = print::safe;
    for h in out {
        if h.hub.is_empty() {
            print::out("added with --image");
        } else {
            print::out(&format!("hub {}", s(&h.hub)));
        }
        for i in &h.images {
            let state = match &i.carried {
                Some(d) => format!("carried {}", s(d)),
                None => "not carried".into(),
            };
            print::out(&format!("  {:<60} {state}", s(&i.canonical)));
            if i.places.is_empty() {
                print::out(&format!("      at {}", s(&i.values_path)));
            }
            for p in &i.places {
                print::out(&format!("      {}", s(&place_text(p))));
            }
        }
        for u in &h.unlisted {
            print::out(&format!(
                "  ?  {} = {}\n      {}",
                s(&u.values_path),
                s(&u.value),
                s(&u.reason)
            ));
        }
    }
}

/// `values basehub.jupyterhub.hub.image`, `chart default (daskhub >
/// basehub > jupyterhub) …`, `template (…) templates/x.yaml:38`.
fn place_text(p: &crate::images::discover::Place) -> String {
    use crate::images::discover::Origin;
    match p.origin {
        Origin::Values => format!("values {}", p.at),
        Origin::ChartDefault => format!("chart default ({}) {}", p.chart, p.at),
        Origin::Code => format!("code in values {}", p.at),
        Origin::Template => format!("template ({}) {}", p.chart, p.at),
    }
}

/// Reads report.json, checked against the manifest's digest.
fn load_report(args: &Args, manifest: &Manifest) -> Result<Report> {
    let Some(bytes) = checked_member(args, manifest, REPORT, MAX_REPORT_BYTES)? else {
        bail!(
            "{} has no {REPORT}: it was written before portability reports (r2r < 0.2)",
            args.bundle.display()
        );
    };
    let parsed: Report = serde_json::from_slice(&bytes)
        .with_context(|| format!("{REPORT} is not a portability report r2r can read"))?;
    if parsed.report_version != REPORT_VERSION {
        bail!(
            "{REPORT} is version {}, this r2r reads version {REPORT_VERSION}",
            parsed.report_version
        );
    }
    Ok(parsed)
}

#[derive(Serialize)]
struct HubData {
    hub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<crate::data::hubdb::HubUsers>,
    homes: Vec<String>,
}

/// `--users`: hub databases and homes.
fn users(args: &Args, pk: &minisign::PublicKey) -> Result<()> {
    use crate::data::{hubdb, restore};
    let trusted = verify::open_trusted(&args.bundle, pk)?;
    let mut hubs: Vec<String> = trusted
        .manifest
        .source
        .hubs
        .iter()
        .map(|h| h.name.clone())
        .collect();
    hubs.retain(|h| !h.is_empty());
    let with_db = hubdb::hubs_in(&trusted);
    let with_homes = restore::hubs_in(&trusted);
    let mut out = Vec::new();
    for hub in hubs {
        let database = if with_db.contains(&hub) {
            Some(hubdb::users(&trusted, &hub)?)
        } else {
            None
        };
        let homes = if with_homes.contains(&hub) {
            restore::hub_record(&trusted, &hub)?
                .homes
                .iter()
                .map(|h| h.home.shown())
                .collect()
        } else {
            Vec::new()
        };
        out.push(HubData {
            hub,
            database,
            homes,
        });
    }
    if args.mode.json {
        return print::json(&out);
    }
    let s = print::safe;
    for h in &out {
        print::out(&format!("hub {}", s(&h.hub)));
        match &h.database {
            None => print::out("  database: not carried"),
            Some(db) => {
                print::out(&format!(
                    "  users ({}): {}",
                    db.users.len(),
                    s(&db.users.join(", "))
                ));
                print::out(&format!(
                    "  admins ({}): {}",
                    db.admins.len(),
                    s(&db.admins.join(", "))
                ));
                for g in &db.groups {
                    print::out(&format!(
                        "  group {}: {}",
                        s(&g.name),
                        s(&g.members.join(", "))
                    ));
                }
            }
        }
        print::out(&format!(
            "  homes ({}): {}",
            h.homes.len(),
            s(&h.homes.join(", "))
        ));
    }
    Ok(())
}
