//! Finding every container image a hub runs.
//!
//! The images are named in three kinds of places, and each is searched:
//! - the values the chart renders with: the hub's standalone values
//!   coalesced over the chart's defaults and every enabled subchart's,
//!   under its alias (`values::coalesce`), in every shape charts use:
//!   `image: repo:tag`, `image: {name, tag}` (z2jh, dask-gateway),
//!   `image: {repository, tag}` and `{registry, repository, tag, digest}`
//!   (a missing tag is the subchart's appVersion, as its templates default
//!   it), and keys known to hold one under another name (`build_image`);
//! - Python and other code inside values that writes `"image": "…"`;
//! - image references written literally in an enabled chart's templates.
//!
//! Each image is listed once, with every place it was found. Values that
//! cannot be listed (a user's free choice, a binderhub prefix) are
//! reported instead of silently skipped.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::reference::ImageRef;
use crate::values::coalesce::Coalesced;
use crate::values::tree::{self, KeyPath, Values};

/// How the place spells the image; the installer rewrites by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Shape {
    /// `image: repo:tag` (a string).
    Text,
    /// `image: {name, tag}`.
    NameTag,
    /// `image: {repository, tag}`.
    RepositoryTag,
    /// `image: {registry, repository, tag}`.
    RegistryRepositoryTag,
    /// Inside code or a template: named, not rewritable through values.
    Literal,
}

/// Where an image was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    /// The hub's standalone values.
    Values,
    /// A chart's or subchart's default values.
    ChartDefault,
    /// Code (a Python snippet) inside the values.
    Code,
    /// Written in a chart template.
    Template,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Place {
    /// A values key path, or `TEMPLATE:LINE` of a chart.
    pub at: String,
    pub origin: Origin,
    pub shape: Shape,
    /// The chart that names it (`daskhub > basehub > jupyterhub`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chart: String,
}

/// One image a hub runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageUse {
    /// As written where it was first found (`busybox:1.36.1`).
    pub reference: String,
    /// Fully qualified (`docker.io/library/busybox:1.36.1`): the name the
    /// bundle's image layout stores it under.
    pub canonical: String,
    /// Its first place (kept for readers of older reports).
    pub values_path: String,
    /// Every place it was found.
    #[serde(default)]
    pub places: Vec<Place>,
}

/// A place that names images r2r cannot list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Unlisted {
    pub values_path: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Discovery {
    pub images: Vec<ImageUse>,
    pub unlisted: Vec<Unlisted>,
}

const PREFIX_KEYS: [&str; 3] = ["image_prefix", "imagePrefix", "imageRegistry"];
/// Keys that hold an image reference under another name: repo2docker's
/// builder image in BinderHub's config.
const IMAGE_KEYS: [&str; 2] = ["build_image", "buildImage"];

/// The images the standalone values name themselves (what `push-images
/// --rewrite-values` and the installer rewrite).
pub(crate) fn discover(values: &Values) -> Discovery {
    let mut out = Discovery::default();
    let mut found: Vec<(KeyPath, String, Shape)> = Vec::new();
    let mut unlisted = Vec::new();
    walk(
        values,
        &KeyPath::root(),
        &mut |p, (text, shape)| found.push((p.clone(), text, shape)),
        &mut unlisted,
    );
    out.unlisted = unlisted;
    for (p, text, shape) in found {
        let origin = if shape == Shape::Literal {
            Origin::Code
        } else {
            Origin::Values
        };
        out.add(text, &p, origin, shape, "");
    }
    finish(out)
}

/// Every image a hub runs: its values coalesced over the chart tree, code
/// inside them, and the enabled charts' templates. `user` is the hub's
/// standalone values, to tell its own settings from chart defaults.
pub(crate) fn discover_chart(coalesced: &Coalesced<'_>, user: &Values) -> Discovery {
    let mut out = Discovery::default();
    let mut unlisted = Vec::new();
    let disabled: Vec<&KeyPath> = coalesced
        .scopes
        .iter()
        .filter(|s| !s.enabled)
        .map(|s| &s.at)
        .collect();
    let mut found: Vec<(KeyPath, String, Shape)> = Vec::new();
    walk_pruned(
        &coalesced.values,
        &KeyPath::root(),
        &disabled,
        &mut |p, (text, shape)| {
            found.push((p.clone(), text, shape));
        },
        &mut unlisted,
    );
    for (p, text, shape) in found {
        let scope = coalesced.scope_of(&p);
        let chart = scope.map(|s| s.label.clone()).unwrap_or_default();
        // A `{repository}` with no tag: the chart's templates default the
        // tag to its appVersion.
        let text = match (shape, scope) {
            (Shape::RepositoryTag | Shape::RegistryRepositoryTag, Some(s))
                if !has_tag(&text) && !s.chart.meta.app_version.is_empty() =>
            {
                format!("{text}:{}", s.chart.meta.app_version)
            }
            _ => text,
        };
        let origin = if shape == Shape::Literal {
            Origin::Code
        } else if tree::get(user, &p).is_some() {
            Origin::Values
        } else {
            Origin::ChartDefault
        };
        out.add(text, &p, origin, shape, &chart);
    }
    out.unlisted.extend(unlisted);
    for scope in coalesced.scopes.iter().filter(|s| s.enabled) {
        for (file, text) in &scope.chart.templates {
            for (line, image) in template_images(text) {
                out.add_place(
                    image,
                    Place {
                        at: format!("{file}:{line}"),
                        origin: Origin::Template,
                        shape: Shape::Literal,
                        chart: scope.label.clone(),
                    },
                );
            }
        }
    }
    finish(out)
}

fn finish(mut out: Discovery) -> Discovery {
    out.images.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    out.unlisted
        .sort_by(|a, b| a.values_path.cmp(&b.values_path));
    out.unlisted.dedup();
    out
}

fn has_tag(text: &str) -> bool {
    let last = text.rsplit('/').next().unwrap_or(text);
    last.contains(':') || text.contains('@')
}

/// Walks every leaf and image map, skipping subtrees a disabled chart owns.
fn walk_pruned(
    v: &Values,
    at: &KeyPath,
    disabled: &[&KeyPath],
    f: &mut dyn FnMut(&KeyPath, (String, Shape)),
    unlisted: &mut Vec<Unlisted>,
) {
    if disabled.contains(&at) {
        return;
    }
    match v {
        Values::Mapping(m) => {
            // A component switched off by its own `enabled: false` (z2jh's
            // prePuller.hook, scheduling.userScheduler) runs nothing.
            if !at.steps().is_empty() && m.get("enabled").and_then(Values::as_bool) == Some(false) {
                return;
            }
            for (k, child) in m {
                let key = tree::key_text(k);
                let p = at.key(&key);
                if (key == "image" || IMAGE_KEYS.contains(&key.as_str()))
                    && let Some(found) = image_at(child)
                {
                    f(&p, found);
                    continue;
                }
                leaf_checks(&key, child, &p, f, unlisted);
                walk_pruned(child, &p, disabled, f, unlisted);
            }
        }
        Values::Sequence(items) => {
            for (n, child) in items.iter().enumerate() {
                walk_pruned(child, &at.index(n), disabled, f, unlisted);
            }
        }
        _ => {}
    }
}

fn walk(
    v: &Values,
    at: &KeyPath,
    f: &mut dyn FnMut(&KeyPath, (String, Shape)),
    unlisted: &mut Vec<Unlisted>,
) {
    walk_pruned(v, at, &[], f, unlisted);
}

/// Prefix keys and code: what a leaf says about images besides an image key.
fn leaf_checks(
    key: &str,
    v: &Values,
    at: &KeyPath,
    f: &mut dyn FnMut(&KeyPath, (String, Shape)),
    unlisted: &mut Vec<Unlisted>,
) {
    let Some(text) = scalar_text(v) else { return };
    if PREFIX_KEYS.contains(&key) && !text.is_empty() {
        unlisted.push(Unlisted {
            values_path: at.to_string(),
            value: text,
            reason: "images built on demand are pushed under this prefix; their names cannot be listed from the values: add them with --image".into(),
        });
    } else if text.contains('\n') {
        for image in code_images(&text) {
            f(at, (image, Shape::Literal));
        }
    }
}

/// The image an `image:` key (or a known image key) holds, in its shape.
fn image_at(v: &Values) -> Option<(String, Shape)> {
    if let Some(text) = scalar_text(v) {
        return Some((text, Shape::Text));
    }
    let m = v.as_mapping()?;
    let get = |k: &str| m.get(k).and_then(scalar_text).filter(|s| !s.is_empty());
    let (whole, shape) = if let Some(name) = get("name") {
        (name, Shape::NameTag)
    } else if let Some(repo) = get("repository") {
        match get("registry") {
            Some(reg) => (
                format!("{}/{repo}", reg.trim_end_matches('/')),
                Shape::RegistryRepositoryTag,
            ),
            None => (repo, Shape::RepositoryTag),
        }
    } else {
        return None;
    };
    let mut whole = whole;
    if let Some(tag) = get("tag") {
        whole = format!("{whole}:{tag}");
    }
    if let Some(digest) = get("digest") {
        whole = format!("{whole}@{digest}");
    }
    Some((whole, shape))
}

/// `"image": "quay.io/x:1"` inside Python (or JSON) code held in a value.
fn code_images(code: &str) -> Vec<String> {
    static RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"["']image["']\s*[:=]\s*["']([A-Za-z0-9][A-Za-z0-9._/:@+-]*)["']"#).ok()
    });
    RE.as_ref()
        .map(|re| re.captures_iter(code).map(|c| c[1].to_owned()).collect())
        .unwrap_or_default()
}

/// Literal `image: ref` lines of a template (no template action in them).
fn template_images(text: &str) -> Vec<(usize, String)> {
    static RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"^\s*(?:-\s+)?image:\s*["']?([A-Za-z0-9][A-Za-z0-9._/:@+-]*)["']?\s*(?:#.*)?$"#,
        )
        .ok()
    });
    let Some(re) = RE.as_ref() else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.contains("{{"))
        .filter_map(|(n, l)| re.captures(l).map(|c| (n + 1, c[1].to_owned())))
        .filter(|(_, r)| r.contains(':') || r.contains('/'))
        .collect()
}

impl Discovery {
    fn add(&mut self, text: String, at: &KeyPath, origin: Origin, shape: Shape, chart: &str) {
        if text.is_empty() {
            return;
        }
        if text.contains('{') {
            self.unlisted.push(Unlisted {
                values_path: at.to_string(),
                value: text,
                reason: "users may type any image here (an unlisted choice); add the ones they use with --image".into(),
            });
            return;
        }
        self.add_place(
            text,
            Place {
                at: at.to_string(),
                origin,
                shape,
                chart: chart.to_owned(),
            },
        );
    }

    fn add_place(&mut self, text: String, place: Place) {
        match ImageRef::parse(&text) {
            Ok(r) => {
                let canonical = r.canonical();
                match self.images.iter_mut().find(|i| i.canonical == canonical) {
                    Some(i) => {
                        if !i.places.contains(&place) {
                            i.places.push(place);
                        }
                    }
                    None => self.images.push(ImageUse {
                        reference: text,
                        canonical,
                        values_path: place.at.clone(),
                        places: vec![place],
                    }),
                }
            }
            Err(e) if place.origin != Origin::Template && place.origin != Origin::Code => {
                self.unlisted.push(Unlisted {
                    values_path: place.at,
                    value: text,
                    reason: format!("not an image reference: {e}"),
                });
            }
            Err(_) => {}
        }
    }
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
  image: {repository: quay.io/2i2c/binderhub-service, tag: "0.1"}
  dockerApi: {image: {registry: docker.io, repository: library/docker, tag: 27-dind}}
  config: {BinderHub: {image_prefix: "quay.io/imagebuilding-non-gcp-hubs/x-"}, KubernetesBuildExecutor: {build_image: "quay.io/jupyterhub/repo2docker:2025"}}
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
                    "docker.io/library/docker:27-dind",
                    "binderhub-service.dockerApi.image"
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
                (
                    "quay.io/2i2c/binderhub-service:0.1",
                    "binderhub-service.image"
                ),
                ("quay.io/jupyterhub/k8s-hub:4.1.0", "jupyterhub.hub.image"),
                (
                    "quay.io/jupyterhub/repo2docker:2025",
                    "binderhub-service.config.KubernetesBuildExecutor.build_image"
                ),
            ]
        );
        let unlisted: Vec<&str> = d.unlisted.iter().map(|u| u.value.as_str()).collect();
        assert_eq!(
            unlisted,
            ["quay.io/imagebuilding-non-gcp-hubs/x-", "{value}"]
        );
    }

    #[test]
    fn a_float_tag_is_printed_as_helm_does() {
        let d = found("singleuser: {image: {name: x/y, tag: 1.5}}");
        assert_eq!(d.images[0].canonical, "docker.io/x/y:1.5");
    }

    #[test]
    fn code_and_templates_name_images_too() {
        let code = "c.KubeSpawner.init_containers = [{\n  \"name\": \"x\",\n  \"image\": \"quay.io/jupyterhub/k8s-network-tools:4.1.0\",\n}]\n";
        assert_eq!(
            code_images(code),
            ["quay.io/jupyterhub/k8s-network-tools:4.1.0"]
        );
        let t = "spec:\n  containers:\n    - name: a\n      image: quay.io/yuvipanda/prometheus-dirsize-exporter:v3.3\n    - image: \"busybox:1.36.1\" # pinned\n      name: b\n    - image: {{ .Values.x.image }}\n";
        assert_eq!(
            template_images(t),
            [
                (
                    4,
                    "quay.io/yuvipanda/prometheus-dirsize-exporter:v3.3".to_owned()
                ),
                (5, "busybox:1.36.1".to_owned())
            ]
        );
    }
}
