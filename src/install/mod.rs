//! The installer: a verified bundle, a blueprint and answers become a
//! plan of steps, run in order with a journal so that an interrupted
//! install resumes and a repeated one changes nothing.
//!
//! `blueprint` is the data of a target, `facts` what the bundle says,
//! `answers` what the user says, `steps` the work, `journal` what is done.

pub(crate) mod answers;
pub(crate) mod blueprint;
pub(crate) mod buckets;
pub(crate) mod check;
pub(crate) mod cluster_layer;
pub(crate) mod eksctl;
pub(crate) mod facts;
pub(crate) mod journal;
pub(crate) mod layout;
pub(crate) mod names;
pub(crate) mod pools;
pub(crate) mod render;
pub(crate) mod scheduling;
pub(crate) mod sizes;
pub(crate) mod steps;
pub(crate) mod template;
pub(crate) mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use self::answers::{Answers, selected_hubs};
use self::blueprint::{Blueprint, StepKind};
use self::facts::{Facts, HubFacts};
use self::journal::Journal;
use self::sizes::Sizes;
use self::steps::{Done, Planned};
use crate::bundle::verify::Trusted;
use crate::progress::Reporter;

#[derive(Clone)]
pub(crate) struct Options {
    pub resume: bool,
    pub apply: bool,
    /// Apply even when the replica check finds errors.
    pub force: bool,
    /// Where steps, progress and warnings go.
    pub reporter: Arc<dyn Reporter>,
}

/// A hub as this install will have it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HubPlan {
    #[serde(flatten)]
    pub facts: HubFacts,
    pub new_domain: String,
    /// Provider settings answered anew (`homepage_repo` → the community's
    /// fork); only those whose answer differs from the bundle's.
    pub new_settings: BTreeMap<String, String>,
    /// Globs of the homes to restore; empty for none.
    pub users: Vec<String>,
    pub disk_gb: u64,
    /// The hub's user identity and home volume, once terraform has made them.
    pub identity: Option<String>,
    pub volume_id: Option<String>,
}

pub(crate) struct Install<'a> {
    pub trusted: &'a Trusted,
    pub bundle_path: PathBuf,
    pub blueprint: Blueprint,
    pub facts: Facts,
    pub answers: Answers,
    pub dir: PathBuf,
    pub hubs: Vec<HubPlan>,
    pub buckets: Vec<String>,
    pub sizes: Sizes,
    pub opts: Options,
    /// The mtime of every file the install writes: the bundle's creation.
    pub stamp: std::time::SystemTime,
}

#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    pub dir: PathBuf,
    pub target: String,
    pub steps: Vec<journal::Entry>,
    /// Steps skipped because the journal had them.
    pub skipped: Vec<StepKind>,
    pub next_steps: Option<PathBuf>,
    /// The replica check of the directory, for targets that apply releases.
    pub check: Option<check::CheckReport>,
}

impl<'a> Install<'a> {
    pub(crate) fn new(
        trusted: &'a Trusted,
        bundle_path: &Path,
        blueprint: Blueprint,
        facts: Facts,
        mut answers: Answers,
        opts: Options,
    ) -> Result<Install<'a>> {
        // Absolute, so that NEXT-STEPS.md's commands work from the install
        // directory and the saved answers from anywhere.
        let dir = std::path::absolute(answers.str("dir").unwrap_or("replica"))
            .context("cannot resolve the install directory")?;
        answers.set("dir", json!(dir.display().to_string()));
        let bundle_path = std::path::absolute(bundle_path)
            .with_context(|| format!("cannot resolve {}", bundle_path.display()))?;
        let sizes = match sizes::of_install(&blueprint, &facts, &answers)? {
            Some(mut s) => {
                s.settle(&answers)?;
                s
            }
            None => Sizes::default(),
        };
        let selected = selected_hubs(&answers, &facts);
        let outputs = steps::terraform::saved_outputs(&dir);
        let hubs = facts
            .hubs
            .iter()
            .filter(|h| selected.contains(&h.name))
            .map(|h| {
                let key = |k: &str| format!("hubs.{}.{k}", h.name);
                HubPlan {
                    facts: h.clone(),
                    new_domain: answers.str(&key("domain")).unwrap_or(&h.domain).to_owned(),
                    new_settings: h
                        .settings
                        .iter()
                        .filter_map(|(name, old)| {
                            let new = answers.str(&key(name))?;
                            (new != old).then(|| (name.clone(), new.to_owned()))
                        })
                        .collect(),
                    users: if h.homes {
                        answers.list(&key("users"))
                    } else {
                        Vec::new()
                    },
                    disk_gb: sizes.home_disks.get(&h.name).copied().unwrap_or_default(),
                    identity: steps::terraform::output(&outputs, "user_identities", &h.name),
                    volume_id: steps::terraform::output(&outputs, "home_volume_ids", &h.name),
                }
            })
            .collect();
        let buckets = answers.list("buckets");
        let stamp =
            humantime::parse_rfc3339_weak(&trusted.manifest.created).with_context(|| {
                format!(
                    "bundle.json: bad creation time {:?}",
                    trusted.manifest.created
                )
            })?;
        Ok(Install {
            stamp,
            trusted,
            bundle_path,
            blueprint,
            facts,
            answers,
            dir,
            hubs,
            buckets,
            sizes,
            opts,
        })
    }

    /// What templates see. Never holds a secret.
    pub(crate) fn context(&self, hub: Option<&HubPlan>) -> Json {
        json!({
            "target": self.blueprint.target,
            "facts": self.facts,
            "answers": self.answers.public(),
            "sizes": self.sizes,
            "hubs": self.hubs,
            "buckets": self.buckets,
            "bucket_plan": self.bucket_plan(),
            "hub": hub,
        })
    }

    /// The buckets this install makes on its cloud, with their names.
    pub(crate) fn bucket_plan(&self) -> Vec<buckets::Bucket> {
        let hubs: Vec<String> = self.hubs.iter().map(|h| h.facts.name.clone()).collect();
        buckets::plan(&self.blueprint.target, &self.facts, &self.answers, &hubs)
    }

    pub(crate) fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.facts.bundle_id.as_bytes());
        h.update(self.trusted.key_id.as_bytes());
        h.update(self.blueprint.target.as_bytes());
        h.update(self.answers.public().to_string().as_bytes());
        crate::bundle::digest::hex(&h.finalize())
    }

    pub(crate) fn plan(&self) -> Result<Vec<Planned>> {
        self.blueprint
            .steps
            .iter()
            .map(|s| steps::plan(*s, self))
            .collect()
    }

    /// Runs every step not yet in the journal.
    pub(crate) fn run(&mut self) -> Result<Outcome> {
        let mut journal = self.open_journal()?;
        let mut outcome = Outcome {
            dir: self.dir.clone(),
            target: self.blueprint.target.clone(),
            steps: Vec::new(),
            skipped: Vec::new(),
            next_steps: None,
            check: None,
        };
        let all = self.blueprint.steps.clone();
        let mut ran_any = false;
        for step in all {
            if let Some(done) = journal.done(step) {
                // A step that left commands runs again under --apply; the
                // list of what is left is rewritten whenever anything ran.
                let again = (self.opts.apply && !done.pending.is_empty())
                    || (ran_any && step == StepKind::NextSteps);
                if !again {
                    outcome.skipped.push(step);
                    outcome.steps.push(done.clone());
                    continue;
                }
            }
            let started = Instant::now();
            let done: Done = steps::run(step, self, &journal)
                .with_context(|| format!("install step {}", step.name()))?;
            ran_any = true;
            let entry = journal::Entry {
                step,
                summary: done.summary,
                bytes: done.bytes,
                seconds: started.elapsed().as_secs_f64(),
                pending: done.pending,
            };
            self.opts
                .reporter
                .step(&format!("done: {} — {}", step.name(), entry.summary));
            match journal.steps.iter_mut().find(|e| e.step == step) {
                Some(old) => *old = entry.clone(),
                None => journal.steps.push(entry.clone()),
            }
            journal.save(&self.dir)?;
            outcome.steps.push(entry);
        }
        let next = self.dir.join(layout::NEXT_STEPS);
        outcome.next_steps = next.exists().then_some(next);
        if self.blueprint.steps.contains(&StepKind::Helm) {
            outcome.check = Some(check::run(&self.dir, &*self.opts.reporter)?);
        }
        Ok(outcome)
    }

    /// The journal of this directory: a new one, or the one an earlier run
    /// of the same install left.
    fn open_journal(&self) -> Result<Journal> {
        // Before anything is read from or written to it: someone else's
        // directory (a default name planted in a shared cwd) is refused.
        crate::data::owned::open(&self.dir)?;
        let fingerprint = self.fingerprint();
        match Journal::load(&self.dir)? {
            Some(j) if j.fingerprint == fingerprint => {
                let complete = self.blueprint.steps.iter().all(|s| j.done(*s).is_some());
                if !complete && !self.opts.resume {
                    bail!(
                        "{} holds an unfinished install of this bundle\nhint: add --resume to continue it",
                        self.dir.display()
                    );
                }
                Ok(j)
            }
            Some(j) => bail!(
                "{} holds an install of bundle {} (target {}) with other answers; install into another directory, or remove this one",
                self.dir.display(),
                j.bundle_id,
                j.target
            ),
            None => {
                if self.dir.exists()
                    && std::fs::read_dir(&self.dir)
                        .with_context(|| format!("cannot read {}", self.dir.display()))?
                        .next()
                        .is_some()
                {
                    bail!(
                        "{} exists and is not an r2r install; choose a new or empty directory",
                        self.dir.display()
                    );
                }
                if self.opts.resume {
                    self.opts
                        .reporter
                        .warn("--resume: nothing to resume here; starting afresh");
                }
                let j = Journal {
                    version: 1,
                    fingerprint,
                    target: self.blueprint.target.clone(),
                    bundle_id: self.facts.bundle_id.clone(),
                    key_id: self.trusted.key_id.clone(),
                    answers: self.answers.public(),
                    steps: Vec::new(),
                };
                j.save(&self.dir)?;
                // What `--resume` reads back; the secrets are not in it.
                let answers = yaml_serde::to_string(&self.answers.public())?;
                crate::fsutil::write_replacing(
                    &layout::answers(&self.dir),
                    format!("# The answers of this install, without secrets.\n{answers}")
                        .as_bytes(),
                    0o644,
                )?;
                Ok(j)
            }
        }
    }
}
