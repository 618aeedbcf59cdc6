//! `r2r install`: bundle → the community's own infrastructure.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;

use super::output::OutputFlags;
use super::print;
use super::prompt::{self, Terminal};
use crate::bundle::sign;
use crate::bundle::verify::{self, Depth, open_trusted};
use crate::exit;
use crate::install::answers::NoAsk;
use crate::install::answers::{Answers, MissingAnswers, Resolver};
use crate::install::render::Renderer;
use crate::install::sizes::Sizes;
use crate::install::steps::Planned;
use crate::install::{Install, Options, Outcome, blueprint, facts, template};

/// Install a bundle on infrastructure the community owns: a local
/// directory (the default, needing nothing but this machine), Google Cloud,
/// AWS, Azure, or any Kubernetes cluster through a kubeconfig.
///
/// The bundle is verified in full first (signature, every member's hash);
/// an unverified bundle is never installed. Then the target's blueprint
/// asks only what the bundle cannot tell: the cloud account, a domain and
/// OAuth client per hub, the age identity for the secrets. Answers come
/// from a terminal, from --answers FILE, or both; with --yes (or without a
/// terminal) nothing is asked and every missing answer is listed at once.
/// The plan is shown before anything is written.
///
/// Steps are journaled in DIR/.r2r-install/: after a crash or Ctrl-C,
/// --resume continues where the install stopped, and running the same
/// install again changes nothing. Cloud steps (terraform, image push,
/// bundle upload, helm, kubectl) run only with --apply and when the tool is
/// on PATH; otherwise their exact commands are written to DIR/NEXT-STEPS.md.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    r2r install community.r2r.tar --pubkey r2r.pub                 # asks, then installs locally\n  \
    r2r install community.r2r.tar --pubkey r2r.pub --print-answers-template --target gcp > answers.yaml\n  \
    r2r install community.r2r.tar --pubkey r2r.pub --answers answers.yaml --yes\n  \
    r2r install b.tar --pubkey r2r.pub --target gcp --answers answers.yaml --dry-run\n  \
    r2r install b.tar --pubkey r2r.pub --answers answers.yaml --yes --resume --apply\n  \
    r2r install --check replica                                      # is the workspace a replica that runs?")]
pub(super) struct Args {
    /// The bundle: a .tar file or a directory.
    #[arg(required_unless_present = "check")]
    bundle: Option<PathBuf>,
    /// The signer's public key: an r2r.pub / minisign .pub file, or the base64 key.
    #[arg(long, value_name = "PUB", required_unless_present = "check")]
    pubkey: Option<String>,
    /// Check an install directory instead of installing: render every
    /// release with `helm template` from the carried charts, validate every
    /// manifest against Kubernetes' schemas (`kubernetes-validate`), and
    /// check the wiring (node pools, Secrets, classes, images). Exits 1
    /// when it finds an error.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["bundle", "answers", "resume", "apply", "dry_run", "print_answers_template"])]
    check: Option<PathBuf>,
    /// With --apply: install even when the replica check finds errors.
    #[arg(long)]
    force: bool,
    /// Where to install: local, gcp, aws, azure or kubeconfig. Default: the
    /// answers file's `target`, else asked, else local.
    #[arg(long)]
    target: Option<String>,
    /// A YAML answers file (see --print-answers-template).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// The install directory (the answer `dir`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Ask nothing: take derived defaults, fail listing every missing answer.
    #[arg(long, short)]
    yes: bool,
    /// Show the plan and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Continue an interrupted install in its directory.
    #[arg(long)]
    resume: bool,
    /// Run the cloud steps (terraform, push, upload, helm, kubectl).
    #[arg(long)]
    apply: bool,
    /// Print an answers file for the target, defaults filled in, and exit.
    #[arg(long)]
    print_answers_template: bool,
    #[command(flatten)]
    mode: OutputFlags,
}

#[derive(Serialize)]
struct PlanOut<'a> {
    target: &'a str,
    dir: String,
    bytes: u64,
    steps: &'a [Planned],
    /// The sizes rendered into terraform, each bounded value with its
    /// limit and source; absent when the install renders no terraform.
    #[serde(skip_serializing_if = "Option::is_none")]
    sizes: Option<&'a Sizes>,
}

pub(super) fn run(args: Args) -> Result<u8> {
    if let Some(dir) = &args.check {
        return check(dir, &args);
    }
    let (Some(bundle), Some(pubkey)) = (&args.bundle, &args.pubkey) else {
        bail!("a bundle and --pubkey are needed (or --check DIR)");
    };
    let pk = sign::load_public_key(pubkey)?;
    if let Some(code) = refuse_unverified(bundle, &pk) {
        return Ok(code);
    }
    let trusted = open_trusted(bundle, &pk)?;
    let facts = facts::gather(&trusted, &pk.to_base64())?;
    for w in &facts.warnings {
        print::warn(w);
    }

    let mut given = given_answers(&args)?;
    let interactive =
        prompt::interactive() && !args.yes && !args.mode.json && !args.print_answers_template;
    let target = choose_target(&args, &given, interactive)?;
    given.set("target", json!(target));
    let bp = blueprint::load(&target)?;
    let common = blueprint::common()?;
    let mut resolver = Resolver {
        blueprint: &bp,
        common: &common,
        facts: &facts,
        renderer: Renderer::new(&target)?,
        accept_defaults: !interactive,
        placeholder: args.print_answers_template.then(String::new),
        record: Vec::new(),
        ignored: Vec::new(),
    };
    if args.print_answers_template {
        let answers = resolver.resolve(&given, &mut NoAsk);
        warn_ignored(&resolver);
        let answers = answers?;
        print::out_raw(&template::write(&target, &resolver.record, &answers));
        return Ok(exit::OK);
    }
    let answers = if interactive {
        print::line(&format!(
            "Installing {} onto {} — {}",
            facts.bundle_id, bp.title, bp.about
        ));
        resolver.resolve(&given, &mut Terminal)
    } else {
        resolver.resolve(&given, &mut NoAsk)
    };
    warn_ignored(&resolver);
    let Some(answers) = missing_as_json(&args, answers)? else {
        return Ok(exit::FAILURE);
    };
    let opts = Options {
        resume: args.resume,
        apply: args.apply,
        force: args.force,
        reporter: args.mode.printer(),
    };
    let mut install = Install::new(&trusted, bundle, bp.clone(), facts, answers, opts)?;
    let plan = install.plan()?;
    let out = PlanOut {
        target: &target,
        dir: install.dir.display().to_string(),
        bytes: plan.iter().map(|p| p.bytes).sum(),
        steps: &plan,
        sizes: (!install.sizes.bounds.is_empty()).then_some(&install.sizes),
    };
    if args.dry_run {
        if args.mode.json {
            print::json(&json!({"dry_run": true, "plan": out}))?;
        } else {
            show_plan(&out);
            print::out("dry run: nothing was written");
        }
        return Ok(exit::OK);
    }
    if !args.mode.json && !args.mode.quiet {
        show_plan(&out);
    }
    confirm(&args, interactive)?;
    let outcome = install.run().with_context(|| {
        format!(
            "the install into {} stopped; fix the cause, then run the same command with --resume",
            install.dir.display()
        )
    })?;
    if args.mode.json {
        print::json(&outcome)?;
    } else {
        show_outcome(&outcome, &install.facts.bundle_id, &target);
    }
    Ok(exit::OK)
}

/// `--check DIR`: the replica check alone.
fn check(dir: &std::path::Path, args: &Args) -> Result<u8> {
    let printer = args.mode.printer();
    let report = crate::install::check::run(dir, &*printer)?;
    if args.mode.json {
        print::json(
            &json!({"check": report, "verdict": report.verdict(), "passed": report.passed()}),
        )?;
    } else {
        show_check(&report, usize::MAX);
    }
    Ok(if report.passed() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Findings, errors first (at most `limit`), then the verdict.
pub(super) fn show_check(report: &crate::install::check::CheckReport, limit: usize) {
    for f in report.findings.iter().take(limit) {
        let place = if f.path.is_empty() {
            f.object.clone()
        } else {
            format!("{} at {}", f.object, f.path)
        };
        print::line(&format!(
            "{}: {}: {}",
            f.severity.name(),
            print::safe(&place),
            print::safe(&f.message)
        ));
    }
    if report.findings.len() > limit {
        print::line(&format!(
            "… {} more: r2r install --check {}",
            report.findings.len() - limit,
            report.dir.display()
        ));
    }
    print::out(&report.verdict());
}

/// The answers file, if any, with --dir as the `dir` answer.
fn given_answers(args: &Args) -> Result<Answers> {
    let mut given = match &args.answers {
        Some(p) => Answers::load(p)?,
        None => Answers::default(),
    };
    if let Some(d) = &args.dir {
        given.set("dir", json!(d.display().to_string()));
    }
    Ok(given)
}

/// A bundle that fails verification is not installed: the first problem is
/// shown, and the exit code `r2r verify` would give is returned.
fn refuse_unverified(bundle: &std::path::Path, pk: &minisign::PublicKey) -> Option<u8> {
    let checked = verify::check(bundle, Some(pk), Depth::Full);
    let p = checked.problems.first()?;
    print::error(&anyhow::anyhow!(
        "{} failed verification and is not installed: {}: {} ({} problems; `r2r verify` lists them)",
        bundle.display(),
        p.member.as_deref().unwrap_or("bundle"),
        p.reason,
        checked.problems.len()
    ));
    Some(checked.exit_code())
}

/// With --json, missing answers are printed as JSON for scripts to fill
/// in (`None`: printed, the install fails); other errors stay errors.
fn missing_as_json(args: &Args, answers: Result<Answers>) -> Result<Option<Answers>> {
    match answers {
        Ok(a) => Ok(Some(a)),
        Err(e) => {
            if args.mode.json
                && let Some(m) = e.downcast_ref::<MissingAnswers>()
            {
                print::json(&json!({"error": "missing answers", "missing": m.0}))?;
                return Ok(None);
            }
            Err(e)
        }
    }
}

/// The plan is confirmed on a terminal, by --yes, or by --resume (which
/// continues a plan confirmed before).
fn confirm(args: &Args, interactive: bool) -> Result<()> {
    if interactive {
        if !prompt::confirm("Go ahead?")? {
            bail!("stopped: nothing was written");
        }
    } else if !args.yes && !args.resume {
        bail!(
            "there is no terminal to confirm the plan on\nhint: pass --yes to install without confirmation"
        );
    }
    Ok(())
}

fn show_outcome(outcome: &Outcome, bundle_id: &str, target: &str) {
    let ran = outcome.steps.len() - outcome.skipped.len();
    print::out(&format!(
        "installed bundle {} onto {} in {}: {} steps done{}",
        print::safe(bundle_id),
        target,
        outcome.dir.display(),
        ran,
        if outcome.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} already done before", outcome.skipped.len())
        }
    ));
    if let Some(report) = &outcome.check {
        show_check(report, 20);
    }
    if let Some(n) = &outcome.next_steps {
        print::out(&format!("next: {}", n.display()));
    }
}

fn choose_target(args: &Args, given: &Answers, interactive: bool) -> Result<String> {
    if let Some(t) = &args.target {
        return Ok(t.clone());
    }
    if let Some(t) = given.str("target") {
        return Ok(t.to_owned());
    }
    let targets: Vec<String> = blueprint::targets()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if interactive {
        let titles: Vec<String> = targets
            .iter()
            .map(|t| blueprint::load(t).map(|b| format!("{t}: {}", b.title)))
            .collect::<Result<_>>()?;
        let default = targets.iter().position(|t| t == "local").unwrap_or(0);
        let i = prompt::choose("Where to install?", &titles, default)?;
        return Ok(targets[i].clone());
    }
    Ok("local".into())
}

fn show_plan(p: &PlanOut<'_>) {
    print::out(&format!("plan: install onto {} in {}", p.target, p.dir));
    for (n, s) in p.steps.iter().enumerate() {
        let bytes = if s.bytes > 0 {
            format!(" ({})", print::bytes(s.bytes))
        } else {
            String::new()
        };
        print::out(&format!(
            "  {}. {}: {}{bytes}",
            n + 1,
            s.step.name(),
            print::safe(&s.title)
        ));
        for c in &s.creates {
            print::out(&format!("       creates {}", print::safe(c)));
        }
    }
    print::out(&format!("  total to move: {}", print::bytes(p.bytes)));
    if let Some(sizes) = p.sizes {
        show_sizes(sizes);
    }
}

/// Every size taken from the bundle, beside its limit.
fn show_sizes(sizes: &Sizes) {
    print::out("sizes (limits in blueprints/limits.yaml):");
    for m in &sizes.machine_map {
        let gpu = m
            .gpu
            .as_ref()
            .map(|g| format!(", {} x {}", g.count, g.kind))
            .unwrap_or_default();
        print::out(&format!(
            "  machine type {} -> {} ({} vCPUs, {} GiB{})",
            print::safe(&m.source),
            print::safe(&m.target),
            m.cpus,
            m.gib,
            print::safe(&gpu)
        ));
    }
    for p in &sizes.user_node_pools {
        let made = sizes
            .added_pools
            .get(&p.name)
            .map(|why| format!(" (made for {why})"))
            .unwrap_or_default();
        print::out(&format!(
            "  user node pool {}: {}, {} to {} nodes{}",
            print::safe(&p.name),
            print::safe(&p.machine_type),
            p.min,
            p.max,
            print::safe(&made)
        ));
    }
    for (hub, keys) in &sizes.rewritten {
        for k in keys {
            print::out(&format!(
                "  hub {} selector {}",
                print::safe(hub),
                print::safe(k)
            ));
        }
    }
    for u in &sizes.unmet {
        print::warn(&format!(
            "hub {}: no node pool meets the selector {} ({}); its pods would stay Pending",
            print::safe(&u.hub),
            print::safe(&u.path),
            print::safe(&format!("{:?}", u.labels))
        ));
    }
    for b in &sizes.bounds {
        let note = if !b.over() {
            String::new()
        } else if b.used == b.value {
            ", ALLOWED above the limit by your answer".into()
        } else {
            format!(", the bundle's {} lowered by your answer", b.value)
        };
        print::out(&format!(
            "  {}: {} (limit {}; from {}{note})",
            print::safe(&b.what),
            b.used,
            b.limit,
            print::safe(&b.source)
        ));
    }
}

/// Answers given that no question of the target takes.
fn warn_ignored(resolver: &Resolver<'_>) {
    for k in &resolver.ignored {
        print::warn(&format!(
            "answer {k} is not a question of target {}; it is ignored",
            resolver.blueprint.target
        ));
    }
}
