//! Packing homes into a bundle: walk, chunk, compress on every core, and
//! append chunks in order.
//!
//! One thread walks the homes and cuts the entries into chunk jobs at file
//! boundaries; workers each turn a job into a compressed chunk in a
//! temporary file beside the bundle; the calling thread appends finished
//! chunks to the bundle in order and writes each home's index after its
//! last chunk. A fixed number of tokens bounds the chunks in flight, so
//! extra disk stays at a couple of chunks per worker whatever the homes
//! hold.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use super::chunk::{self, Done, Job};
use super::index::{Entry, Header, INDEX_VERSION, RawPath, Skipped};
use super::names;
use super::select::Selection;
use super::tree::{Node, Tree};
use crate::bundle::layout::{self, Kind, MemberPath};
use crate::bundle::writer::BundleWriter;
use crate::progress::Progress;

/// How to pack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start a new chunk once this many bytes are stored in the current one.
    pub chunk_bytes: u64,
    /// And once it holds this many entries.
    pub chunk_entries: usize,
    /// Deflate level for data that compresses.
    pub level: u32,
    /// Compressing workers.
    pub jobs: usize,
    /// Where chunks wait before they are appended: the bundle writer's
    /// work folder, beside the bundle.
    pub work_dir: PathBuf,
}

impl Options {
    pub fn new(work_dir: PathBuf) -> Options {
        Options {
            chunk_bytes: 64 << 20,
            chunk_entries: 20_000,
            level: 4,
            jobs: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            work_dir,
        }
    }
}

/// `homes/<hub>/_hub.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HubRecord {
    pub r2r_hub_homes: u32,
    pub hub: String,
    /// The hub directory's own metadata, as an index line.
    pub dir: serde_json::Value,
    pub homes: Vec<HomeRecord>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HomeRecord {
    /// The home's directory name, byte-exact: `home` or `home_b64`.
    #[serde(flatten, with = "super::index::home_name")]
    pub home: RawPath,
    pub stem: String,
    pub index: String,
    pub chunks: u32,
    pub entries: u64,
    pub bytes: u64,
}

/// What packing did, for the command's output.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub hubs: usize,
    pub homes: usize,
    pub entries: u64,
    /// Regular files (objects, for a bucket) among the entries.
    pub files: u64,
    pub bytes: u64,
    pub chunks: u64,
    /// Chunks an interrupted export had completed, taken as they were.
    pub resumed_chunks: u64,
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
}

/// One tree to pack: a home, or a whole bucket (hub = bucket name, name
/// and stem `objects`, walked from the tree's root).
struct Home {
    folder: names::Folder,
    hub: String,
    name: RawPath,
    stem: String,
}

impl Home {
    /// What the walk is asked for: `hub/name`, or the root for a bucket.
    fn walk_at(&self) -> (&str, RawPath) {
        match self.folder {
            names::Folder::Homes => (&self.hub, self.name.clone()),
            names::Folder::Buckets => ("", RawPath(Vec::new())),
        }
    }
}

/// Chunks an interrupted export completed for one home, taken as they are.
struct Resumed {
    members: Vec<MemberPath>,
    entries: Vec<Entry>,
    bytes: u64,
    skipped: Vec<Skipped>,
}

/// The journal note of a chunk: enough to rebuild the home's index
/// without reading the chunk again.
#[derive(Serialize, Deserialize)]
struct ChunkNote {
    entries: Vec<String>,
    bytes: u64,
    skipped: Vec<Skipped>,
}

/// The contiguous run of a home's chunks, from 000, that the interrupted
/// export completed.
fn resumed_chunks(bundle: &BundleWriter, home: &Home) -> Result<Option<Resumed>> {
    let mut r = Resumed {
        members: Vec::new(),
        entries: Vec::new(),
        bytes: 0,
        skipped: Vec::new(),
    };
    for n in 0u32.. {
        let member = layout::chunk(home.folder.kind(), &home.hub, &home.stem, n)?;
        let Some(extra) = bundle.resumed_extra(&member) else {
            break;
        };
        let note: ChunkNote = serde_json::from_value(extra.clone())
            .map_err(|e| anyhow!("the export journal's note for {member} is unreadable: {e}"))?;
        for line in &note.entries {
            r.entries.push(
                Entry::parse(line.as_bytes()).map_err(|e| anyhow!("journal, {member}: {e}"))?,
            );
        }
        r.bytes += note.bytes;
        r.skipped.extend(note.skipped);
        r.members.push(member);
    }
    Ok((!r.members.is_empty()).then_some(r))
}

enum Msg {
    Resumed {
        seq: u64,
        home: usize,
        resumed: Box<Resumed>,
    },
    Chunk(Box<Done>),
    HomeEnd {
        seq: u64,
        home: usize,
        skipped: Vec<Skipped>,
    },
    Failed(anyhow::Error),
}

impl Msg {
    fn seq(&self) -> u64 {
        match self {
            Msg::Chunk(d) => d.seq,
            Msg::Resumed { seq, .. } => *seq,
            Msg::HomeEnd { seq, .. } => *seq,
            Msg::Failed(_) => u64::MAX,
        }
    }
}

/// Packs a whole bucket (or prefix) from `tree` as `buckets/<name>/`.
pub fn pack_bucket(
    tree: &dyn Tree,
    name: &str,
    select: &Selection,
    opts: &Options,
    bundle: &mut BundleWriter,
    progress: &Progress,
) -> Result<Summary> {
    let homes = vec![Home {
        folder: names::Folder::Buckets,
        hub: name.to_owned(),
        name: RawPath(layout::BUCKET_STEM.as_bytes().to_vec()),
        stem: layout::BUCKET_STEM.to_owned(),
    }];
    let mut summary = Summary {
        homes: 1,
        ..Summary::default()
    };
    let source = Source {
        tree,
        homes: &homes,
        select,
        opts,
    };
    run(
        source,
        Sink {
            bundle,
            hubs: &mut [],
            summary: &mut summary,
            progress,
        },
    )?;
    Ok(summary)
}

/// Packs the selected homes of `hubs` from `tree` into `bundle`.
pub fn pack(
    tree: &dyn Tree,
    hubs: &[String],
    select: &Selection,
    opts: &Options,
    bundle: &mut BundleWriter,
    progress: &Progress,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut homes = Vec::new();
    let mut hub_records = Vec::new();
    for hub in hubs {
        let Some(dir) = tree.hub(hub)? else {
            summary.warnings.push(format!(
                "hub {hub}: no directory {hub}/ in the homes at {}; no homes carried",
                tree.shown()
            ));
            continue;
        };
        let (names, skipped) = tree.homes(hub)?;
        for s in &skipped {
            summary
                .skipped
                .push(format!("{hub}/{}: {}", s.path.shown(), s.reason));
        }
        for name in names.into_iter().filter(|n| select.wants_home(&n.0)) {
            let stem = names::stem(&name.0);
            homes.push(Home {
                folder: names::Folder::Homes,
                hub: hub.clone(),
                name,
                stem,
            });
        }
        let line = dir.to_line();
        hub_records.push(HubRecord {
            r2r_hub_homes: INDEX_VERSION,
            hub: hub.clone(),
            dir: serde_json::from_slice(&line)?,
            homes: Vec::new(),
            skipped,
        });
    }
    summary.hubs = hub_records.len();
    summary.homes = homes.len();
    let source = Source {
        tree,
        homes: &homes,
        select,
        opts,
    };
    run(
        source,
        Sink {
            bundle,
            hubs: &mut hub_records,
            summary: &mut summary,
            progress,
        },
    )?;
    for rec in &hub_records {
        let path = layout::hub_record(&rec.hub)?;
        let mut json = serde_json::to_vec_pretty(rec)?;
        json.push(b'\n');
        bundle.add_bytes(path, Kind::Home, &json)?;
    }
    Ok(summary)
}

/// What is packed and how: read by the walker, the workers and the
/// committer alike, so it is shared, never changed.
#[derive(Clone, Copy)]
struct Source<'a> {
    tree: &'a dyn Tree,
    homes: &'a [Home],
    select: &'a Selection,
    opts: &'a Options,
}

/// Where packed chunks go and what is counted: the committer's alone.
struct Sink<'a> {
    bundle: &'a mut BundleWriter,
    /// The hubs' records (empty for a bucket), each home added as it ends.
    hubs: &'a mut [HubRecord],
    summary: &'a mut Summary,
    progress: &'a Progress,
}

/// The walker's ends of the pipeline: jobs to the workers, messages to the
/// committer, and the tokens that bound the chunks in flight.
struct WalkerPipes<'a> {
    jobs: &'a mpsc::SyncSender<Job>,
    msgs: &'a mpsc::Sender<Msg>,
    tokens: &'a mpsc::Receiver<()>,
}

fn run(source: Source<'_>, mut sink: Sink<'_>) -> Result<()> {
    let Source {
        tree, homes, opts, ..
    } = source;
    let mut resumed: Vec<Option<Resumed>> = Vec::with_capacity(homes.len());
    for h in homes {
        resumed.push(resumed_chunks(sink.bundle, h)?);
    }
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(opts.jobs);
    // Shared by the workers alone: once they have all stopped (the bundle
    // side failed), the receiver is gone and the walker's next send fails
    // instead of blocking forever.
    let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    // Tokens bound the chunks between the walker and the bundle.
    let in_flight = opts.jobs * 2 + 1;
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        token_tx.send(()).ok();
    }

    std::thread::scope(|s| -> Result<()> {
        let walker_tx = msg_tx.clone();
        s.spawn(move || {
            let pipes = WalkerPipes {
                jobs: &job_tx,
                msgs: &walker_tx,
                tokens: &token_rx,
            };
            if let Err(e) = walk_all(source, resumed, &pipes) {
                walker_tx.send(Msg::Failed(e)).ok();
            }
        });
        for _ in 0..opts.jobs.max(1) {
            let tx = msg_tx.clone();
            let rx = std::sync::Arc::clone(&job_rx);
            s.spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => match r.recv() {
                            Ok(j) => j,
                            Err(_) => return,
                        },
                        Err(_) => return,
                    };
                    let seq = job.seq;
                    let msg = match chunk::write(tree, job, &opts.work_dir, opts.level) {
                        Ok(d) => Msg::Chunk(Box::new(d)),
                        Err(e) => Msg::Failed(e.context(format!("chunk job {seq}"))),
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
        drop(msg_tx);
        drop(job_rx);
        let result = commit_in_order(&opts.work_dir, homes, msg_rx, token_tx, &mut sink);
        // Returning drops the receiver and the token sender, which stops the
        // walker and the workers at their next send or token.
        result
    })
}

fn walk_all(
    source: Source<'_>,
    resumed: Vec<Option<Resumed>>,
    pipes: &WalkerPipes<'_>,
) -> Result<()> {
    let Source {
        tree,
        homes,
        select,
        opts,
    } = source;
    let WalkerPipes { jobs, msgs, tokens } = *pipes;
    let mut seq = 0u64;
    for ((id, home), done) in homes.iter().enumerate().zip(resumed) {
        let mut number = 0u32;
        // Skip what the interrupted export packed: everything up to the
        // last entry of its last complete chunk.
        let mut skip_through: Option<Vec<u8>> = None;
        if let Some(r) = done {
            number = r.members.len() as u32;
            skip_through = r.entries.last().map(|e| e.path.0.clone());
            msgs.send(Msg::Resumed {
                seq,
                home: id,
                resumed: Box::new(r),
            })
            .map_err(|_| anyhow!("export stopped"))?;
            seq += 1;
        }
        let mut batch: Vec<Node> = Vec::new();
        let mut stored = 0u64;
        let send = |batch: &mut Vec<Node>, number: &mut u32, seq: &mut u64| -> Result<()> {
            tokens.recv().map_err(|_| anyhow!("export stopped"))?;
            jobs.send(Job {
                seq: *seq,
                home: id,
                number: *number,
                nodes: std::mem::take(batch),
            })
            .map_err(|_| anyhow!("export stopped"))?;
            *seq += 1;
            *number += 1;
            Ok(())
        };
        let (at_hub, at_name) = home.walk_at();
        let skipped = tree
            .walk(at_hub, &at_name, select, &mut |node| {
                if let Some(last) = &skip_through
                    && super::index::walk_order(&node.entry.path.0, last)
                        != std::cmp::Ordering::Greater
                {
                    return Ok(());
                }
                stored += node.stored() + 512;
                batch.push(node);
                if stored >= opts.chunk_bytes || batch.len() >= opts.chunk_entries {
                    send(&mut batch, &mut number, &mut seq)?;
                    stored = 0;
                }
                Ok(())
            })
            .with_context(|| format!("hub {}, home {}", home.hub, home.name.shown()))?;
        if !batch.is_empty() || (number == 0 && skip_through.is_none()) {
            send(&mut batch, &mut number, &mut seq)?;
        }
        msgs.send(Msg::HomeEnd {
            seq,
            home: id,
            skipped,
        })
        .map_err(|_| anyhow!("export stopped"))?;
        seq += 1;
    }
    Ok(())
}

/// The index of the home being committed: its entries so far, in a
/// temporary file, and its chunk members.
struct OpenIndex {
    home: usize,
    file: BufWriter<File>,
    chunks: Vec<String>,
    entries: u64,
    bytes: u64,
    skipped: Vec<Skipped>,
}

impl OpenIndex {
    /// Adds one chunk's entries to the index; returns how many are files.
    fn append(&mut self, entries: &[Entry], bytes: u64, skipped: &[Skipped]) -> io::Result<u64> {
        for e in entries {
            self.file.write_all(&e.to_line())?;
        }
        self.entries += entries.len() as u64;
        self.bytes += bytes;
        self.skipped.extend(skipped.iter().cloned());
        Ok(entries
            .iter()
            .filter(|e| e.kind == super::index::Type::File)
            .count() as u64)
    }
}

fn open_index<'a>(
    open: &'a mut Option<OpenIndex>,
    home: usize,
    work_dir: &std::path::Path,
) -> Result<&'a mut OpenIndex> {
    if open.as_ref().is_some_and(|i| i.home != home) {
        return Err(anyhow!(
            "internal: home {home} began before the last one ended"
        ));
    }
    if open.is_none() {
        *open = Some(OpenIndex {
            home,
            file: BufWriter::new(tempfile::tempfile_in(work_dir)?),
            chunks: Vec::new(),
            entries: 0,
            bytes: 0,
            skipped: Vec::new(),
        });
    }
    open.as_mut().ok_or_else(|| anyhow!("internal: no index"))
}

fn commit_in_order(
    work_dir: &std::path::Path,
    homes: &[Home],
    msgs: mpsc::Receiver<Msg>,
    tokens: mpsc::SyncSender<()>,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let mut waiting: BTreeMap<u64, Msg> = BTreeMap::new();
    let mut next = 0u64;
    let mut open: Option<OpenIndex> = None;
    for msg in msgs {
        if let Msg::Failed(e) = msg {
            return Err(e);
        }
        waiting.insert(msg.seq(), msg);
        while let Some(msg) = waiting.remove(&next) {
            next += 1;
            match msg {
                Msg::Resumed {
                    home: id, resumed, ..
                } => {
                    let idx = open_index(&mut open, id, work_dir)?;
                    for m in &resumed.members {
                        sink.bundle.claim(m)?;
                        idx.chunks.push(m.to_string());
                    }
                    sink.summary.files +=
                        idx.append(&resumed.entries, resumed.bytes, &resumed.skipped)?;
                    sink.summary.resumed_chunks += resumed.members.len() as u64;
                    sink.progress.add(resumed.bytes);
                }
                Msg::Chunk(done) => {
                    let home = &homes[done.home];
                    let idx = open_index(&mut open, done.home, work_dir)?;
                    let member =
                        layout::chunk(home.folder.kind(), &home.hub, &home.stem, done.number)?;
                    let note = ChunkNote {
                        entries: done
                            .entries
                            .iter()
                            .map(|e| {
                                let mut l = e.to_line();
                                l.pop();
                                String::from_utf8_lossy(&l).into_owned()
                            })
                            .collect(),
                        bytes: done.bytes,
                        skipped: done.skipped.clone(),
                    };
                    sink.bundle
                        .add_file_noting(
                            member.clone(),
                            home.folder.kind(),
                            done.file.path(),
                            serde_json::to_value(note)?,
                        )
                        .with_context(|| format!("hub {}, home {}", home.hub, home.name.shown()))?;
                    idx.chunks.push(member.to_string());
                    sink.summary.files += idx.append(&done.entries, done.bytes, &done.skipped)?;
                    for w in &done.warnings {
                        sink.summary.warnings.push(format!(
                            "{}/{}: {w}",
                            home.hub,
                            home.name.shown()
                        ));
                    }
                    sink.summary.chunks += 1;
                    sink.progress.add(done.bytes);
                    tokens.send(()).ok();
                }
                Msg::HomeEnd { home, skipped, .. } => {
                    open_index(&mut open, home, work_dir)?;
                    let idx = open
                        .take()
                        .ok_or_else(|| anyhow!("internal: home {home} has no index"))?;
                    write_index(&homes[home], idx, skipped, sink)?;
                }
                Msg::Failed(e) => return Err(e),
            }
        }
    }
    if next == 0 && !homes.is_empty() {
        return Err(anyhow!("export stopped before any home was packed"));
    }
    Ok(())
}

fn write_index(
    home: &Home,
    mut idx: OpenIndex,
    skipped: Vec<Skipped>,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let Sink {
        bundle,
        hubs,
        summary,
        progress,
    } = sink;
    idx.skipped.extend(skipped);
    for s in &idx.skipped {
        summary.skipped.push(format!(
            "{}/{}/{}: {}",
            home.hub,
            home.name.shown(),
            s.path.shown(),
            s.reason
        ));
    }
    let header = Header {
        r2r_home_index: INDEX_VERSION,
        hub: home.hub.clone(),
        home: home.name.clone(),
        chunks: idx.chunks.clone(),
        entries: idx.entries,
        bytes: idx.bytes,
        skipped: idx.skipped,
    }
    .to_line();
    let mut body = idx
        .file
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    let body_len = body.stream_position()?;
    body.rewind()?;
    let member: MemberPath = layout::chunk_index(home.folder.kind(), &home.hub, &home.stem)?;
    bundle
        .add_reader(
            member.clone(),
            home.folder.kind(),
            header.len() as u64 + body_len,
            io::Cursor::new(header).chain(body),
        )
        .map(drop)?;
    summary.entries += idx.entries;
    summary.bytes += idx.bytes;
    if let Some(rec) = hubs.iter_mut().find(|h| h.hub == home.hub) {
        rec.homes.push(HomeRecord {
            home: home.name.clone(),
            stem: home.stem.clone(),
            index: member.to_string(),
            chunks: idx.chunks.len() as u32,
            entries: idx.entries,
            bytes: idx.bytes,
        });
    }
    progress.note(&format!(
        "{}/{}: {} entries, {}",
        home.hub,
        home.name.shown(),
        idx.entries,
        crate::text::bytes(idx.bytes)
    ));
    Ok(())
}

/// Keeps the index line type in one place for `_hub.json`.
pub fn hub_dir_entry(rec: &HubRecord) -> Result<Entry, String> {
    let line = serde_json::to_vec(&rec.dir).map_err(|e| e.to_string())?;
    Entry::parse(&line)
}
