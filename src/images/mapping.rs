//! The old→new reference mapping `push-images` writes, and the rewrite of
//! a hub's standalone values to the pushed images, pinned by digest.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::discover;
use super::reference::ImageRef;
use crate::values::tree::{self, KeyPath, Values};

/// One pushed image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Moved {
    /// The canonical reference the bundle carries.
    pub from: String,
    /// Where it went, with its tag.
    pub to: String,
    /// `to`'s repository at the digest (`registry/repo@sha256:…`), the
    /// spelling every tool accepts.
    pub pinned: String,
    pub digest: String,
}

/// `images-map.json`: what `push-images` did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Mapping {
    pub registry: String,
    pub images: Vec<Moved>,
}

impl Mapping {
    pub(crate) fn by_canonical(&self) -> BTreeMap<&str, &Moved> {
        self.images.iter().map(|m| (m.from.as_str(), m)).collect()
    }
}

/// Rewrites every image reference in `values` that the mapping covers to
/// its pinned new reference, at every place the values name it. Images
/// named inside code (a Python snippet) are left: rewriting the place would
/// replace the code. Returns the paths changed.
pub(crate) fn rewrite(values: &mut Values, mapping: &Mapping) -> Result<Vec<String>> {
    let found = discover::discover(values);
    set_places(values, mapping, &found, discover::Origin::Values)
}

/// Sets each place of `origin` of every mapped image to its pinned new
/// reference, in the shape the place has.
fn set_places(
    values: &mut Values,
    mapping: &Mapping,
    found: &discover::Discovery,
    origin: discover::Origin,
) -> Result<Vec<String>> {
    let by = mapping.by_canonical();
    let mut changed = Vec::new();
    for image in &found.images {
        let Some(m) = by.get(image.canonical.as_str()) else {
            continue;
        };
        let to = ImageRef::parse(&m.to).map_err(|e| anyhow::anyhow!("{}: {e}", m.to))?;
        for place in image.places.iter().filter(|p| p.origin == origin) {
            let at = KeyPath::parse(&place.at)
                .with_context(|| format!("bad values path {:?}", place.at))?;
            let existing = tree::get(values, &at).cloned();
            let Some(new) = pinned(existing, place.shape, &to, m) else {
                continue;
            };
            if tree::set(values, &at, new) {
                changed.push(place.at.clone());
            }
        }
    }
    Ok(changed)
}

/// The value that names `to`, pinned by the moved image's digest, in
/// `shape`; `None` for a place that cannot be rewritten.
fn pinned(
    existing: Option<Values>,
    shape: discover::Shape,
    to: &ImageRef,
    m: &Moved,
) -> Option<Values> {
    use discover::Shape;
    // Charts join {name, tag} as name:tag, so the digest rides in the tag
    // (`1.0@sha256:…`), which every runtime honours.
    let tag = format!("{}@{}", to.tag().unwrap_or("latest"), m.digest);
    let repo = format!("{}/{}", to.registry(), to.repository());
    let mut map = existing
        .and_then(|v| v.as_mapping().cloned())
        .unwrap_or_default();
    let mut put = |k: &str, v: &str| {
        map.insert(Values::from(k), Values::from(v));
    };
    match shape {
        Shape::Literal => return None,
        // `repo:tag@digest`: the tag for people, the digest for the
        // runtime (Kubernetes pulls by the digest).
        Shape::Text => return Some(Values::from(format!("{}@{}", m.to, m.digest))),
        Shape::NameTag => {
            put("name", &repo);
            put("tag", &tag);
        }
        Shape::RepositoryTag => {
            put("repository", &repo);
            put("tag", &tag);
        }
        Shape::RegistryRepositoryTag => {
            put("registry", to.registry());
            put("repository", to.repository());
            put("tag", &tag);
        }
    }
    map.shift_remove("digest");
    Some(Values::Mapping(map))
}

/// Points every image a hub runs at its pinned new reference. With the
/// hub's discovery from report.json, every place it lists is set, those of
/// the hub's values and those only a chart's defaults fill (a values place
/// may hold part of the image, `{tag}` over the chart's name, or take its
/// tag from the chart's appVersion: the report's canonical name is the
/// whole image); without one (a bundle older than the report's places),
/// what the values name themselves.
pub(crate) fn rewrite_hub(
    values: &mut Values,
    mapping: &Mapping,
    found: Option<&discover::Discovery>,
) -> Result<Vec<String>> {
    let Some(f) = found.filter(|f| f.images.iter().any(|i| !i.places.is_empty())) else {
        return rewrite(values, mapping);
    };
    let mut changed = set_places(values, mapping, f, discover::Origin::Values)?;
    changed.extend(rewrite_defaults(values, mapping, f)?);
    Ok(changed)
}

/// A hub's values with its images pinned: the text to write and the
/// places changed.
pub(crate) struct PinnedValues {
    /// For Helm, through [`tree::to_helm_text`] (JSON, so no string turns
    /// into a date or a number on the way).
    pub text: String,
    pub changed: Vec<String>,
}

/// The one pin-and-rewrite of a hub's values, for `push-images
/// --rewrite-values` and the installer: every image the mapping covers set
/// to its pinned new reference ([`rewrite_hub`]), then the values written
/// as Helm reads them. `found` is the hub's discovery from report.json.
pub(crate) fn pin_values(
    mut values: Values,
    mapping: &Mapping,
    found: Option<&discover::Discovery>,
) -> Result<PinnedValues> {
    let changed = rewrite_hub(&mut values, mapping, found)?;
    Ok(PinnedValues {
        text: tree::to_helm_text(&values)?,
        changed,
    })
}

/// Points the images only a chart's defaults name (nfs-ganesha in
/// jupyterhub-home-nfs, configurable-http-proxy in jupyterhub) at their
/// pinned new references, by setting them in `values` in the shape the
/// chart reads. `found` is the hub's discovery from report.json. Returns
/// the paths set.
pub(crate) fn rewrite_defaults(
    values: &mut Values,
    mapping: &Mapping,
    found: &discover::Discovery,
) -> Result<Vec<String>> {
    set_places(values, mapping, found, discover::Origin::ChartDefault)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a hub whose values name only the tag of a chart's image
    /// (`hub.image: {tag}` over the chart's name) kept the provider's
    /// registry: the plain discovery of the values does not see an image
    /// there. The report's places, with the whole canonical name, are used.
    #[test]
    fn a_partial_image_in_the_values_is_moved_whole() {
        use discover::{Discovery, ImageUse, Origin, Place, Shape};
        let d = format!("sha256:{}", "d".repeat(64));
        let found = Discovery {
            images: vec![ImageUse {
                reference: "quay.io/jupyterhub/k8s-hub:4.1.0".into(),
                canonical: "quay.io/jupyterhub/k8s-hub:4.1.0".into(),
                values_path: "jupyterhub.hub.image".into(),
                places: vec![Place {
                    at: "jupyterhub.hub.image".into(),
                    origin: Origin::Values,
                    shape: Shape::NameTag,
                    chart: "basehub > jupyterhub".into(),
                }],
            }],
            unlisted: vec![],
        };
        let mapping = Mapping {
            registry: "r.example".into(),
            images: vec![Moved {
                from: "quay.io/jupyterhub/k8s-hub:4.1.0".into(),
                to: "r.example/c/jupyterhub/k8s-hub:4.1.0".into(),
                pinned: String::new(),
                digest: d.clone(),
            }],
        };
        let mut v = tree::parse_yaml("jupyterhub: {hub: {image: {tag: '4.1.0'}}}").unwrap();
        let changed = rewrite_hub(&mut v, &mapping, Some(&found)).unwrap();
        assert_eq!(changed, ["jupyterhub.hub.image"]);
        let at = |p: &str| tree::get(&v, &KeyPath::parse(p).unwrap()).cloned();
        assert_eq!(
            at("jupyterhub.hub.image.name"),
            Some("r.example/c/jupyterhub/k8s-hub".into())
        );
        assert_eq!(
            at("jupyterhub.hub.image.tag"),
            Some(format!("4.1.0@{d}").into())
        );
    }

    /// Regression: once discovery listed an image once with every place,
    /// the rewrite edited only its first place (alpine/git in both
    /// initContainers and extraContainers), and an image named only inside
    /// a Python snippet would have replaced the whole snippet.
    #[test]
    fn every_place_is_rewritten_and_code_is_left_alone() {
        let code =
            "c.KubeSpawner.init_containers = [{\"image\": \"alpine/git:2.40.1\"}]\nprint('x')\n";
        let mut v = Values::Mapping(Default::default());
        let set = |v: &mut Values, p: &str, x: Values| {
            tree::set(v, &KeyPath::parse(p).unwrap(), x);
        };
        set(
            &mut v,
            "hub.initContainers",
            Values::Sequence(vec![
                tree::parse_yaml("{image: 'alpine/git:2.40.1'}").unwrap(),
            ]),
        );
        set(
            &mut v,
            "hub.extraContainers",
            Values::Sequence(vec![
                tree::parse_yaml("{image: 'alpine/git:2.40.1'}").unwrap(),
            ]),
        );
        set(&mut v, "hub.extraConfig.spawner", Values::from(code));
        let d = format!("sha256:{}", "c".repeat(64));
        let mapping = Mapping {
            registry: "r.example".into(),
            images: vec![Moved {
                from: "docker.io/alpine/git:2.40.1".into(),
                to: "r.example/c/alpine/git:2.40.1".into(),
                pinned: String::new(),
                digest: d.clone(),
            }],
        };
        let changed = rewrite(&mut v, &mapping).unwrap();
        assert_eq!(changed.len(), 2, "{changed:?}");
        let at = |p: &str| tree::get(&v, &KeyPath::parse(p).unwrap()).cloned();
        let want = Values::from(format!("r.example/c/alpine/git:2.40.1@{d}"));
        assert_eq!(at("hub.initContainers[0].image"), Some(want.clone()));
        assert_eq!(at("hub.extraContainers[0].image"), Some(want));
        assert_eq!(at("hub.extraConfig.spawner"), Some(Values::from(code)));
    }

    #[test]
    fn chart_default_images_are_set_in_the_shape_the_chart_reads() {
        use discover::{Discovery, ImageUse, Origin, Place, Shape};
        let d = format!("sha256:{}", "b".repeat(64));
        let place = |at: &str, shape| Place {
            at: at.into(),
            origin: Origin::ChartDefault,
            shape,
            chart: "basehub > x".into(),
        };
        let found = Discovery {
            images: vec![
                ImageUse {
                    reference: "ghcr.io/2i2c-org/nfs-ganesha:1".into(),
                    canonical: "ghcr.io/2i2c-org/nfs-ganesha:1".into(),
                    values_path: "x.nfsServer.image".into(),
                    places: vec![place("x.nfsServer.image", Shape::RepositoryTag)],
                },
                ImageUse {
                    reference: "quay.io/jupyterhub/configurable-http-proxy:5".into(),
                    canonical: "quay.io/jupyterhub/configurable-http-proxy:5".into(),
                    values_path: "jupyterhub.proxy.chp.image".into(),
                    places: vec![
                        place("jupyterhub.proxy.chp.image", Shape::NameTag),
                        Place {
                            at: "templates/x.yaml:3".into(),
                            origin: Origin::Template,
                            shape: Shape::Literal,
                            chart: "basehub".into(),
                        },
                    ],
                },
            ],
            unlisted: vec![],
        };
        let moved = |from: &str, to: &str| Moved {
            from: from.into(),
            to: to.into(),
            pinned: String::new(),
            digest: d.clone(),
        };
        let mapping = Mapping {
            registry: "r.example".into(),
            images: vec![
                moved(
                    "ghcr.io/2i2c-org/nfs-ganesha:1",
                    "r.example/c/2i2c-org/nfs-ganesha:1",
                ),
                moved(
                    "quay.io/jupyterhub/configurable-http-proxy:5",
                    "r.example/c/jupyterhub/configurable-http-proxy:5",
                ),
            ],
        };
        let mut v = tree::parse_yaml("jupyterhub: {proxy: {chp: {}}}\n").unwrap();
        let changed = rewrite_hub(&mut v, &mapping, Some(&found)).unwrap();
        assert_eq!(changed, ["x.nfsServer.image", "jupyterhub.proxy.chp.image"]);
        let at = |p: &str| tree::get(&v, &KeyPath::parse(p).unwrap()).cloned();
        assert_eq!(
            at("x.nfsServer.image.repository"),
            Some("r.example/c/2i2c-org/nfs-ganesha".into())
        );
        assert_eq!(at("x.nfsServer.image.tag"), Some(format!("1@{d}").into()));
        assert_eq!(
            at("jupyterhub.proxy.chp.image.name"),
            Some("r.example/c/jupyterhub/configurable-http-proxy".into())
        );
    }

    #[test]
    fn rewrites_both_spellings_to_the_digest() {
        let mut v = tree::parse_yaml(
            "singleuser:\n  image: {name: quay.io/2i2c/a, tag: '1'}\n  initContainers:\n    - {image: 'busybox:1.36.1'}\n  other: {image: 'untouched:1'}\n",
        )
        .unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        let mapping = Mapping {
            registry: "r.example".into(),
            images: vec![
                Moved {
                    from: "quay.io/2i2c/a:1".into(),
                    to: "r.example/c/2i2c/a:1".into(),
                    pinned: format!("r.example/c/2i2c/a@{d}"),
                    digest: d.clone(),
                },
                Moved {
                    from: "docker.io/library/busybox:1.36.1".into(),
                    to: "r.example/c/library/busybox:1.36.1".into(),
                    pinned: format!("r.example/c/library/busybox@{d}"),
                    digest: d.clone(),
                },
            ],
        };
        let changed = rewrite(&mut v, &mapping).unwrap();
        assert_eq!(changed.len(), 2);
        let after = discover::discover(&v);
        let refs: Vec<&str> = after.images.iter().map(|i| i.canonical.as_str()).collect();
        assert!(
            refs.contains(&format!("r.example/c/2i2c/a:1@{d}").as_str()),
            "{refs:?}"
        );
        assert!(
            refs.contains(&format!("r.example/c/library/busybox:1.36.1@{d}").as_str()),
            "{refs:?}"
        );
        assert!(refs.contains(&"docker.io/library/untouched:1"));
    }
}
