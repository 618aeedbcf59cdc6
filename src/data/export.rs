//! Exporting user data into a bundle that `r2r export` has open: homes,
//! then buckets, then hub databases, each as its own members.

use anyhow::{Context, Result};
use serde::Serialize;

use super::local_tree::LocalTree;
use super::location::{self, Location};
use super::pack;
use super::select::Selection;
use super::tree::Tree;
use crate::bundle::layout::{self, Kind};
use crate::bundle::writer::BundleWriter;
use crate::progress::{Progress, Reporter};

/// What to carry besides the configuration.
pub struct Request {
    pub homes: Option<String>,
    pub users: Vec<String>,
    pub excludes: Vec<String>,
    /// `NAME=URL` of `--bucket`, parsed.
    pub buckets: Vec<(String, String)>,
    /// `HUB=PATH` of `--hub-db`, parsed.
    pub hub_dbs: Vec<(String, std::path::PathBuf)>,
    pub pack: pack::Options,
    pub reporter: std::sync::Arc<dyn Reporter>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homes: Option<pack::Summary>,
    /// Buckets carried, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<BucketSummary>,
    /// Hub databases carried: hub → bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hub_dbs: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct BucketSummary {
    pub name: String,
    pub url: String,
    pub objects: u64,
    pub bytes: u64,
}

/// What a dry run says would be carried: members (a pattern for chunked
/// trees), their kind, and where they come from. Homes are listed, not
/// walked.
pub struct Planned {
    pub members: String,
    pub kind: &'static str,
    pub source: String,
}

pub fn plan(req: &Request, hubs: &[String]) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    if let Some(url) = &req.homes {
        let tree = open_tree(url)?;
        let select = Selection::new(&req.users, &req.excludes)?;
        for hub in hubs {
            if tree.hub(hub)?.is_none() {
                continue;
            }
            for home in tree
                .homes(hub)?
                .0
                .iter()
                .filter(|h| select.wants_home(&h.0))
            {
                let stem = super::names::stem(&home.0);
                out.push(Planned {
                    members: layout::chunks_shown(Kind::Home, hub, &stem),
                    kind: "home",
                    source: format!("{}/{hub}/{}", tree.shown(), home.shown()),
                });
            }
        }
    }
    for (name, url) in &req.buckets {
        out.push(Planned {
            members: layout::chunks_shown(Kind::Bucket, name, layout::BUCKET_STEM),
            kind: "bucket",
            source: url.clone(),
        });
    }
    for (hub, path) in &req.hub_dbs {
        out.push(Planned {
            members: layout::shown(Kind::HubDb, hub, layout::HUB_DB_FILE),
            kind: "hub_db",
            source: path.display().to_string(),
        });
    }
    Ok(out)
}

/// Splits a repeatable `NAME=VALUE` flag.
pub fn name_value(flag: &str, v: &str) -> Result<(String, String)> {
    match v.split_once('=') {
        Some((n, val)) if !n.is_empty() && !val.is_empty() => Ok((n.to_owned(), val.to_owned())),
        _ => anyhow::bail!("{flag} {v:?}: expected NAME=VALUE"),
    }
}

/// Opens a tree of homes at `url`.
pub fn open_tree(url: &str) -> Result<Box<dyn Tree>> {
    match location::parse(url)? {
        Location::Local(p) => Ok(Box::new(LocalTree::open(&p)?)),
        Location::Object(o) => super::object_tree::ObjectTree::open(&o)
            .with_context(|| format!("cannot read homes from {o}")),
    }
}

pub fn export(req: &Request, hubs: &[String], bundle: &mut BundleWriter) -> Result<Summary> {
    let mut out = Summary::default();
    for (hub, path) in &req.hub_dbs {
        if !hubs.contains(hub) {
            anyhow::bail!(
                "--hub-db {hub}=…: {hub} is not a hub being exported ({})",
                hubs.join(", ")
            );
        }
        let n = super::hubdb::export(hub, path, &req.pack.work_dir, bundle)
            .with_context(|| format!("hub {hub}: --hub-db"))?;
        out.hub_dbs.push((hub.clone(), n));
    }
    if let Some(url) = &req.homes {
        let tree = open_tree(url)?;
        let select = Selection::new(&req.users, &req.excludes)?;
        let progress = Progress::start(&*req.reporter, "homes", None);
        let summary = pack::pack(tree.as_ref(), hubs, &select, &req.pack, bundle, &progress)
            .with_context(|| format!("cannot export the homes at {}", tree.shown()))?;
        progress.finish();
        for w in &summary.warnings {
            progress.warn(w);
        }
        for s in &summary.skipped {
            progress.warn(&format!("skipped {s}"));
        }
        out.homes = Some(summary);
    }
    for (name, url) in &req.buckets {
        layout::bucket(name).map_err(|e| {
            anyhow::anyhow!("--bucket {name}=…: {name:?} cannot name a bundle folder: {e}")
        })?;
        let tree = open_tree(url)?;
        let progress = Progress::start(&*req.reporter, &format!("bucket {name}"), None);
        let summary = pack::pack_bucket(
            tree.as_ref(),
            name,
            &Selection::default(),
            &req.pack,
            bundle,
            &progress,
        )
        .with_context(|| format!("cannot export bucket {name} from {}", tree.shown()))?;
        progress.finish();
        for w in summary.warnings.iter().chain(&summary.skipped) {
            progress.warn(&format!("bucket {name}: {w}"));
        }
        out.buckets.push(BucketSummary {
            name: name.clone(),
            url: tree.shown(),
            objects: summary.files,
            bytes: summary.bytes,
        });
    }
    Ok(out)
}
