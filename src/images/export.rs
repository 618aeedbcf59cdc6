//! The image half of `r2r export`: decide what to carry, from where, and
//! fill the bundle's image layout.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::auth::Credentials;
use super::pull::{Puller, Summary};
use super::reference::ImageRef;
use super::registry::{Registries, RetryPolicy};
use super::source::{Layout, Origin};
use crate::bundle::writer::BundleWriter;
use crate::progress::{Progress, Reporter};
use crate::report::HubReport;

pub(crate) struct Request {
    /// `--image-source oci:PATH`: looked in first.
    pub layouts: Vec<String>,
    pub platforms: Vec<String>,
    pub plain_http: Vec<String>,
    pub retry: RetryPolicy,
    pub reporter: std::sync::Arc<dyn Reporter>,
}

/// One image to carry and the hubs that use it (`--image` ones use none).
pub(crate) struct Wanted {
    pub reference: ImageRef,
    pub written: String,
    pub hubs: Vec<String>,
}

/// Every distinct image the hubs name, then those added by hand.
pub(crate) fn wanted(hubs: &[HubReport], extra: &[String]) -> Result<Vec<Wanted>> {
    let mut by_canonical: BTreeMap<String, Wanted> = BTreeMap::new();
    for hub in hubs {
        for use_ in &hub.images.images {
            let r = ImageRef::parse(&use_.reference)
                .map_err(|e| anyhow::anyhow!("hub {}: {}: {e}", hub.name, use_.values_path))?;
            let w = by_canonical.entry(r.canonical()).or_insert_with(|| Wanted {
                reference: r,
                written: use_.reference.clone(),
                hubs: Vec::new(),
            });
            if !w.hubs.contains(&hub.name) {
                w.hubs.push(hub.name.clone());
            }
        }
    }
    for text in extra {
        let r = ImageRef::parse(text).map_err(|e| anyhow::anyhow!("--image {text}: {e}"))?;
        by_canonical.entry(r.canonical()).or_insert_with(|| Wanted {
            reference: r,
            written: text.clone(),
            hubs: Vec::new(),
        });
    }
    Ok(by_canonical.into_values().collect())
}

pub(crate) fn export(
    req: &Request,
    wanted: &[Wanted],
    bundle: &mut BundleWriter,
) -> Result<Summary> {
    let layouts = req
        .layouts
        .iter()
        .map(|l| Layout::open(l))
        .collect::<Result<Vec<_>>>()?;
    let from_layout = |w: &Wanted| {
        layouts.iter().find_map(|l| {
            l.find(&w.reference.canonical(), &w.written)
                .map(|d| (l, d.clone()))
        })
    };
    let remote: Vec<&Wanted> = wanted.iter().filter(|w| from_layout(w).is_none()).collect();
    let creds = Credentials::from_env()?;
    if let (Some(w), false) = (creds.helper_warning(), remote.is_empty()) {
        req.reporter.warn(&w);
    }
    let registries = Registries::new(
        remote.iter().map(|w| w.reference.registry()),
        &req.plain_http,
        creds,
        req.retry,
        req.reporter.clone(),
    )?;
    let progress = Progress::start(&*req.reporter, "images", None);
    let mut puller = Puller::new(bundle, req.platforms.clone());
    for w in wanted {
        let origin = match from_layout(w) {
            Some((l, d)) => Origin::Layout(l, d),
            None => Origin::Registry(&registries),
        };
        progress.note(&format!("image {}", w.reference));
        let used_by = if w.hubs.is_empty() {
            "added with --image".to_owned()
        } else {
            format!("used by hub {}", w.hubs.join(", "))
        };
        puller
            .image(&w.reference, &origin, &progress)
            .with_context(|| format!("cannot carry image {} ({used_by})", w.written))?;
    }
    progress.finish();
    puller.finish()
}
