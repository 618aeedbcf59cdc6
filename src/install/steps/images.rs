//! The images: pushed to the registry of the answers (and each hub's values
//! pinned to them), or, with no registry, copied as the bundle's OCI layout
//! into the install directory, where skopeo reads them (`oci:DIR/images`).

use anyhow::{Context, Result};

use super::{Done, Planned, files};
use crate::bundle::layout;
use crate::images::auth::Credentials;
use crate::images::mapping::{self, Mapping};
use crate::images::oci::Descriptor;
use crate::images::push::{self, Target};
use crate::images::reference::ImageRef;
use crate::images::registry::{DEFAULT_RETRIES, retry_policy};
use crate::install::Install;
use crate::install::blueprint::StepKind;
use crate::install::layout as install_dir;
use crate::progress::Progress;
use crate::values::tree;

fn registry<'a>(i: &'a Install) -> Option<&'a str> {
    i.answers.str("registry")
}

/// A cloud registry exists only once terraform has run: without --apply
/// the push is left for later, and the values are pinned ahead of it.
fn push_now(i: &Install) -> bool {
    i.blueprint.target == "local" || i.blueprint.target == "kubeconfig" || i.opts.apply
}

pub(crate) fn plan(i: &Install) -> Result<Planned> {
    let mut p = Planned::new(StepKind::Images, "");
    if i.facts.images == 0 {
        p.title = "no images in the bundle".into();
        return Ok(p);
    }
    p.bytes = i.facts.image_bytes;
    match registry(i) {
        Some(r) => {
            p.title = format!(
                "push {} images to {r} and pin each hub's values to them",
                i.facts.images
            );
            p.creates.push(install_dir::IMAGES_MAPPING.into());
            if !push_now(i) {
                p.commands.push(resume_command(i));
            }
        }
        None => {
            p.title = format!("copy {} images as an OCI layout", i.facts.images);
            p.creates.push(format!("{}/", install_dir::IMAGES));
        }
    }
    Ok(p)
}

/// The command that finishes the steps left for --apply.
pub(crate) fn resume_command(i: &Install) -> Vec<String> {
    vec![
        "r2r".into(),
        "install".into(),
        i.bundle_path.display().to_string(),
        "--pubkey".into(),
        i.facts.pubkey.clone(),
        "--answers".into(),
        install_dir::answers(&i.dir).display().to_string(),
        "--resume".into(),
        "--apply".into(),
    ]
}

pub(crate) fn run(i: &mut Install) -> Result<Done> {
    if i.facts.images == 0 {
        return Ok(Done::new("no images".into(), 0));
    }
    let Some(reg) = registry(i).map(str::to_owned) else {
        return copy_layout(i);
    };
    let target = Target::parse(&reg)?;
    let images = push::carried(i.trusted)?;
    let mut pending = Vec::new();
    let (map, bytes) = if push_now(i) {
        let pushed = push_images(i, images, target)?;
        (pushed.mapping, pushed.counts.uploaded_bytes)
    } else {
        pending.push(resume_command(i));
        (push::plan(&images, &target)?, 0)
    };
    files::write_if_changed(
        i.stamp,
        &i.dir.join(install_dir::IMAGES_MAPPING),
        &serde_json::to_vec_pretty(&map)?,
        0o644,
    )?;
    let pinned = pin_values(i, &map)?;
    let mut done = Done::new(
        format!(
            "{} images {} {reg}; {pinned} references pinned",
            map.images.len(),
            if push_now(i) {
                "pushed to"
            } else {
                "to be pushed to"
            }
        ),
        bytes,
    );
    done.pending = pending;
    Ok(done)
}

/// No registry: the bundle's OCI layout, copied as it is.
fn copy_layout(i: &Install) -> Result<Done> {
    let members: Vec<String> = i
        .trusted
        .members_under(&layout::Kind::Image.prefix())
        .map(str::to_owned)
        .collect();
    let progress = Progress::start(&*i.opts.reporter, "images", Some(i.facts.image_bytes));
    let mut bytes = 0;
    for m in &members {
        let n = files::copy_member(i.stamp, i.trusted, m, &i.dir.join(m))?;
        progress.add(n);
        bytes += n;
    }
    progress.finish();
    Ok(Done::new(
        format!(
            "{} images copied as an OCI layout into images/ ({} files)",
            i.facts.images,
            members.len()
        ),
        bytes,
    ))
}

/// The push `push-images` does, with its defaults: its number of uploads
/// at once and its retry policy. The answers name no plain-HTTP registry;
/// a loopback one is reached over HTTP as with `push-images`.
fn push_images(
    i: &Install,
    images: Vec<(ImageRef, Descriptor)>,
    target: Target,
) -> Result<push::Pushed> {
    let req = push::Request {
        bundle: i.trusted,
        images,
        target,
        plain_http: Vec::new(),
        jobs: push::DEFAULT_JOBS,
        retry: retry_policy(DEFAULT_RETRIES),
        credentials: Credentials::from_env()?,
        reporter: i.opts.reporter.clone(),
    };
    let progress = Progress::start(&*i.opts.reporter, "images", None);
    let pushed = push::push_all(req, &progress)?;
    progress.finish();
    Ok(pushed)
}

/// Pins each hub's values in the install directory to the mapped images;
/// returns how many references changed.
fn pin_values(i: &Install, map: &Mapping) -> Result<usize> {
    let report = crate::report::Report::from_bundle(i.trusted)?;
    let mut pinned = 0;
    for h in &i.hubs {
        let found = report
            .hubs
            .iter()
            .find(|r| r.name == h.facts.name)
            .map(|r| &r.images);
        let path = i.dir.join(install_dir::hub_values(&h.facts.name));
        let text = crate::source::repo::read_text(&path, 16 << 20)?;
        let values = tree::parse_yaml(&text)
            .with_context(|| format!("{} is not valid YAML", path.display()))?;
        let new = mapping::pin_values(values, map, found)?;
        pinned += new.changed.len();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .filter(|l| !l.contains("image references moved to"))
            .map(|l| format!("{l}\n"))
            .collect();
        let body = format!(
            "{header}# {} image references moved to {}, pinned by digest.\n{}",
            new.changed.len(),
            map.registry,
            new.text
        );
        files::write_if_changed(i.stamp, &path, body.as_bytes(), 0o644)?;
    }
    Ok(pinned)
}
