//! Installer parameters: the settings of a standalone values file that name
//! things the replica will have anew (its domain, NFS server, images). The
//! values keep the provider's current settings, so a drill can install them
//! as they are; each parameter lists where its value appears, for the
//! installer to replace.

use std::collections::BTreeMap;

use super::tree::{self, KeyPath, Values};
use crate::report::Parameter;

pub fn find(values: &Values, root: &KeyPath, domain: &str) -> Vec<Parameter> {
    let mut out = Vec::new();
    let mut leaves = Vec::new();
    tree::for_each_leaf(values, &mut |p, v| {
        if let Some(s) = v.as_str() {
            leaves.push((p.clone(), s.to_owned()));
        }
    });
    let containing = |needle: &str| -> Vec<String> {
        leaves
            .iter()
            .filter(|(_, s)| !needle.is_empty() && s.contains(needle))
            .map(|(p, _)| p.to_string())
            .collect()
    };

    let at = containing(domain);
    if !at.is_empty() {
        out.push(Parameter {
            name: "domain".into(),
            description: "the hub's public domain; also in its OAuth callback URL and ingress TLS"
                .into(),
            value: domain.to_owned(),
            key_paths: at,
        });
    }

    let server = root.key("nfs").key("pv").key("serverIP");
    if let Some(ip) = tree::get(values, &server).and_then(Values::as_str) {
        out.push(Parameter {
            name: "nfs_server".into(),
            description: "the NFS server holding home directories".into(),
            value: ip.to_owned(),
            key_paths: vec![server.to_string()],
        });
    }

    let mut images: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, s) in &leaves {
        if is_image_ref(p) && !s.contains('{') && !s.is_empty() {
            images.entry(s.clone()).or_default().push(p.to_string());
        }
    }
    for (n, (image, key_paths)) in images.into_iter().enumerate() {
        out.push(Parameter {
            name: format!("image_{}", n + 1),
            description: format!("an image reference, first at {}", key_paths[0]),
            value: image,
            key_paths,
        });
    }
    out
}

/// `…image: repo:tag`, `…image.name: repo`, `kubespawner_override.image`.
pub fn is_image_ref(p: &KeyPath) -> bool {
    let keys: Vec<&str> = p.key_names().collect();
    matches!(keys.as_slice(), [.., "image"] | [.., "image", "name"])
}
