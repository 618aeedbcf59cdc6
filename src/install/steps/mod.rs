//! The steps a blueprint may list. Each has a `plan` (what it will create
//! and move, for the confirmation and `--dry-run`) and a `run`.

pub(crate) mod config;
pub(crate) mod data;
pub(crate) mod files;
pub(crate) mod helm;
pub(crate) mod images;
pub(crate) mod jobs;
pub(crate) mod next_steps;
pub(crate) mod secrets;
pub(crate) mod terraform;
pub(crate) mod upload;

use anyhow::Result;
use serde::Serialize;

use super::Install;
use super::blueprint::StepKind;
use super::journal::Journal;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Planned {
    pub step: StepKind,
    pub title: String,
    /// Paths in the install directory, or things in the cloud.
    pub creates: Vec<String>,
    /// Bytes the step moves.
    pub bytes: u64,
    /// Commands it runs with --apply (or leaves in NEXT-STEPS.md).
    pub commands: Vec<Vec<String>>,
}

pub(crate) struct Done {
    pub summary: String,
    pub bytes: u64,
    /// Commands left for a person to run.
    pub pending: Vec<Vec<String>>,
}

impl Done {
    pub(crate) fn new(summary: String, bytes: u64) -> Done {
        Done {
            summary,
            bytes,
            pending: Vec::new(),
        }
    }
}

impl Planned {
    fn new(step: StepKind, title: impl Into<String>) -> Planned {
        Planned {
            step,
            title: title.into(),
            creates: Vec::new(),
            bytes: 0,
            commands: Vec::new(),
        }
    }
}

pub(crate) fn plan(step: StepKind, i: &Install) -> Result<Planned> {
    match step {
        StepKind::Config => config::plan(i),
        StepKind::Secrets => secrets::plan(i),
        StepKind::Terraform => terraform::plan(i),
        StepKind::Images => images::plan(i),
        StepKind::Homes => data::plan_homes(i),
        StepKind::Buckets => data::plan_buckets(i),
        StepKind::HubDb => data::plan_hub_db(i),
        StepKind::Helm => helm::plan(i),
        StepKind::UploadBundle => upload::plan(i),
        StepKind::RestoreJobs => jobs::plan(i),
        StepKind::NextSteps => Ok(Planned {
            creates: vec![crate::install::layout::NEXT_STEPS.into()],
            ..Planned::new(step, "write the commands left to run")
        }),
    }
}

pub(crate) fn run(step: StepKind, i: &mut Install, journal: &Journal) -> Result<Done> {
    match step {
        StepKind::Config => config::run(i),
        StepKind::Secrets => secrets::run(i),
        StepKind::Terraform => terraform::run(i),
        StepKind::Images => images::run(i),
        StepKind::Homes => data::run_homes(i),
        StepKind::Buckets => data::run_buckets(i),
        StepKind::HubDb => data::run_hub_db(i),
        StepKind::Helm => helm::run(i),
        StepKind::UploadBundle => upload::run(i),
        StepKind::RestoreJobs => jobs::run(i),
        StepKind::NextSteps => next_steps::run(i, journal),
    }
}
