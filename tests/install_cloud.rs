//! The cloud targets, which cannot reach a real cloud here. terraform,
//! helm and kubectl are RECORDING STAND-INS (tests/fixtures/stand-in.py, put
//! first on PATH): the tests check the exact invocations up to the process
//! boundary, never that a cluster was made. The bundle upload goes to the
//! real S3 server (moto) and the image push to a real registry.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use r2r::values::tree::{self, KeyPath, Values};
use r2r::values::validate::Z2jh;

/// A bin directory whose terraform, helm and kubectl are the stand-in.
fn stand_ins(dir: &Path) -> PathBuf {
    let bin = dir.join("stand-in-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["terraform", "helm", "kubectl"] {
        std::os::unix::fs::symlink(project().join("tests/fixtures/stand-in.py"), bin.join(tool))
            .unwrap();
    }
    bin
}

fn age_identity(dir: &Path) -> PathBuf {
    require("age-keygen", "age");
    let p = dir.join("community.age");
    let out = run(Command::new("age-keygen").arg("-o").arg(&p));
    assert_eq!(out.code, 0, "{out:?}");
    p
}

/// Installs the example community's bundle to `target` in `dir`, its
/// OAuth clients kept, from an answers file written beside `dir`.
fn install_example(
    bundle: &Path,
    keys: &Keys,
    identity: &Path,
    target: &str,
    extra: &str,
    dir: &Path,
) -> Run {
    let answers = dir.with_extension("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "target: {target}\ndir: {dir:?}\n{extra}age_identity: {identity:?}\nrestore_image: r2r:test\nacme_email: admin@example.org\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: keep}}\n"
        ),
    )
    .unwrap();
    r2r(&[
        "install",
        s(bundle),
        "--pubkey",
        s(&keys.public),
        "--answers",
        s(&answers),
        "--yes",
    ])
}

/// The calls that act on a cloud: `helm template` (the replica check's
/// offline rendering, which every install runs) is left out.
fn calls(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|c| !(c["tool"] == "helm" && c["args"][0] == "template"))
        .collect()
}

fn argv(c: &serde_json::Value) -> Vec<String> {
    let mut v = vec![c["tool"].as_str().unwrap().to_owned()];
    v.extend(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    v
}

/// The overlay adds no z2jh schema violation to the hub's values.
fn overlay_keeps_schema(dir: &Path, hub: &str, root: &str) {
    let z2jh = Z2jh::load(&project().join("../shared/fixtures/z2jh-4.x")).unwrap();
    let read = |f: &str| -> Values {
        tree::parse_yaml(&std::fs::read_to_string(dir.join("config").join(hub).join(f)).unwrap())
            .unwrap()
    };
    let base = read("values.yaml");
    let mut merged = base.clone();
    r2r::values::merge::layer(&mut merged, read("overlay.yaml"));
    let at = if root.is_empty() {
        KeyPath::root()
    } else {
        KeyPath::root().key(root)
    }
    .key("jupyterhub");
    let section = |v: &Values| tree::get(v, &at).cloned().expect("no jupyterhub section");
    let before = z2jh.check(&section(&base), &at);
    let after = z2jh.check(&section(&merged), &at);
    let new: Vec<_> = after.iter().filter(|v| !before.contains(v)).collect();
    assert!(
        new.is_empty(),
        "hub {hub}: the overlay breaks the z2jh schema: {new:?}"
    );
    assert!(tree::get(&merged, &at.key("ingress").key("enabled")).is_some());
}

fn terraform_checks(ws: &Path) {
    require(
        "terraform",
        "terraform (HashiCorp's release; not in Debian)",
    );
    let out = run(Command::new("/usr/bin/env")
        .env("PATH", std::env::var("PATH").unwrap())
        .args(["terraform", "fmt", "-check", "-recursive", s(ws)]));
    assert_eq!(out.code, 0, "terraform fmt -check: {out:?}");
    for f in ["terraform.tfvars", "backend.tf"] {
        let text = std::fs::read_to_string(ws.join(f)).unwrap();
        hcl::parse(&text).unwrap_or_else(|e| panic!("{f} is not HCL: {e}"));
    }
}

#[test]
fn aws_target_renders_then_applies_through_stand_ins_s3_and_a_registry() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let moto = s3::moto();
    moto.bucket("r2r-bundle");
    let registry = registry::start(false);
    let bin = stand_ins(t.path());
    let log = t.path().join("stand-in.log");
    let identity = age_identity(t.path());
    let dir = t.path().join("workspace");
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "target: aws\ndir: {dir:?}\naws:\n  account_id: \"123456789012\"\n  region: us-west-2\n  cluster_name: example\n\
             age_identity: {identity:?}\nregistry: {}/hub-images\nbundle_url: {:?}\nrestore_image: ghcr.io/example/r2r:0.1\nacme_email: admin@example.org\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: new-id, oauth_client_secret: env:OAUTH_SECRET}}\n",
            registry.host,
            moto.url("r2r-bundle/drill"),
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let install = |extra: &[&str]| {
        let mut c = Command::new(R2R);
        c.args([
            "install",
            s(&bundle),
            "--pubkey",
            s(&keys.public),
            "--answers",
            s(&answers),
            "--yes",
        ])
        .args(extra)
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_STAND_IN_HUBS", "staging,prod")
        .env("OAUTH_SECRET", "oauth-hunter2");
        for (k, v) in s3::ENV {
            c.env(k, v);
        }
        run(&mut c)
    };

    // Without --apply: a workspace and the commands, no tool is run.
    let out = install(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        calls(&log).is_empty(),
        "a tool ran without --apply: {:?}",
        calls(&log)
    );
    terraform_checks(&dir.join("terraform"));
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    for cmd in [
        "aws s3 mb s3://123456789012-r2r-tfstate",
        "terraform -chdir=terraform init -input=false",
        "terraform -chdir=terraform apply -input=false r2r.tfplan",
        "helm upgrade --install prod charts/daskhub --namespace prod --create-namespace",
        "age -d -i",
        "kubectl apply -f kubernetes/restore-homes-prod.yaml",
        "--resume --apply",
        "aws ecr get-login-password --region us-west-2 | docker login --username AWS --password-stdin 127.0.0.1:",
        "## Blockers",
    ] {
        assert!(next.contains(cmd), "NEXT-STEPS.md lacks {cmd:?}:\n{next}");
    }
    assert!(!next.contains("oauth-hunter2"));
    // The order that works: terraform, then the cluster's credentials,
    // then r2r (which fills in terraform's outputs) before any helm.
    let at = |s: &str| next.find(s).unwrap_or_else(|| panic!("no {s:?}:\n{next}"));
    assert!(at("terraform -chdir=terraform apply") < at("aws eks update-kubeconfig"));
    assert!(at("aws eks update-kubeconfig") < at("--resume --apply"));
    assert!(at("--resume --apply") < at("helm upgrade --install"));
    // Secrets are sealed in the workspace, and open with stock age.
    let sealed = dir.join("config/prod/secret-values.yaml.age");
    let opened = run(Command::new("age").args(["-d", "-i", s(&identity), s(&sealed)]));
    assert_eq!(opened.code, 0, "{opened:?}");
    assert!(opened.stdout.contains("oauth-hunter2") && opened.stdout.contains("new-id"));
    assert!(!dir.join("config/prod/secret-values.yaml").exists());
    overlay_keeps_schema(&dir, "prod", "basehub");
    overlay_keeps_schema(&dir, "staging", "");
    let job = std::fs::read_to_string(dir.join("kubernetes/restore-homes-prod.yaml")).unwrap();
    for doc in job.split("\n---\n") {
        tree::parse_yaml(doc).unwrap();
    }
    assert!(
        job.contains("bucketName: \"r2r-bundle\"") && job.contains("\"prefix=drill/\""),
        "{job}"
    );
    assert!(
        job.contains("- \"prod\"") && job.contains("ghcr.io/example/r2r:0.1"),
        "{job}"
    );
    // The values are pinned ahead of the push.
    let values = std::fs::read_to_string(dir.join("config/prod/values.yaml")).unwrap();
    assert!(
        values.contains(&format!(
            "{}/hub-images/jupyter/scipy-notebook",
            registry.host
        )),
        "{values}"
    );

    // --resume --apply: the replica check gates helm. A manifest of an
    // Ingress whose class nothing creates is put in the workspace; the
    // check (helm template through the adapter over Helm's real engine,
    // kubernetes-validate) finds it, and nothing is installed with helm.
    std::fs::write(
        dir.join("kubernetes/odd-ingress.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: odd, namespace: prod}\nspec:\n  ingressClassName: no-such-class\n  rules: [{host: odd.example.org}]\n",
    )
    .unwrap();
    let out = install(&["--resume", "--apply"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("replica check FAILED")
            && out.stderr.contains("no-such-class")
            && out.stderr.contains("--force"),
        "{out:?}"
    );
    assert!(
        !calls(&log).iter().any(|c| c["tool"] == "helm"),
        "helm ran although the check failed"
    );
    // --force: the stand-ins are called, the bundle and images move.
    let out = install(&["--resume", "--apply", "--force"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("--force: installing although"),
        "{out:?}"
    );
    let c = calls(&log);
    let lines: Vec<String> = c.iter().map(|c| argv(c).join(" ")).collect();
    let want = [
        "terraform -chdir=terraform init -input=false",
        "terraform -chdir=terraform plan -input=false -out=r2r.tfplan",
        "terraform -chdir=terraform apply -input=false r2r.tfplan",
        "terraform -chdir=terraform output -json",
        "helm upgrade --install staging charts/basehub --namespace staging --create-namespace --values config/staging/values.yaml --values config/staging/overlay.yaml",
        "kubectl apply -f kubernetes/restore-homes-staging.yaml",
        "kubectl apply -f kubernetes/restore-homes-prod.yaml",
    ];
    let mut at = 0;
    for w in want {
        let found = lines[at..].iter().position(|l| l == w).map(|p| p + at);
        assert!(
            found.is_some(),
            "{w:?} not called in order; calls: {lines:#?}"
        );
        at = found.unwrap_or(at);
    }
    for cc in &c {
        assert_eq!(
            cc["cwd"].as_str().unwrap(),
            s(&std::fs::canonicalize(&dir).unwrap())
        );
    }
    // The charts are complete: Helm is never asked to fetch dependencies,
    // and every archive the charts name is in the install directory.
    assert!(
        !lines.iter().any(|l| l.starts_with("helm dependency")),
        "{lines:#?}"
    );
    for archive in [
        "charts/basehub/charts/jupyterhub-4.3.3.tgz",
        "charts/daskhub/charts/basehub-0.1.0.tgz",
        "charts/basehub/Chart.lock",
    ] {
        assert!(dir.join(archive).is_file(), "{archive} was not copied");
    }
    // Helm got the values, the overlay (with terraform's outputs) and the
    // secrets in a 0600 file that is gone now.
    let upgrade = c
        .iter()
        .find(|c| {
            argv(c)
                .join(" ")
                .starts_with("helm upgrade --install prod charts/daskhub")
        })
        .expect("no helm upgrade for prod");
    let files = upgrade["files"].as_object().unwrap();
    let secret = files
        .iter()
        .find(|(_, f)| {
            f["text"]
                .as_str()
                .is_some_and(|t| t.contains("oauth-hunter2"))
        })
        .expect("helm was not given the secrets");
    assert_eq!(secret.1["mode"], "0o600");
    assert!(
        !Path::new(secret.0).exists(),
        "the secrets' temporary file was left behind"
    );
    assert!(
        files["config/prod/overlay.yaml"]["text"]
            .as_str()
            .unwrap()
            .contains("id-prod@stand-in")
    );
    // The bundle, in its directory form, in the real S3 server: fetched
    // back whole, it verifies.
    let list = moto.raw(
        "GET",
        "/r2r-bundle?list-type=2&prefix=drill/&max-keys=1000",
        &[],
        b"",
    );
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    let keys_up: Vec<&str> = list
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .collect();
    for k in [
        "drill/bundle.json",
        "drill/SHA256SUMS",
        "drill/SHA256SUMS.minisig",
        "drill/homes/prod/_hub.json",
    ] {
        assert!(keys_up.contains(&k), "{k} not uploaded: {keys_up:?}");
    }
    let fetched = t.path().join("fetched");
    let got = run(Command::new("python3")
        .arg(project().join("tests/fixtures/s3-fetch.py"))
        .args([
            &format!("http://127.0.0.1:{}", moto.port),
            "r2r-bundle",
            "drill/",
            s(&fetched),
        ])
        .envs(s3::ENV));
    assert_eq!(got.code, 0, "{got:?}");
    let v = verify(&fetched, &keys.public);
    assert_eq!(v.code, 0, "the uploaded bundle does not verify: {v:?}");
    // The image, in the real registry, with its digest.
    let pinned = std::fs::read_to_string(dir.join("images-mapping.json")).unwrap();
    let mapping: serde_json::Value = serde_json::from_str(&pinned).unwrap();
    let m = &mapping["images"][0];
    assert_eq!(
        registry::remote_digest(m["to"].as_str().unwrap(), None),
        m["digest"].as_str().unwrap()
    );
    assert!(!out.stderr.contains("oauth-hunter2") && !out.stdout.contains("oauth-hunter2"));
    let journal = std::fs::read_to_string(dir.join(".r2r-install/journal.json")).unwrap();
    assert!(!journal.contains("oauth-hunter2"));
}

#[test]
fn every_cloud_blueprint_renders_valid_terraform_and_overlays() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let identity = age_identity(t.path());
    for (target, extra) in [
        (
            "gcp",
            "gcp: {project: community-proj, region: europe-west1}\n",
        ),
        (
            "azure",
            "azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: westeurope}\n",
        ),
        ("kubeconfig", "kubeconfig: {context: my-cluster}\n"),
    ] {
        let dir = t.path().join(target);
        let out = install_example(&bundle, &keys, &identity, target, extra, &dir);
        assert_eq!(out.code, 0, "{target}: {out:?}");
        if target != "kubeconfig" {
            terraform_checks(&dir.join("terraform"));
        } else {
            assert!(!dir.join("terraform").exists());
            let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
            assert!(next.contains("--kube-context my-cluster"), "{next}");
            // Complete charts: Helm installs them as they are.
            assert!(!next.contains("helm dependency"), "{next}");
            assert!(
                next.contains("helm upgrade --install prod charts/daskhub"),
                "{next}"
            );
        }
        overlay_keeps_schema(&dir, "prod", "basehub");
        overlay_keeps_schema(&dir, "staging", "");
        for hub in ["staging", "prod"] {
            let job =
                std::fs::read_to_string(dir.join(format!("kubernetes/restore-homes-{hub}.yaml")))
                    .unwrap();
            for doc in job.split("\n---\n") {
                tree::parse_yaml(doc).unwrap_or_else(|e| panic!("{target} {hub}: {e}\n{job}"));
            }
        }
    }
}

/// Regression: a bundle written before r2r carried complete charts names
/// no `chart_path`; its chart folders lack the dependencies' archives, so
/// the installer must still have Helm fetch them (it had stopped).
#[test]
fn a_bundle_without_complete_charts_still_gets_helm_dependency_build() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = t.path().join("old");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--format", "dir", "--quiet"],
    );
    let manifest = bundle.join("bundle.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for h in m["source"]["hubs"].as_array_mut().unwrap() {
        h.as_object_mut().unwrap().remove("chart_path");
    }
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    common::craft::resign(&bundle, &keys.key, "report.json");
    let identity = age_identity(t.path());
    let dir = t.path().join("kube");
    let out = install_example(
        &bundle,
        &keys,
        &identity,
        "kubeconfig",
        "kubeconfig: {context: c}\n",
        &dir,
    );
    assert_eq!(out.code, 0, "{out:?}");
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    assert!(
        next.contains("helm dependency build charts/daskhub"),
        "{next}"
    );
    assert!(
        next.contains("helm dependency build charts/basehub"),
        "{next}"
    );
    // daskhub's file://../basehub is copied beside it.
    assert!(dir.join("charts/basehub/Chart.yaml").is_file());
}

/// Regression: NEXT-STEPS.md is run after `cd` into the install
/// directory, so an age identity given relative to where the install ran
/// must appear there as an absolute path (it named another file).
#[test]
fn next_steps_names_the_age_identity_by_an_absolute_path() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let identity = age_identity(t.path());
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "target: kubeconfig\ndir: kube\nkubeconfig: {context: c}\nage_identity: community.age\n\
         restore_image: r2r:test\nhubs:\n  staging: {oauth_client_id: keep}\n  \
         prod: {oauth_client_id: new-id, oauth_client_secret: env:OAUTH_SECRET}\n",
    )
    .unwrap();
    let out = run(Command::new(R2R)
        .current_dir(t.path())
        .env("OAUTH_SECRET", "oauth-hunter2")
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--yes"]));
    assert_eq!(out.code, 0, "{out:?}");
    let next = std::fs::read_to_string(t.path().join("kube/NEXT-STEPS.md")).unwrap();
    let wanted = format!("age -d -i {}", identity.display());
    assert!(
        next.contains(&wanted),
        "NEXT-STEPS.md lacks {wanted:?}:\n{next}"
    );
}

/// A source bucket carried in the bundle goes, with --apply, into the real
/// S3 server (moto) under the name the community answered, through the
/// object store's API; the hub that owned it (and only it) has its values
/// pointed at the new bucket, and the terraform variables give it to that
/// hub alone. terraform and helm are the recording stand-ins; the new
/// bucket is made in moto beforehand, as `terraform apply` would.
#[test]
fn a_carried_bucket_is_restored_into_the_answered_bucket_on_aws() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let moto = s3::moto();
    moto.bucket("nasa-cryo-scratch");
    moto.bucket("community-scratch");
    for (key, body) in [
        ("alice/data.csv", &b"a,b\n1,2\n"[..]),
        ("bob/deep/model.bin", &[7u8; 70_000][..]),
    ] {
        let r = moto.raw("PUT", &format!("/nasa-cryo-scratch/{key}"), &[], body);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let bundle = t.path().join("nasa-cryo.tar");
    let spec = format!("scratch={}", moto.url("nasa-cryo-scratch"));
    let r = run(export_cmd(&shared_infra(), "nasa-cryo", &keys.key, &bundle)
        .args(["--bucket", &spec, "--quiet"])
        .envs(s3::ENV));
    assert_eq!(r.code, 0, "{r:?}");
    let identity = age_identity(t.path());
    let bin = stand_ins(t.path());
    let log = t.path().join("stand-in.log");
    let dir = t.path().join("workspace");
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "target: aws\ndir: {dir:?}\naws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: cryo}}\n\
             age_identity: {identity:?}\nacme_email: admin@example.org\nbucket_names: {{scratch: community-scratch}}\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: keep}}\n"
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--yes", "--apply"])
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", &log)
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .envs(s3::ENV));
    assert_eq!(out.code, 0, "{out:?}");
    // The objects, in the bucket with the answered name.
    let list = moto.raw(
        "GET",
        "/community-scratch?list-type=2&prefix=&max-keys=1000",
        &[],
        b"",
    );
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    for k in ["alice/data.csv", "bob/deep/model.bin"] {
        assert!(list.contains(&format!("<Key>{k}</Key>")), "{k}: {list}");
    }
    assert!(list.contains("<Size>70000</Size>"), "{list}");
    // prod owned it: its values name the new bucket; staging keeps its own.
    let values =
        |h: &str| std::fs::read_to_string(dir.join(format!("config/{h}/values.yaml"))).unwrap();
    assert!(
        values("prod")
            .contains("\"SCRATCH_BUCKET\": \"s3://community-scratch/$(JUPYTERHUB_USER)\""),
        "{}",
        values("prod")
    );
    assert!(!values("prod").contains("nasa-cryo-scratch"));
    assert!(
        values("staging").contains("s3://cryo-scratch-staging/$(JUPYTERHUB_USER)"),
        "{}",
        values("staging")
    );
    let tfvars: serde_json::Value = serde_json::to_value(
        hcl::from_str::<hcl::Value>(
            &std::fs::read_to_string(dir.join("terraform/terraform.tfvars")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let b = &tfvars["buckets"];
    assert_eq!(b["scratch"]["name"], "community-scratch");
    assert_eq!(b["scratch"]["hubs"], serde_json::json!(["prod"]));
    assert_eq!(b["scratch-staging"]["hubs"], serde_json::json!(["staging"]));
    assert_eq!(b["r2r-bundle"]["hubs"], serde_json::json!([]));
    // Terraform ran before the restore, helm after the values were written.
    let lines: Vec<String> = calls(&log).iter().map(|c| argv(c).join(" ")).collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "terraform -chdir=terraform apply -input=false r2r.tfplan"),
        "{lines:#?}"
    );
}

/// The hub database on a cloud target: the bundle is uploaded for it, and
/// a Job copies it into z2jh's `hub-db-dir` claim (the sqlite-pvc name when
/// fullnameOverride is z2jh's default ""), checked against the signed
/// sha256, while the hub Deployment is scaled to zero and back.
#[test]
fn the_hub_database_is_restored_by_a_job_while_the_hub_is_scaled_down() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let db = t.path().join("jupyterhub.sqlite");
    let made = run(Command::new("python3").arg("-c").arg(format!(
        "import sqlite3; c = sqlite3.connect({:?}); c.executescript(\"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN); INSERT INTO users VALUES (1, 'ada', 1);\"); c.commit()",
        s(&db)
    )));
    assert_eq!(made.code, 0, "{made:?}");
    let bundle = t.path().join("with-db");
    let spec = format!("prod={}", db.display());
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--format", "dir", "--hub-db", &spec, "--quiet"],
    );
    let identity = age_identity(t.path());
    let dir = t.path().join("aws");
    let moto = s3::moto();
    moto.bucket("r2r-bundle");
    let extra = format!(
        "aws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: example}}\nbundle_url: {:?}\n",
        moto.url("r2r-bundle/with-db")
    );
    let out = install_example(&bundle, &keys, &identity, "aws", &extra, &dir);
    assert_eq!(out.code, 0, "{out:?}");
    let job = std::fs::read_to_string(dir.join("kubernetes/restore-homes-prod.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = job
        .split("\n---\n")
        .map(|d| tree::to_json(&tree::parse_yaml(d).unwrap()).unwrap())
        .collect();
    let restore = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "r2r-restore-hub-db")
        .unwrap_or_else(|| panic!("no hub database Job:\n{job}"));
    let pod = &restore["spec"]["template"]["spec"];
    let claims: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .collect();
    assert_eq!(claims, ["r2r-bundle", "hub-db-dir"], "{job}");
    let want = {
        use sha2::Digest;
        // The member as signed (the export copies the database consistently).
        let member = std::fs::read(bundle.join("hub-db/prod/jupyterhub.sqlite")).unwrap();
        r2r::bundle::digest::hex(&sha2::Sha256::digest(member))
    };
    let script = pod["containers"][0]["args"][0].as_str().unwrap();
    assert!(
        script.contains(&want) && script.contains("/bundle/hub-db/prod/"),
        "{script}"
    );
    // Staging has no database and no homes to restore here: no Job.
    let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
    let at = |s: &str| next.find(s).unwrap_or_else(|| panic!("no {s:?}:\n{next}"));
    assert!(
        at("kubectl scale deployment/hub --replicas=0 --namespace prod")
            < at("kubectl apply -f kubernetes/restore-homes-prod.yaml")
    );
    assert!(
        at("kubectl apply -f kubernetes/restore-homes-prod.yaml")
            < at(
                "kubectl wait --for=condition=complete job/r2r-restore-hub-db --timeout=1h --namespace prod"
            )
    );
    assert!(
        at("job/r2r-restore-hub-db")
            < at("kubectl scale deployment/hub --replicas=1 --namespace prod")
    );
    assert!(next.contains("upload"), "{next}");

    // --resume --apply (terraform, helm, kubectl are recording stand-ins):
    // the database reaches the real S3 server (moto) where the Job reads
    // it, byte for byte the signed member, and the commands run in order.
    let bin = stand_ins(t.path());
    let log = t.path().join("stand-in.log");
    let answers = dir.with_extension("answers.yaml");
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--yes", "--resume", "--apply"])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("R2R_STAND_IN_LOG", &log)
        .env("R2R_STAND_IN_HUBS", "staging,prod")
        .envs(s3::ENV));
    assert_eq!(out.code, 0, "{out:?}");
    let fetched = t.path().join("fetched");
    let got = run(Command::new("python3")
        .arg(project().join("tests/fixtures/s3-fetch.py"))
        .args([
            &format!("http://127.0.0.1:{}", moto.port),
            "r2r-bundle",
            "with-db/",
            s(&fetched),
        ])
        .envs(s3::ENV));
    assert_eq!(got.code, 0, "{got:?}");
    let uploaded = std::fs::read(fetched.join("hub-db/prod/jupyterhub.sqlite"))
        .expect("the hub database was not uploaded to S3");
    let got_sha = {
        use sha2::Digest;
        r2r::bundle::digest::hex(&sha2::Sha256::digest(&uploaded))
    };
    assert_eq!(
        got_sha, want,
        "the uploaded database is not the signed member"
    );
    let lines: Vec<String> = calls(&log).iter().map(|c| argv(c).join(" ")).collect();
    let pos = |w: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(w))
            .unwrap_or_else(|| panic!("{w:?} not called: {lines:#?}"))
    };
    assert!(
        pos("kubectl scale deployment/hub --replicas=0")
            < pos("kubectl apply -f kubernetes/restore-homes-prod.yaml")
            && pos("kubectl apply -f kubernetes/restore-homes-prod.yaml")
                < pos("kubectl wait --for=condition=complete job/r2r-restore-hub-db")
            && pos("kubectl wait") < pos("kubectl scale deployment/hub --replicas=1"),
        "{lines:#?}"
    );
}

/// Regression: with --apply and helm on PATH but no terraform, the hubs
/// were installed with overlays still saying `set from: terraform output`
/// (no home volume). Now the helm step refuses, naming the overlay, and
/// helm is never called.
#[test]
fn helm_never_gets_an_overlay_with_a_terraform_placeholder() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = t.path().join("nasa-cryo.tar");
    export(&shared_infra(), "nasa-cryo", &keys, &bundle, &["--quiet"]);
    let identity = age_identity(t.path());
    // helm and kubectl stand-ins, python3 for them, and no terraform.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["helm", "kubectl"] {
        std::os::unix::fs::symlink(project().join("tests/fixtures/stand-in.py"), bin.join(tool))
            .unwrap();
    }
    let py = run(Command::new("python3").args(["-c", "import sys; print(sys.executable)"]));
    std::os::unix::fs::symlink(py.stdout.trim(), bin.join("python3")).unwrap();
    let log = t.path().join("stand-in.log");
    let dir = t.path().join("ws");
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "target: aws\ndir: {dir:?}\naws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: cryo}}\n\
             age_identity: {identity:?}\nacme_email: admin@example.org\nhubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: keep}}\n"
        ),
    )
    .unwrap();
    let out = run(Command::new(R2R)
        .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
        .args(["--answers", s(&answers), "--yes", "--apply"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("R2R_STAND_IN_LOG", &log));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("terraform output placeholder")
            && out.stderr.contains("overlay.yaml")
            && out.stderr.contains("terraform apply"),
        "{out:?}"
    );
    assert!(
        !calls(&log).iter().any(|c| c["tool"] == "helm"),
        "helm ran: {:?}",
        calls(&log)
    );
}
