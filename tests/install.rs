//! `r2r install` and `r2r drill`: the local target end to end on the
//! example and on the shared real clusters, answers files and the list of
//! missing answers, --dry-run, a real SIGKILL then --resume, rendered
//! terraform (terraform fmt, HCL parse, the module's variables), Helm
//! overlays against the z2jh schema, and the cloud targets with RECORDING
//! STAND-INS for terraform, helm and kubectl (tests/fixtures/stand-in.py;
//! they are not the real tools), the real S3 server for the bundle upload
//! and a real registry for the image push.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn shared(p: &str) -> PathBuf {
    project().join("../shared").join(p)
}

fn digest(dir: &Path) -> String {
    let out = run(Command::new("python3")
        .arg(shared("fixtures/tree-digest.py"))
        .arg("--no-owner")
        .arg(dir));
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
}

fn install(bundle: &Path, keys: &Keys, extra: &[&str]) -> Run {
    let mut args = vec!["install", s(bundle), "--pubkey", s(&keys.public)];
    args.extend_from_slice(extra);
    r2r(&args)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const EXAMPLE_ANSWERS: &str = "\
hubs:
  staging:
    oauth_client_id: keep
    oauth_client_secret: leftover-not-used
  prod:
    domain: hub.example.net
    oauth_client_id: new-client-id
    oauth_client_secret: env:PROD_OAUTH_SECRET
";

#[test]
fn local_install_of_the_example_restores_everything_and_a_second_run_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let answers = t.path().join("answers.yaml");
    write(&answers, EXAMPLE_ANSWERS);
    let dir = t.path().join("replica");
    let run1 = || {
        run(Command::new(R2R)
            .args([
                "install",
                s(&bundle),
                "--pubkey",
                s(&keys.public),
                "--answers",
                s(&answers),
            ])
            .args(["--dir", s(&dir), "--yes"])
            .env("PROD_OAUTH_SECRET", "hunter2-oauth"))
    };
    let out = run1();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
        "{out:?}"
    );

    // Homes: exactly the signed index, and exactly the source minus nothing.
    let cmp = verify_restored(&bundle, &keys, &dir.join("homes"));
    assert_eq!(cmp.code, 0, "{cmp:?}");
    assert_eq!(
        digest(&dir.join("homes")),
        digest(&example_repo().join("homes"))
    );
    // The image layout, readable by skopeo.
    require("skopeo", "skopeo");
    let sk = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!(
            "oci:{}:quay.io/jupyter/scipy-notebook:2024-10-07",
            s(&dir.join("images"))
        ),
    ]));
    assert_eq!(sk.code, 0, "{sk:?}");
    // The new domain replaced the old one; staging kept its own.
    let prod = body(&dir.join("config/prod/values.yaml"));
    assert!(prod.contains("hub.example.net") && !prod.contains("hub.example-community.org"));
    let staging = std::fs::read_to_string(dir.join("config/staging/values.yaml")).unwrap();
    assert!(staging.contains("staging.example-community.org"));
    // The new OAuth client, decrypted, 0600, under daskhub's basehub key.
    let sec = dir.join("config/prod/secret-values.yaml");
    let text = std::fs::read_to_string(&sec).unwrap();
    let v: serde_json::Value = yaml_serde::from_str(&text).unwrap();
    assert_eq!(
        v["basehub"]["jupyterhub"]["hub"]["config"]["GitHubOAuthenticator"]["client_secret"],
        "hunter2-oauth"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sec).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The journal and the saved answers keep no secret.
    for f in [".r2r-install/journal.json", ".r2r-install/answers.yaml"] {
        let j = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(!j.contains("hunter2"), "{f} holds the secret");
        // An answer that does not apply is dropped, not kept in the clear.
        assert!(
            !j.contains("leftover-not-used"),
            "{f} holds an unused secret"
        );
    }
    // A terraform workspace for the source's cloud (GCP), formatted.
    terraform_fmt(&dir.join("terraform"));
    assert_module_contract(&dir.join("terraform"));

    // Again: nothing changes, not even an mtime.
    let before = digest(&dir);
    let out = run1();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("already done before"), "{out:?}");
    assert_eq!(digest(&dir), before);
}

/// A values file without its comment header.
fn body(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

fn verify_restored(bundle: &Path, keys: &Keys, dir: &Path) -> Run {
    r2r(&[
        "verify",
        s(bundle),
        "--pubkey",
        s(&keys.public),
        "--restored",
        s(dir),
        "--json",
    ])
}

/// `terraform fmt -check`, which also parses every file.
fn terraform_fmt(ws: &Path) {
    require(
        "terraform",
        "terraform (HashiCorp's release; not in Debian)",
    );
    let out = run(Command::new("terraform").args(["fmt", "-check", "-recursive", s(ws)]));
    assert_eq!(
        out.code,
        0,
        "terraform fmt -check failed on {}: {out:?}",
        ws.display()
    );
}

/// Every tfvars key is a variable the module declares, and every variable
/// without a default is set.
fn assert_module_contract(ws: &Path) {
    let mut declared = Vec::new();
    let mut required = Vec::new();
    for e in std::fs::read_dir(ws).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tf") {
            let body = hcl::parse(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{} is not HCL: {e}", p.display()));
            for b in body.blocks().filter(|b| b.identifier() == "variable") {
                let name = b.labels()[0].as_str().to_owned();
                if !b.body().attributes().any(|a| a.key() == "default") {
                    required.push(name.clone());
                }
                declared.push(name);
            }
        }
    }
    let tfvars = hcl::parse(&std::fs::read_to_string(ws.join("terraform.tfvars")).unwrap())
        .expect("terraform.tfvars is not HCL");
    let set: Vec<String> = tfvars.attributes().map(|a| a.key().to_owned()).collect();
    for k in &set {
        assert!(
            declared.contains(k),
            "tfvars sets {k}, which the module does not declare"
        );
    }
    for k in &required {
        assert!(
            set.contains(k),
            "the module needs {k}, which tfvars does not set"
        );
    }
}

/// Regression (issue 15): the installer's images step pushed without the
/// check `push-images` makes, so two carried images from different
/// registries under one path (quay.io/jupyter/scipy-notebook:T and
/// ghcr.io/jupyter/scipy-notebook:T) were both pushed as
/// REGISTRY/PREFIX/jupyter/scipy-notebook:T, the second over the first,
/// and the install went on. It now refuses, before pushing anything.
#[test]
fn install_refuses_two_images_landing_on_one_name() {
    const NOTEBOOK: &str = "jupyter/scipy-notebook:2024-10-07";
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    // The example's image layout, its notebook named a second time as if
    // from another registry.
    let layout = t.path().join("layout");
    copy_tree(&example_repo().join("images"), &layout);
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifests = index["manifests"].as_array_mut().unwrap();
    let mut twin = manifests[0].clone();
    twin["annotations"]["org.opencontainers.image.ref.name"] = format!("ghcr.io/{NOTEBOOK}").into();
    manifests.push(twin);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let bundle = t.path().join("twins.r2r.tar");
    let twin_ref = format!("ghcr.io/{NOTEBOOK}");
    let source = format!("oci:{}", s(&layout));
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &[
            "--images",
            "--image-source",
            &source,
            "--image",
            &twin_ref,
            "--quiet",
        ],
    );
    let registry = registry::start(false);
    let answers = t.path().join("answers.yaml");
    write(
        &answers,
        &format!("registry: {}/hub\n{EXAMPLE_ANSWERS}", registry.host),
    );
    let dir = t.path().join("replica");
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--dir", s(&dir), "--yes"])
        .env("PROD_OAUTH_SECRET", "hunter2-oauth")
        .env("R2R_RETRY_FIRST_MS", "50"));
    assert_ne!(out.code, 0, "{out:?}");
    let want = format!("would both be pushed as {}/hub/{NOTEBOOK}", registry.host);
    assert!(out.stderr.contains(&want), "{out:?}");
    assert!(!dir.join("images-mapping.json").exists());
}

#[test]
fn missing_answers_are_listed_at_once_and_the_template_fills_them() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let dir = t.path().join("replica");
    let out = install(&bundle, &keys, &["--dir", s(&dir), "--yes"]);
    assert_ne!(out.code, 0, "{out:?}");
    for key in ["hubs.staging.oauth_client_id", "hubs.prod.oauth_client_id"] {
        assert!(out.stderr.contains(key), "{key} not listed: {out:?}");
    }
    assert!(!dir.exists(), "a failed install wrote {}", dir.display());
    let js = install(&bundle, &keys, &["--dir", s(&dir), "--yes", "--json"]);
    let missing: Vec<String> = js.json()["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        missing,
        ["hubs.staging.oauth_client_id", "hubs.prod.oauth_client_id"]
    );

    // The template lists every question; filled in, it installs.
    let tpl = install(&bundle, &keys, &["--print-answers-template"]);
    assert_eq!(tpl.code, 0, "{tpl:?}");
    assert!(
        tpl.stdout.contains("oauth_client_id: \"\""),
        "{}",
        tpl.stdout
    );
    assert!(
        tpl.stdout
            .contains("domain: \"staging.example-community.org\""),
        "{}",
        tpl.stdout
    );
    let filled = tpl
        .stdout
        .replace("oauth_client_id: \"\"", "oauth_client_id: \"keep\"")
        .replace("dir: \"example-local\"", &format!("dir: {:?}", s(&dir)));
    let answers = t.path().join("answers.yaml");
    write(&answers, &filled);
    // --dry-run shows the plan and writes nothing.
    let dry = install(
        &bundle,
        &keys,
        &["--answers", s(&answers), "--dry-run", "--json"],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    let steps = dry.json()["plan"]["steps"].as_array().unwrap().len();
    assert!(steps >= 6, "{dry:?}");
    assert!(!dir.exists(), "--dry-run wrote {}", dir.display());
    let out = install(&bundle, &keys, &["--answers", s(&answers), "--yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(dir.join("NEXT-STEPS.md").is_file());

    // A hostile answer is refused, naming the key.
    write(
        &answers,
        "hubs:\n  prod:\n    domain: \"x.org\\\"\\n  evil: 1\"\n",
    );
    let out = install(
        &bundle,
        &keys,
        &[
            "--answers",
            s(&answers),
            "--dir",
            s(&t.path().join("d2")),
            "--yes",
        ],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("hubs.prod.domain"), "{out:?}");
    // An unverifiable bundle is never installed.
    let other = common::keys();
    let out = install(&bundle, &other, &["--answers", s(&answers), "--dry-run"]);
    assert_eq!(out.code, 3, "{out:?}");
}

#[test]
fn killed_install_resumes_to_the_same_result() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let homes = t.path().join("homes");
    let made = run(Command::new("python3")
        .arg(shared("bench/make-homes.py"))
        .arg(&homes)
        .args(["--size-mib", "120", "--hubs", "staging,prod"]));
    assert_eq!(made.code, 0, "{made:?}");
    let bundle = t.path().join("b.tar");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--homes", s(&homes), "--quiet"],
    );
    let answers = t.path().join("answers.yaml");
    write(
        &answers,
        "hubs:\n  staging: {oauth_client_id: keep}\n  prod: {oauth_client_id: keep}\n",
    );
    let cmd = |dir: &Path| {
        let mut c = Command::new(R2R);
        c.args([
            "install",
            s(&bundle),
            "--pubkey",
            s(&keys.public),
            "--answers",
            s(&answers),
        ])
        .args(["--dir", s(dir), "--yes", "--quiet"]);
        c
    };
    let whole = t.path().join("whole");
    let out = run(&mut cmd(&whole));
    assert_eq!(out.code, 0, "{out:?}");

    let killed = t.path().join("killed");
    let mut child = cmd(&killed).spawn().unwrap();
    // Kill it once the homes are being written, with a real SIGKILL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let files = count_files(&killed.join("homes"));
        if files > 20 || std::time::Instant::now() > deadline {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            panic!("the install finished before it could be killed; make the homes bigger");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the install was not interrupted");
    // Without --resume it refuses; with it, it finishes.
    let out = run(&mut cmd(&killed));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--resume"), "{out:?}");
    let out = run(cmd(&killed).arg("--resume"));
    assert_eq!(out.code, 0, "{out:?}");
    for sub in ["homes", "config", "terraform", "charts"] {
        assert_eq!(
            digest(&killed.join(sub)),
            digest(&whole.join(sub)),
            "{sub} differs"
        );
    }
    let cmp = verify_restored(&bundle, &keys, &killed.join("homes"));
    assert_eq!(cmp.code, 0, "{cmp:?}");
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

/// Each shared cluster: export with generated homes, install locally.
#[test]
fn local_install_of_each_real_cluster() {
    for (cluster, hubs) in [
        ("2i2c-uk", ["staging", "lis"]),
        ("nasa-cryo", ["staging", "prod"]),
        ("utoronto", ["staging", "prod"]),
    ] {
        let t = tempfile::tempdir().unwrap();
        let keys = keys();
        let homes = t.path().join("homes");
        let made = run(Command::new("python3")
            .arg(shared("bench/make-homes.py"))
            .arg(&homes)
            .args(["--size-mib", "4", "--hubs", &hubs.join(",")]));
        assert_eq!(made.code, 0, "{made:?}");
        let bundle = t.path().join("b.tar");
        export(
            &shared_infra(),
            cluster,
            &keys,
            &bundle,
            &[
                "--hub",
                hubs[0],
                "--hub",
                hubs[1],
                "--homes",
                s(&homes),
                "--quiet",
            ],
        );
        let tpl = install(&bundle, &keys, &["--print-answers-template"]);
        assert_eq!(tpl.code, 0, "{cluster}: {tpl:?}");
        // 2i2c's domains are in its DNS zone: the template leaves them
        // empty; NASA's are its own and are offered as they are.
        let owned = cluster == "nasa-cryo";
        assert_eq!(
            tpl.stdout.contains("domain: \"\""),
            !owned,
            "{cluster}: {}",
            tpl.stdout
        );
        // The home page repository the hubs clone at start is the
        // provider's: asked per hub, the current one offered.
        assert!(
            tpl.stdout
                .contains("homepage_repo: \"https://github.com/2i2c-org/default-hub-homepage\""),
            "{cluster}: {}",
            tpl.stdout
        );
        let dir = t.path().join("replica");
        let mut n = 0;
        let mut forks = 0;
        let filled: String = tpl
            .stdout
            .replace("oauth_client_id: \"\"", "oauth_client_id: \"keep\"")
            .lines()
            .map(|l| {
                // The first hub moves to the community's fork; the second
                // keeps the provider's.
                if l.trim_start().starts_with("homepage_repo:") && forks == 0 {
                    forks += 1;
                    l.replace(
                        "https://github.com/2i2c-org/default-hub-homepage",
                        "https://github.com/community/hub-homepage",
                    )
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                &format!("dir: \"{cluster}-local\""),
                &format!("dir: {:?}", s(&dir)),
            )
            .lines()
            .map(|l| match l.split_once("domain: ") {
                Some((indent, _)) if indent.trim().is_empty() => {
                    n += 1;
                    let d = if n == 1 { "one" } else { "two" };
                    format!("{indent}domain: \"{d}.community.example\"\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        assert_eq!(n, 2, "{cluster}");
        let answers = t.path().join("answers.yaml");
        write(&answers, &filled);
        let out = install(&bundle, &keys, &["--answers", s(&answers), "--yes"]);
        assert_eq!(out.code, 0, "{cluster}: {out:?}");
        let cmp = verify_restored(&bundle, &keys, &dir.join("homes"));
        assert_eq!(cmp.code, 0, "{cluster}: {cmp:?}");
        assert!(cmp.json()["homes"].as_u64().unwrap() > 0);
        let values = body(&dir.join("config").join(hubs[0]).join("values.yaml"));
        assert!(values.contains("one.community.example"), "{cluster}");
        assert!(
            values.contains("\"gitRepoUrl\": \"https://github.com/community/hub-homepage\""),
            "{cluster}: the fork is not in the values"
        );
        let second = body(&dir.join("config").join(hubs[1]).join("values.yaml"));
        assert!(
            second.contains("\"gitRepoUrl\": \"https://github.com/2i2c-org/default-hub-homepage\""),
            "{cluster}: the kept repository changed"
        );
        let old = if owned {
            "staging.hub.cryointhecloud.com"
        } else {
            ".2i2c.cloud\""
        };
        assert!(!values.contains(old), "{cluster}: the old domain is left");
        // A workspace for the source's cloud (kubeconfig clusters have none).
        if cluster != "utoronto" {
            terraform_fmt(&dir.join("terraform"));
            assert_module_contract(&dir.join("terraform"));
        }
    }
}

#[test]
fn drill_on_the_example_passes_and_reports() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("drill");
    let out =
        run(Command::new(R2R)
            .current_dir(project())
            .args(["drill", "--work", s(&work), "--json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(r["ok"], true);
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["keygen", "export", "verify", "install", "check", "compare"]
    );
    // The replica check ran on the replica and says what it did not check
    // (this test has no helm on PATH: nothing was rendered).
    assert_eq!(r["check"]["passed"], true, "{r:#}");
    assert!(
        r["check"]["check"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("not rendered")),
        "{r:#}"
    );
    assert_eq!(r["homes"], 4);
    assert_eq!(r["images"], 1);
    assert_eq!(r["hubs"], serde_json::json!(["staging", "prod"]));
    assert!(r["differences"].as_array().unwrap().is_empty());
    let md = std::fs::read_to_string(work.join("drill-report.md")).unwrap();
    assert!(
        md.contains("PASSED")
            && md.contains("Recovery time")
            && md.contains("## Replica check")
            && md.contains("not rendered: no `helm` on PATH"),
        "{md}"
    );
    // A damaged replica is a failed drill: the compare phase sees it.
    let victim = work.join("replica/homes/prod/jovyan/data/table.csv");
    std::fs::write(&victim, "tampered\n").unwrap();
    let keys_pub = work.join("keys/r2r.pub");
    let cmp = r2r(&[
        "verify",
        s(&work.join("example.r2r.tar")),
        "--pubkey",
        s(&keys_pub),
        "--restored",
        s(&work.join("replica/homes")),
    ]);
    assert_eq!(cmp.code, 4, "{cmp:?}");
    // The scratch directory is never reused.
    let again = run(Command::new(R2R)
        .current_dir(project())
        .args(["drill", "--work", s(&work)]));
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("not empty"), "{again:?}");
}
