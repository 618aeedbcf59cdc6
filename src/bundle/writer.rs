//! Writing a bundle: members stream in one at a time, are hashed on the way
//! through, and the manifest, checksums and signature close the bundle.
//! Nothing appears at the output path until the whole bundle is written.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use minisign::{PublicKey, SecretKey};

use std::collections::HashMap;

use super::digest::HashingReader;
use super::dir_store::DirSink;
use super::journal::{Done, Journal};
use super::layout::{Kind, MANIFEST, MemberPath, PathSet, SIGNATURE, SUMS};
use super::manifest::{FORMAT_VERSION, Manifest, MemberRecord, Source};
use super::sign;
use super::store::Sink;
use super::sums::Sums;
use super::tar_store::TarSink;
use crate::fsutil;

/// The two stored forms of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One uncompressed tar file.
    Tar,
    /// A directory holding the members as files.
    Dir,
}

impl Format {
    /// `.tar` means a tar file; anything else a directory.
    pub fn from_path(path: &Path) -> Format {
        match path.extension() {
            Some(ext) if ext == "tar" => Format::Tar,
            _ => Format::Dir,
        }
    }
}

/// The key that seals the bundle.
pub struct Signer {
    pub sk: SecretKey,
    pub pk: PublicKey,
}

pub struct BundleWriter {
    /// First, so that it is removed before the journal's lock is let go.
    work: WorkDir,
    sink: Box<dyn Sink>,
    /// Present for resumable exports (those carrying user data).
    journal: Option<Journal>,
    resumed: HashMap<String, Done>,
    replace: bool,
    created: String,
    records: Vec<MemberRecord>,
    paths: PathSet,
    stored_members: usize,
    stored_bytes: u64,
    /// The journal note for the member being added.
    pending_extra: serde_json::Value,
}

fn check_output(output: &Path, replace: bool) -> Result<()> {
    if !replace && output.symlink_metadata().is_ok() {
        bail!("{} already exists", output.display());
    }
    let parent = fsutil::parent_of(output);
    if !parent.is_dir() {
        bail!("the output folder {} does not exist", parent.display());
    }
    Ok(())
}

/// The fixed-name partial of a resumable export: `.NAME.partial` beside
/// the output (a file or a directory); its journal is
/// `.NAME.partial.journal`. Hidden and suffixed, so that nothing an
/// interrupted export leaves looks like a bundle.
fn partial_path(output: &Path) -> PathBuf {
    beside(output, ".partial")
}

/// Where an export keeps its temporary files (chunks, database snapshots)
/// until they become members: `.NAME.partial.work` beside the output, on
/// the same filesystem, with a fixed name so that a resume removes what a
/// killed export left there.
fn work_path(output: &Path) -> PathBuf {
    beside(output, ".partial.work")
}

fn beside(output: &Path, suffix: &str) -> PathBuf {
    fsutil::parent_of(output).join(hidden_name(output, suffix))
}

/// `.NAME` + `suffix`: the output's name, hidden.
fn hidden_name(output: &Path, suffix: &str) -> String {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    format!(".{name}{suffix}")
}

fn discard_partial(partial: &Path) -> Result<()> {
    match partial.symlink_metadata() {
        Ok(m) if m.is_dir() => fsutil::remove_tree(partial),
        Ok(_) => std::fs::remove_file(partial)
            .with_context(|| format!("cannot remove {}", partial.display())),
        Err(_) => Ok(()),
    }
}

/// The export's folder of temporary files, removed with all it holds
/// when the export ends, however it ends short of being killed.
struct WorkDir(Option<PathBuf>);

impl WorkDir {
    /// The fixed-name folder, emptied of what a killed export left.
    fn fresh(path: PathBuf) -> Result<WorkDir> {
        discard_partial(&path)?;
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create the work folder {}", path.display()))?;
        Ok(WorkDir(Some(path)))
    }

    /// A folder of its own beside `output`, for an export that cannot be
    /// resumed.
    fn temporary(output: &Path) -> Result<WorkDir> {
        let dir = fsutil::parent_of(output);
        let path = tempfile::Builder::new()
            .prefix(&hidden_name(output, "."))
            .suffix(".work")
            .tempdir_in(dir)
            .with_context(|| format!("cannot create a temporary folder in {}", dir.display()))?
            .keep();
        Ok(WorkDir(Some(path)))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new("."))
    }

    fn remove(&mut self) -> Result<()> {
        match self.0.take() {
            Some(p) => fsutil::remove_tree(&p),
            None => Ok(()),
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// The members of the journal that the partial still holds, byte for
/// byte, up to the first that it does not.
fn vouched(partial: &Path, format: Format, done: Vec<Done>) -> Result<Vec<Done>> {
    let tar = match format {
        Format::Tar => Some(
            fsutil::open_nofollow(partial)
                .with_context(|| format!("cannot open {}", partial.display()))?,
        ),
        Format::Dir => None,
    };
    let mut kept = Vec::new();
    let mut end = 0u64;
    for d in done {
        let intact = match &tar {
            Some(file) => in_tar(file, end, &d),
            None => in_dir(partial, &d),
        }
        .with_context(|| format!("cannot read {} in {}", d.path, partial.display()))?;
        if !intact {
            break;
        }
        end = d.end;
        kept.push(d);
    }
    Ok(kept)
}

/// Whether the tar partial holds `d` right after `end`, under its name,
/// with the bytes the journal hashed.
fn in_tar(file: &std::fs::File, end: u64, d: &Done) -> Result<bool> {
    let len = file.metadata()?.len();
    let framed = d.offset == end + 512 && d.end <= len && d.end >= d.offset + d.size;
    if !framed {
        return Ok(false);
    }
    let Ok(entry) = super::tar_store::header_at(file, end) else {
        return Ok(false);
    };
    if entry.path.as_str() != d.path || entry.size != d.size {
        return Ok(false);
    }
    let reader = super::tar_store::MemberReader::new(file, &entry);
    Ok(super::digest::sha256_reader(reader)? == (d.sha256.clone(), d.size))
}

/// Whether the directory partial holds `d` as a regular file with the
/// bytes the journal hashed.
fn in_dir(partial: &Path, d: &Done) -> Result<bool> {
    let Ok(path) = MemberPath::parse(&d.path) else {
        return Ok(false);
    };
    let Ok(file) = fsutil::open_nofollow(&partial.join(path.as_str())) else {
        return Ok(false);
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() != d.size {
        return Ok(false);
    }
    Ok(super::digest::sha256_reader(file)? == (d.sha256.clone(), d.size))
}

/// What a finished bundle holds.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest: Manifest,
    pub key_id: String,
    /// Every member, the three control members included.
    pub members: usize,
    pub bytes: u64,
}

impl BundleWriter {
    /// Starts a bundle at `output`. An existing output is refused unless
    /// `replace`, and even then it is only replaced once the new bundle is
    /// complete. `created` is the Unix time recorded as the creation time.
    pub fn create(
        output: &Path,
        format: Format,
        created: u64,
        replace: bool,
    ) -> Result<BundleWriter> {
        check_output(output, replace)?;
        let sink: Box<dyn Sink> = match format {
            Format::Tar => Box::new(TarSink::create(output, created)?),
            Format::Dir => Box::new(DirSink::create(output)?),
        };
        let work = WorkDir::temporary(output)?;
        Ok(BundleWriter::over(
            sink,
            work,
            None,
            Vec::new(),
            replace,
            created,
        ))
    }

    /// Starts a bundle that an interrupted export can resume: the partial
    /// has a fixed name beside `output`, a journal records each complete
    /// member, and both stay behind if the export fails. `replace` also
    /// discards the partial of an earlier interrupted export. Refused while
    /// another export of `output` runs.
    pub fn create_resumable(
        output: &Path,
        format: Format,
        created: u64,
        replace: bool,
    ) -> Result<BundleWriter> {
        check_output(output, replace)?;
        let partial = partial_path(output);
        let mut journal = Journal::lock(&partial, true)?
            .ok_or_else(|| anyhow::anyhow!("cannot create the journal of {}", partial.display()))?;
        if replace {
            discard_partial(&partial)?;
        }
        let sink: Result<Box<dyn Sink>> = match format {
            Format::Tar => TarSink::create_resumable(&partial, output, created)
                .map(|s| Box::new(s) as Box<dyn Sink>),
            Format::Dir => {
                DirSink::create_resumable(&partial, output).map(|s| Box::new(s) as Box<dyn Sink>)
            }
        };
        let mut sink = match sink {
            Ok(s) => s,
            Err(e) => {
                // Refused over an interrupted export: its journal stays.
                if journal.is_empty()? {
                    journal.remove();
                }
                return Err(e);
            }
        };
        sink.keep_on_failure();
        journal.start(created)?;
        let work = WorkDir::fresh(work_path(output))?;
        Ok(BundleWriter::over(
            sink,
            work,
            Some(journal),
            Vec::new(),
            replace,
            created,
        ))
    }

    /// Continues the partial an interrupted export left beside `output`.
    /// Every member the journal vouches for, and the partial still holds
    /// byte for byte, is kept; the export then re-adds its members, and
    /// those already there are checked, not written again. What the
    /// interrupted export left in its work folder is removed.
    pub fn resume(output: &Path, format: Format, replace: bool) -> Result<BundleWriter> {
        check_output(output, replace)?;
        let partial = partial_path(output);
        let journal = Journal::lock(&partial, false)?;
        let (Some(mut journal), true) = (journal, partial.symlink_metadata().is_ok()) else {
            bail!(
                "there is no interrupted export to resume: {} does not exist",
                partial.display()
            );
        };
        let (start, done) = journal.read()?;
        let kept = vouched(&partial, format, done)?;
        let end = kept.last().map_or(0, |d| d.end);
        let mut sink: Box<dyn Sink> = match format {
            Format::Tar => Box::new(TarSink::resume(&partial, output, start.created, end)?),
            Format::Dir => Box::new(DirSink::resume(
                &partial,
                output,
                &kept.iter().map(|d| d.path.clone()).collect(),
            )?),
        };
        sink.keep_on_failure();
        journal.rewrite(&start, &kept)?;
        let work = WorkDir::fresh(work_path(output))?;
        Ok(BundleWriter::over(
            sink,
            work,
            Some(journal),
            kept,
            replace,
            start.created,
        ))
    }

    /// Where temporary files of this export go before they become members.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    fn over(
        sink: Box<dyn Sink>,
        work: WorkDir,
        journal: Option<Journal>,
        resumed: Vec<Done>,
        replace: bool,
        created: u64,
    ) -> BundleWriter {
        BundleWriter {
            work,
            sink,
            journal,
            resumed: resumed.into_iter().map(|d| (d.path.clone(), d)).collect(),
            replace,
            created: rfc3339(created),
            records: Vec::new(),
            paths: PathSet::default(),
            stored_members: 0,
            stored_bytes: 0,
            pending_extra: serde_json::Value::Null,
        }
    }

    /// What the interrupted export recorded for `path`, if it completed it.
    pub fn resumed_extra(&self, path: &MemberPath) -> Option<&serde_json::Value> {
        self.resumed.get(path.as_str()).map(|d| &d.extra)
    }

    /// Takes a member the interrupted export completed as it is, without
    /// producing it again (a chunk, whose index lines the journal kept).
    pub fn claim(&mut self, path: &MemberPath) -> Result<()> {
        let d = self
            .resumed
            .remove(path.as_str())
            .ok_or_else(|| anyhow::anyhow!("internal: {path} was not resumed"))?;
        self.claimed(d)
    }

    fn claimed(&mut self, d: Done) -> Result<()> {
        let path = MemberPath::parse(&d.path)?;
        self.paths
            .insert(&path)
            .map_err(|reason| anyhow::anyhow!("member {path} {reason}"))?;
        self.stored_members += 1;
        self.stored_bytes += d.size;
        self.records.push(MemberRecord {
            path: d.path,
            kind: d.kind,
            size: d.size,
            sha256: d.sha256,
        });
        Ok(())
    }

    /// Streams the file at `src` into the bundle as member `path`.
    pub fn add_file(&mut self, path: MemberPath, kind: Kind, src: &Path) -> Result<()> {
        let file =
            fsutil::open_nofollow(src).with_context(|| format!("cannot open {}", src.display()))?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot stat {}", src.display()))?;
        if !meta.is_file() {
            bail!("{} is not a regular file", src.display());
        }
        self.add(path, kind, meta.len(), file)
            .map(drop)
            .with_context(|| format!("cannot add {} to the bundle", src.display()))
    }

    /// Adds a member from bytes in memory: generated files, never user data.
    pub fn add_bytes(&mut self, path: MemberPath, kind: Kind, data: &[u8]) -> Result<()> {
        self.add(path, kind, data.len() as u64, data).map(drop)
    }

    /// Adds a member streamed from `data`, which must yield exactly `size`
    /// bytes, and returns its sha256 (hex).
    pub fn add_reader(
        &mut self,
        path: MemberPath,
        kind: Kind,
        size: u64,
        data: impl Read,
    ) -> Result<String> {
        self.add(path, kind, size, data)
    }

    /// The size and sha256 (hex) of `path`, when the interrupted export
    /// this one resumes completed it.
    pub fn resumed_digest(&self, path: &MemberPath) -> Option<(u64, &str)> {
        self.resumed
            .get(path.as_str())
            .map(|d| (d.size, d.sha256.as_str()))
    }

    /// Like [`BundleWriter::add_file`], recording `extra` in the journal
    /// for a later `--resume`.
    pub fn add_file_noting(
        &mut self,
        path: MemberPath,
        kind: Kind,
        src: &Path,
        extra: serde_json::Value,
    ) -> Result<()> {
        self.pending_extra = extra;
        self.add_file(path, kind, src)
    }

    fn add(&mut self, path: MemberPath, kind: Kind, size: u64, data: impl Read) -> Result<String> {
        if path.top() != kind.folder() {
            bail!(
                "member {path} of kind {kind} must be under {}/",
                kind.folder()
            );
        }
        if let Some(d) = self.resumed.remove(path.as_str()) {
            // Completed by the interrupted export: it must be the same bytes.
            let (sha, n) = super::digest::sha256_reader(data)
                .with_context(|| format!("cannot read member {path}"))?;
            if sha != d.sha256 || n != d.size {
                bail!(
                    "member {path} is not what the interrupted export wrote: the source changed since\nhint: start over with --force instead of --resume"
                );
            }
            self.pending_extra = serde_json::Value::Null;
            let sha = d.sha256.clone();
            self.claimed(d)?;
            return Ok(sha);
        }
        let offset = self.sink.position() + 512;
        let sha256 = self.put(&path, size, data)?;
        if let Some(j) = &mut self.journal {
            self.sink
                .sync()
                .with_context(|| format!("cannot sync {}", self.sink.partial().display()))?;
            j.record(&Done {
                path: path.to_string(),
                kind: kind.as_str().to_owned(),
                size,
                sha256: sha256.clone(),
                offset,
                end: self.sink.position(),
                extra: std::mem::take(&mut self.pending_extra),
            })?;
        }
        self.records.push(MemberRecord {
            path: path.to_string(),
            kind: kind.as_str().to_owned(),
            size,
            sha256: sha256.clone(),
        });
        Ok(sha256)
    }

    /// Writes one member and returns its sha256. The source must yield
    /// exactly `size` bytes: a file that changes while it is read fails the
    /// export instead of producing a bundle that lies about it.
    fn put(&mut self, path: &MemberPath, size: u64, data: impl Read) -> Result<String> {
        self.paths
            .insert(path)
            .map_err(|reason| anyhow::anyhow!("member {path} {reason}"))?;
        let mut exact = HashingReader::new(Exact {
            inner: data,
            left: size,
        });
        self.sink
            .put(path, size, &mut exact)
            .with_context(|| format!("cannot write member {path}"))?;
        let (hex, count, mut rest) = exact.finish();
        let mut probe = [0u8; 1];
        if count != size || rest.inner.read(&mut probe)? != 0 {
            bail!("member {path} changed size while it was being read");
        }
        self.stored_members += 1;
        self.stored_bytes += size;
        Ok(hex)
    }

    /// Writes `bundle.json`, `SHA256SUMS` and the signature, then moves the
    /// bundle to its final path.
    pub fn finish(mut self, source: Source, signer: &Signer) -> Result<Written> {
        if let Some(left) = self.resumed.keys().next() {
            bail!(
                "the interrupted export wrote member {left}, which this export does not produce: the source changed since\nhint: start over with --force instead of --resume"
            );
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            r2r_version: env!("CARGO_PKG_VERSION").to_owned(),
            created: self.created.clone(),
            source,
            members: std::mem::take(&mut self.records),
        };
        let json = manifest.to_json();
        let manifest_path = control(MANIFEST)?;
        let manifest_hash = self.put(&manifest_path, json.len() as u64, json.as_slice())?;

        let mut sums = Sums::default();
        for m in &manifest.members {
            sums.insert(MemberPath::parse(&m.path)?, m.sha256.clone());
        }
        sums.insert(manifest_path, manifest_hash);
        let text = sums.to_text();
        self.put(&control(SUMS)?, text.len() as u64, text.as_bytes())?;

        let comment = format!(
            "r2r bundle format_version={FORMAT_VERSION} cluster={} created={}",
            manifest.source.cluster, manifest.created
        );
        let signature = sign::sign(&signer.sk, &signer.pk, text.as_bytes(), &comment)?;
        self.put(
            &control(SIGNATURE)?,
            signature.len() as u64,
            signature.as_bytes(),
        )?;

        // Every member is written: the temporary files are done with. They
        // go before the bundle takes its name, so that an export that
        // reports failure never leaves a complete bundle behind, and while
        // the journal still holds the lock.
        self.work.remove()?;
        self.sink.commit(self.replace)?;
        if let Some(j) = self.journal.take() {
            j.remove();
        }
        Ok(Written {
            manifest,
            key_id: sign::key_id(signer.pk.keynum()),
            members: self.stored_members,
            bytes: self.stored_bytes,
        })
    }
}

fn control(name: &str) -> Result<MemberPath> {
    Ok(MemberPath::parse(name)?)
}

/// Yields at most `left` bytes and fails if the source ends sooner.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the source ended before its recorded size (did it change while being read?)",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// RFC 3339 in UTC with whole seconds, as `bundle.json` records it.
pub fn rfc3339(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The creation time: `SOURCE_DATE_EPOCH` when set, so that the same
/// repository exported twice gives the same members byte for byte.
pub fn creation_time() -> Result<u64> {
    Ok(source_date_epoch()?.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }))
}

/// `SOURCE_DATE_EPOCH`, when set: the one time reproducible output uses.
pub fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a Unix time in seconds")),
        Err(_) => Ok(None),
    }
}
