//! An AWS cluster's node groups, from the eksctl config the bundle carries
//! (`infra/eksctl/<cluster>.jsonnet` and the files it imports), rendered
//! with the Jsonnet engine the export renders values with, in a bounded
//! child process (`values::bounded`): the bundle's members under
//! `infra/eksctl/` (at most 33, each at most 4 MiB) are written to a
//! private folder, which is all its imports can reach.

use anyhow::{Context, Result, bail};
use serde_json::Value as Json;

use crate::bundle::layout;
use crate::bundle::verify::Trusted;

const MAX_SOURCE_BYTES: u64 = 4 << 20;
const MAX_FILES: usize = 33;

/// The eksctl member for `cluster`, when the bundle carries one.
pub(crate) fn member(trusted: &Trusted, cluster: &str) -> Option<String> {
    let m = layout::eksctl_config(cluster);
    trusted.has(&m).then_some(m)
}

/// The rendered ClusterConfig of `member`, as JSON.
pub(crate) fn render(trusted: &Trusted, member: &str) -> Result<Json> {
    let folder = layout::eksctl_folder();
    let tmp = tempfile::Builder::new()
        .prefix("r2r-eksctl-")
        .tempdir()
        .context("cannot make a temporary folder")?;
    let members: Vec<&str> = trusted.members_under(&folder).collect();
    if members.len() > MAX_FILES {
        bail!("{folder}: more than {MAX_FILES} files");
    }
    for m in members {
        let rel = m.strip_prefix(folder.as_str()).unwrap_or(m);
        // Member names were checked when the bundle was verified: relative,
        // no `..`, no empty component.
        let path = tmp.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot write {}", parent.display()))?;
        }
        let bytes = trusted.read_small(m, MAX_SOURCE_BYTES)?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let top = member.strip_prefix(folder.as_str()).unwrap_or(member);
    let text = crate::values::bounded::render(tmp.path(), top, &[], member)?;
    serde_json::from_str(&text).with_context(|| format!("{member}: rendered output is not JSON"))
}
