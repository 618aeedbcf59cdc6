//! Checking a hub's `jupyterhub:` values against the Zero to JupyterHub
//! chart's own schema, merged over the chart's defaults as Helm would.
//! A violation is something the community should look at, not a reason to
//! stop an export, so it is reported, never raised.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use super::merge;
use super::tree::{self, KeyPath, Values};
use crate::source::repo::read_text;

const MAX_FILE_BYTES: u64 = 16 << 20;

/// The z2jh chart's `values.yaml` and compiled `values.schema.yaml`.
pub struct Z2jh {
    pub dir: PathBuf,
    defaults: Values,
    validator: jsonschema::Validator,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Violation {
    pub key_path: String,
    pub message: String,
}

impl Z2jh {
    /// Loads a chart directory holding `values.yaml` and `values.schema.yaml`.
    pub fn load(dir: &Path) -> Result<Z2jh> {
        let read = |name: &str| -> Result<Values> {
            let path = dir.join(name);
            let text = read_text(&path, MAX_FILE_BYTES)
                .with_context(|| format!("the z2jh chart at {} lacks {name}", dir.display()))?;
            tree::parse_yaml(&text).with_context(|| format!("{} is not valid YAML", path.display()))
        };
        let defaults = read("values.yaml")?;
        let schema: serde_json::Value = serde_json::to_value(read("values.schema.yaml")?)
            .context("values.schema.yaml cannot be read as JSON Schema")?;
        let validator = jsonschema::draft7::new(&schema).map_err(|e| {
            anyhow!(
                "{}/values.schema.yaml is not a usable draft-07 schema: {e}",
                dir.display()
            )
        })?;
        Ok(Z2jh {
            dir: dir.to_owned(),
            defaults,
            validator,
        })
    }

    /// Validates `section` (a hub's `jupyterhub:` values) layered over the
    /// chart defaults. Paths in the result start at `prefix`.
    pub fn check(&self, section: &Values, prefix: &KeyPath) -> Vec<Violation> {
        let mut merged = self.defaults.clone();
        merge::layer(&mut merged, section.clone());
        merge::prune_nulls(&mut merged);
        let instance = match tree::to_json(&merged) {
            Ok(v) => v,
            Err(e) => {
                return vec![Violation {
                    key_path: prefix.to_string(),
                    message: format!("cannot be checked: {e}"),
                }];
            }
        };
        let mut out: Vec<Violation> = self
            .validator
            .iter_errors(&instance)
            .map(|e| Violation {
                key_path: pointer_to_path(prefix, e.instance_path().as_str()).to_string(),
                message: short(&e.to_string()),
            })
            .collect();
        out.sort_by(|a, b| a.key_path.cmp(&b.key_path).then(a.message.cmp(&b.message)));
        out.dedup();
        out
    }
}

fn pointer_to_path(prefix: &KeyPath, pointer: &str) -> KeyPath {
    let mut p = prefix.clone();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        p = match seg.parse::<usize>() {
            Ok(i) if !seg.starts_with('0') || seg == "0" => p.index(i),
            _ => p.key(&seg),
        };
    }
    p
}

/// Schema messages quote the whole offending value; a long one (a whole
/// profile list) drowns the point.
fn short(message: &str) -> String {
    const MAX: usize = 300;
    if message.len() <= MAX {
        return message.to_owned();
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}
