//! Talking to registries: the OCI distribution API through `oci-client`,
//! behind a blocking facade so the bundle code stays synchronous. Every
//! call that can meet a busy or flaky registry retries with exponential
//! backoff; a blob download that breaks off resumes where it stopped.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use backon::{BackoffBuilder, BlockingRetryable, ExponentialBuilder};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};

use super::auth::Credentials;
use super::oci::{self, Descriptor};
use super::reference::{ImageRef, is_loopback};
use crate::progress::Reporter;

/// How hard to try before giving up on a registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub retries: usize,
    pub first_delay: Duration,
}

/// Retries of a registry call when no flag says how many.
pub(crate) const DEFAULT_RETRIES: usize = 6;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: DEFAULT_RETRIES,
            first_delay: Duration::from_millis(500),
        }
    }
}

/// The policy every command uses: `retries` retries after the default
/// first pause, which R2R_RETRY_FIRST_MS shortens (tests use it).
pub(crate) fn retry_policy(retries: usize) -> RetryPolicy {
    let mut p = RetryPolicy {
        retries,
        ..RetryPolicy::default()
    };
    if let Some(ms) = std::env::var("R2R_RETRY_FIRST_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        p.first_delay = Duration::from_millis(ms);
    }
    p
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.retries)
            .with_jitter()
    }
}

pub(crate) struct Registries {
    rt: tokio::runtime::Runtime,
    client: Client,
    creds: Credentials,
    pub retry: RetryPolicy,
    /// Where retries are announced.
    reporter: Arc<dyn Reporter>,
}

impl Registries {
    /// A client for `hosts`; loopback hosts and `plain_http` ones are
    /// reached over HTTP, every other over HTTPS.
    pub(crate) fn new<'a>(
        hosts: impl IntoIterator<Item = &'a str>,
        plain_http: &[String],
        creds: Credentials,
        retry: RetryPolicy,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Registries> {
        let mut plain: Vec<String> = hosts
            .into_iter()
            .filter(|h| is_loopback(h))
            .map(str::to_owned)
            .collect();
        plain.extend(plain_http.iter().cloned());
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("r2r/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the network runtime")?;
        Ok(Registries {
            rt,
            client: Client::new(config),
            creds,
            retry,
            reporter,
        })
    }

    async fn login(&self, r: &Reference) {
        let auth = self.creds.for_registry(r.registry());
        self.client
            .store_auth_if_needed(r.resolve_registry(), &auth)
            .await;
    }

    /// Runs `op` until it succeeds, fails for good, or the retries run out.
    pub(crate) fn call<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.retry_blocking(what, || self.rt.block_on(op()))
    }

    /// Like [`Registries::call`], for an attempt that drives the runtime
    /// itself (an upload fed by a thread reading the bundle).
    pub(crate) fn retry_blocking<T>(
        &self,
        what: &str,
        attempt: impl FnMut() -> Result<T, OciDistributionError>,
    ) -> Result<T> {
        attempt
            .retry(self.retry.backoff())
            .sleep(std::thread::sleep)
            .when(transient)
            .notify(|e, d| {
                self.reporter.warn(&format!(
                    "{what}: {}; retrying in {:.1}s",
                    short(e),
                    d.as_secs_f64()
                ));
            })
            .call()
            .map_err(|e| anyhow::anyhow!("{}", short(&e)))
            .with_context(|| what.to_owned())
    }

    /// The manifest `r` names: bytes, media type and digest. A digest in
    /// the reference is checked against the bytes.
    pub(crate) fn manifest(&self, r: &ImageRef) -> Result<(Vec<u8>, String, String)> {
        let inner = r.inner();
        let (bytes, _) = self.call(&format!("fetching the manifest of {r}"), || async {
            self.login(inner).await;
            self.client
                .pull_manifest_raw(
                    inner,
                    &self.creds.for_registry(inner.registry()),
                    &oci::ACCEPTED,
                )
                .await
        })?;
        if bytes.len() > oci::MAX_MANIFEST_BYTES {
            anyhow::bail!(
                "{r}: the manifest is larger than {} bytes",
                oci::MAX_MANIFEST_BYTES
            );
        }
        let digest = oci::sha256_digest(&bytes);
        if let Some(want) = r.digest()
            && want != digest
        {
            anyhow::bail!("{r}: the registry sent a manifest whose digest is {digest}");
        }
        // The media type comes from the manifest itself (oci::parse).
        Ok((bytes.to_vec(), String::new(), digest))
    }

    /// Every tag of `r`'s repository, page by page (Helm lists them to
    /// choose a chart version for a range).
    pub(crate) fn tags(&self, r: &ImageRef) -> Result<Vec<String>> {
        const PAGE: usize = 1000;
        const MAX_TAGS: usize = 100_000;
        let inner = r.inner();
        let auth = self.creds.for_registry(inner.registry());
        let mut out: Vec<String> = Vec::new();
        loop {
            let last = out.last().cloned();
            let page = self.call(&format!("listing the tags of {}", r.repository()), || {
                let (last, auth) = (last.clone(), auth.clone());
                async move {
                    self.login(inner).await;
                    self.client
                        .list_tags(inner, &auth, Some(PAGE), last.as_deref())
                        .await
                }
            })?;
            let n = page.tags.len();
            out.extend(page.tags);
            if n < PAGE || out.len() >= MAX_TAGS {
                return Ok(out);
            }
        }
    }

    /// Whether `repo` already has the blob.
    pub(crate) fn has_blob(&self, repo: &ImageRef, digest: &str) -> Result<bool> {
        let inner = repo.inner();
        self.call(
            &format!("asking {} for {digest}", repo.registry()),
            || async {
                self.login(inner).await;
                self.client.blob_exists(inner, digest).await
            },
        )
    }

    /// A reader over the blob `d` of `r`'s repository. It resumes a broken
    /// download with a range request; the caller checks the digest.
    pub(crate) fn blob<'a>(&'a self, r: &ImageRef, d: &Descriptor) -> BlobReader<'a> {
        BlobReader {
            reg: self,
            image: r.inner().clone(),
            desc: OciDescriptor {
                media_type: d.media_type.clone(),
                digest: d.digest.clone(),
                size: d.size as i64,
                // Never follow a manifest's foreign URLs: a hostile manifest
                // could point them anywhere.
                urls: None,
                annotations: None,
                artifact_type: None,
            },
            size: d.size,
            offset: 0,
            skip: 0,
            stream: None,
            chunk: Bytes::new(),
            delays: self.retry.backoff().build(),
            failures: 0,
        }
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn prepare(&self, r: &ImageRef) {
        self.rt.block_on(self.login(r.inner()));
    }
}

pub(crate) struct BlobReader<'a> {
    reg: &'a Registries,
    image: Reference,
    desc: OciDescriptor,
    size: u64,
    offset: u64,
    /// Bytes to drop from a reopened stream the registry sent whole.
    skip: u64,
    stream: Option<BoxStream<'static, io::Result<Bytes>>>,
    chunk: Bytes,
    /// Pauses between resumptions; a fresh series after each success.
    delays: backon::ExponentialBackoff,
    failures: usize,
}

impl BlobReader<'_> {
    fn open(&mut self) -> Result<()> {
        let (image, desc, offset) = (&self.image, &self.desc, self.offset);
        let what = format!("downloading {}@{}", image.whole(), desc.digest);
        let resp = self.reg.call(&what, || async {
            self.reg.login(image).await;
            self.reg
                .client
                .pull_blob_stream_partial(image, desc, offset, None)
                .await
        })?;
        let (stream, skip) = match resp {
            BlobResponse::Partial(s) => (s.stream, 0),
            BlobResponse::Full(s) => (s.stream, offset),
        };
        self.stream = Some(stream);
        self.skip = skip;
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&self.chunk.split_to(n));
                self.offset += n as u64;
                return Ok(n);
            }
            if self.offset >= self.size {
                return Ok(0);
            }
            if self.stream.is_none() {
                self.open()
                    .map_err(|e| io::Error::other(crate::text::one_line(&e)))?;
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            match self.reg.rt.block_on(stream.next()) {
                Some(Ok(mut bytes)) => {
                    if self.failures > 0 {
                        self.failures = 0;
                        self.delays = self.reg.retry.backoff().build();
                    }
                    let drop = self.skip.min(bytes.len() as u64) as usize;
                    self.skip -= drop as u64;
                    let _ = bytes.split_to(drop);
                    self.chunk = bytes;
                }
                end_or_err => {
                    // Ended early or broke off: resume from here.
                    self.stream = None;
                    self.failures += 1;
                    let why = match end_or_err {
                        Some(Err(e)) => e.to_string(),
                        _ => "the registry ended the download early".into(),
                    };
                    let Some(pause) = self.delays.next() else {
                        return Err(io::Error::other(format!(
                            "{}@{}: {why}, {} times in a row",
                            self.image.whole(),
                            self.desc.digest,
                            self.failures
                        )));
                    };
                    self.reg.reporter.warn(&format!(
                        "downloading {}@{}: {why}; resuming at byte {} in {:.1}s",
                        self.image.whole(),
                        self.desc.digest,
                        self.offset,
                        pause.as_secs_f64()
                    ));
                    std::thread::sleep(pause);
                }
            }
        }
    }
}

/// Whether trying again could help: the registry was busy or failing, or
/// the connection broke.
pub(crate) fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => {
            *code >= 500 || *code == 429 || *code == 408
        }
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == OciErrorCode::Toomanyrequests),
        OciDistributionError::RequestError(r) => {
            r.is_timeout()
                || r.is_connect()
                || r.is_request()
                || r.is_body()
                || r.status()
                    .is_some_and(|s| s.is_server_error() || s.as_u16() == 429)
        }
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

/// The error without the noise: registries answer HTML pages on 5xx.
pub(crate) fn short(e: &OciDistributionError) -> String {
    let text = e.to_string();
    let mut one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| one_line.is_char_boundary(*i))
            .unwrap_or(0);
        one_line.truncate(cut);
        one_line.push('…');
    }
    one_line
}
