//! The community's buckets on a cloud target: one for each bucket of the
//! source (its tfvars' `user_buckets`, and any other the bundle carries),
//! named by an answer (`bucket_names.<key>`, by default
//! `<cluster_name>-<key>` with the new cluster's name, never the
//! provider's name), given only to the hubs it belonged to; and the
//! rewrite of the hub values that name the provider's buckets.

use serde::Serialize;
use serde_json::Value as Json;

use super::answers::Answers;
use super::facts::{Facts, SourceBucket};
use crate::values::tree::{self, KeyPath, Values};

/// A bucket as this install will have it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Bucket {
    /// The source's key: the terraform `buckets` key too.
    pub key: String,
    pub source_name: String,
    /// The new bucket's name and URL on the target cloud.
    pub name: String,
    pub url: String,
    /// The installed hubs that get it.
    pub hubs: Vec<String>,
    pub delete_after_days: Option<u64>,
    /// Its name in the bundle, when its objects are to be restored.
    pub restore: Option<String>,
}

/// The answer key of a bucket's new name.
pub(crate) fn answer_key(key: &str) -> String {
    format!("bucket_names.{key}")
}

/// The object-store URL scheme of a target; none for targets whose
/// buckets r2r does not make.
fn scheme(target: &str) -> Option<&'static str> {
    match target {
        "aws" => Some("s3"),
        "gcp" => Some("gs"),
        "azure" => Some("az"),
        _ => None,
    }
}

/// The source's buckets: `user_buckets` of its tfvars, owned by the hub
/// its `2i2c:hub-name` tag names and by every hub whose
/// `hub_cloud_permissions` grant it admin access; then each bucket the
/// bundle carries that is none of those.
pub(crate) fn of_source(tfvars: &Json, carried: &[String]) -> Vec<SourceBucket> {
    let prefix = ["cluster_name", "prefix"]
        .iter()
        .find_map(|k| tfvars[*k].as_str())
        .unwrap_or_default();
    let mut out: Vec<SourceBucket> = Vec::new();
    if let Some(user) = tfvars["user_buckets"].as_object() {
        for (key, b) in user {
            if crate::install::names::label(key).is_err() {
                continue;
            }
            let mut hubs: Vec<String> = b["tags"]["2i2c:hub-name"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect();
            if let Some(perms) = tfvars["hub_cloud_permissions"].as_object() {
                for (hub, p) in perms {
                    let admin = p["bucket_admin_access"].as_array();
                    if admin.is_some_and(|a| a.iter().any(|k| k == key.as_str()))
                        && !hubs.contains(hub)
                    {
                        hubs.push(hub.clone());
                    }
                }
            }
            let source_name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}-{key}")
            };
            let held = carried
                .iter()
                .find(|c| **c == *key || **c == source_name)
                .cloned();
            out.push(SourceBucket {
                key: key.clone(),
                source_name,
                hubs,
                delete_after_days: b["delete_after"].as_u64(),
                carried: held,
            });
        }
    }
    for c in carried {
        if !out.iter().any(|b| b.carried.as_deref() == Some(c.as_str())) {
            out.push(SourceBucket {
                key: c.clone(),
                source_name: c.clone(),
                hubs: Vec::new(),
                delete_after_days: None,
                carried: Some(c.clone()),
            });
        }
    }
    out
}

/// The derived default of a bucket's new name: `<cluster_name>-<key>`, or,
/// where that is the provider's own name (the cluster kept its name), with
/// the community's account or project in front. None before the cluster
/// name is answered.
pub(crate) fn default_name(target: &str, answers: &Answers, b: &SourceBucket) -> Option<String> {
    scheme(target)?;
    let cluster = answers.str(&format!("{target}.cluster_name"))?;
    let name = format!("{cluster}-{}", b.key);
    if name != b.source_name {
        return Some(name);
    }
    ["aws.account_id", "gcp.project", "azure.storage_account"]
        .iter()
        .find_map(|k| answers.str(k))
        .map(|id| format!("{id}-{name}"))
}

/// The buckets of this install: every source bucket one of the installed
/// hubs owns (or that no hub is said to own), with its answered name.
pub(crate) fn plan(target: &str, facts: &Facts, answers: &Answers, hubs: &[String]) -> Vec<Bucket> {
    let Some(scheme) = scheme(target) else {
        return Vec::new();
    };
    let restore = answers.list("buckets");
    let mut out = Vec::new();
    for b in &facts.source_buckets {
        let owners: Vec<String> = if b.hubs.is_empty() {
            hubs.to_vec()
        } else {
            b.hubs
                .iter()
                .filter(|h| hubs.contains(h))
                .cloned()
                .collect()
        };
        if owners.is_empty() {
            continue;
        }
        let Some(name) = answers
            .str(&answer_key(&b.key))
            .map(str::to_owned)
            .or_else(|| default_name(target, answers, b))
        else {
            continue;
        };
        out.push(Bucket {
            key: b.key.clone(),
            source_name: b.source_name.clone(),
            url: format!("{scheme}://{name}"),
            name,
            hubs: owners,
            delete_after_days: b.delete_after_days,
            restore: b.carried.clone().filter(|c| restore.contains(c)),
        });
    }
    out
}

/// Whether `c` may continue a bucket name (so a match ending before it is
/// only a prefix of another name).
fn name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// `text` with every `<scheme>://<source name>` of a bucket replaced by its
/// new URL; the bare source name too when `bare` and it is the whole text.
fn rewrite_text(text: &str, buckets: &[Bucket], bare: bool) -> String {
    if bare && let Some(b) = buckets.iter().find(|b| b.source_name == text) {
        return b.name.clone();
    }
    let mut out = text.to_owned();
    for b in buckets {
        for scheme in ["s3", "gs", "az", "abfs", "gcs"] {
            let old = format!("{scheme}://{}", b.source_name);
            let mut from = 0;
            while let Some(at) = out[from..].find(&old).map(|p| p + from) {
                let end = at + old.len();
                if out.as_bytes().get(end).copied().is_some_and(name_byte) {
                    from = end;
                    continue;
                }
                out.replace_range(at..end, &b.url);
                from = at + b.url.len();
            }
        }
    }
    out
}

/// Points every hub value that names one of the source's buckets at the
/// new bucket: `s3://…`, `gs://…` and `az://…` URLs anywhere, and bare
/// names as whole values under an `env` or `extraEnv` key. Returns how many
/// values changed.
pub(crate) fn rewrite_values(values: &mut Values, buckets: &[Bucket]) -> usize {
    if buckets.is_empty() {
        return 0;
    }
    let mut changes: Vec<(KeyPath, String)> = Vec::new();
    tree::for_each_leaf(values, &mut |path, v| {
        let Some(text) = v.as_str() else { return };
        let bare = path.key_names().any(|k| k == "env" || k == "extraEnv");
        let new = rewrite_text(text, buckets, bare);
        if new != text {
            changes.push((path.clone(), new));
        }
    });
    let mut n = 0;
    for (path, new) in changes {
        if tree::set(values, &path, Values::String(new)) {
            n += 1;
        }
    }
    n
}

/// The object-store URLs in the values' `env`/`extraEnv` that name a
/// bucket none of `buckets` is (after the rewrite: the provider's, or one
/// the source's terraform did not make): key path and URL, to warn about.
pub(crate) fn foreign(values: &Values, buckets: &[Bucket]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    tree::for_each_leaf(values, &mut |path, v| {
        let Some(text) = v.as_str() else { return };
        if !path.key_names().any(|k| k == "env" || k == "extraEnv") {
            return;
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return;
        };
        if !["s3", "gs", "az", "gcs", "abfs"].contains(&scheme) {
            return;
        }
        let bucket = rest.split('/').next().unwrap_or_default();
        if !buckets.iter().any(|b| b.name == bucket) {
            out.push((path.to_string(), text.to_owned()));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(source: &str, name: &str) -> Bucket {
        Bucket {
            key: source.into(),
            source_name: source.into(),
            name: name.into(),
            url: format!("s3://{name}"),
            hubs: vec!["prod".into()],
            delete_after_days: None,
            restore: None,
        }
    }

    #[test]
    fn urls_are_rewritten_but_not_a_longer_name_they_prefix() {
        let b = [
            bucket("nasa-cryo-scratch", "cryo-scratch"),
            bucket("nasa-cryo-scratch-staging", "cryo-scratch-staging"),
        ];
        assert_eq!(
            rewrite_text("s3://nasa-cryo-scratch/$(JUPYTERHUB_USER)", &b, true),
            "s3://cryo-scratch/$(JUPYTERHUB_USER)"
        );
        assert_eq!(
            rewrite_text("s3://nasa-cryo-scratch-staging/x", &b, true),
            "s3://cryo-scratch-staging/x"
        );
        assert_eq!(
            rewrite_text("gs://nasa-cryo-scratch", &b, false),
            "s3://cryo-scratch"
        );
        assert_eq!(rewrite_text("nasa-cryo-scratch", &b, true), "cryo-scratch");
        assert_eq!(
            rewrite_text("nasa-cryo-scratch", &b, false),
            "nasa-cryo-scratch"
        );
        assert_eq!(rewrite_text("s3://other/x", &b, true), "s3://other/x");
    }

    #[test]
    fn env_urls_of_no_new_bucket_are_found() {
        let v = tree::parse_yaml(
            "singleuser:\n  extraEnv:\n    A: s3://cryo-scratch/x\n    B: gs://seamap-scratch/x\n    C: plain\n  other: gs://elsewhere\n",
        )
        .unwrap();
        let found = foreign(&v, &[bucket("nasa-cryo-scratch", "cryo-scratch")]);
        assert_eq!(
            found,
            [(
                "singleuser.extraEnv.B".to_owned(),
                "gs://seamap-scratch/x".to_owned()
            )]
        );
    }

    #[test]
    fn owners_come_from_tags_and_permissions() {
        let tf: Json = serde_json::json!({
            "cluster_name": "nasa-cryo",
            "user_buckets": {
                "scratch": {"delete_after": 7, "tags": {"2i2c:hub-name": "prod"}},
                "persistent-staging": {},
            },
            "hub_cloud_permissions": {
                "staging": {"bucket_admin_access": ["persistent-staging"]},
            },
        });
        let b = of_source(&tf, &["scratch".into(), "other".into()]);
        assert_eq!(b.len(), 3);
        let s = b.iter().find(|b| b.key == "scratch").unwrap();
        assert_eq!(
            (
                s.source_name.as_str(),
                s.hubs.as_slice(),
                s.delete_after_days
            ),
            ("nasa-cryo-scratch", &["prod".to_owned()][..], Some(7))
        );
        assert_eq!(s.carried.as_deref(), Some("scratch"));
        let p = b.iter().find(|b| b.key == "persistent-staging").unwrap();
        assert_eq!(p.hubs, ["staging"]);
        assert!(p.carried.is_none());
        assert!(b.iter().any(|b| b.key == "other" && b.hubs.is_empty()));
    }
}
