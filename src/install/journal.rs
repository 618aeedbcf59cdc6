//! The install journal, `<dir>/.r2r-install/journal.json`: which steps are
//! finished, for `--resume` and for a second run that must change nothing.
//! It holds no secret: answers are stored without their secret keys.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::blueprint::StepKind;
use super::layout;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub version: u32,
    /// sha256 of the bundle's identity, the target and the public answers.
    pub fingerprint: String,
    pub target: String,
    pub bundle_id: String,
    pub key_id: String,
    /// The answers used, secrets left out.
    pub answers: serde_json::Value,
    pub steps: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub step: StepKind,
    pub summary: String,
    pub bytes: u64,
    pub seconds: f64,
    /// Commands left for a person to run.
    #[serde(default)]
    pub pending: Vec<Vec<String>>,
}

impl Journal {
    pub(crate) fn load(dir: &Path) -> Result<Option<Journal>> {
        let p = layout::journal(dir);
        if !p.exists() {
            return Ok(None);
        }
        let text = crate::source::repo::read_text(&p, 16 << 20)?;
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not an r2r install journal", p.display()))
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let p = layout::journal(dir);
        std::fs::create_dir_all(crate::fsutil::parent_of(&p))
            .with_context(|| format!("cannot create {}", dir.join(layout::STATE).display()))?;
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        crate::fsutil::write_replacing(&p, &text, 0o644)
    }

    pub(crate) fn done(&self, step: StepKind) -> Option<&Entry> {
        self.steps.iter().find(|e| e.step == step)
    }
}
