//! The disaster-recovery drill: export, verify, install locally, compare,
//! and report what was carried and how long each phase took. Each phase
//! runs r2r itself as a child process, with the same arguments a person
//! would type, so the drill proves the commands, not a shortcut.

use crate::progress::Reporter;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::bundle::sign;
use crate::bundle::verify::open_trusted;
use crate::install::facts;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phase {
    pub name: String,
    pub seconds: f64,
    pub ok: bool,
    /// The command, without secrets (there are none in it).
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Json::is_null")]
    pub result: Json,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub cluster: String,
    pub bundle: PathBuf,
    pub bundle_bytes: u64,
    pub members: u64,
    pub hubs: Vec<String>,
    pub homes: u64,
    pub home_bytes: u64,
    pub images: u64,
    pub phases: Vec<Phase>,
    /// Export to compared replica: how long recovery takes end to end.
    pub recovery_seconds: f64,
    pub differences: Vec<Json>,
    /// `r2r install --check` of the replica: its verdict and findings.
    #[serde(skip_serializing_if = "Json::is_null")]
    pub check: Json,
    pub ok: bool,
}

/// What to drill, with the defaults for the example community resolved.
pub(crate) struct Request {
    pub infra: PathBuf,
    pub cluster: String,
    /// The example community: its chart mirrors are used when none given.
    pub example: bool,
    /// Where the homes are (`export --homes`), if carried.
    pub homes: Option<String>,
    /// Where images come from (`export --image-source`), if carried.
    pub images: Option<String>,
    pub hubs: Vec<String>,
    pub excludes: Vec<String>,
    pub chart_repos: Vec<String>,
    pub chart_repos_dirs: Vec<PathBuf>,
    /// The scratch directory.
    pub work: PathBuf,
}

/// A finished drill: its report, also written as markdown and JSON into
/// the scratch directory.
pub(crate) struct Drilled {
    pub report: Report,
    pub markdown: String,
    /// drill-report.md.
    pub markdown_file: PathBuf,
}

/// The scratch directory's files.
struct Paths {
    keys: PathBuf,
    bundle: PathBuf,
    replica: PathBuf,
    pubkey: PathBuf,
    age_key: PathBuf,
}

/// Runs the drill's phases in order, each as `r2r` itself, and writes the
/// report. A failing phase stops the drill; a differing replica does not
/// (the report says so).
pub(crate) fn run(req: &Request, reporter: &dyn Reporter) -> Result<Drilled> {
    scratch(&req.work)?;
    let keys = req.work.join("keys");
    let p = Paths {
        bundle: req.work.join(format!("{}.r2r.tar", req.cluster)),
        replica: req.work.join("replica"),
        pubkey: keys.join("r2r.pub"),
        age_key: keys.join("community.age"),
        keys,
    };
    let mut report = Report {
        cluster: req.cluster.clone(),
        bundle: p.bundle.clone(),
        ..Report::default()
    };
    phase(
        "keygen",
        &strings(&["keygen", "--out", &s(&p.keys), "--no-password", "--json"]),
        &mut report,
        reporter,
    )?;
    let recipient = community_key(&p.age_key)?;
    phase(
        "export",
        &export_args(req, &p, &recipient),
        &mut report,
        reporter,
    )?;
    let verified = phase(
        "verify",
        &strings(&["verify", &s(&p.bundle), "--pubkey", &s(&p.pubkey), "--json"]),
        &mut report,
        reporter,
    )?;
    report.bundle_bytes = verified["bytes"].as_u64().unwrap_or(0);
    report.members = verified["members"].as_u64().unwrap_or(0);
    install(req, &p, &mut report, reporter)?;
    report.check = phase(
        "check",
        &strings(&["install", "--check", &s(&p.replica), "--json", "--quiet"]),
        &mut report,
        reporter,
    )?;
    let compared = if req.homes.is_some() {
        compare(&p, &mut report, reporter)?
    } else {
        json!(null)
    };
    report.recovery_seconds = report
        .phases
        .iter()
        .filter(|p| p.name != "keygen")
        .map(|p| p.seconds)
        .sum();
    report.ok = report.phases.iter().all(|p| p.ok)
        && report.check["passed"] == Json::Bool(true)
        && report.differences.is_empty()
        && (req.homes.is_none() || !compared.is_null());
    write_report(req, report)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| (*x).to_owned()).collect()
}

/// A fresh age identity for the community, written to `age_key`; returns
/// its recipient, to which the export seals the secrets.
fn community_key(age_key: &Path) -> Result<String> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    crate::fsutil::write_new(
        age_key,
        format!(
            "# the drill's community age identity\n{}\n",
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string())
        )
        .as_bytes(),
        0o600,
    )?;
    Ok(recipient)
}

/// `r2r export …` as a person would type it for this drill.
fn export_args(req: &Request, p: &Paths, recipient: &str) -> Vec<String> {
    let mut export = strings(&[
        "export",
        "--infra",
        &s(&req.infra),
        "--cluster",
        &req.cluster,
        "--sign-key",
        &s(&p.keys.join("r2r.key")),
        "--output",
        &s(&p.bundle),
        "--recipient",
        recipient,
        "--quiet",
        "--json",
    ]);
    for h in &req.hubs {
        export.extend(strings(&["--hub", h]));
    }
    if let Some(h) = &req.homes {
        export.extend(strings(&["--homes", h]));
    }
    for e in &req.excludes {
        export.extend(strings(&["--exclude", e]));
    }
    if let Some(i) = &req.images {
        export.extend(strings(&["--images", "--image-source", i]));
    }
    for r in &req.chart_repos {
        export.extend(strings(&["--chart-repo", r]));
    }
    let mut mirror_dirs = req.chart_repos_dirs.clone();
    if req.example && mirror_dirs.is_empty() {
        // The example's stand-in chart repositories: it drills offline.
        mirror_dirs.push(req.infra.join("chart-repos"));
    }
    for d in &mirror_dirs {
        export.extend(strings(&["--chart-repos-dir", &s(d)]));
    }
    export
}

/// Installs the bundle with `--target local` into the replica, with the
/// answers a drill gives.
fn install(req: &Request, p: &Paths, report: &mut Report, reporter: &dyn Reporter) -> Result<()> {
    let (answers, f) = answers_for(&p.bundle, &p.pubkey, &p.replica, &p.age_key)?;
    report.hubs = f.hub_names.clone();
    report.images = f.images as u64;
    let answers_file = req.work.join("answers.yaml");
    crate::fsutil::write_new(&answers_file, answers.as_bytes(), 0o600)?;
    phase(
        "install",
        &strings(&[
            "install",
            &s(&p.bundle),
            "--pubkey",
            &s(&p.pubkey),
            "--target",
            "local",
            "--answers",
            &s(&answers_file),
            "--yes",
            "--json",
            "--quiet",
        ]),
        report,
        reporter,
    )?;
    Ok(())
}

/// Compares the restored homes with the bundle's signed indexes.
fn compare(p: &Paths, report: &mut Report, reporter: &dyn Reporter) -> Result<Json> {
    let c = phase(
        "compare",
        &strings(&[
            "verify",
            &s(&p.bundle),
            "--pubkey",
            &s(&p.pubkey),
            "--restored",
            &s(&p.replica.join("homes")),
            "--json",
        ]),
        report,
        reporter,
    )?;
    report.homes = c["homes"].as_u64().unwrap_or(0);
    report.home_bytes = c["bytes_hashed"].as_u64().unwrap_or(0);
    report.differences = c["differences"].as_array().cloned().unwrap_or_default();
    Ok(c)
}

/// drill-report.md and drill-report.json in the scratch directory.
fn write_report(req: &Request, report: Report) -> Result<Drilled> {
    let md = markdown(&report);
    let markdown_file = req.work.join("drill-report.md");
    crate::fsutil::write_replacing(&markdown_file, md.as_bytes(), 0o644)?;
    let mut js = serde_json::to_vec_pretty(&report)?;
    js.push(b'\n');
    crate::fsutil::write_replacing(&req.work.join("drill-report.json"), &js, 0o644)?;
    Ok(Drilled {
        report,
        markdown: md,
        markdown_file,
    })
}

/// A drill keeps what it can: the hubs' current domains and OAuth clients.
fn answers_for(
    bundle: &Path,
    pubkey: &Path,
    replica: &Path,
    age_key: &Path,
) -> Result<(String, facts::Facts)> {
    let pk = sign::load_public_key(&s(pubkey))?;
    let trusted = open_trusted(bundle, &pk)?;
    let f = facts::gather(&trusted, &pk.to_base64()).context("cannot read the drill's bundle")?;
    let mut hubs = serde_json::Map::new();
    for h in &f.hubs {
        let mut a = serde_json::Map::new();
        a.insert("domain".into(), json!(h.domain));
        if !h.oauth.is_empty() {
            a.insert("oauth_client_id".into(), json!("keep"));
        }
        hubs.insert(h.name.clone(), json!(a));
    }
    let answers = json!({
        "target": "local",
        "dir": s(replica),
        "age_identity": s(age_key),
        "registry": "",
        "hubs": hubs,
    });
    let text = format!(
        "# The drill's answers.\n{}\n",
        serde_json::to_string_pretty(&answers)?
    );
    Ok((text, f))
}

/// Runs `r2r ARGS…` (this executable), returning its parsed `--json` output.
pub(crate) fn phase(
    name: &str,
    args: &[String],
    report: &mut Report,
    reporter: &dyn Reporter,
) -> Result<Json> {
    let exe = std::env::current_exe().context("cannot find the r2r executable")?;
    reporter.step(&format!("drill: {name}…"));
    let started = Instant::now();
    let out = Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("drill {name}: cannot run r2r"))?;
    let seconds = started.elapsed().as_secs_f64();
    let result: Json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    let ok = out.status.success();
    report.phases.push(Phase {
        name: name.to_owned(),
        seconds,
        ok,
        command: std::iter::once("r2r".to_owned())
            .chain(args.iter().cloned())
            .collect(),
        result: result.clone(),
    });
    // A differing replica or a failing replica check is the drill's
    // finding, reported; any other failing phase stops it.
    if !ok && name != "compare" && name != "check" {
        bail!(
            "drill {name} failed ({}): r2r {}",
            out.status,
            crate::install::tools::shell_line(args)
        );
    }
    Ok(result)
}

/// Why the drill passed or failed, in one sentence that claims no more
/// than was checked.
fn summary(r: &Report) -> String {
    let mut parts = Vec::new();
    if r.phases
        .iter()
        .any(|p| !p.ok && p.name != "check" && p.name != "compare")
    {
        parts.push("a phase failed".to_owned());
    }
    parts.push(if r.differences.is_empty() {
        "the replica matches the bundle".to_owned()
    } else {
        format!(
            "the replica differs from the bundle in {}",
            crate::text::count(r.differences.len(), "place")
        )
    });
    parts.push(match r.check["passed"].as_bool() {
        Some(true) => {
            "the replica check found no errors in what it checked (see below for what it did not)"
                .to_owned()
        }
        Some(false) => "the replica check found errors".to_owned(),
        None => "the replica check did not run".to_owned(),
    });
    parts.join("; ")
}

pub(crate) fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# r2r drill: {}\n", r.cluster);
    let _ = writeln!(
        s,
        "**{}** — {}\n",
        if r.ok { "PASSED" } else { "FAILED" },
        summary(r)
    );
    let _ = writeln!(s, "## Carried\n");
    let _ = writeln!(s, "| what | amount |\n|---|---|");
    let _ = writeln!(
        s,
        "| bundle | {} ({} members) |",
        crate::text::bytes(r.bundle_bytes),
        r.members
    );
    let _ = writeln!(s, "| hubs | {} ({}) |", r.hubs.len(), r.hubs.join(", "));
    let _ = writeln!(
        s,
        "| homes | {} ({}) |",
        r.homes,
        crate::text::bytes(r.home_bytes)
    );
    let _ = writeln!(s, "| images | {} |", r.images);
    let _ = writeln!(s, "\n## Time per phase\n");
    let _ = writeln!(
        s,
        "| phase | seconds | result | command |\n|---|---|---|---|"
    );
    for p in &r.phases {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} | `{}` |",
            p.name,
            p.seconds,
            if p.ok { "ok" } else { "failed" },
            crate::install::tools::shell_line(&p.command).replace('|', "\\|")
        );
    }
    let _ = writeln!(
        s,
        "\n**Recovery time** (export to compared replica): {:.2} s\n",
        r.recovery_seconds
    );
    if let Some(verdict) = r.check["verdict"].as_str() {
        let _ = writeln!(s, "## Replica check\n\n{}\n", crate::text::safe(verdict));
        for f in r.check["check"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                s,
                "- {}: {} {}: {}",
                f["severity"].as_str().unwrap_or_default(),
                crate::text::safe(f["object"].as_str().unwrap_or_default()),
                crate::text::safe(f["path"].as_str().unwrap_or_default()),
                crate::text::safe(f["message"].as_str().unwrap_or_default()),
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Differences\n");
    if r.differences.is_empty() {
        let _ = writeln!(
            s,
            "None: every restored path, type, size, sha256, mode, mtime and link target matches the signed index."
        );
    } else {
        for d in &r.differences {
            let _ = writeln!(s, "- `{}`", crate::text::safe(&d.to_string()));
        }
    }
    s
}

/// The scratch directory: new, or refused when it holds anything.
pub(crate) fn scratch(dir: &Path) -> Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(anyhow!(
            "{} is not empty; the drill needs a new scratch directory (--work)",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
