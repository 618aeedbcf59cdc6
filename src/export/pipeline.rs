//! The whole export, source → bundle: plan the repository's members,
//! prepare what r2r generates ([`super::prepare`]), then write members,
//! user data and images into one signed bundle. `r2r export` parses its
//! flags into a [`Request`], calls [`start`], and prints what comes back.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Options, Prepared};
use crate::bundle::layout::Kind;
use crate::bundle::writer::{self, BundleWriter, Format, Signer};
use crate::progress::Reporter;
use crate::source::plan::{self, ExportPlan};
use crate::source::repo::InfraRepo;

/// What to export, and how secrets and findings are treated.
pub(crate) struct Request {
    /// The infrastructure repository.
    pub infra: PathBuf,
    pub cluster: String,
    /// Hubs to export; empty: every hub of the cluster.
    pub hubs: Vec<String>,
    pub charts: plan::ChartOptions,
    pub options: Options,
}

/// A planned and prepared export: everything checked, nothing written.
pub(crate) struct Ready {
    pub repo: InfraRepo,
    pub plan: ExportPlan,
    pub prepared: Prepared,
}

/// Plans and prepares the export. Warnings are reported as each stage
/// finds them, so those of planning are seen even when preparing fails.
pub(crate) fn start(req: &Request, reporter: &dyn Reporter) -> Result<Ready> {
    let repo = InfraRepo::open(&req.infra)?;
    let plan = plan::plan(&repo, &req.cluster, &req.hubs, &req.charts)?;
    for w in &plan.warnings {
        reporter.warn(w);
    }
    let prepared = super::prepare(&repo, &plan, &req.options)?;
    for w in &prepared.warnings {
        reporter.warn(w);
    }
    for h in &prepared.allowed {
        reporter.warn(&format!(
            "carrying a plaintext value at {}:{} ({}), as --allow-plaintext asked",
            h.member, h.key_path, h.reason
        ));
    }
    Ok(Ready {
        repo,
        plan,
        prepared,
    })
}

/// One member a dry run would write, and where it comes from.
#[derive(Serialize)]
pub(crate) struct PlannedMember {
    pub path: String,
    pub kind: String,
    pub source: String,
}

/// Where and how the bundle is written.
pub(crate) struct Target {
    pub output: PathBuf,
    pub format: Format,
    /// Replace an existing bundle once the new one is complete.
    pub force: bool,
    /// Continue an interrupted export.
    pub resume: bool,
    pub signer: Signer,
}

/// The user data and images to carry. Their requests are built once the
/// bundle's work folder exists, and their flags checked then.
pub(crate) struct Carry<'a> {
    /// Homes, buckets or images are carried: the export can be resumed.
    pub resumable: bool,
    /// The homes, buckets and hub databases, for a work folder.
    pub data: &'a dyn Fn(&Path) -> Result<crate::data::export::Request>,
    /// The images (`--images`), when carried.
    pub images: Option<Images<'a>>,
}

/// The images to carry besides those the hubs run, and how to fetch them.
pub(crate) struct Images<'a> {
    /// `--image`: added by hand.
    pub extra: &'a [String],
    pub request: &'a dyn Fn() -> Result<crate::images::export::Request>,
}

/// What an export wrote.
#[derive(Serialize)]
pub(crate) struct Exported {
    pub bundle: PathBuf,
    pub format: &'static str,
    pub key_id: String,
    pub cluster: String,
    pub hubs: Vec<String>,
    pub members: usize,
    pub bytes: u64,
    /// The portability report's counts (`r2r inspect --report`).
    pub report: crate::report::Summary,
    /// Members holding secrets re-sealed for the community.
    pub sealed_for_community: Vec<String>,
    /// Homes, buckets and hub databases carried.
    #[serde(flatten)]
    pub data: crate::data::export::Summary,
    /// Container images carried (`--images`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<crate::images::pull::Summary>,
}

impl Ready {
    fn hub_names(&self) -> Vec<String> {
        self.plan
            .source
            .hubs
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    /// What a dry run shows: the repository's members, what r2r generates,
    /// then the user data and images (`images` are the `--image` extras,
    /// when images are carried).
    pub(crate) fn dry_run(
        &self,
        data: &crate::data::export::Request,
        images: Option<&[String]>,
    ) -> Result<Vec<PlannedMember>> {
        let mut planned = crate::data::export::plan(data, &self.hub_names())?;
        if let Some(extra) = images {
            for w in crate::images::export::wanted(&self.prepared.report.hubs, extra)? {
                planned.push(crate::data::export::Planned {
                    kind: "image",
                    members: format!("{} ({})", Kind::Image.prefix(), w.reference),
                    source: if w.hubs.is_empty() {
                        "--image".into()
                    } else {
                        format!("hub {}", w.hubs.join(", "))
                    },
                });
            }
        }
        let mut rows: Vec<PlannedMember> = self
            .plan
            .members
            .iter()
            .map(|m| PlannedMember {
                path: m.path.to_string(),
                kind: m.kind.as_str().to_owned(),
                source: self.repo.shown(&m.src),
            })
            .collect();
        rows.extend(self.prepared.generated.iter().map(|g| PlannedMember {
            path: g.path.to_string(),
            kind: g.kind.as_str().to_owned(),
            source: "(generated by r2r)".into(),
        }));
        rows.extend(planned.into_iter().map(|d| PlannedMember {
            path: d.members,
            kind: d.kind.to_owned(),
            source: d.source,
        }));
        Ok(rows)
    }

    /// Writes the bundle: the repository's and the generated members, the
    /// user data, the images; it appears at the output only when complete.
    pub(crate) fn write(
        self,
        target: &Target,
        carry: &Carry<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Exported> {
        let mut bundle = open_bundle(target, carry.resumable)?;
        reporter.step(&format!(
            "exporting cluster {} ({}): {} hubs, {} files",
            self.plan.source.cluster,
            self.plan.source.provider,
            self.plan.source.hubs.len(),
            self.plan.members.len()
        ));
        self.add_members(&mut bundle)?;
        let hubs = self.hub_names();
        let request = (carry.data)(bundle.work_dir())?;
        let data = crate::data::export::export(&request, &hubs, &mut bundle)
            .map_err(|e| stopped(e, &target.output))?;
        let images = match &carry.images {
            Some(i) => Some(self.carry_images(i, reporter, &target.output, &mut bundle)?),
            None => None,
        };
        let written = bundle.finish(self.plan.source, &target.signer)?;
        Ok(Exported {
            bundle: target.output.clone(),
            format: match target.format {
                Format::Tar => "tar",
                Format::Dir => "dir",
            },
            key_id: written.key_id,
            cluster: written.manifest.source.cluster.clone(),
            hubs: written
                .manifest
                .source
                .hubs
                .iter()
                .map(|h| h.name.clone())
                .collect(),
            members: written.members,
            bytes: written.bytes,
            report: self.prepared.report.summary.clone(),
            sealed_for_community: self
                .prepared
                .generated
                .iter()
                .filter(|g| g.kind == Kind::Secret)
                .map(|g| g.path.to_string())
                .collect(),
            data,
            images,
        })
    }

    /// Members stay grouped by kind, in the documented order, with what r2r
    /// generated after the repository's files of the same kind.
    fn add_members(&self, bundle: &mut BundleWriter) -> Result<()> {
        for kind in Kind::ALL {
            for m in self.plan.members.iter().filter(|m| m.kind == kind) {
                bundle
                    .add_file(m.path.clone(), m.kind, &m.src)
                    .with_context(|| format!("exporting {}", self.repo.shown(&m.src)))?;
            }
            for g in self.prepared.generated.iter().filter(|g| g.kind == kind) {
                bundle
                    .add_bytes(g.path.clone(), g.kind, &g.bytes)
                    .with_context(|| format!("writing {}", g.path))?;
            }
        }
        Ok(())
    }

    fn carry_images(
        &self,
        images: &Images<'_>,
        reporter: &dyn Reporter,
        output: &Path,
        bundle: &mut BundleWriter,
    ) -> Result<crate::images::pull::Summary> {
        let wanted = crate::images::export::wanted(&self.prepared.report.hubs, images.extra)?;
        reporter.step(&format!("carrying {} images", wanted.len()));
        crate::images::export::export(&(images.request)()?, &wanted, bundle)
            .map_err(|e| stopped(e, output))
    }
}

/// A new bundle, resumable when it carries data, or the interrupted one.
fn open_bundle(target: &Target, resumable: bool) -> Result<BundleWriter> {
    let created = writer::creation_time()?;
    let (output, format, force) = (&target.output, target.format, target.force);
    let opened = if target.resume {
        BundleWriter::resume(output, format, force)
    } else if resumable {
        BundleWriter::create_resumable(output, format, created, force)
    } else {
        BundleWriter::create(output, format, created, force)
    };
    opened.map_err(|e| {
        if output.exists() && !force {
            e.context("not replacing it\nhint: pass --force to replace it once the new bundle is complete")
        } else {
            e
        }
    })
}

/// A data or image export failed: what it completed is kept for --resume.
fn stopped(e: anyhow::Error, output: &Path) -> anyhow::Error {
    e.context(format!(
        "the export stopped; what it completed is kept beside {}\nhint: fix the cause, then run the same command with --resume to continue",
        output.display()
    ))
}
