//! Homes, buckets and hub databases for the local target, restored as real
//! files by the same checking code as `r2r restore-homes`; on a cloud
//! target, the buckets go straight into the community's new buckets
//! through the object store's API, by the same code.

use anyhow::{Context, Result};

use super::{Done, Planned, files};
use crate::data::local_target::LocalTarget;
use crate::data::location::{self, Location};
use crate::data::object_target::ObjectTarget;
use crate::data::restore;
use crate::data::select::Selection;
use crate::data::target::Target;
use crate::install::Install;
use crate::install::blueprint::StepKind;
use crate::install::layout::{self, BUCKETS, HOMES};
use crate::progress::Progress;

fn hub_bytes(i: &Install) -> Result<Vec<(String, Selection, u64)>> {
    let mut out = Vec::new();
    for h in i
        .hubs
        .iter()
        .filter(|h| h.facts.homes && !h.users.is_empty())
    {
        let select = Selection::new(&h.users, &[])?;
        let bytes = restore::total_bytes(i.trusted, std::slice::from_ref(&h.facts.name), &select)?;
        out.push((h.facts.name.clone(), select, bytes));
    }
    Ok(out)
}

pub(crate) fn plan_homes(i: &Install) -> Result<Planned> {
    let hubs = hub_bytes(i)?;
    let mut p = Planned::new(
        StepKind::Homes,
        format!("restore the homes of {} hubs", hubs.len()),
    );
    p.bytes = hubs.iter().map(|(_, _, b)| b).sum();
    p.creates = hubs
        .iter()
        .map(|(h, _, _)| format!("{HOMES}/{h}/"))
        .collect();
    Ok(p)
}

pub(crate) fn run_homes(i: &mut Install) -> Result<Done> {
    let root = i.dir.join(HOMES);
    files::mkdirs(&root)?;
    let swept = files::sweep_partials(&root)?;
    if swept > 0 {
        // Files were deleted: said whatever the mode, as before.
        i.opts.reporter.warn(&format!(
            "removed {swept} partial files an interrupted run left under {}",
            root.display()
        ));
    }
    let hubs = hub_bytes(i)?;
    let total = hubs.iter().map(|(_, _, b)| b).sum();
    let jobs = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let progress = Progress::start(&*i.opts.reporter, "homes", Some(total));
    let mut all = restore::Restored::default();
    for (hub, select, _) in &hubs {
        let mut targets = (0..jobs)
            .map(|_| LocalTarget::open(&root).map(|t| Box::new(t) as Box<dyn Target>))
            .collect::<Result<Vec<_>>>()?;
        let r = restore::restore(
            i.trusted,
            std::slice::from_ref(hub),
            select,
            &mut targets,
            &progress,
        );
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        all.merge(&r);
        all.hubs += 1;
    }
    progress.finish();
    Ok(Done::new(
        format!(
            "{} homes of {} hubs: {} files, {} directories, {} symlinks{}",
            all.homes,
            all.hubs,
            all.files,
            all.dirs,
            all.symlinks,
            if all.already_there > 0 {
                format!(" ({} files already there)", all.already_there)
            } else {
                String::new()
            }
        ),
        all.bytes,
    ))
}

pub(crate) fn plan_buckets(i: &Install) -> Result<Planned> {
    if let Some(cloud) = cloud_buckets(i) {
        let mut p = Planned::new(
            StepKind::Buckets,
            format!(
                "restore {} buckets into the community's object store",
                cloud.len()
            ),
        );
        p.bytes = cloud
            .iter()
            .filter_map(|(label, _)| i.facts.bucket_bytes.get(label))
            .sum();
        p.creates = cloud.iter().map(|(_, url)| url.clone()).collect();
        if !i.opts.apply {
            p.commands = cloud
                .iter()
                .map(|(l, u)| restore_command(i, l, u))
                .collect();
        }
        return Ok(p);
    }
    let mut p = Planned::new(
        StepKind::Buckets,
        format!("restore {} buckets", i.buckets.len()),
    );
    p.bytes = i
        .buckets
        .iter()
        .filter_map(|b| i.facts.bucket_bytes.get(b))
        .sum();
    p.creates = i
        .buckets
        .iter()
        .map(|b| format!("{BUCKETS}/{b}/"))
        .collect();
    Ok(p)
}

/// On a target whose terraform makes the buckets: each carried bucket to
/// restore, with the URL of its new bucket. None on the local target.
fn cloud_buckets(i: &Install) -> Option<Vec<(String, String)>> {
    i.blueprint.module.as_ref()?;
    Some(
        i.bucket_plan()
            .into_iter()
            .filter_map(|b| b.restore.map(|label| (label, restore_url(i, &b.url))))
            .collect(),
    )
}

/// Where r2r writes a new bucket: its URL, on AWS with the region, and
/// with the endpoint the AWS CLI's own `AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL` names (an S3-compatible store), when set.
fn restore_url(i: &Install, url: &str) -> String {
    if !url.starts_with("s3://") {
        return url.to_owned();
    }
    let mut q = Vec::new();
    if let Some(r) = i.answers.str("aws.region") {
        q.push(format!("region={r}"));
    }
    if let Some(e) = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    {
        q.push(format!("endpoint={e}"));
    }
    if q.is_empty() {
        url.to_owned()
    } else {
        format!("{url}?{}", q.join("&"))
    }
}

/// The command that restores one bucket later, as `--apply` would.
fn restore_command(i: &Install, label: &str, url: &str) -> Vec<String> {
    vec![
        "r2r".into(),
        "restore-homes".into(),
        i.bundle_path.display().to_string(),
        "--pubkey".into(),
        i.facts.pubkey.clone(),
        "--bucket".into(),
        label.to_owned(),
        "--to".into(),
        url.to_owned(),
    ]
}

/// Each carried bucket straight into its new bucket through the object
/// store's API, checked object by object as `r2r restore-homes` does;
/// without --apply, the commands that do it are left.
fn run_cloud_buckets(i: &Install, cloud: &[(String, String)]) -> Result<Done> {
    if !i.opts.apply {
        let mut d = Done::new(
            format!("left for --apply: {} buckets to restore", cloud.len()),
            0,
        );
        d.pending = cloud
            .iter()
            .map(|(l, u)| restore_command(i, l, u))
            .collect();
        return Ok(d);
    }
    let mut bytes = 0;
    let mut objects = 0;
    for (label, url) in cloud {
        let Location::Object(obj) = location::parse(url)? else {
            anyhow::bail!("bucket {label}: {url} is not object storage");
        };
        let mut target = ObjectTarget::open(&obj)?;
        let progress = Progress::start(&*i.opts.reporter, &format!("bucket {label}"), None);
        let r = restore::restore_bucket(i.trusted, label, target.as_mut(), &progress);
        progress.finish();
        let r = r.with_context(|| format!("restoring bucket {label} into {url}"))?;
        bytes += r.bytes;
        objects += r.files;
    }
    Ok(Done::new(
        format!("{} buckets restored: {objects} objects", cloud.len()),
        bytes,
    ))
}

pub(crate) fn run_buckets(i: &mut Install) -> Result<Done> {
    if let Some(cloud) = cloud_buckets(i) {
        return run_cloud_buckets(i, &cloud);
    }
    let mut bytes = 0;
    let mut objects = 0;
    for b in &i.buckets {
        let dir = layout::bucket(&i.dir, b);
        files::mkdirs(&dir)?;
        files::sweep_partials(&dir)?;
        let mut target = LocalTarget::open(&dir)?;
        let progress = Progress::start(&*i.opts.reporter, &format!("bucket {b}"), None);
        let r = restore::restore_bucket(i.trusted, b, &mut target, &progress);
        progress.finish();
        let r = r?;
        bytes += r.bytes;
        objects += r.files;
    }
    Ok(Done::new(
        format!("{} buckets: {objects} objects", i.buckets.len()),
        bytes,
    ))
}

/// The hub databases, copied to their member paths.
fn hub_dbs(i: &Install) -> Result<Vec<String>> {
    i.hubs
        .iter()
        .filter(|h| h.facts.hub_db)
        .map(|h| Ok(crate::bundle::layout::hub_db(&h.facts.name)?.to_string()))
        .collect()
}

pub(crate) fn plan_hub_db(i: &Install) -> Result<Planned> {
    let dbs = hub_dbs(i)?;
    let mut p = Planned::new(StepKind::HubDb, format!("copy {} hub databases", dbs.len()));
    p.creates = dbs;
    Ok(p)
}

pub(crate) fn run_hub_db(i: &mut Install) -> Result<Done> {
    let dbs = hub_dbs(i)?;
    let mut bytes = 0;
    for m in &dbs {
        bytes += files::copy_member(i.stamp, i.trusted, m, &i.dir.join(m))?;
    }
    Ok(Done::new(format!("{} hub databases", dbs.len()), bytes))
}
