//! `r2r push-images`: bundle → the community's registry.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::output::OutputFlags;
use super::print;
use crate::bundle::verify::{Trusted, open_trusted};
use crate::bundle::{layout, sign};
use crate::exit;
use crate::images::auth::Credentials;
use crate::images::mapping::{self, Mapping};
use crate::images::oci::Descriptor;
use crate::images::push::{self, Counts, DEFAULT_JOBS, Pushed, Target};
use crate::images::reference::ImageRef;
use crate::images::registry::{DEFAULT_RETRIES, retry_policy};
use crate::progress::Progress;
use crate::values::standalone;

/// Push the images a bundle carries to a registry the community controls.
///
/// The bundle's signature and manifest are checked first, and every blob
/// against its signed digest as it is read. Each image keeps its path under
/// the new prefix (quay.io/2i2c/img:1 → REGISTRY/PREFIX/2i2c/img:1) and its
/// digests: blobs and manifests are pushed byte for byte. Blobs the
/// registry has are skipped; the others are uploaded in chunks, retried
/// with backoff when the registry is busy or failing.
///
/// Credentials come from REGISTRY_AUTH_FILE or DOCKER_CONFIG (docker login
/// and podman login write them). Prints, and with --mapping writes, each old
/// reference and its new one pinned by digest; with --rewrite-values,
/// writes each hub's standalone values using the new references.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r push-images community.r2r.tar --pubkey r2r.pub --to registry.example.org/community\n  \
    r2r push-images b.tar --pubkey r2r.pub --to ghcr.io/my-org --mapping images-map.json \\\n      \
    --rewrite-values new-values/\n  \
    REGISTRY_AUTH_FILE=auth.json r2r push-images b.tar --pubkey r2r.pub --to 10.0.0.5:5000/hub --plain-http 10.0.0.5:5000")]
pub(super) struct Args {
    /// The bundle: a .tar file or a directory.
    bundle: PathBuf,
    /// The signer's public key: an r2r.pub / minisign .pub file, or the base64 key.
    #[arg(long, value_name = "PUB")]
    pubkey: String,
    /// Where to push: REGISTRY[/PREFIX].
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    to: String,
    /// Push only this image (its reference as the bundle names it); repeatable.
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    /// Write the old → new mapping here as JSON.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    /// Write each hub's standalone values, rewritten to the pushed images
    /// pinned by digest, as DIR/HUB/values.yaml.
    #[arg(long, value_name = "DIR")]
    rewrite_values: Option<PathBuf>,
    /// Reach the registry over plain HTTP (loopback registries always are).
    #[arg(long = "plain-http", value_name = "HOST[:PORT]")]
    plain_http: Vec<String>,
    /// Retries, with exponential backoff, of a call that failed in a way
    /// that may pass (5xx, 429, a broken connection).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RETRIES)]
    retries: usize,
    /// Blobs uploaded at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    mode: OutputFlags,
}

#[derive(Serialize)]
struct Output<'a> {
    key_id: &'a str,
    #[serde(flatten)]
    mapping: &'a Mapping,
    counts: &'a Counts,
    rewritten: Vec<String>,
}

pub(super) fn run(args: Args) -> Result<u8> {
    let pk = sign::load_public_key(&args.pubkey)?;
    let trusted = open_trusted(&args.bundle, &pk)?;
    let target = Target::parse(&args.to)?;
    let images = selected(push::carried(&trusted)?, &args.images)?;
    let printer = args.mode.printer();
    let req = push::Request {
        bundle: &trusted,
        images,
        target,
        plain_http: args.plain_http.clone(),
        jobs: args.jobs,
        retry: retry_policy(args.retries),
        credentials: Credentials::from_env()?,
        reporter: printer.clone(),
    };
    let progress = Progress::start(&*printer, "push", None);
    let Pushed { mapping, counts } = push::push_all(req, &progress)?;
    progress.finish();
    if let Some(path) = &args.mapping {
        let text = serde_json::to_vec_pretty(&mapping)?;
        crate::fsutil::write_replacing(path, &text, 0o644)?;
    }
    let rewritten = match &args.rewrite_values {
        Some(dir) => rewrite_values(&trusted, &mapping, dir)?,
        None => Vec::new(),
    };
    let out = Output {
        key_id: &trusted.key_id,
        mapping: &mapping,
        counts: &counts,
        rewritten,
    };
    if args.mode.json {
        print::json(&out)?;
    } else {
        for m in &mapping.images {
            print::out(&format!(
                "{} → {}",
                print::safe(&m.from),
                print::safe(&m.pinned)
            ));
        }
        let c = out.counts;
        print::out(&format!(
            "pushed {} to {}: {} uploaded ({}), {} already there, {} mounted, {}",
            print::count(mapping.images.len(), "image"),
            args.to,
            print::count(c.uploaded, "blob"),
            print::bytes(c.uploaded_bytes),
            c.present,
            c.mounted,
            print::count(c.manifests, "manifest")
        ));
        for p in &out.rewritten {
            print::out(&format!("wrote {}", print::safe(p)));
        }
    }
    Ok(exit::OK)
}

/// The carried images `--image` names (each must be carried), or all.
fn selected(
    mut carried: Vec<(ImageRef, Descriptor)>,
    only: &[String],
) -> Result<Vec<(ImageRef, Descriptor)>> {
    if only.is_empty() {
        return Ok(carried);
    }
    let wanted: Vec<String> = only
        .iter()
        .map(|t| ImageRef::parse(t).map(|r| r.canonical()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--image: {e}"))?;
    for w in &wanted {
        if !carried.iter().any(|(r, _)| &r.canonical() == w) {
            bail!(
                "--image {w}: the bundle does not carry it (r2r inspect --images lists what it does)"
            );
        }
    }
    carried.retain(|(r, _)| wanted.contains(&r.canonical()));
    Ok(carried)
}

/// DIR/HUB/values.yaml for each hub the bundle carries.
fn rewrite_values(
    trusted: &Trusted,
    mapping: &Mapping,
    dir: &std::path::Path,
) -> Result<Vec<String>> {
    let report = if trusted.has(layout::REPORT) {
        Some(crate::report::Report::from_bundle(trusted)?)
    } else {
        None
    };
    let mut written = Vec::new();
    for hub in &trusted.manifest.source.hubs {
        let found = report
            .as_ref()
            .and_then(|r| r.hubs.iter().find(|h| h.name == hub.name))
            .map(|h| &h.images);
        if !trusted.has(layout::hub_values(&hub.name)?.as_str()) {
            continue;
        }
        let standalone::FromBundle { member, values } =
            standalone::from_bundle(trusted, &hub.name)?;
        let new = mapping::pin_values(values, mapping, found)?;
        let header = format!(
            "# {member} from the bundle, with {} image references moved to {} and pinned by digest\n# by `r2r push-images`: {}\n",
            new.changed.len(),
            mapping.registry,
            new.changed.join(", ")
        );
        let hub_dir = dir.join(&hub.name);
        std::fs::create_dir_all(&hub_dir)
            .with_context(|| format!("cannot create {}", hub_dir.display()))?;
        let path = hub_dir.join(layout::VALUES_FILE);
        crate::fsutil::write_replacing(&path, format!("{header}{}", new.text).as_bytes(), 0o644)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
