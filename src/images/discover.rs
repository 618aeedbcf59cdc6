//! Finding every container image a hub's standalone values name.
//!
//! Charts spell an image two ways: `image: repo:tag` (kubespawner
//! overrides, init and extra containers) and `image: {name, tag}` (z2jh's
//! `singleuser.image` and `hub.image`, dask-gateway). Both are found wherever
//! they sit, so a chart that nests them somewhere new is still covered.
//! Values that cannot be listed (a user's free choice, a binderhub prefix)
//! are reported instead of silently skipped.

use serde::{Deserialize, Serialize};

use super::reference::ImageRef;
use crate::values::tree::{self, KeyPath, Values};

/// One image named in a hub's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUse {
    /// As written in the values (`busybox:1.36.1`).
    pub reference: String,
    /// Fully qualified (`docker.io/library/busybox:1.36.1`): the name the
    /// bundle's image layout stores it under.
    pub canonical: String,
    /// Where in the standalone values it was found.
    pub values_path: String,
}

/// A place that names images r2r cannot list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlisted {
    pub values_path: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    pub images: Vec<ImageUse>,
    pub unlisted: Vec<Unlisted>,
}

const PREFIX_KEYS: [&str; 3] = ["image_prefix", "imagePrefix", "imageRegistry"];

pub fn discover(values: &Values) -> Discovery {
    let mut out = Discovery::default();
    tree::for_each_leaf(values, &mut |p, v| {
        let Some(text) = scalar_text(v) else { return };
        let keys: Vec<&str> = p.key_names().collect();
        match keys.as_slice() {
            [.., "image"] => out.add(&text, p),
            [.., "image", "name"] => {
                let parent = parent_of(p);
                let sibling = |k: &str| {
                    tree::get(values, &parent.key(k))
                        .and_then(scalar_text)
                        .filter(|s| !s.is_empty())
                };
                let mut whole = text.clone();
                if let Some(tag) = sibling("tag") {
                    whole = format!("{whole}:{tag}");
                }
                if let Some(digest) = sibling("digest") {
                    whole = format!("{whole}@{digest}");
                }
                out.add(&whole, &parent);
            }
            [.., last] if PREFIX_KEYS.contains(last) && !text.is_empty() => {
                out.unlisted.push(Unlisted {
                    values_path: p.to_string(),
                    value: text,
                    reason: "images built on demand are pushed under this prefix; their names cannot be listed from the values: add them with --image".into(),
                })
            }
            _ => {}
        }
    });
    out.images.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    out
}

impl Discovery {
    fn add(&mut self, text: &str, at: &KeyPath) {
        if text.is_empty() {
            return;
        }
        if text.contains('{') {
            self.unlisted.push(Unlisted {
                values_path: at.to_string(),
                value: text.to_owned(),
                reason: "users may type any image here (an unlisted choice); add the ones they use with --image".into(),
            });
            return;
        }
        match ImageRef::parse(text) {
            Ok(r) => self.images.push(ImageUse {
                reference: text.to_owned(),
                canonical: r.canonical(),
                values_path: at.to_string(),
            }),
            Err(e) => self.unlisted.push(Unlisted {
                values_path: at.to_string(),
                value: text.to_owned(),
                reason: format!("not an image reference: {e}"),
            }),
        }
    }
}

fn parent_of(p: &KeyPath) -> KeyPath {
    let steps = p.steps();
    KeyPath::from_steps(steps[..steps.len().saturating_sub(1)].to_vec())
}

fn scalar_text(v: &Values) -> Option<String> {
    match v {
        Values::String(s) => Some(s.clone()),
        // An unquoted tag like 1.10 is a number to YAML; Helm prints it back.
        Values::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(yaml: &str) -> Discovery {
        discover(&tree::parse_yaml(yaml).unwrap())
    }

    #[test]
    fn finds_every_spelling_with_its_path() {
        let d = found(
            r#"
jupyterhub:
  hub: {image: {name: quay.io/jupyterhub/k8s-hub, tag: "4.1.0"}}
  singleuser:
    image: {name: pangeo/pangeo-notebook, tag: 2025.01.24}
    initContainers:
      - {name: fix, image: "busybox:1.36.1"}
    profileList:
      - kubespawner_override: {image: "quay.io/2i2c/a:1"}
        profile_options:
          image:
            unlisted_choice: {kubespawner_override: {image: "{value}"}}
            choices:
              py: {kubespawner_override: {image: "ghcr.io/x/py@sha256:0123456789012345678901234567890123456789012345678901234567890123"}}
dask-gateway:
  gateway: {backend: {image: {name: ghcr.io/dask/dask-gateway, tag: "2024.1.0"}}}
binderhub-service:
  config: {BinderHub: {image_prefix: "quay.io/imagebuilding-non-gcp-hubs/x-"}}
"#,
        );
        let got: Vec<(&str, &str)> = d
            .images
            .iter()
            .map(|i| (i.canonical.as_str(), i.values_path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "docker.io/library/busybox:1.36.1",
                    "jupyterhub.singleuser.initContainers[0].image"
                ),
                (
                    "docker.io/pangeo/pangeo-notebook:2025.01.24",
                    "jupyterhub.singleuser.image"
                ),
                (
                    "ghcr.io/dask/dask-gateway:2024.1.0",
                    "dask-gateway.gateway.backend.image"
                ),
                (
                    "ghcr.io/x/py@sha256:0123456789012345678901234567890123456789012345678901234567890123",
                    "jupyterhub.singleuser.profileList[0].profile_options.image.choices.py.kubespawner_override.image"
                ),
                (
                    "quay.io/2i2c/a:1",
                    "jupyterhub.singleuser.profileList[0].kubespawner_override.image"
                ),
                ("quay.io/jupyterhub/k8s-hub:4.1.0", "jupyterhub.hub.image"),
            ]
        );
        let unlisted: Vec<&str> = d.unlisted.iter().map(|u| u.value.as_str()).collect();
        assert_eq!(
            unlisted,
            ["{value}", "quay.io/imagebuilding-non-gcp-hubs/x-"]
        );
    }

    #[test]
    fn a_float_tag_is_printed_as_helm_does() {
        let d = found("singleuser: {image: {name: x/y, tag: 1.5}}");
        assert_eq!(d.images[0].canonical, "docker.io/x/y:1.5");
    }
}
