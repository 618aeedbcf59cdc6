//! `r2r push-images`: the bundle's image layout into the community's
//! registry. Blobs the registry already has are skipped (HEAD), blobs
//! pushed to a sibling repository are mounted, the rest are uploaded in
//! chunks straight from the signed bundle; manifests go last, byte for
//! byte, so every digest survives the move. [`push_all`] is the one push,
//! for `push-images` and the installer alike.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use oci_client::errors::OciDistributionError;
use serde::Serialize;

use super::auth::Credentials;
use super::mapping::{Mapping, Moved};
use super::oci::{self, Descriptor, LayoutIndex, Platform, REF_NAME};
use super::pull::blob_member;
use super::reference::ImageRef;
use super::registry::{Registries, RetryPolicy};
use super::source::read_exact_small;
use super::walk;
use crate::bundle::verify::Trusted;
use crate::progress::Progress;

/// Blobs uploaded at once when no flag says how many.
pub(crate) const DEFAULT_JOBS: usize = 3;

/// One push: what to push, where, and how.
pub(crate) struct Request<'a> {
    /// The verified bundle whose image layout is pushed.
    pub bundle: &'a Trusted,
    /// The images to push: [`carried`], or a selection of it.
    pub images: Vec<(ImageRef, Descriptor)>,
    pub target: Target,
    /// Registries reached over plain HTTP; loopback ones always are.
    pub plain_http: Vec<String>,
    /// Blobs uploaded at once.
    pub jobs: usize,
    pub retry: RetryPolicy,
    pub credentials: Credentials,
    /// Where retries are announced.
    pub reporter: std::sync::Arc<dyn crate::progress::Reporter>,
}

/// What a push did.
pub(crate) struct Pushed {
    pub mapping: Mapping,
    pub counts: Counts,
}

/// Pushes every image of the request, after checking that no two land on
/// one name; warns (through `progress`) that a credential helper the auth
/// files name is not run.
pub(crate) fn push_all(req: Request<'_>, progress: &Progress) -> Result<Pushed> {
    let mapping = plan(&req.images, &req.target)?;
    if let Some(w) = req.credentials.helper_warning() {
        progress.warn(&w);
    }
    let registries = Registries::new(
        [req.target.registry.as_str()],
        &req.plain_http,
        req.credentials,
        req.retry,
        req.reporter,
    )?;
    let mut pusher = Pusher::new(req.bundle, &registries, req.target);
    pusher.jobs = req.jobs.max(1);
    for (r, top) in &req.images {
        progress.note(&format!("image {r}"));
        pusher
            .image(r, top, progress)
            .with_context(|| format!("cannot push image {r} to {}", pusher.target.spec))?;
    }
    Ok(Pushed {
        mapping,
        counts: pusher.counts,
    })
}

/// Where each image lands under `target`, without pushing: the mapping a
/// push produces, for values pinned before the registry exists. Two images
/// must not land on one name (quay.io/o/i:1 and ghcr.io/o/i:1 both become
/// PREFIX/o/i:1): the second would replace the first.
pub(crate) fn plan(images: &[(ImageRef, Descriptor)], target: &Target) -> Result<Mapping> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut mapping = Mapping {
        registry: target.spec.clone(),
        images: Vec::new(),
    };
    for (r, top) in images {
        let moved = predict(r, top, target)?;
        if let Some(other) = names.insert(moved.to.clone(), moved.from.clone()) {
            bail!(
                "{other} and {r} would both be pushed as {}\nhint: push them in two runs with --image and different --to prefixes",
                moved.to
            );
        }
        mapping.images.push(moved);
    }
    Ok(mapping)
}

/// Where `from` lands under `target`.
fn predict(from: &ImageRef, top: &Descriptor, target: &Target) -> Result<Moved> {
    let to = from
        .moved_to(&target.registry, &target.prefix)
        .map_err(|e| anyhow::anyhow!("{from}: cannot name it under {}: {e}", target.spec))?;
    Ok(Moved {
        from: from.canonical(),
        to: to.canonical(),
        pinned: to.at_digest(&top.digest).canonical(),
        digest: top.digest.clone(),
    })
}

/// Where images go: `registry.example.org/community` or a bare registry.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub registry: String,
    pub prefix: String,
    /// As it was given, for messages and the mapping.
    pub spec: String,
}

impl Target {
    pub(crate) fn parse(text: &str) -> Result<Target> {
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
            spec: text.to_owned(),
        })
    }
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Counts {
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Already in the registry (HEAD said so).
    pub present: usize,
    /// Mounted from another repository of the same registry.
    pub mounted: usize,
    pub manifests: usize,
}

/// The images a bundle carries: ref.name → top descriptor.
pub(crate) fn carried(bundle: &Trusted) -> Result<Vec<(ImageRef, Descriptor)>> {
    let member = crate::bundle::layout::IMAGES_INDEX;
    if !bundle.has(member) {
        bail!("the bundle carries no images (it was exported without --images)");
    }
    let bytes = bundle.read_small(member, oci::MAX_MANIFEST_BYTES as u64)?;
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

pub(crate) struct Pusher<'a> {
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
    pub(crate) fn new(
        bundle: &'a Trusted,
        registries: &'a Registries,
        target: Target,
    ) -> Pusher<'a> {
        Pusher {
            bundle,
            registries,
            target,
            counts: Counts::default(),
            have: BTreeMap::new(),
            jobs: 3,
        }
    }

    /// Pushes one image: its blobs, its child manifests, then its top.
    pub(crate) fn image(
        &mut self,
        from: &ImageRef,
        top: &Descriptor,
        progress: &Progress,
    ) -> Result<()> {
        let to = from
            .moved_to(&self.target.registry, &self.target.prefix)
            .map_err(|e| {
                anyhow::anyhow!("{from}: cannot name it under {}: {e}", self.target.spec)
            })?;
        self.registries.prepare(&to);
        let top_bytes = self.small(top)?;
        let mut visit = Visit {
            pusher: self,
            to: &to,
            progress,
        };
        walk::walk(
            &from.to_string(),
            &top_bytes,
            &top.media_type,
            &top.digest,
            |_| true,
            &mut visit,
        )?;
        self.put_manifest(&to, &top.media_type, top_bytes)
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

/// The walk's steps for a push: from the bundle into the target registry.
struct Visit<'a, 'p> {
    pusher: &'a mut Pusher<'p>,
    to: &'a ImageRef,
    progress: &'a Progress,
}

impl walk::Visitor for Visit<'_, '_> {
    fn fetch_child(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        self.pusher.small(d)
    }

    fn blobs(&mut self, m: &oci::Manifest) -> Result<Option<Platform>> {
        self.pusher.blobs(self.to, m, self.progress)?;
        Ok(None)
    }

    /// Pushed under its digest, as the index names it, with the media type
    /// the index gives it.
    fn child(&mut self, d: &Descriptor, _media: &str, bytes: Vec<u8>) -> Result<()> {
        self.pusher
            .put_manifest(&self.to.at_digest(&d.digest), &d.media_type, bytes)
    }
}
