//! Every hub of every fixture cluster, checked with Helm v4's real engine
//! (PyPI helm-python-sdk through tests/fixtures/helm-check.py; no helm
//! binary, no network) from the bundle alone, extracted with stock tar:
//! - it renders with its standalone values, under basehub's JSON schema
//!   (generated from values.schema.yaml as 2i2c's deployer does), and the
//!   schema is in force (r2r's old `custom.2i2c: null` is refused);
//! - Helm's coalesce of the standalone values over the carried chart
//!   equals Helm's coalesce of 2i2c's own sources (values.jsonnet rendered
//!   by go-jsonnet with the deployer's five ext-strs, then the plaintext
//!   values files in order), except the staff changes report.json lists;
//! - every image in the rendered pods' containers and init containers is in
//!   `r2r inspect --images` for that hub;
//! - every carried Chart.lock passes Helm's own in-sync check.

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn every_hub_renders_offline_coalesces_like_the_provider_and_lists_its_images() {
    require("tar", "tar");
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let infra = shared_infra();
    let mut hubs_checked = 0;
    let mut failures = Vec::new();
    for cluster in fixture_clusters() {
        let tar = work.path().join(format!("{cluster}.tar"));
        let mut cmd = export_cmd(&infra, &cluster, &keys.key, &tar);
        if cluster == "hhmi" {
            cmd.args(hhmi_allowances());
        }
        let r = run(cmd.arg("--quiet"));
        assert_eq!(r.code, 0, "{cluster}: {r:?}");
        // The bundle alone, unpacked by stock tar.
        let dir = work.path().join(&cluster);
        fs::create_dir_all(&dir).unwrap();
        let x = run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&dir));
        assert_eq!(x.code, 0, "{x:?}");
        let images = r2r(&[
            "inspect",
            s(&tar),
            "--pubkey",
            s(&keys.public),
            "--images",
            "--json",
        ]);
        assert_eq!(images.code, 0, "{images:?}");
        let images_file = work.path().join(format!("{cluster}-images.json"));
        fs::write(&images_file, &images.stdout).unwrap();
        let check = run(Command::new("python3")
            .arg(project().join("tests/fixtures/helm-check.py"))
            .arg(&dir)
            .arg(&infra)
            .arg(&images_file));
        assert_eq!(
            check.code, 0,
            "{cluster}: helm-check.py failed (it needs PyPI helm-python-sdk, gojsonnet and PyYAML: run scripts/test):\n{check:?}"
        );
        let result = check.json();
        let spec = fs::read_to_string(
            infra
                .join("config/clusters")
                .join(&cluster)
                .join("cluster.yaml"),
        )
        .unwrap();
        let expected_hubs = spec.matches("helm_chart:").count();
        let locks = result["locks"].as_array().unwrap();
        assert!(locks.len() >= 2, "{cluster}: {result}");
        for l in locks {
            if l["in_sync"] != true {
                failures.push(format!(
                    "{cluster}: Helm says charts/{} has an out-of-sync Chart.lock: {}",
                    l["chart"], l["message"]
                ));
            }
        }
        let hubs = result["hubs"].as_array().unwrap();
        assert_eq!(hubs.len(), expected_hubs, "{cluster}: {result}");
        for h in hubs {
            let name = format!("{cluster}/{}", h["hub"].as_str().unwrap());
            hubs_checked += 1;
            if !h["errors"].as_array().unwrap().is_empty() {
                failures.push(format!("{name}: {}", h["errors"]));
            }
            if h["rendered"].as_u64().unwrap_or(0) < 10 {
                failures.push(format!("{name}: rendered only {} manifests", h["rendered"]));
            }
            if h["schema_enforced"] != true {
                failures.push(format!("{name}: basehub's schema was not applied"));
            }
            if h["coalesce_equal"] != true {
                failures.push(format!("{name}: coalesce differs: {}", h["differences"]));
            }
            if !h["missing_images"].as_array().unwrap().is_empty() {
                failures.push(format!(
                    "{name}: pods run images r2r does not list: {}",
                    h["missing_images"]
                ));
            }
            if h["pod_images"].as_array().unwrap().len() < 5 {
                failures.push(format!(
                    "{name}: only {} pod images rendered",
                    h["pod_images"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(hubs_checked >= 30, "only {hubs_checked} hubs checked");
}
