//! `r2r export` on the example community and on the three real clusters of
//! the shared 2i2c fixtures: what goes in, byte for byte, and what is refused.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn members(manifest: &serde_json::Value) -> Vec<(String, String)> {
    manifest["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_owned(),
                m["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn manifest_of_dir(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(bundle.join("bundle.json")).unwrap()).unwrap()
}

fn kind_of<'a>(m: &'a [(String, String)], path: &str) -> &'a str {
    m.iter()
        .find(|(p, _)| p == path)
        .map(|(_, k)| k.as_str())
        .unwrap_or_else(|| panic!("{path} is not in the bundle: {m:?}"))
}

/// Every member's bytes are the repository file's bytes.
fn assert_carried(bundle: &Path, repo: &Path, pairs: &[(&str, &str)]) {
    for (member, source) in pairs {
        assert_eq!(
            fs::read(bundle.join(member)).unwrap(),
            fs::read(repo.join(source)).unwrap(),
            "{member} differs from {source}"
        );
    }
}

#[test]
fn example_round_trips_as_tar_and_as_directory() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    for (name, format) in [("example.r2r.tar", "tar"), ("example-dir", "dir")] {
        let out = work.path().join(name);
        let r = export(&example_repo(), "example", &keys, &out, &["--json"]);
        assert_eq!(r.json()["format"], format);
        let v = verify(&out, &keys.public);
        assert_eq!(v.code, 0, "{v:?}");
        assert_eq!(v.json()["ok"], true);
        let i = r2r(&["inspect", s(&out), "--pubkey", s(&keys.public), "--json"]);
        assert_eq!(i.code, 0, "{i:?}");
        let j = i.json();
        assert_eq!(j["signature_verified"], true);
        assert_eq!(j["source"]["cluster"], "example");
        assert_eq!(j["source"]["provider"], "gcp");
        let hubs: Vec<(&str, &str, &str)> = j["source"]["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["name"].as_str().unwrap(),
                    h["domain"].as_str().unwrap(),
                    h["helm_chart"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            hubs,
            [
                ("staging", "staging.example-community.org", "basehub"),
                ("prod", "hub.example-community.org", "daskhub")
            ]
        );
        // Each chart complete, as `helm dependency build` leaves it:
        // basehub with its remote dependencies' archives and a Chart.lock;
        // daskhub with basehub packaged from file://../basehub (and its
        // values.jsonnet symlink carried as the file); support likewise;
        // cert-manager, carried with support, as its repository has it;
        // basehub's two templates (the home-nfs and hub-db-dir claims).
        assert_eq!(j["kinds"]["chart"]["members"], 19);
        assert_eq!(j["kinds"]["infra"]["members"], 1);
        assert_eq!(j["kinds"]["report"]["members"], 1);
    }
    let dir = work.path().join("example-dir");
    let repo = example_repo();
    assert_carried(
        &dir,
        &repo,
        &[
            (
                "config/cluster.yaml",
                "config/clusters/example/cluster.yaml",
            ),
            (
                "config/prod/prod.values.yaml",
                "config/clusters/example/prod.values.yaml",
            ),
            (
                "charts/basehub/values.yaml",
                "helm-charts/basehub/values.yaml",
            ),
            (
                "charts/daskhub/Chart.yaml",
                "helm-charts/daskhub/Chart.yaml",
            ),
            (
                "infra/terraform/gcp/projects/example.tfvars",
                "terraform/gcp/projects/example.tfvars",
            ),
        ],
    );
    let m = manifest_of_dir(&dir);
    let prod = &m["source"]["hubs"][1];
    assert_eq!(
        prod["values_files"],
        serde_json::json!(["config/prod/prod.values.yaml"])
    );
    let daskhub = m["source"]["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "daskhub")
        .unwrap();
    assert_eq!(daskhub["file_dependencies"], serde_json::json!(["basehub"]));
    let mut charts: Vec<String> = members(&m)
        .into_iter()
        .filter(|(p, _)| p.starts_with("charts/"))
        .map(|(p, k)| {
            assert_eq!(k, "chart", "{p}");
            p
        })
        .collect();
    charts.sort();
    assert_eq!(
        charts,
        [
            "charts/basehub/Chart.lock",
            "charts/basehub/Chart.yaml",
            "charts/basehub/charts/dask-gateway-2024.1.0.tgz",
            "charts/basehub/charts/jupyterhub-4.3.3.tgz",
            "charts/basehub/templates/home-nfs.yaml",
            "charts/basehub/templates/hub-db-dir.yaml",
            "charts/basehub/values.jsonnet",
            "charts/basehub/values.yaml",
            "charts/cert-manager/Chart.yaml",
            "charts/cert-manager/templates/standin.yaml",
            "charts/cert-manager/values.yaml",
            "charts/daskhub/Chart.lock",
            "charts/daskhub/Chart.yaml",
            "charts/daskhub/charts/basehub-0.1.0.tgz",
            "charts/daskhub/values.jsonnet",
            "charts/support/Chart.lock",
            "charts/support/Chart.yaml",
            "charts/support/charts/ingress-nginx-4.11.3.tgz",
            "charts/support/values.yaml",
        ]
    );
    let paths: Vec<&str> = m["source"]["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chart_path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["charts/basehub", "charts/daskhub"]);
    assert_eq!(m["source"]["support"]["chart_path"], "charts/support");
    // The archives are the mirror's bytes, and the record says so.
    let jupyterhub = &m["source"]["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "charts/basehub")
        .unwrap()["dependencies"][0];
    assert_eq!(jupyterhub["archive"], "charts/jupyterhub-4.3.3.tgz");
    assert_eq!(
        jupyterhub["digest_checked_against"],
        "the digest in index.yaml"
    );
    assert_eq!(
        fs::read(dir.join("charts/basehub/charts/jupyterhub-4.3.3.tgz")).unwrap(),
        fs::read(
            repo.join("chart-repos/https/jupyterhub.github.io/helm-chart/jupyterhub-4.3.3.tgz")
        )
        .unwrap()
    );
}

#[test]
fn gcp_cluster_2i2c_uk_carries_chart_override_secrets_and_tfvars() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("b");
    export(
        &shared_infra(),
        "2i2c-uk",
        &keys,
        &out,
        &["--format", "dir"],
    );
    assert_eq!(verify(&out, &keys.public).code, 0);
    let m = manifest_of_dir(&out);
    let list = members(&m);
    assert_eq!(kind_of(&list, "config/lis/lis-chart.yaml"), "config");
    assert_eq!(
        kind_of(&list, "secrets/lis/enc-lis.secret.values.yaml"),
        "secret"
    );
    assert_eq!(
        kind_of(&list, "secrets/_support/enc-support.secret.values.yaml"),
        "secret"
    );
    assert_eq!(
        kind_of(&list, "infra/terraform/gcp/projects/2i2c-uk.tfvars"),
        "infra"
    );
    assert_eq!(kind_of(&list, "charts/basehub/values.schema.yaml"), "chart");
    let lis = m["source"]["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "lis")
        .unwrap();
    assert_eq!(lis["domain"], "ds.lis.2i2c.cloud");
    assert_eq!(lis["chart_override"], "config/lis/lis-chart.yaml");
    assert_eq!(
        lis["values_files"],
        serde_json::json!([
            "config/lis/lis.values.yaml",
            "secrets/lis/enc-lis.secret.values.yaml"
        ])
    );
    // Secrets are carried exactly as sealed, never decrypted.
    assert_carried(
        &out,
        &shared_infra(),
        &[(
            "secrets/lis/enc-lis.secret.values.yaml",
            "config/clusters/2i2c-uk/enc-lis.secret.values.yaml",
        )],
    );
    // The provider's deployer credentials are not the community's to carry.
    assert!(
        !list.iter().any(|(p, _)| p.contains("deployer-credentials")),
        "{list:?}"
    );
}

#[test]
fn aws_cluster_nasa_cryo_follows_daskhub_to_basehub_in_merge_order() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("nasa.r2r.tar");
    export(&shared_infra(), "nasa-cryo", &keys, &out, &[]);
    assert_eq!(verify(&out, &keys.public).code, 0);
    let j = r2r(&["inspect", s(&out), "--pubkey", s(&keys.public), "--json"]).json();
    let prod = j["source"]["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "prod")
        .unwrap();
    assert_eq!(
        prod["values_files"],
        serde_json::json!([
            "config/prod/common.values.yaml",
            "secrets/prod/enc-common.secret.values.yaml",
            "config/prod/prod.values.yaml",
            "secrets/prod/enc-prod.secret.values.yaml"
        ])
    );
    let charts: Vec<&str> = j["source"]["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(charts, ["basehub", "cert-manager", "daskhub", "support"]);
    // cert-manager is the repository's archive, its digest checked.
    let cm = j["source"]["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cert-manager")
        .unwrap();
    assert_eq!(cm["path"], "charts/cert-manager");
    assert_eq!(cm["fetched"]["version"], "v1.20.3");
    assert_eq!(cm["fetched"]["repository"], "https://charts.jetstack.io");
    assert_eq!(
        cm["fetched"]["sha256"],
        "86953f253e57dfb641819bc238f2821d2ae69adc9d76609fc4c4cad312fe493b"
    );
    assert_eq!(
        cm["fetched"]["digest_checked_against"],
        "the digest in index.yaml"
    );
    let names: Vec<String> = read_tar(&out).into_iter().map(|(n, _, _)| n).collect();
    assert!(
        names.contains(&"charts/basehub/values.yaml".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"infra/terraform/aws/projects/nasa-cryo.tfvars".to_owned()),
        "{names:?}"
    );
    // The documented order: content grouped config, secrets, charts, infra,
    // report; then bundle.json, SHA256SUMS and the signature last.
    let rank = |n: &str| {
        ["config/", "secrets/", "charts/", "infra/", "report.json"]
            .iter()
            .position(|p| n.starts_with(p))
            .unwrap_or(5)
    };
    let ranks: Vec<usize> = names.iter().map(|n| rank(n)).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    assert_eq!(
        names[names.len() - 3..],
        ["bundle.json", "SHA256SUMS", "SHA256SUMS.minisig"]
    );
}

#[test]
fn kubeconfig_cluster_utoronto_finds_its_azure_tfvars_and_selects_hubs() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let all = work.path().join("all");
    export(
        &shared_infra(),
        "utoronto",
        &keys,
        &all,
        &["--format", "dir"],
    );
    assert_eq!(verify(&all, &keys.public).code, 0);
    let m = manifest_of_dir(&all);
    assert_eq!(m["source"]["provider"], "kubeconfig");
    assert_eq!(m["source"]["hubs"].as_array().unwrap().len(), 5);
    assert_eq!(
        kind_of(
            &members(&m),
            "infra/terraform/azure/projects/utoronto.tfvars"
        ),
        "infra"
    );

    let two = work.path().join("two");
    export(
        &shared_infra(),
        "utoronto",
        &keys,
        &two,
        &["--format", "dir", "--hub", "r-prod", "--hub", "staging"],
    );
    let m = manifest_of_dir(&two);
    let hubs: Vec<&str> = m["source"]["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(hubs, ["r-prod", "staging"]);
    assert!(
        !members(&m)
            .iter()
            .any(|(p, _)| p.starts_with("config/highmem/"))
    );
}

#[test]
fn unknown_hub_and_cluster_are_clear_errors() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("b.tar");
    let args = |cluster: &'static str, hub: &'static str| {
        run(export_cmd(&shared_infra(), cluster, &keys.key, &out).args(["--hub", hub]))
    };
    let r = args("2i2c-uk", "nope");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no hub named `nope`") && r.stderr.contains("staging, lis"),
        "{r:?}"
    );
    let r = args("atlantis", "x");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("cluster `atlantis` not found") && r.stderr.contains("nasa-cryo"),
        "{r:?}"
    );
    assert!(!out.exists());
}

/// A copy of the example repository that a test may damage.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_repo(), dir.path());
    dir
}

fn export_fails(repo: &Path, keys: &Keys) -> Run {
    let out = repo.join("out.tar");
    let r = run(&mut export_cmd(repo, "example", &keys.key, &out));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!out.exists(), "a failed export left {}", out.display());
    let leftovers: Vec<_> = fs::read_dir(repo)
        .unwrap()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "a failed export left temporary files");
    r
}

#[test]
fn a_missing_values_file_is_named() {
    let keys = keys();
    let repo = scratch_repo();
    fs::remove_file(repo.path().join("config/clusters/example/prod.values.yaml")).unwrap();
    let r = export_fails(repo.path(), &keys);
    assert!(
        r.stderr.contains("prod.values.yaml") && r.stderr.contains("does not exist"),
        "{r:?}"
    );
    assert!(r.stderr.contains("hub prod"), "{r:?}");
}

#[test]
fn names_that_escape_the_repository_are_refused() {
    let keys = keys();
    let repo = scratch_repo();
    let cluster = repo.path().join("config/clusters/example/cluster.yaml");
    let text = fs::read_to_string(&cluster).unwrap();
    fs::write(
        &cluster,
        text.replace("- prod.values.yaml", "- ../../../../../../etc/passwd"),
    )
    .unwrap();
    let r = export_fails(repo.path(), &keys);
    assert!(
        r.stderr.contains("etc/passwd") && r.stderr.contains("not a plain relative path"),
        "{r:?}"
    );

    // A symlink inside the repository that points outside it.
    fs::write(&cluster, &text).unwrap();
    let values = repo.path().join("config/clusters/example/prod.values.yaml");
    fs::remove_file(&values).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &values).unwrap();
    let r = export_fails(repo.path(), &keys);
    assert!(r.stderr.contains("outside the repository"), "{r:?}");

    // A symlink inside a chart directory.
    fs::remove_file(&values).unwrap();
    fs::write(&values, "a: 1\n").unwrap();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        repo.path().join("helm-charts/basehub/leak.txt"),
    )
    .unwrap();
    let r = export_fails(repo.path(), &keys);
    assert!(
        r.stderr.contains("leak.txt") && r.stderr.contains("symbolic link"),
        "{r:?}"
    );
}

#[test]
fn a_plaintext_file_named_as_a_secret_is_refused_without_echoing_it() {
    let keys = keys();
    let repo = scratch_repo();
    let dir = repo.path().join("config/clusters/example");
    fs::write(dir.join("enc-prod.secret.values.yaml"), "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_secret: s3cr3t-v4lue-never-shown\n").unwrap();
    let cluster = dir.join("cluster.yaml");
    let text = fs::read_to_string(&cluster).unwrap();
    fs::write(
        &cluster,
        text.replace(
            "  - prod.values.yaml\n",
            "  - prod.values.yaml\n  - enc-prod.secret.values.yaml\n",
        ),
    )
    .unwrap();
    let r = export_fails(repo.path(), &keys);
    assert!(
        r.stderr.contains("enc-prod.secret.values.yaml") && r.stderr.contains("not sops-encrypted"),
        "{r:?}"
    );
    assert!(
        !r.stderr.contains("s3cr3t") && !r.stdout.contains("s3cr3t"),
        "{r:?}"
    );
}

#[test]
fn an_existing_output_is_kept_unless_forced() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("b.tar");
    fs::write(&out, "precious").unwrap();
    let r = run(&mut export_cmd(&example_repo(), "example", &keys.key, &out));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("--force"),
        "{r:?}"
    );
    assert_eq!(fs::read(&out).unwrap(), b"precious");
    export(&example_repo(), "example", &keys, &out, &["--force"]);
    assert_eq!(verify(&out, &keys.public).code, 0);
}

#[test]
fn dry_run_lists_the_plan_and_writes_nothing() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("b.tar");
    let r = export(
        &example_repo(),
        "example",
        &keys,
        &out,
        &["--dry-run", "--json"],
    );
    let plan = r.json();
    let paths: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"charts/basehub/Chart.yaml"), "{paths:?}");
    assert!(!out.exists());
    assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0);
}

#[test]
fn same_repository_and_time_give_the_same_signed_content() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let mut sums = Vec::new();
    for name in ["a", "b"] {
        let out = work.path().join(name);
        let r = run(export_cmd(&example_repo(), "example", &keys.key, &out)
            .args(["--format", "dir"])
            .env("SOURCE_DATE_EPOCH", "1700000000"));
        assert_eq!(r.code, 0, "{r:?}");
        sums.push(fs::read(out.join("SHA256SUMS")).unwrap());
        let m = manifest_of_dir(&out);
        assert_eq!(m["created"], "2023-11-14T22:13:20Z");
    }
    assert_eq!(sums[0], sums[1]);
}

/// Regression: on 2i2c's real repository every cluster was refused, because
/// the leak scan took Python inside basehub's values.jsonnet that reads a
/// password from the environment (line 115) for a plaintext password.
/// Now every fixture cluster exports with no flags, except hhmi, whose
/// values files hold a real plaintext password: that is refused once per
/// file that writes it, never again for its copy in the standalone values.
#[test]
fn every_fixture_cluster_exports_without_flags_but_hhmi() {
    let infra = shared_infra();
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let clusters = fixture_clusters();
    for cluster in &clusters {
        let out = work.path().join(format!("{cluster}.tar"));
        let r = run(&mut export_cmd(&infra, cluster, &keys.key, &out));
        if cluster != "hhmi" {
            assert_eq!(r.code, 0, "{cluster}: {r:?}");
            assert_eq!(verify(&out, &keys.public).code, 0, "{cluster}");
            continue;
        }
        assert_eq!(r.code, 1, "{r:?}");
        assert!(!out.exists());
        let named: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("to carry it anyway"))
            .collect();
        assert_eq!(named.len(), 2, "{}", r.stderr);
        for file in [
            "config/spyglass/spyglass.values.yaml:jupyterhub.singleuser.extraContainers[0].env[0].value",
            "config/staging/staging.values.yaml:jupyterhub.singleuser.extraContainers[0].env[0].value",
        ] {
            assert!(r.stderr.contains(file), "{file} not named: {}", r.stderr);
        }
        assert!(!r.stderr.contains("tutorial"), "the value was printed");
        assert!(!r.stderr.contains("values.jsonnet"), "{}", r.stderr);
    }
}

/// The infra members of a directory bundle.
fn infra_of(bundle: &Path) -> Vec<String> {
    members(&manifest_of_dir(bundle))
        .into_iter()
        .filter(|(p, _)| p.starts_with("infra/terraform/"))
        .map(|(p, _)| p)
        .collect()
}

// Regression: terraform variables were found only at
// `terraform/<provider>/projects/<cluster>.tfvars`; a file under another
// provider's folder or another name that clearly belongs to the cluster was
// left behind with a warning.
#[test]
fn terraform_variables_are_found_under_other_names_and_providers() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("infra");
    copy_tree(&shared_infra(), &repo);
    let tf = repo.join("terraform");
    // Renamed, moved to another provider's folder, and named by content.
    fs::rename(
        tf.join("aws/projects/nasa-cryo.tfvars"),
        tf.join("aws/projects/nasa-cryo_prod.tfvars"),
    )
    .unwrap();
    fs::rename(
        tf.join("gcp/projects/awi-ciroh.tfvars"),
        tf.join("azure/projects/awi-ciroh.tfvars"),
    )
    .unwrap();
    fs::rename(
        tf.join("gcp/projects/ucec.tfvars"),
        tf.join("gcp/projects/uc-earth.tfvars"),
    )
    .unwrap();
    // Another cluster's files, whose names start like nasa-cryo's.
    fs::write(
        tf.join("aws/projects/nasa-cryo-old.tfvars"),
        "cluster_name = \"nasa-cryo-old\"\nregion = \"us-west-2\"\n",
    )
    .unwrap();
    fs::write(
        tf.join("aws/projects/nasa-cryo-copy.tfvars"),
        "cluster_name = \"nasa-veda\"\n",
    )
    .unwrap();
    // A file named for hhmi that leads outside the repository.
    let outside = work.path().join("outside.tfvars");
    fs::write(&outside, "prefix = \"hhmi\"\n").unwrap();
    std::os::unix::fs::symlink(&outside, tf.join("gcp/projects/hhmi-extra.tfvars")).unwrap();

    let keys = keys();
    for (cluster, expected) in [
        (
            "nasa-cryo",
            &["infra/terraform/aws/projects/nasa-cryo_prod.tfvars"][..],
        ),
        (
            "nasa-veda",
            &[
                "infra/terraform/aws/projects/nasa-cryo-copy.tfvars",
                "infra/terraform/aws/projects/nasa-veda.tfvars",
            ][..],
        ),
        (
            "awi-ciroh",
            &["infra/terraform/azure/projects/awi-ciroh.tfvars"][..],
        ),
        (
            "ucec",
            &["infra/terraform/gcp/projects/uc-earth.tfvars"][..],
        ),
        (
            "utoronto",
            &["infra/terraform/azure/projects/utoronto.tfvars"][..],
        ),
    ] {
        let out = work.path().join(cluster);
        let r = export(&repo, cluster, &keys, &out, &["--format", "dir"]);
        assert!(
            !r.stderr.contains("terraform variables"),
            "{cluster}: {}",
            r.stderr
        );
        assert_eq!(infra_of(&out), expected, "{cluster}");
        for member in expected {
            let source = repo.join(member.strip_prefix("infra/").unwrap());
            assert_eq!(
                fs::read(out.join(member)).unwrap(),
                fs::read(source).unwrap(),
                "{member}"
            );
        }
    }
    // The renamed file is read for the report like the conventional one.
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(work.path().join("ucec/report.json")).unwrap()).unwrap();
    assert!(
        report["cluster_findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["location"].as_str().is_some_and(
                |l| l.starts_with("infra/terraform/gcp/projects/uc-earth.tfvars:line")
            )),
        "{}",
        report["cluster_findings"]
    );

    // A file named for the cluster must stay inside the repository.
    let out = work.path().join("hhmi");
    let r = run(&mut export_cmd(&repo, "hhmi", &keys.key, &out));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("hhmi-extra.tfvars") && r.stderr.contains("outside the repository"),
        "{r:?}"
    );
    assert!(!out.exists());
}
