//! `r2r push-images`: bundle → the community's registry.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::output::OutputFlags;
use super::print;
use crate::bundle::sign;
use crate::bundle::verify::{Trusted, open_trusted};
use crate::exit;
use crate::export::VALUES_FILE;
use crate::images::auth::Credentials;
use crate::images::mapping::{self, Mapping};
use crate::images::push::{self, Counts, Pusher, Target};
use crate::images::registry::{DEFAULT_RETRIES, Registries, retry_policy};
use crate::progress::Progress;
use crate::values::tree;

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
pub struct Args {
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
    #[arg(long, value_name = "N", default_value_t = 3)]
    jobs: usize,
    /// No progress, only warnings and errors.
    #[arg(long, short)]
    quiet: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    key_id: &'a str,
    #[serde(flatten)]
    mapping: &'a Mapping,
    counts: &'a Counts,
    rewritten: Vec<String>,
}

pub fn run(args: Args) -> Result<u8> {
    let pk = sign::load_public_key(&args.pubkey)?;
    let trusted = open_trusted(&args.bundle, &pk)?;
    let target = Target::parse(&args.to)?;
    let mut carried = push::carried(&trusted)?;
    if !args.images.is_empty() {
        let wanted: Vec<String> = args
            .images
            .iter()
            .map(|t| crate::images::reference::ImageRef::parse(t).map(|r| r.canonical()))
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
    }
    // Two images must not land on the same name (quay.io/o/i:1 and
    // ghcr.io/o/i:1 both become PREFIX/o/i:1).
    let mut targets: std::collections::BTreeMap<String, String> = Default::default();
    for (r, _) in &carried {
        let to = r
            .moved_to(&target.registry, &target.prefix)
            .map_err(|e| anyhow::anyhow!("{r}: cannot name it under {}: {e}", args.to))?;
        if let Some(other) = targets.insert(to.canonical(), r.canonical()) {
            bail!(
                "{other} and {r} would both be pushed as {to}\nhint: push them in two runs with --image and different --to prefixes"
            );
        }
    }
    let creds = Credentials::from_env()?;
    if let Some(helper) = &creds.helper {
        print::warn(&format!(
            "r2r does not run credential helpers (credsStore {helper}); registries without an entry in the auth file are used anonymously"
        ));
    }
    let registries = Registries::new(
        [target.registry.as_str()],
        &args.plain_http,
        creds,
        retry_policy(args.retries),
    )?;
    let quiet = args.quiet || args.json;
    let progress = Progress::start(&*OutputFlags::quiet_if(quiet).printer(), "push", None);
    let mut pusher = Pusher::new(&trusted, &registries, target.clone());
    pusher.jobs = args.jobs.max(1);
    let mut mapping = Mapping {
        registry: args.to.clone(),
        images: Vec::new(),
    };
    for (r, top) in &carried {
        progress.note(&format!("image {r}"));
        let moved = pusher
            .image(r, top, &progress)
            .with_context(|| format!("cannot push image {r} to {}", args.to))?;
        mapping.images.push(moved);
    }
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
        counts: &pusher.counts,
        rewritten,
    };
    if args.json {
        print::json(&out)?;
    } else {
        for m in &mapping.images {
            println!("{} → {}", print::safe(&m.from), print::safe(&m.pinned));
        }
        let c = out.counts;
        println!(
            "pushed {} to {}: {} uploaded ({}), {} already there, {} mounted, {}",
            print::count(mapping.images.len(), "image"),
            args.to,
            print::count(c.uploaded, "blob"),
            print::bytes(c.uploaded_bytes),
            c.present,
            c.mounted,
            print::count(c.manifests, "manifest")
        );
        for p in &out.rewritten {
            println!("wrote {}", print::safe(p));
        }
    }
    Ok(exit::OK)
}

/// DIR/HUB/values.yaml for each hub the bundle carries.
fn rewrite_values(
    trusted: &Trusted,
    mapping: &Mapping,
    dir: &std::path::Path,
) -> Result<Vec<String>> {
    let report: Option<crate::report::Report> = if trusted.has("report.json") {
        Some(
            serde_json::from_slice(&trusted.read_small("report.json", 64 << 20)?)
                .context("member report.json is not a portability report")?,
        )
    } else {
        None
    };
    let mut written = Vec::new();
    for hub in &trusted.manifest.source.hubs {
        let found = report
            .as_ref()
            .and_then(|r| r.hubs.iter().find(|h| h.name == hub.name))
            .map(|h| &h.images);
        let member = format!("config/{}/{VALUES_FILE}", hub.name);
        if !trusted.has(&member) {
            continue;
        }
        let bytes = trusted.read_small(&member, 16 << 20)?;
        let text =
            String::from_utf8(bytes).with_context(|| format!("member {member} is not UTF-8"))?;
        let mut values = tree::parse_yaml(&text)
            .with_context(|| format!("member {member} is not valid YAML"))?;
        let changed = mapping::rewrite_hub(&mut values, mapping, found)?;
        let body = yaml_serde::to_string(&values)?;
        let header = format!(
            "# {member} from the bundle, with {} image references moved to {} and pinned by digest\n# by `r2r push-images`: {}\n",
            changed.len(),
            mapping.registry,
            changed.join(", ")
        );
        let hub_dir = dir.join(&hub.name);
        std::fs::create_dir_all(&hub_dir)
            .with_context(|| format!("cannot create {}", hub_dir.display()))?;
        let path = hub_dir.join(VALUES_FILE);
        crate::fsutil::write_replacing(&path, format!("{header}{body}").as_bytes(), 0o644)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
