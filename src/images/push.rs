//! `r2r push-images`: the bundle's image layout into the community's
//! registry. Blobs the registry already has are skipped (HEAD), blobs
//! pushed to a sibling repository are mounted, the rest are uploaded in
//! chunks straight from the signed bundle; manifests go last, byte for
//! byte, so every digest survives the move.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use oci_client::errors::OciDistributionError;
use serde::Serialize;

use super::mapping::Moved;
use super::oci::{self, Descriptor, LayoutIndex, Parsed, REF_NAME};
use super::pull::{FOLDER, blob_member};
use super::reference::ImageRef;
use super::registry::Registries;
use super::source::read_exact_small;
use crate::bundle::verify::Trusted;
use crate::progress::Progress;

/// Where `from` lands under `target`, without pushing it: the mapping a
/// push will produce, for values rendered before the registry exists.
pub fn predict(from: &ImageRef, top: &Descriptor, target: &Target) -> Result<Moved> {
    let to = from
        .moved_to(&target.registry, &target.prefix)
        .map_err(|e| anyhow::anyhow!("{from}: cannot name it under {}: {e}", target.registry))?;
    Ok(Moved {
        from: from.canonical(),
        to: to.canonical(),
        pinned: to.at_digest(&top.digest).canonical(),
        digest: top.digest.clone(),
    })
}

/// Where images go: `registry.example.org/community` or a bare registry.
#[derive(Debug, Clone)]
pub struct Target {
    pub registry: String,
    pub prefix: String,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target> {
        let t = text.trim_end_matches('/');
        let t = t.strip_prefix("docker://").unwrap_or(t);
        let (registry, prefix) = t.split_once('/').unwrap_or((t, ""));
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            bail!("--to {text}: expected REGISTRY[/PREFIX], like registry.example.org/community");
        }
        // The prefix must make valid repository names on its own.
        ImageRef::parse(&format!(
            "{registry}/{}x:1",
            if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            }
        ))
        .map_err(|e| anyhow::anyhow!("--to {text}: {e}"))?;
        Ok(Target {
            registry: registry.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Already in the registry (HEAD said so).
    pub present: usize,
    /// Mounted from another repository of the same registry.
    pub mounted: usize,
    pub manifests: usize,
}

/// The images a bundle carries: ref.name → top descriptor.
pub fn carried(bundle: &Trusted) -> Result<Vec<(ImageRef, Descriptor)>> {
    let member = format!("{FOLDER}/index.json");
    if !bundle.has(&member) {
        bail!("the bundle carries no images (it was exported without --images)");
    }
    let bytes = bundle.read_small(&member, oci::MAX_MANIFEST_BYTES as u64)?;
    let index: LayoutIndex =
        serde_json::from_slice(&bytes).with_context(|| format!("member {member} is malformed"))?;
    let mut out = Vec::new();
    for d in index.manifests {
        oci::check_digest(&d.digest).with_context(|| format!("member {member}"))?;
        let name = d.annotations.get(REF_NAME).with_context(|| {
            format!(
                "member {member}: the entry for {} has no {REF_NAME}",
                d.digest
            )
        })?;
        let r =
            ImageRef::parse(name).map_err(|e| anyhow::anyhow!("member {member}: {name}: {e}"))?;
        // A Docker-typed image is pushed as the registry served it, not
        // through the OCI index the layout names it by.
        let top = d
            .original()
            .with_context(|| format!("member {member}: the entry for {name}"))?;
        out.push((r, top));
    }
    Ok(out)
}

pub struct Pusher<'a> {
    pub bundle: &'a Trusted,
    pub registries: &'a Registries,
    pub target: Target,
    pub counts: Counts,
    /// Blobs known to be in each target repository.
    have: BTreeMap<String, BTreeSet<String>>,
    /// Blobs uploaded at once.
    pub jobs: usize,
}

impl<'a> Pusher<'a> {
    pub fn new(bundle: &'a Trusted, registries: &'a Registries, target: Target) -> Pusher<'a> {
        Pusher {
            bundle,
            registries,
            target,
            counts: Counts::default(),
            have: BTreeMap::new(),
            jobs: 3,
        }
    }

    /// Pushes one image; returns where it went.
    pub fn image(
        &mut self,
        from: &ImageRef,
        top: &Descriptor,
        progress: &Progress,
    ) -> Result<Moved> {
        let to = from
            .moved_to(&self.target.registry, &self.target.prefix)
            .map_err(|e| {
                anyhow::anyhow!("{from}: cannot name it under {}: {e}", self.target.registry)
            })?;
        self.registries.prepare(&to);
        let top_bytes = self.small(top)?;
        let (_, parsed) = oci::parse(&top_bytes, &top.media_type)
            .with_context(|| format!("{from}: manifest {}", top.digest))?;
        match parsed {
            Parsed::Manifest(m) => self.blobs(&to, &m, progress)?,
            Parsed::Index(idx) => {
                for child in &idx.manifests {
                    let bytes = self.small(child)?;
                    let (_, p) = oci::parse(&bytes, &child.media_type)
                        .with_context(|| format!("{from}: manifest {}", child.digest))?;
                    let Parsed::Manifest(m) = p else {
                        bail!(
                            "{from}: manifest {} is an index inside an index",
                            child.digest
                        );
                    };
                    self.blobs(&to, &m, progress)?;
                    self.put_manifest(&to.at_digest(&child.digest), &child.media_type, bytes)?;
                }
            }
        }
        self.put_manifest(&to, &top.media_type, top_bytes)?;
        predict(from, top, &self.target)
    }

    fn small(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let member = blob_member(&d.digest)?;
        let bytes = self
            .bundle
            .read_small(member.as_str(), oci::MAX_MANIFEST_BYTES as u64)?;
        // Signed, and named by its digest; the descriptor must agree too.
        read_exact_small(bytes.as_slice(), d).with_context(|| format!("member {member}"))
    }

    /// Pushes a manifest's blobs: those the registry lacks are uploaded
    /// `jobs` at a time, so one blob's round trips overlap another's bytes.
    fn blobs(&mut self, to: &ImageRef, m: &oci::Manifest, progress: &Progress) -> Result<()> {
        let repo = to.repository().to_owned();
        let mut todo: Vec<&Descriptor> = Vec::new();
        for d in std::iter::once(&m.config).chain(&m.layers) {
            let known = self.have.get(&repo).is_some_and(|s| s.contains(&d.digest));
            if known || todo.iter().any(|t| t.digest == d.digest) {
                continue;
            }
            let done = self
                .skip_or_mount(to, d, progress)
                .with_context(|| format!("pushing blob {} of {to}", d.digest))?;
            if !done {
                todo.push(d);
            }
        }
        let queue = std::sync::Mutex::new(todo.clone());
        let stop = AtomicBool::new(false);
        let (bundle, registries) = (self.bundle, self.registries);
        let failures: Vec<anyhow::Error> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.jobs.max(1))
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            let next = match queue.lock() {
                                Ok(mut q) => q.pop(),
                                Err(_) => bail!("internal: a push worker panicked"),
                            };
                            let Some(d) = next else { return Ok(()) };
                            if let Err(e) = upload(bundle, registries, to, d, progress) {
                                // The others stop after their current blob.
                                stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .filter_map(|w| match w.join() {
                    Ok(r) => r.err(),
                    Err(_) => Some(anyhow::anyhow!("internal: a push worker panicked")),
                })
                .collect()
        });
        if let Some(e) = failures.into_iter().next() {
            return Err(e);
        }
        let have = self.have.entry(repo).or_default();
        for d in std::iter::once(&m.config).chain(&m.layers) {
            have.insert(d.digest.clone());
        }
        self.counts.uploaded += todo.len();
        self.counts.uploaded_bytes += todo.iter().map(|d| d.size).sum::<u64>();
        Ok(())
    }

    /// True when the blob needs no upload: the registry has it (HEAD), or
    /// it was mounted from a repository this run pushed it to.
    fn skip_or_mount(
        &mut self,
        to: &ImageRef,
        d: &Descriptor,
        progress: &Progress,
    ) -> Result<bool> {
        if self.registries.has_blob(to, &d.digest)? {
            self.counts.present += 1;
            progress.add(d.size);
            return Ok(true);
        }
        let Some(sibling) = self.sibling_with(&d.digest) else {
            return Ok(false);
        };
        let from = ImageRef::parse(&format!("{}/{sibling}:x", self.target.registry))
            .map_err(anyhow::Error::msg)?;
        let client = self.registries.client();
        let mounted = self
            .registries
            .runtime()
            .block_on(client.mount_blob(to.inner(), from.inner(), &d.digest))
            .is_ok()
            && self.registries.has_blob(to, &d.digest)?;
        if mounted {
            self.counts.mounted += 1;
            progress.add(d.size);
        }
        Ok(mounted)
    }

    fn sibling_with(&self, digest: &str) -> Option<String> {
        self.have
            .iter()
            .find(|(_, s)| s.contains(digest))
            .map(|(r, _)| r.clone())
    }

    fn put_manifest(&mut self, at: &ImageRef, media_type: &str, bytes: Vec<u8>) -> Result<()> {
        let ct = http::HeaderValue::from_str(media_type)
            .map_err(|_| anyhow::anyhow!("media type {media_type:?} is not a header value"))?;
        let body = Bytes::from(bytes);
        let registries = self.registries;
        registries.call(&format!("pushing the manifest of {at}"), || {
            let (ct, body) = (ct.clone(), body.clone());
            async move {
                registries
                    .client()
                    .push_manifest_raw(at.inner(), body, ct)
                    .await
            }
        })?;
        self.counts.manifests += 1;
        Ok(())
    }
}

/// Uploads one blob from the bundle, trying again from the start if the
/// registry fails in a way that may pass.
fn upload(
    bundle: &Trusted,
    registries: &Registries,
    to: &ImageRef,
    d: &Descriptor,
    progress: &Progress,
) -> Result<()> {
    let member = blob_member(&d.digest)?;
    let attempt = || -> Result<String, OciDistributionError> {
        std::thread::scope(|s| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, OciDistributionError>>(2);
            let feeder = s.spawn(|| feed(bundle, member.as_str(), tx, progress));
            let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let pushed = registries
                .runtime()
                .block_on(registries.client().push_blob_stream(
                    to.inner(),
                    stream,
                    &d.digest,
                    Some(d.size),
                ));
            let _ = feeder.join();
            pushed
        })
    };
    registries.retry_blocking(&format!("uploading {} to {to}", d.digest), attempt)?;
    Ok(())
}

/// Reads a member in 4 MiB pieces (the client's PATCH size) into the
/// upload; a member that fails its signed digest ends the upload with an
/// error before the registry commits it.
fn feed(
    bundle: &Trusted,
    member: &str,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, OciDistributionError>>,
    progress: &Progress,
) {
    let fail = |tx: &tokio::sync::mpsc::Sender<_>, msg: String| {
        let _ = tx.blocking_send(Err(OciDistributionError::GenericError(Some(msg))));
    };
    let mut r = match bundle.open(member) {
        Ok(r) => r,
        Err(e) => return fail(&tx, format!("{e:#}")),
    };
    loop {
        let mut buf = Vec::with_capacity(PIECE);
        match (&mut r).take(PIECE as u64).read_to_end(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                progress.add(n as u64);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return; // the upload gave up
                }
            }
            Err(e) => return fail(&tx, format!("member {member} cannot be read: {e}")),
        }
    }
    if let Err(e) = r.finish() {
        fail(&tx, format!("{e:#}"));
    }
}

const PIECE: usize = 4 << 20;
