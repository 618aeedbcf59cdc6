//! NEXT-STEPS.md works when pasted: fixture clusters exported and
//! installed to a cloud without --apply, then the shell block of their
//! NEXT-STEPS.md run with `bash -e`. terraform, helm, kubectl, aws, gcloud,
//! az and docker are RECORDING STAND-INS (tests/fixtures/stand-in.py, first
//! on PATH); age and r2r are the real ones. The calls are checked for their
//! order, that every path they name existed when they ran, and that no
//! secret is in any argument.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value as Json, json};

const SECRET: &str = "oauth-secret-for-next-steps";

fn stand_ins(dir: &Path) -> PathBuf {
    let bin = dir.join("stand-in-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "terraform",
        "helm",
        "kubectl",
        "aws",
        "gcloud",
        "az",
        "docker",
    ] {
        std::os::unix::fs::symlink(project().join("tests/fixtures/stand-in.py"), bin.join(tool))
            .unwrap();
    }
    // The real r2r, as the person who ran the install has it.
    std::os::unix::fs::symlink(R2R, bin.join("r2r")).unwrap();
    bin
}

/// The answers template of `bundle` for `target`, filled in: the cloud's
/// own answers, a domain for every hub and a new OAuth client with a
/// secret from the environment.
fn answers(bundle: &Path, keys: &Keys, target: &str, cloud: Json, dir: &Path, id: &Path) -> Json {
    let out = r2r(&[
        "install",
        s(bundle),
        "--pubkey",
        s(&keys.public),
        "--print-answers-template",
        "--target",
        target,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text =
        r2r::values::tree::to_json(&r2r::values::tree::parse_yaml(&out.stdout).unwrap()).unwrap();
    let mut a: Json = text;
    for (k, v) in cloud.as_object().unwrap() {
        a[k] = v.clone();
    }
    a["dir"] = json!(s(dir));
    a["age_identity"] = json!(s(id));
    a["acme_email"] = json!("ops@example.org");
    let hubs: Vec<String> = a["hubs"].as_object().unwrap().keys().cloned().collect();
    for h in &hubs {
        let hub = &mut a["hubs"][h];
        hub["domain"] = json!(format!("{h}.hubs.example.org"));
        if hub.get("oauth_client_id").is_some() {
            hub["oauth_client_id"] = json!(format!("client-{h}"));
            hub["oauth_client_secret"] = json!("env:R2R_TEST_OAUTH");
        }
    }
    a
}

/// The first ```sh block of NEXT-STEPS.md.
fn shell_block(next: &str) -> String {
    let start = next.find("```sh\n").expect("no shell block") + 6;
    let len = next[start..].find("```").expect("unclosed shell block");
    next[start..start + len].to_owned()
}

fn calls(log: &Path) -> Vec<Json> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn line(c: &Json) -> String {
    let mut v = vec![c["tool"].as_str().unwrap().to_owned()];
    v.extend(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    v.join(" ")
}

/// The index of the first call starting with `prefix`.
fn first(lines: &[String], prefix: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix:?}: {lines:#?}"))
}

/// Installs `cluster` to `target` without --apply, runs its NEXT-STEPS.md
/// block and checks the calls; returns the temporary directory (the
/// workspace is `workspace/` in it) and the answers.
fn pasted(
    cluster: &str,
    target: &str,
    cloud: Json,
    credentials: &str,
) -> (tempfile::TempDir, Json) {
    require("age-keygen", "age");
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = t.path().join(format!("{cluster}.tar"));
    let mut extra = vec!["--quiet".to_owned()];
    if cluster == "hhmi" {
        extra.extend(hhmi_allowances());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    export(&shared_infra(), cluster, &keys, &bundle, &extra);
    let id = t.path().join("community.age");
    assert_eq!(run(Command::new("age-keygen").arg("-o").arg(&id)).code, 0);
    let dir = t.path().join("workspace");
    let a = answers(&bundle, &keys, target, cloud, &dir, &id);
    let answers_file = t.path().join("answers.json");
    std::fs::write(&answers_file, a.to_string()).unwrap();
    let bin = stand_ins(t.path());
    let log = t.path().join("calls.jsonl");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers_file), "--yes"])
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_TEST_OAUTH", SECRET));
    assert_eq!(out.code, 0, "{cluster}: {out:?}");
    assert!(
        calls(&log).is_empty(),
        "{cluster}: a tool ran without --apply"
    );
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    // The blockers come first, naming each hub's domain and callback.
    let blockers = next.find("## Blockers").expect("no blockers section");
    assert!(blockers < next.find("```sh").unwrap(), "{next}");
    for h in a["hubs"].as_object().unwrap().keys() {
        assert!(next.contains(&format!("{h}.hubs.example.org")), "{next}");
    }
    assert!(!next.contains(SECRET));
    if a.to_string().contains("env:R2R_TEST_OAUTH") {
        assert!(
            next.contains("set R2R_TEST_OAUTH in the shell first"),
            "{next}"
        );
    }

    // Pasted into a shell from elsewhere: the block's `cd` makes it work.
    let script = t.path().join("next-steps.sh");
    std::fs::write(&script, shell_block(&next)).unwrap();
    let pasted = run(Command::new("bash")
        .arg("-e")
        .arg(&script)
        .current_dir(t.path())
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_TEST_OAUTH", SECRET));
    assert_eq!(
        pasted.code, 0,
        "{cluster}: the pasted block failed: {pasted:?}"
    );
    let c = calls(&log);
    let lines: Vec<String> = c.iter().map(line).collect();
    let order = [
        first(&lines, state_bucket_prefix(target)),
        first(&lines, "terraform -chdir=terraform init"),
        first(&lines, "terraform -chdir=terraform plan"),
        first(&lines, "terraform -chdir=terraform apply"),
        first(&lines, credentials),
        first(&lines, "helm upgrade --install"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{cluster}: calls out of order {order:?}: {lines:#?}"
    );
    // One release per hub, after the cluster layer's two (cert-manager,
    // then support) on every cloud target.
    let hubs = a["hubs"].as_object().unwrap().len();
    let upgrades: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("helm upgrade --install"))
        .collect();
    assert_eq!(upgrades.len(), hubs + 2, "{cluster}: {lines:#?}");
    assert!(
        upgrades[0].starts_with("helm upgrade --install cert-manager ")
            && upgrades[1].starts_with("helm upgrade --install support "),
        "{cluster}: the cluster layer goes first: {lines:#?}"
    );
    let ws = std::fs::canonicalize(&dir).unwrap();
    for call in &c {
        let l = line(call);
        assert!(
            !l.contains(SECRET),
            "{cluster}: a secret in an argument: {l}"
        );
        for (p, existed) in call["paths"].as_object().unwrap() {
            assert_eq!(existed, true, "{cluster}: {l}: {p} did not exist");
        }
        if call["tool"] == "helm" {
            assert_eq!(call["cwd"], s(&ws));
            let release = call["args"][2].as_str().unwrap_or_default();
            let cluster_layer = release == "cert-manager" || release == "support";
            for (f, v) in call["files"].as_object().unwrap() {
                assert_eq!(v["exists"], true, "{cluster}: {l}: {f}");
                let text = v["text"].as_str().unwrap();
                assert!(!text.contains("set from: terraform output"), "{f}: {text}");
            }
            if cluster_layer {
                continue;
            }
            let overlay = call["files"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(f, _)| f.ends_with("overlay.yaml"))
                .expect("helm got no overlay");
            assert!(
                overlay.1["text"].as_str().unwrap().contains("@stand-in"),
                "{cluster}: terraform's outputs are not in {}",
                overlay.0
            );
        }
    }
    (t, a)
}

fn state_bucket_prefix(target: &str) -> &'static str {
    match target {
        "aws" => "aws s3 mb s3://",
        "gcp" => "gcloud storage buckets create gs://",
        _ => "az storage account create",
    }
}

#[test]
fn nasa_cryo_to_aws_runs_when_pasted() {
    let _ = pasted(
        "nasa-cryo",
        "aws",
        json!({"aws": {"account_id": "123456789012", "region": "us-west-2", "cluster_name": "cryo"}}),
        "aws eks update-kubeconfig --region us-west-2 --name cryo",
    );
}

#[test]
fn uk_to_gcp_runs_when_pasted() {
    let _ = pasted(
        "2i2c-uk",
        "gcp",
        json!({"gcp": {"project": "community-proj", "region": "europe-west2", "zone": "europe-west2-b", "cluster_name": "uk"}}),
        "gcloud container clusters get-credentials uk",
    );
}

#[test]
fn utoronto_to_azure_runs_when_pasted() {
    let _ = pasted(
        "utoronto",
        "azure",
        json!({"azure": {"subscription_id": "00000000-0000-0000-0000-000000000000", "location": "canadacentral", "cluster_name": "utoronto"}}),
        "az aks get-credentials",
    );
}

/// Every fixture cluster to its own cloud (utoronto, `kubeconfig` on Azure,
/// to Azure), the cluster keeping its name: NEXT-STEPS.md runs when
/// pasted, and each bucket of the source's tfvars is the community's own.
/// No hub value still names a source bucket the new cluster has, each new
/// bucket goes only to the hubs that owned it, and no default new name is
/// the provider's.
#[test]
fn every_fixture_cluster_runs_when_pasted_with_its_own_buckets() {
    let infra = shared_infra();
    let mut buckets_seen = 0;
    for cluster in fixture_clusters() {
        let spec =
            std::fs::read_to_string(infra.join(format!("config/clusters/{cluster}/cluster.yaml")))
                .unwrap();
        let (target, cloud, credentials) = if spec.contains("provider: aws") {
            (
                "aws",
                json!({"aws": {"account_id": "123456789012"}}),
                "aws eks update-kubeconfig",
            )
        } else if spec.contains("provider: gcp") {
            (
                "gcp",
                json!({"gcp": {"project": "community-proj"}}),
                "gcloud container clusters get-credentials",
            )
        } else {
            (
                "azure",
                json!({"azure": {"subscription_id": "00000000-0000-0000-0000-000000000000"}}),
                "az aks get-credentials",
            )
        };
        let (t, a) = pasted(&cluster, target, cloud, credentials);
        let dir = t.path().join("workspace");
        let tf = std::fs::read_to_string(
            infra.join(format!("terraform/{target}/projects/{cluster}.tfvars")),
        );
        let Ok(tf) = tf else { continue };
        let src: Json = serde_json::to_value(hcl::from_str::<hcl::Value>(&tf).unwrap()).unwrap();
        let prefix = src["cluster_name"]
            .as_str()
            .or(src["prefix"].as_str())
            .unwrap_or_default()
            .to_owned();
        let Some(user) = src["user_buckets"].as_object() else {
            continue;
        };
        let hubs: Vec<String> = a["hubs"].as_object().unwrap().keys().cloned().collect();
        let new: Json = serde_json::to_value(
            hcl::from_str::<hcl::Value>(
                &std::fs::read_to_string(dir.join("terraform/terraform.tfvars")).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        for (key, b) in user {
            let old = format!("{prefix}-{key}");
            let owner = b["tags"]["2i2c:hub-name"].as_str();
            let got = &new["buckets"][key];
            if owner.is_some_and(|o| !hubs.iter().any(|h| h == o)) {
                continue;
            }
            buckets_seen += 1;
            let name = got["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{cluster}: no bucket {key}: {new}"));
            assert_ne!(name, old, "{cluster}: the default is the provider's name");
            if let Some(o) = owner {
                let given: Vec<&str> = got["hubs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap())
                    .collect();
                assert!(
                    given.contains(&o),
                    "{cluster}: {key} not given to {o}: {given:?}"
                );
            }
            for h in &hubs {
                let values =
                    std::fs::read_to_string(dir.join(format!("config/{h}/values.yaml"))).unwrap();
                for scheme in ["s3", "gs"] {
                    for end in ["/", "\""] {
                        let stale = format!("{scheme}://{old}{end}");
                        assert!(
                            !values.contains(&stale),
                            "{cluster}: hub {h} still names {stale}"
                        );
                    }
                }
            }
        }
    }
    // nasa-cryo, 2i2c-aws-us, maap, opensci, awi-ciroh, ucec, hhmi, … have buckets.
    assert!(buckets_seen >= 10, "only {buckets_seen} buckets checked");
}

/// The example community (images, homes) to AWS: the pasted block logs in
/// to the registry with the token piped into `docker login
/// --password-stdin` (never an argument), before r2r pushes; r2r's resume
/// then pushes to the real registry, uploads the bundle to the real S3
/// server (moto) and applies the restore Jobs after helm.
#[test]
fn the_registry_login_is_piped_and_precedes_the_push() {
    require("age-keygen", "age");
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let moto = s3::moto();
    moto.bucket("r2r-bundle");
    let registry = registry::start(false);
    let id = t.path().join("community.age");
    assert_eq!(run(Command::new("age-keygen").arg("-o").arg(&id)).code, 0);
    let dir = t.path().join("workspace");
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "target: aws\ndir: {dir:?}\naws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: example}}\n\
             age_identity: {id:?}\nacme_email: ops@example.org\nregistry: {}/hub-images\nbundle_url: {:?}\nrestore_image: r2r:test\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: new-id, oauth_client_secret: env:R2R_TEST_OAUTH}}\n",
            registry.host,
            moto.url("r2r-bundle/pasted"),
        ),
    )
    .unwrap();
    let bin = stand_ins(t.path());
    let log = t.path().join("calls.jsonl");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--yes"])
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_TEST_OAUTH", SECRET)
        .envs(s3::ENV));
    assert_eq!(out.code, 0, "{out:?}");
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    assert!(next.contains("The images are not in"), "{next}");
    let script = t.path().join("next-steps.sh");
    std::fs::write(&script, shell_block(&next)).unwrap();
    let pasted = run(Command::new("bash")
        .arg("-e")
        .arg(&script)
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_TEST_OAUTH", SECRET)
        .envs(s3::ENV));
    assert_eq!(pasted.code, 0, "the pasted block failed: {pasted:?}");
    let c = calls(&log);
    let lines: Vec<String> = c.iter().map(line).collect();
    let login = c
        .iter()
        .find(|c| c["tool"] == "docker")
        .unwrap_or_else(|| panic!("no docker login: {lines:#?}"));
    assert_eq!(
        login["stdin_secret"], true,
        "the token did not come on stdin"
    );
    assert_eq!(
        line(login),
        format!(
            "docker login --username AWS --password-stdin {}",
            registry.host
        )
    );
    let order = [
        first(&lines, "terraform -chdir=terraform apply"),
        first(&lines, "aws eks update-kubeconfig"),
        first(&lines, "aws ecr get-login-password --region us-west-2"),
        first(&lines, "docker login"),
        first(&lines, "helm upgrade --install"),
        first(&lines, "kubectl apply -f kubernetes/restore-homes-"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order {order:?}: {lines:#?}"
    );
    for l in &lines {
        assert!(
            !l.contains(SECRET) && !l.contains("stand-in-registry-token"),
            "a secret in an argument: {l}"
        );
    }
    // r2r pushed the image and uploaded the bundle.
    let mapping: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("images-mapping.json")).unwrap())
            .unwrap();
    let m = &mapping["images"][0];
    assert_eq!(
        registry::remote_digest(m["to"].as_str().unwrap(), None),
        m["digest"].as_str().unwrap()
    );
    let list = moto.raw(
        "GET",
        "/r2r-bundle?list-type=2&prefix=pasted/&max-keys=1000",
        &[],
        b"",
    );
    assert!(
        list.contains("<Key>pasted/SHA256SUMS.minisig</Key>"),
        "{list}"
    );
}

/// On an existing cluster (no terraform, no buckets made), the blockers say
/// the values still name the provider's buckets, by name.
#[test]
fn on_an_existing_cluster_the_providers_buckets_are_a_blocker() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = t.path().join("nasa-cryo.tar");
    export(&shared_infra(), "nasa-cryo", &keys, &bundle, &["--quiet"]);
    let id = t.path().join("community.age");
    assert_eq!(run(Command::new("age-keygen").arg("-o").arg(&id)).code, 0);
    let dir = t.path().join("kube");
    let a = answers(
        &bundle,
        &keys,
        "kubeconfig",
        json!({"kubeconfig": {"context": "mine"}}),
        &dir,
        &id,
    );
    let answers_file = t.path().join("answers.json");
    std::fs::write(&answers_file, a.to_string()).unwrap();
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers_file), "--yes"])
        .env("R2R_TEST_OAUTH", SECRET));
    assert_eq!(out.code, 0, "{out:?}");
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    let blockers = &next[..next.find("## Commands").unwrap()];
    assert!(
        blockers.contains("still name the provider's buckets")
            && blockers.contains("nasa-cryo-scratch-staging"),
        "{next}"
    );
}
