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
pub struct Moved {
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
pub struct Mapping {
    pub registry: String,
    pub images: Vec<Moved>,
}

impl Mapping {
    pub fn by_canonical(&self) -> BTreeMap<&str, &Moved> {
        self.images.iter().map(|m| (m.from.as_str(), m)).collect()
    }
}

/// Rewrites every image reference in `values` that the mapping covers to
/// its pinned new reference. Returns the paths changed.
pub fn rewrite(values: &mut Values, mapping: &Mapping) -> Result<Vec<String>> {
    let found = discover::discover(values);
    let by = mapping.by_canonical();
    let mut changed = Vec::new();
    for use_ in &found.images {
        let Some(m) = by.get(use_.canonical.as_str()) else {
            continue;
        };
        let at = KeyPath::parse(&use_.values_path)
            .with_context(|| format!("internal: cannot parse values path {}", use_.values_path))?;
        let target = tree::get(values, &at).cloned();
        let to = ImageRef::parse(&m.to).map_err(|e| anyhow::anyhow!("{}: {e}", m.to))?;
        let new = match target {
            // {name, tag}: charts join them as name:tag, so the digest rides
            // in the tag (`1.0@sha256:…`), which every runtime honours.
            Some(Values::Mapping(mut map)) => {
                let name = format!("{}/{}", to.registry(), to.repository());
                let tag = format!("{}@{}", to.tag().unwrap_or("latest"), m.digest);
                map.insert(Values::from("name"), Values::from(name));
                map.insert(Values::from("tag"), Values::from(tag));
                map.shift_remove("digest");
                Values::Mapping(map)
            }
            // `repo:tag@digest`: the tag for people, the digest for the
            // runtime (Kubernetes pulls by the digest).
            _ => Values::from(format!("{}@{}", m.to, m.digest)),
        };
        if tree::set(values, &at, new) {
            changed.push(use_.values_path.clone());
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

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
