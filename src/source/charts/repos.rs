//! Fetching a chart dependency's archive the way `helm dependency build`
//! does: from an https chart repository (its `index.yaml`, then the archive
//! it lists, checked against the index's digest) or an `oci://` registry
//! (Helm's chart artifact, checked against the manifest's layer digest),
//! possibly through a mirror given with `--chart-repo ORIGINAL=MIRROR`.
//!
//! A mirror is another URL of the same kind, or a local directory holding
//! the repository's archives (and, for an https repository, its
//! `index.yaml`): air-gapped operators and the tests use directories.
//! Everything a repository sends is bounded and checked; nothing it names
//! is followed outside the mirror directory.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use backon::{BlockingRetryable, ExponentialBuilder};
use serde::Deserialize;

use super::archive::{self, Dependency, MAX_ARCHIVE};
use super::version::{Constraint, Version};
use crate::bundle::digest::{HashingReader, sha256_reader};
use crate::images::auth::Credentials;
use crate::images::oci;
use crate::images::reference::ImageRef;
use crate::images::registry::{Registries, RetryPolicy};
use crate::progress::Reporter;

/// Largest `index.yaml` read (prometheus-community's is about 20 MB).
const MAX_INDEX: u64 = 64 << 20;
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART_LAYERS: [&str; 2] = [
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    // What Helm 3.0's experimental OCI support pushed; Helm still reads it.
    "application/tar+gzip",
];

/// `--chart-repo ORIGINAL=MIRROR` entries, and `--chart-repos-dir`
/// folders that mirror many repositories at once.
#[derive(Debug, Default)]
pub struct Mirrors {
    each: Vec<(String, Mirror)>,
    trees: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum Mirror {
    Url(String),
    Dir(PathBuf),
}

impl std::fmt::Display for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mirror::Url(u) => f.write_str(u),
            Mirror::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

/// A repository URL as compared: without its trailing slashes.
fn normal(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl Mirrors {
    /// Adds folders laid out as `https/<host>/<path>/` (an index.yaml and
    /// archives) and `oci/<host>/<path>/` (`<name>-<version>.tgz`), one per
    /// repository URL; a repository with no folder there is fetched as usual.
    pub fn with_trees(mut self, trees: &[PathBuf]) -> Result<Mirrors> {
        for t in trees {
            if !t.is_dir() {
                bail!("--chart-repos-dir {}: not a directory", t.display());
            }
            self.trees.push(
                t.canonicalize()
                    .with_context(|| format!("cannot resolve {}", t.display()))?,
            );
        }
        Ok(self)
    }

    pub fn parse(entries: &[String]) -> Result<Mirrors> {
        let mut out = Vec::new();
        for e in entries {
            let Some((from, to)) = e.split_once('=') else {
                bail!(
                    "--chart-repo {e:?}: expected ORIGINAL=MIRROR, e.g. https://helm.dask.org/=https://charts.internal/dask or oci://ghcr.io/nginx/charts=/srv/mirror/nginx"
                );
            };
            let (from, to) = (normal(from.trim()), to.trim());
            if from.is_empty() || to.is_empty() {
                bail!("--chart-repo {e:?}: both sides are needed");
            }
            let mirror = if to.contains("://") {
                Mirror::Url(normal(to).to_owned())
            } else {
                let dir = Path::new(to);
                if !dir.is_dir() {
                    bail!("--chart-repo {e:?}: {to} is not a directory");
                }
                Mirror::Dir(
                    dir.canonicalize()
                        .with_context(|| format!("cannot resolve {to}"))?,
                )
            };
            // A `helm repo add` name (`@name`) takes the kind of its mirror.
            let named = from.starts_with('@') || from.starts_with("alias:");
            if !named
                && from.starts_with("oci://")
                    != matches!(&mirror, Mirror::Url(u) if u.starts_with("oci://"))
                && matches!(mirror, Mirror::Url(_))
            {
                bail!(
                    "--chart-repo {e:?}: an oci:// repository needs an oci:// mirror or a directory, and an https one an http(s) mirror or a directory"
                );
            }
            out.push((from.to_owned(), mirror));
        }
        Ok(Mirrors {
            each: out,
            trees: Vec::new(),
        })
    }

    /// The mirror for `repository`: an explicit `--chart-repo`, else its
    /// folder in the first `--chart-repos-dir` that has one.
    pub fn lookup(&self, repository: &str) -> Option<Mirror> {
        self.candidates(repository).into_iter().next()
    }

    /// Every mirror for `repository`, in the order they are tried: an
    /// explicit `--chart-repo`, then its folder in each `--chart-repos-dir`.
    pub fn candidates(&self, repository: &str) -> Vec<Mirror> {
        let r = normal(repository);
        if let Some((_, m)) = self.each.iter().find(|(from, _)| from == r) {
            return vec![m.clone()];
        }
        let Some((scheme, rest)) = r.split_once("://") else {
            return Vec::new();
        };
        let scheme = match scheme {
            "https" | "http" => "https",
            "oci" => "oci",
            _ => return Vec::new(),
        };
        // Every component must be a plain name: the URL comes from a
        // Chart.yaml and must not walk out of the mirror folder.
        if rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\\'))
        {
            return Vec::new();
        }
        self.trees
            .iter()
            .filter_map(|t| {
                let real = t.join(scheme).join(rest).canonicalize().ok()?;
                (real.starts_with(t) && real.is_dir()).then_some(Mirror::Dir(real))
            })
            .collect()
    }
}

/// An archive fetched for a dependency, in the fetcher's work folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    /// The version chosen for the constraint.
    pub version: String,
    /// Where it was read from (the mirror's URL or file, when one is set).
    pub from: String,
    /// What its digest was checked against.
    pub checked: String,
}

pub struct Fetcher {
    mirrors: Mirrors,
    work: PathBuf,
    http: Option<Http>,
    registries: HashMap<String, Registries>,
    /// Where registry retries are announced.
    reporter: Arc<dyn Reporter>,
    indexes: HashMap<String, Index>,
    done: HashMap<(String, String, String), Fetched>,
    counter: std::cell::Cell<usize>,
}

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// A chart repository's index.yaml, as far as r2r reads it.
#[derive(Debug, Default, Deserialize)]
pub struct Index {
    #[serde(default)]
    entries: HashMap<String, Vec<Entry>>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default, deserialize_with = "text")]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// Parses a chart repository's index.yaml (public for the fuzz harness).
pub fn parse_index(text: &str) -> Result<Index, yaml_serde::Error> {
    crate::values::yaml::from_str(text)
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match yaml_serde::Value::deserialize(d)? {
        yaml_serde::Value::String(s) => s,
        yaml_serde::Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

impl Fetcher {
    /// A fetcher that keeps what it downloads in `work`.
    pub fn new(mirrors: Mirrors, work: &Path, reporter: Arc<dyn Reporter>) -> Fetcher {
        Fetcher {
            reporter,
            mirrors,
            work: work.to_owned(),
            http: None,
            registries: HashMap::new(),
            indexes: HashMap::new(),
            done: HashMap::new(),
            counter: std::cell::Cell::new(0),
        }
    }

    /// The archive of `dep` at the highest version its constraint allows.
    pub fn fetch(&mut self, dep: &Dependency, constraint: &Constraint) -> Result<Fetched> {
        let repo = dep.repository.as_str();
        let key = (
            normal(repo).to_owned(),
            dep.name.clone(),
            dep.version.clone(),
        );
        if let Some(f) = self.done.get(&key) {
            return Ok(f.clone());
        }
        let named = repo.starts_with('@') || repo.starts_with("alias:");
        let mut mirrors: Vec<Option<Mirror>> = self
            .mirrors
            .candidates(repo)
            .into_iter()
            .map(Some)
            .collect();
        if named && mirrors.is_empty() {
            bail!(
                "the repository {repo} is a name from `helm repo add`, which r2r cannot see; map it with --chart-repo '{repo}=URL'"
            )
        }
        if !named
            && !["oci://", "https://", "http://"]
                .iter()
                .any(|p| repo.starts_with(p))
        {
            bail!("the repository {repo:?} is not https://, oci:// or file://");
        }
        if mirrors.is_empty() {
            mirrors.push(None);
        }
        // Mirrors are tried in order; the first that has a matching version
        // serves it.
        let mut failed = None;
        for mirror in mirrors {
            // A repository named with `helm repo add` is whatever kind its
            // mirror is: a directory with an index.yaml is an https one.
            let oci = match (&mirror, repo.strip_prefix("oci://")) {
                (_, Some(_)) => true,
                (Some(Mirror::Url(u)), None) => named && u.starts_with("oci://"),
                (Some(Mirror::Dir(d)), None) => named && !d.join("index.yaml").is_file(),
                (None, None) => false,
            };
            let got = if oci {
                let base = normal(repo.strip_prefix("oci://").unwrap_or(repo));
                self.fetch_oci(base, dep, constraint, mirror.as_ref())
            } else {
                self.fetch_http(repo, dep, constraint, mirror.as_ref())
            };
            match got {
                Ok(fetched) => {
                    self.done.insert(key, fetched.clone());
                    return Ok(fetched);
                }
                Err(e) => failed = Some(with_hint(e, repo, mirror.as_ref())),
            }
        }
        Err(failed.unwrap_or_else(|| anyhow!("no mirror to fetch {repo} from")))
    }

    /// A new file in the work folder. Its name holds no text from a
    /// Chart.yaml or an index, which could name another folder.
    fn next_path(&self) -> PathBuf {
        self.counter.set(self.counter.get() + 1);
        self.work.join(format!("{}.tgz", self.counter.get()))
    }

    // ---- https repositories

    fn fetch_http(
        &mut self,
        repo: &str,
        dep: &Dependency,
        constraint: &Constraint,
        mirror: Option<&Mirror>,
    ) -> Result<Fetched> {
        let base = match mirror {
            Some(Mirror::Url(u)) => u.clone(),
            Some(Mirror::Dir(d)) => format!("dir:{}", d.display()),
            None => normal(repo).to_owned(),
        };
        if !self.indexes.contains_key(&base) {
            let index = self.read_index(&base, mirror)?;
            self.indexes.insert(base.clone(), index);
        }
        let index = &self.indexes[&base];
        let entries = index
            .entries
            .get(&dep.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let best = entries
            .iter()
            .filter(|e| !e.urls.is_empty())
            .filter_map(|e| Version::parse(&e.version).ok().map(|v| (v, e)))
            .filter(|(v, _)| constraint.matches(v))
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((version, entry)) = best else {
            let known: Vec<&str> = entries
                .iter()
                .map(|e| e.version.as_str())
                .take(20)
                .collect();
            bail!(
                "its index.yaml ({}) has no version of `{}` matching {}{}",
                shown_base(&base),
                dep.name,
                constraint,
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (it has: {})", known.join(", "))
                }
            );
        };
        let version = version.original().to_owned();
        let want = entry
            .digest
            .clone()
            .map(|d| d.trim_start_matches("sha256:").to_lowercase());
        let url = entry.urls[0].clone();
        let path = self.next_path();
        let from = match mirror {
            Some(Mirror::Dir(d)) => {
                let src = dir_file(d, &url)?;
                copy_bounded(
                    &mut std::fs::File::open(&src)
                        .with_context(|| format!("cannot open {}", src.display()))?,
                    &path,
                )?;
                // Not the exporter's local path: the bundle is signed and
                // handed on.
                from_dir(repo, &src)
            }
            _ => {
                let target = archive_url(repo, &base, &url)?;
                self.download(&target, &path)?;
                redact(&target)
            }
        };
        let (sha256, _) = sha256_reader(std::fs::File::open(&path)?)?;
        let checked = match want {
            Some(w) if w == sha256 => "the digest in index.yaml".to_owned(),
            Some(w) => bail!(
                "{from}: sha256 is {sha256}, but index.yaml says {w}; the archive or the index was altered"
            ),
            None => "nothing: index.yaml lists no digest for it".to_owned(),
        };
        Ok(Fetched {
            path,
            sha256,
            version,
            from,
            checked,
        })
    }

    fn read_index(&mut self, base: &str, mirror: Option<&Mirror>) -> Result<Index> {
        let text = match mirror {
            Some(Mirror::Dir(d)) => {
                let p = d.join("index.yaml");
                crate::source::repo::read_text(&p, MAX_INDEX).with_context(|| {
                    format!("the mirror {} has no readable index.yaml", d.display())
                })?
            }
            _ => {
                let url = format!("{base}/index.yaml");
                let tmp = self.work.join(format!("index-{}.yaml", self.indexes.len()));
                self.download(&url, &tmp)
                    .with_context(|| format!("cannot read {}", redact(&url)))?;
                let text = std::fs::read_to_string(&tmp)
                    .with_context(|| format!("{} is not UTF-8 text", redact(&url)))?;
                let _ = std::fs::remove_file(&tmp);
                text
            }
        };
        parse_index(&text).with_context(|| {
            format!(
                "{}/index.yaml is not a chart repository index",
                shown_base(base)
            )
        })
    }

    fn http(&mut self) -> Result<&Http> {
        if self.http.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the network runtime")?;
            // A redirect may not leave TLS; a whole request has a deadline
            // as well as a read timeout, so a server trickling a byte a
            // minute cannot hold the export.
            let policy = reqwest::redirect::Policy::custom(|a| {
                let downgrade = a.url().scheme() == "http"
                    && a.previous().iter().any(|u| u.scheme() == "https");
                if downgrade || a.previous().len() >= 10 {
                    a.stop()
                } else {
                    a.follow()
                }
            });
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .read_timeout(Duration::from_secs(120))
                .timeout(Duration::from_secs(600))
                .redirect(policy)
                .user_agent(concat!("r2r/", env!("CARGO_PKG_VERSION")))
                .build()
                .context("cannot set up the HTTP client")?;
            self.http = Some(Http { rt, client });
        }
        self.http.as_ref().ok_or_else(|| anyhow!("no HTTP client"))
    }

    /// Downloads `url` into `to`, refusing more than [`MAX_INDEX`] bytes,
    /// retrying what a busy server or a broken connection can cause.
    fn download(&mut self, url: &str, to: &Path) -> Result<()> {
        let http = self.http()?;
        let attempt =
            || -> Result<(), Transient> {
                http.rt.block_on(async {
                    let mut resp = http.client.get(url).send().await.map_err(|e| {
                        Transient::Yes(anyhow!("{}: {}", redact(url), e.without_url()))
                    })?;
                    let status = resp.status();
                    if !status.is_success() {
                        let e = anyhow!("{}: HTTP {status}", redact(url));
                        return Err(if status.is_server_error() || status.as_u16() == 429 {
                            Transient::Yes(e)
                        } else {
                            Transient::No(e)
                        });
                    }
                    let mut file = std::fs::File::create(to).map_err(|e| {
                        Transient::No(anyhow!("cannot create {}: {e}", to.display()))
                    })?;
                    let mut n = 0u64;
                    while let Some(chunk) = resp.chunk().await.map_err(|e| {
                        Transient::Yes(anyhow!("{}: {}", redact(url), e.without_url()))
                    })? {
                        n += chunk.len() as u64;
                        if n > MAX_INDEX {
                            return Err(Transient::No(anyhow!(
                                "{} is larger than {MAX_INDEX} bytes",
                                redact(url)
                            )));
                        }
                        file.write_all(&chunk).map_err(|e| {
                            Transient::No(anyhow!("cannot write {}: {e}", to.display()))
                        })?;
                    }
                    Ok(())
                })
            };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_times(4)
                    .with_jitter(),
            )
            .sleep(std::thread::sleep)
            .when(|e| matches!(e, Transient::Yes(_)))
            .call()
            .map_err(Transient::into_inner)
    }

    // ---- OCI registries

    fn fetch_oci(
        &mut self,
        base: &str,
        dep: &Dependency,
        constraint: &Constraint,
        mirror: Option<&Mirror>,
    ) -> Result<Fetched> {
        if let Some(Mirror::Dir(d)) = mirror {
            return self.fetch_oci_dir(d, dep, constraint);
        }
        let base = match mirror {
            Some(Mirror::Url(u)) => normal(u.trim_start_matches("oci://")).to_owned(),
            _ => base.to_owned(),
        };
        let repo_ref = format!("{base}/{}", dep.name);
        let host = repo_ref.split('/').next().unwrap_or_default().to_owned();
        if !self.registries.contains_key(&host) {
            let reg = Registries::new(
                [host.as_str()],
                &[],
                Credentials::from_env()?,
                RetryPolicy::default(),
                self.reporter.clone(),
            )?;
            self.registries.insert(host.clone(), reg);
        }
        let reg = &self.registries[&host];
        let version = match constraint.exact() {
            Some(v) => v.original().to_owned(),
            None => {
                let probe = ImageRef::parse(&format!("{repo_ref}:latest"))
                    .map_err(|e| anyhow!("oci://{repo_ref} is not a registry repository: {e}"))?;
                let tags = reg.tags(&probe)?;
                tags.iter()
                    .filter_map(|t| Version::parse_strict(&t.replace('_', "+")).ok())
                    .filter(|v| constraint.matches(v))
                    .max()
                    .map(|v| v.original().to_owned())
                    .with_context(|| format!("oci://{repo_ref} has no tag matching {constraint}"))?
            }
        };
        // Helm stores `+` as `_`: OCI tags cannot hold a `+`.
        let tag = version.replace('+', "_");
        let reference = ImageRef::parse(&format!("{repo_ref}:{tag}"))
            .map_err(|e| anyhow!("oci://{repo_ref}:{tag} is not a registry reference: {e}"))?;
        let (bytes, media, _) = reg.manifest(&reference)?;
        let (_, parsed) =
            oci::parse(&bytes, &media).with_context(|| format!("oci://{reference}"))?;
        let oci::Parsed::Manifest(m) = parsed else {
            bail!("oci://{reference} is an image index, not a Helm chart");
        };
        if m.config.media_type != HELM_CONFIG {
            bail!(
                "oci://{reference} is not a Helm chart (its config is {}, not {HELM_CONFIG})",
                m.config.media_type
            );
        }
        let layer = m
            .layers
            .iter()
            .find(|l| HELM_CHART_LAYERS.contains(&l.media_type.as_str()))
            .with_context(|| format!("oci://{reference} has no Helm chart layer"))?
            .clone();
        if layer.size > MAX_ARCHIVE {
            bail!(
                "oci://{reference}: the chart is {} bytes, more than {MAX_ARCHIVE}",
                layer.size
            );
        }
        let path = self.next_path();
        let mut hashing = HashingReader::new(reg.blob(&reference, &layer));
        copy_bounded(&mut hashing, &path)?;
        let (hex, n, _) = hashing.finish();
        let want = oci::check_digest(&layer.digest)?;
        if hex != want || n != layer.size {
            bail!(
                "oci://{reference}: the chart layer's sha256 is {hex} ({n} bytes), but the manifest says {want} ({} bytes)",
                layer.size
            );
        }
        Ok(Fetched {
            path,
            sha256: hex,
            version,
            from: format!("oci://{reference}"),
            checked: "the layer digest in the OCI manifest".into(),
        })
    }

    /// A directory standing in for an OCI repository: `<name>-<version>.tgz`.
    fn fetch_oci_dir(
        &mut self,
        dir: &Path,
        dep: &Dependency,
        constraint: &Constraint,
    ) -> Result<Fetched> {
        let prefix = format!("{}-", dep.name);
        let mut best: Option<(Version, PathBuf)> = None;
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(v) = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".tgz"))
            else {
                continue;
            };
            let Ok(v) = Version::parse(v) else { continue };
            if constraint.matches(&v) && best.as_ref().is_none_or(|(b, _)| &v > b) {
                best = Some((v, e.path()));
            }
        }
        let (version, src) = best.with_context(|| {
            format!(
                "the mirror {} has no {prefix}<version>.tgz matching {constraint}",
                dir.display()
            )
        })?;
        let src = dir_file(dir, &src.file_name().unwrap_or_default().to_string_lossy())?;
        let path = self.next_path();
        copy_bounded(&mut std::fs::File::open(&src)?, &path)?;
        let (sha256, _) = sha256_reader(std::fs::File::open(&path)?)?;
        Ok(Fetched {
            path,
            sha256,
            version: version.original().to_owned(),
            from: from_dir(&dep.repository, &src),
            checked: "nothing: a directory mirror has no manifest".into(),
        })
    }
}

/// Says where the chart was looked for, and how to give it another way.
fn with_hint(e: anyhow::Error, repo: &str, mirror: Option<&Mirror>) -> anyhow::Error {
    match mirror {
        Some(m) => e.context(format!("looked for it in the mirror {m}")),
        None => {
            let repo = redact(repo);
            e.context(format!(
                "looked for it at {repo}\nhint: without a network, or when the repository is gone, give a copy with --chart-repo '{repo}=MIRROR' (a URL or a directory) or --chart-repos-dir"
            ))
        }
    }
}

enum Transient {
    Yes(anyhow::Error),
    No(anyhow::Error),
}

impl Transient {
    fn into_inner(self) -> anyhow::Error {
        match self {
            Transient::Yes(e) | Transient::No(e) => e,
        }
    }
}

/// Copies at most [`MAX_ARCHIVE`] bytes from `r` into a new file `to`.
fn copy_bounded(r: &mut dyn Read, to: &Path) -> Result<()> {
    let mut file =
        std::fs::File::create(to).with_context(|| format!("cannot create {}", to.display()))?;
    let n = std::io::copy(&mut r.take(MAX_ARCHIVE + 1), &mut file)
        .with_context(|| format!("cannot write {}", to.display()))?;
    if n > MAX_ARCHIVE {
        bail!("the chart archive is larger than {MAX_ARCHIVE} bytes");
    }
    Ok(())
}

/// The file a listed URL names inside a directory mirror: a relative URL
/// as a path inside it, an absolute one by its last segment; either must
/// stay inside the directory, links included.
fn dir_file(dir: &Path, url: &str) -> Result<PathBuf> {
    let rel = if url.contains("://") {
        url.rsplit('/').next().unwrap_or_default()
    } else {
        url
    };
    let rel = rel.split(['?', '#']).next().unwrap_or_default();
    if rel.is_empty()
        || rel.starts_with('/')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!(
            "the mirror's index names {url:?}, which is not a file inside {}",
            dir.display()
        );
    }
    let path = dir.join(rel);
    let real = path
        .canonicalize()
        .with_context(|| format!("the mirror {} has no {rel}", dir.display()))?;
    if !real.starts_with(dir) || !real.is_file() {
        bail!(
            "{} is not a file inside the mirror {}",
            path.display(),
            dir.display()
        );
    }
    Ok(real)
}

/// The URL to download an index entry's archive from. A relative URL is
/// resolved against the repository (or its mirror); an absolute one that
/// points into the original repository is moved to the mirror too.
fn archive_url(repo: &str, base: &str, listed: &str) -> Result<String> {
    let original = normal(repo);
    // Into the original repository: only at a path boundary, so that
    // `https://a/b` does not capture `https://a/bc/x.tgz`.
    let listed = match listed.strip_prefix(original) {
        Some(rest) if base != original && rest.starts_with('/') => format!("{base}{rest}"),
        _ => listed.to_owned(),
    };
    let base_url = url::Url::parse(&format!("{base}/"))
        .with_context(|| format!("{} is not a URL", redact(base)))?;
    let u = base_url
        .join(&listed)
        .with_context(|| format!("index.yaml lists {:?}, which is not a URL", redact(&listed)))?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!(
            "index.yaml lists {}, which is not an http(s) URL",
            redact(u.as_str())
        );
    }
    // An https repository's index may not send r2r to plain HTTP: the
    // digest still holds, but what was asked over TLS stays over TLS.
    if base_url.scheme() == "https" && u.scheme() == "http" {
        bail!(
            "index.yaml of {} lists {}, plain HTTP from an https repository",
            redact(base),
            redact(u.as_str())
        );
    }
    Ok(u.to_string())
}

/// How an archive read from a directory mirror is recorded: the
/// repository it stands for and the file's name.
fn from_dir(repo: &str, src: &Path) -> String {
    let file = src.file_name().unwrap_or_default().to_string_lossy();
    format!("{}/{file}, from a directory mirror", redact(normal(repo)))
}

/// A URL without its user name and password, to record or print: they
/// may be a mirror's or a repository's credentials.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn shown_base(base: &str) -> String {
    match base.strip_prefix("dir:") {
        Some(dir) => dir.to_owned(),
        None => redact(base),
    }
}

/// Reads the archive back, checking that it is the chart and version the
/// dependency asked for.
pub fn check_archive(fetched: &Fetched, dep: &Dependency) -> Result<archive::LoadedChart> {
    let file = std::fs::File::open(&fetched.path)?;
    let chart = archive::load(file, &fetched.from)?;
    if chart.meta.name != dep.name || chart.meta.version != fetched.version {
        bail!(
            "{} holds chart {} {}, not {} {}",
            fetched.from,
            chart.meta.name,
            chart.meta.version,
            dep.name,
            fetched.version
        );
    }
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_match_with_or_without_trailing_slashes() {
        let d = tempfile::tempdir().unwrap();
        let m = Mirrors::parse(&[
            format!(
                "https://jupyterhub.github.io/helm-chart/={}/",
                d.path().display()
            ),
            "oci://ghcr.io/nginx/charts=oci://127.0.0.1:5000/ghcr.io/nginx/charts/".into(),
        ])
        .unwrap();
        assert!(matches!(
            m.lookup("https://jupyterhub.github.io/helm-chart"),
            Some(Mirror::Dir(_))
        ));
        assert!(
            matches!(m.lookup("oci://ghcr.io/nginx/charts/"), Some(Mirror::Url(u)) if u == "oci://127.0.0.1:5000/ghcr.io/nginx/charts")
        );
        assert!(m.lookup("https://helm.dask.org/").is_none());
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("https/helm.dask.org")).unwrap();
        let m = Mirrors::default()
            .with_trees(&[tree.path().to_owned()])
            .unwrap();
        assert!(matches!(
            m.lookup("https://helm.dask.org/"),
            Some(Mirror::Dir(_))
        ));
        assert!(m.lookup("https://helm.dask.org/../../etc").is_none());
        assert!(m.lookup("oci://helm.dask.org").is_none());
        assert!(Mirrors::parse(&["nope".into()]).is_err());
        assert!(Mirrors::parse(&["oci://a/b=https://c/d".into()]).is_err());
        // A repository Chart.yaml names by its `helm repo add` name.
        let named = Mirrors::parse(&["@bitnami=oci://registry.internal/bitnami".into()]).unwrap();
        assert!(matches!(named.lookup("@bitnami"), Some(Mirror::Url(_))));
    }

    #[test]
    fn a_named_repository_needs_a_mirror() {
        let work = tempfile::tempdir().unwrap();
        let mut f = Fetcher::new(
            Mirrors::default(),
            work.path(),
            Arc::new(crate::progress::Silent),
        );
        let dep = Dependency {
            name: "x".into(),
            version: "1.0.0".into(),
            repository: "@stable".into(),
            ..Default::default()
        };
        let e = f
            .fetch(&dep, &Constraint::parse("1.0.0").unwrap())
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("--chart-repo '@stable=URL'"),
            "{e:#}"
        );
    }

    #[test]
    fn archive_urls_resolve_against_the_mirror() {
        let r = "https://jupyterhub.github.io/helm-chart/";
        assert_eq!(
            archive_url(
                r,
                "http://127.0.0.1:9/jupyterhub.github.io/helm-chart",
                "jupyterhub-4.3.3.tgz"
            )
            .unwrap(),
            "http://127.0.0.1:9/jupyterhub.github.io/helm-chart/jupyterhub-4.3.3.tgz"
        );
        assert_eq!(
            archive_url(
                r,
                "http://m",
                "https://jupyterhub.github.io/helm-chart/jupyterhub-4.3.3.tgz"
            )
            .unwrap(),
            "http://m/jupyterhub-4.3.3.tgz"
        );
        assert!(archive_url(r, "http://m", "file:///etc/passwd").is_err());
        // Only at a path boundary is a URL the original repository's.
        assert_eq!(
            archive_url("https://a/b", "http://m", "https://a/bc/x.tgz").unwrap(),
            "https://a/bc/x.tgz"
        );
        // An https index may not send r2r to plain HTTP.
        assert!(archive_url(r, r, "http://elsewhere/x.tgz").is_err());
        assert_eq!(
            redact("https://user:tok3n@mirror.example/charts"),
            "https://mirror.example/charts"
        );
        let d = tempfile::tempdir().unwrap();
        assert!(dir_file(d.path(), "../x.tgz").is_err());
        assert!(dir_file(d.path(), "/etc/passwd").is_err());
    }
}
