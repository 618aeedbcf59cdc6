//! Standalone hub values and the portability report, on the three real
//! clusters of the shared 2i2c fixtures and on the example community:
//! derived values checked by hand against the fixtures, z2jh validation,
//! what the report names, and `r2r inspect --report`.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

fn z2jh() -> String {
    let p = project().join("../shared/fixtures/z2jh-4.x");
    assert!(
        p.join("values.schema.yaml").is_file(),
        "shared z2jh fixture missing"
    );
    p.to_str().unwrap().to_owned()
}

/// Exports a cluster as a directory bundle with validation on.
fn export_dir(repo: &Path, cluster: &str, keys: &Keys, out: &Path) {
    export(
        repo,
        cluster,
        keys,
        out,
        &["--format", "dir", "--z2jh", &z2jh()],
    );
}

/// A hub's standalone values, parsed (they are JSON, which is YAML).
fn values(bundle: &Path, hub: &str) -> Value {
    let text = fs::read_to_string(bundle.join(format!("config/{hub}/values.yaml"))).unwrap();
    assert!(
        text.starts_with("# Standalone Helm values for hub"),
        "{text}"
    );
    let as_yaml: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    serde_json::to_value(as_yaml).unwrap()
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or_else(|| panic!("no {pointer}"))
}

fn report(bundle: &Path) -> Value {
    serde_json::from_slice(&fs::read(bundle.join("report.json")).unwrap()).unwrap()
}

fn hub<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap()
}

/// The disabled form of 2i2c's staff settings, as the profile gives it.
fn staff_off() -> Value {
    serde_json::json!({
        "add_staff_user_ids_to_admin_users": false,
        "add_staff_user_ids_of_type": "",
        "staff_github_ids": [],
        "staff_google_ids": []
    })
}

fn subjects(findings: &Value, category: &str) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == category)
        .map(|f| f["subject"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn gcp_cluster_2i2c_uk_hubs_get_derived_values() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("uk");
    export_dir(&shared_infra(), "2i2c-uk", &keys, &out);
    for (name, domain) in [
        ("staging", "staging.uk.2i2c.cloud"),
        ("lis", "ds.lis.2i2c.cloud"),
    ] {
        let v = values(&out, name);
        assert_eq!(
            at(&v, "/jupyterhub/ingress/hosts"),
            &serde_json::json!([domain])
        );
        assert_eq!(at(&v, "/jupyterhub/ingress/tls/0/hosts/0"), domain);
        assert_eq!(
            at(
                &v,
                "/jupyterhub/hub/config/OAuthenticator/oauth_callback_url"
            ),
            &format!("https://{domain}/hub/oauth_callback")
        );
        assert_eq!(
            at(
                &v,
                "/userServiceAccount/annotations/iam.gke.io~1gcp-service-account"
            ),
            &format!("2i2c-uk-{name}@two-eye-two-see-uk.iam.gserviceaccount.com")
        );
        assert_eq!(
            at(&v, "/nfs/pv/serverIP"),
            &format!("storage-quota-home-nfs.{name}.svc.cluster.local")
        );
        assert_eq!(
            at(
                &v,
                "/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/paths"
            ),
            &serde_json::json!([format!("/export/{name}")])
        );
        // Chart defaults are the base: basehub's own hub image.
        assert_eq!(
            at(&v, "/jupyterhub/hub/image/name"),
            "quay.io/2i2c/pilot-hub"
        );
        // Staff injection is off, in the form basehub's schema accepts (a
        // null failed it: `at '/jupyterhub/custom/2i2c': got null, want
        // object`); the rest of `custom` stays.
        assert_eq!(v.pointer("/jupyterhub/custom/2i2c"), Some(&staff_off()));
        assert!(v.pointer("/jupyterhub/custom/homepage").is_some());
        // A plain `0755` in basehub's values is octal to Helm, and stays so.
        let modes: Vec<&Value> = at(&v, "/jupyterhub/singleuser/extraFiles")
            .as_object()
            .unwrap()
            .values()
            .filter_map(|f| f.get("mode"))
            .collect();
        assert!(modes.contains(&&serde_json::json!(493)), "{modes:?}");
    }
    // The staging values file is layered on top.
    let staging = values(&out, "staging");
    assert_eq!(
        at(&staging, "/jupyterhub/singleuser/image/name"),
        "pangeo/pangeo-notebook"
    );
    assert_eq!(
        at(&staging, "/jupyterhub-home-nfs/gke/volumeId"),
        "projects/two-eye-two-see-uk/zones/europe-west2-b/disks/hub-nfs-homedirs-staging"
    );
    assert_eq!(
        at(
            &staging,
            "/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/hard_quota"
        ),
        1
    );
    assert_eq!(
        at(
            &values(&out, "lis"),
            "/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/hard_quota"
        ),
        10
    );

    let r = report(&out);
    assert_eq!(r["provider"]["name"], "2i2c");
    let s = hub(&r, "staging");
    assert_eq!(s["validation"]["checked"], true);
    assert!(
        s["derived_by"]
            .as_str()
            .unwrap()
            .contains("helm-charts/basehub/values.jsonnet (rendered")
    );
    let domains = subjects(&s["findings"], "domain");
    assert!(
        domains[0].contains("2i2c's DNS zone 2i2c.cloud"),
        "{domains:?}"
    );
    let images = subjects(&s["findings"], "image");
    assert!(
        images
            .iter()
            .any(|i| i.contains("quay.io/2i2c/pilot-hub") && i.contains("registry quay.io/2i2c/")),
        "{images:?}"
    );
    assert!(
        subjects(&s["findings"], "oauth")[0]
            .contains("CILogon client bound to https://staging.uk.2i2c.cloud/hub/oauth_callback")
    );
    assert!(subjects(&s["findings"], "staff")[0].contains("jupyterhub.custom.2i2c"));
    let params: Vec<&str> = s["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        params.contains(&"domain") && params.contains(&"nfs_server"),
        "{params:?}"
    );
    let domain = s["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "domain")
        .unwrap();
    assert!(
        domain["key_paths"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(
                "jupyterhub.hub.config.OAuthenticator.oauth_callback_url"
            ))
    );
    let cloud = subjects(&r["cluster_findings"], "cloud-account");
    assert!(
        cloud.iter().any(|c| c.contains("two-eye-two-see-uk")),
        "{cloud:?}"
    );
    assert!(
        cloud.iter().any(|c| c.contains("0157F7-E3EA8C-25AC3C")),
        "{cloud:?}"
    );
    assert_eq!(subjects(&r["cluster_findings"], "terraform-state").len(), 1);
    let monitoring = subjects(&r["cluster_findings"], "monitoring");
    assert!(
        monitoring
            .iter()
            .any(|m| m.contains("enc-grafana-token.secret.yaml")),
        "{monitoring:?}"
    );
    assert!(
        monitoring
            .iter()
            .any(|m| m.contains("grafana.uk.2i2c.cloud")),
        "{monitoring:?}"
    );
}

#[test]
fn aws_daskhub_cluster_nasa_cryo_nests_under_basehub() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("cryo");
    export_dir(&shared_infra(), "nasa-cryo", &keys, &out);
    let prod = values(&out, "prod");
    assert!(
        prod.get("jupyterhub").is_none(),
        "daskhub values belong under basehub"
    );
    assert_eq!(
        at(&prod, "/basehub/jupyterhub/ingress/hosts/0"),
        "hub.cryointhecloud.com"
    );
    assert_eq!(
        at(
            &prod,
            "/basehub/userServiceAccount/annotations/eks.amazonaws.com~1role-arn"
        ),
        "arn:aws:iam::574251165169:role/nasa-cryo-prod"
    );
    // prod.values.yaml sets the EFS address and raises the derived quota.
    assert_eq!(at(&prod, "/basehub/nfs/pv/serverIP"), "10.100.102.109");
    assert_eq!(
        at(
            &prod,
            "/basehub/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/hard_quota"
        ),
        35
    );
    assert_eq!(
        at(
            &prod,
            "/basehub/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/paths/0"
        ),
        "/export/prod"
    );
    assert_eq!(
        prod.pointer("/basehub/jupyterhub/custom/2i2c"),
        Some(&staff_off())
    );
    // The staff GitHub team is out of the snippet that added it to every
    // hub, and out of every list the hub's own values put it in.
    let snippet = at(
        &prod,
        "/basehub/jupyterhub/hub/extraConfig/09-2i2c-add-staff-gh-team",
    )
    .as_str()
    .unwrap();
    assert!(!snippet.contains("allowed_organizations"), "{snippet}");
    let text = serde_json::to_string(&prod).unwrap();
    assert!(
        !text.contains("\"2i2c-org:hub-access-for-2i2c-staff\""),
        "the staff team is still listed"
    );
    let r = report(&out);
    let removed = hub(&r, "prod")["removed"].as_array().unwrap().clone();
    assert!(
        removed
            .iter()
            .any(|x| x["removed_item"] == "2i2c-org:hub-access-for-2i2c-staff"),
        "{removed:?}"
    );
    // The home page repository the hub clones at start is a parameter.
    let homepage = hub(&r, "prod")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "homepage_repo")
        .cloned()
        .expect("no homepage_repo parameter");
    assert_eq!(
        homepage["value"],
        "https://github.com/2i2c-org/default-hub-homepage"
    );
    assert_eq!(
        homepage["key_paths"],
        serde_json::json!(["basehub.jupyterhub.custom.homepage.gitRepoUrl"])
    );
    assert_eq!(
        at(&values(&out, "staging"), "/basehub/nfs/pv/serverIP"),
        "10.100.95.149"
    );

    let r = report(&out);
    let p = hub(&r, "prod");
    assert_eq!(p["validation"]["checked"], true);
    assert!(subjects(&p["findings"], "domain")[0].contains("community's own domain"));
    let building = subjects(&p["findings"], "image-building");
    assert!(
        building
            .iter()
            .any(|b| b.contains("quay.io/imagebuilding-non-gcp-hubs/")),
        "{building:?}"
    );
    let nfs = subjects(&p["findings"], "nfs");
    assert!(
        nfs.iter().any(|n| n.contains("10.100.102.109"))
            && nfs.iter().any(|n| n.contains("vol-00b9cf4a258bce8ef")),
        "{nfs:?}"
    );
    assert!(subjects(&p["findings"], "oauth")[0].contains("GitHub OAuth app"));
    let cloud = subjects(&r["cluster_findings"], "cloud-account");
    assert!(
        cloud.iter().any(|c| c.contains("AWS account 574251165169")),
        "{cloud:?}"
    );
}

#[test]
fn kubeconfig_cluster_utoronto_every_hub_standalone() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("uoft");
    export_dir(&shared_infra(), "utoronto", &keys, &out);
    let r = report(&out);
    let names: Vec<&str> = r["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["staging", "prod", "r-staging", "r-prod", "highmem"]);
    for name in &names {
        let v = values(&out, name);
        // Not GCP or AWS: no workload-identity annotation, Azure share reporting on.
        assert_eq!(
            at(&v, "/userServiceAccount/annotations"),
            &serde_json::json!({})
        );
        assert_eq!(at(&v, "/nfs/dirsizeReporter/reportTotalSize"), true);
        assert_eq!(
            at(&v, "/nfs/pv/serverIP"),
            "2i2cutorontohubstorage.file.core.windows.net"
        );
        assert_eq!(hub(&r, name)["validation"]["checked"], true);
    }
    assert_eq!(
        at(&values(&out, "prod"), "/jupyterhub/ingress/hosts"),
        &serde_json::json!(["jupyter.utoronto.ca"])
    );
    let images = subjects(&hub(&r, "prod")["findings"], "image");
    assert!(
        images
            .iter()
            .any(|i| i.contains("quay.io/2i2c/utoronto-image")),
        "{images:?}"
    );
    let images = subjects(&hub(&r, "r-prod")["findings"], "image");
    assert!(
        images
            .iter()
            .any(|i| i.contains("quay.io/2i2c/utoronto-r-image")),
        "{images:?}"
    );
    assert!(subjects(&hub(&r, "staging")["findings"], "domain")[0].contains("2i2c.cloud"));
    assert!(subjects(&hub(&r, "prod")["findings"], "domain")[0].contains("community's own"));
    let cloud = subjects(&r["cluster_findings"], "cloud-account");
    assert!(
        cloud.iter().any(|c| c.contains("Azure subscription")),
        "{cloud:?}"
    );
}

#[test]
fn jsonnet_is_rendered_when_the_repository_has_it() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("ex");
    export_dir(&example_repo(), "example", &keys, &out);
    let r = report(&out);
    assert!(
        hub(&r, "staging")["derived_by"]
            .as_str()
            .unwrap()
            .contains("helm-charts/basehub/values.jsonnet")
    );
    // daskhub's values.jsonnet is a symlink to basehub's, which nests its
    // output under `basehub:` when reached through daskhub.
    assert!(
        hub(&r, "prod")["derived_by"]
            .as_str()
            .unwrap()
            .contains("helm-charts/daskhub/values.jsonnet")
    );
    let prod = values(&out, "prod");
    assert_eq!(
        at(
            &prod,
            "/basehub/jupyterhub/hub/config/OAuthenticator/oauth_callback_url"
        ),
        "https://hub.example-community.org/hub/oauth_callback"
    );
    assert_eq!(
        at(
            &prod,
            "/basehub/userServiceAccount/annotations/iam.gke.io~1gcp-service-account"
        ),
        "example-prod@example-community-project.iam.gserviceaccount.com"
    );
    assert_eq!(
        at(
            &prod,
            "/basehub/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/hard_quota"
        ),
        10
    );
    let staging = values(&out, "staging");
    assert_eq!(
        at(&staging, "/jupyterhub/ingress/hosts/0"),
        "staging.example-community.org"
    );
    assert_eq!(
        at(
            &staging,
            "/jupyterhub-home-nfs/quotaEnforcer/config/QuotaManager/hard_quota"
        ),
        1
    );
    // The symlink is carried as the file it points to.
    assert_eq!(
        fs::read(out.join("charts/daskhub/values.jsonnet")).unwrap(),
        fs::read(example_repo().join("helm-charts/basehub/values.jsonnet")).unwrap()
    );
    // A string that YAML 1.1 would read as a date stays a string for Helm.
    let text = fs::read_to_string(out.join("config/prod/values.yaml")).unwrap();
    assert!(text.contains("\"tag\": \"2024-10-07\""), "{text}");
}

#[test]
fn validation_reports_violations_by_key_path_without_failing() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    copy_tree(&example_repo(), &repo);
    let staging = repo.join("config/clusters/example/staging.values.yaml");
    let mut text = fs::read_to_string(&staging).unwrap();
    text.push_str("  hub:\n    allowNamedServers: \"sometimes\"\n    bogusSetting: 1\n");
    fs::write(&staging, text).unwrap();
    let out = work.path().join("b");
    export_dir(&repo, "example", &keys, &out);
    let r = report(&out);
    let v = &hub(&r, "staging")["validation"];
    assert_eq!(v["checked"], true);
    let paths: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key_path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"jupyterhub.hub.allowNamedServers"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"jupyterhub.hub"),
        "additionalProperties is reported at the map: {paths:?}"
    );
    assert_eq!(
        hub(&r, "prod")["validation"]["violations"],
        serde_json::json!([])
    );
    assert!(r["summary"]["warnings"].as_u64().unwrap() >= 2);

    // Without --z2jh the report says validation did not run.
    let out2 = work.path().join("b2");
    export(&repo, "example", &keys, &out2, &["--format", "dir"]);
    assert_eq!(
        hub(&report(&out2), "staging")["validation"]["checked"],
        false
    );
}

#[test]
fn a_provider_is_described_by_a_data_file() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("other.yaml");
    fs::write(
        &profile,
        "name: other\ndisplay_name: Other Hosting\ndns_zones: [example-community.org]\nregistries: [quay.io/jupyter/]\nstaff:\n  remove: [jupyterhub.hub.config.JupyterHub.admin_access]\n  explain: Other Hosting grants itself admin access.\n",
    )
    .unwrap();
    let out = work.path().join("b");
    export(
        &example_repo(),
        "example",
        &keys,
        &out,
        &["--format", "dir", "--provider-profile", s(&profile)],
    );
    let r = report(&out);
    assert_eq!(r["provider"]["display_name"], "Other Hosting");
    let st = hub(&r, "staging");
    assert!(
        subjects(&st["findings"], "domain")[0]
            .contains("Other Hosting's DNS zone example-community.org")
    );
    assert!(
        subjects(&st["findings"], "image")
            .iter()
            .any(|i| i.contains("quay.io/jupyter/scipy-notebook"))
    );
    assert_eq!(
        st["removed"][0]["key_path"],
        "jupyterhub.hub.config.JupyterHub.admin_access"
    );
    assert_eq!(
        values(&out, "staging").pointer("/jupyterhub/hub/config/JupyterHub/admin_access"),
        Some(&Value::Null)
    );

    fs::write(&profile, "name: x\ndisplay_name: X\nregistrys: []\n").unwrap();
    let r = run(export_cmd(
        &example_repo(),
        "example",
        &keys.key,
        &work.path().join("c"),
    )
    .args(["--provider-profile", s(&profile)]));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("other.yaml is not a valid provider profile"),
        "{}",
        r.stderr
    );
}

#[test]
fn inspect_report_shows_markdown_and_json_and_checks_the_digest() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("uk");
    export_dir(&shared_infra(), "2i2c-uk", &keys, &out);
    let md = r2r(&["inspect", s(&out), "--pubkey", s(&keys.public), "--report"]);
    assert_eq!(md.code, 0, "{md:?}");
    assert!(
        md.stdout
            .starts_with("# Portability report: cluster `2i2c-uk` (gcp)"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("**BLOCKER** [kms]"));
    assert!(md.stdout.contains(
        "projects/two-eye-two-see/locations/global/keyRings/sops-keys/cryptoKeys/similar-hubs"
    ));
    assert!(md.stdout.contains("## Hub `lis` — ds.lis.2i2c.cloud"));
    assert!(md.stdout.contains("### Installer parameters"));
    let js = r2r(&[
        "inspect",
        s(&out),
        "--pubkey",
        s(&keys.public),
        "--report",
        "--json",
    ]);
    assert_eq!(js.code, 0);
    assert_eq!(js.json(), report(&out));

    // A report changed after signing is refused, even by inspect.
    let path = out.join("report.json");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("BLOCKER", "blocker")
        .replace("\"blocker\"", "\"info\"");
    fs::write(&path, text).unwrap();
    let bad = r2r(&["inspect", s(&out), "--pubkey", s(&keys.public), "--report"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("report.json does not match its digest"),
        "{}",
        bad.stderr
    );
}
