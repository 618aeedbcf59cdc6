//! Complete charts from the chart repositories, as `helm dependency build`
//! fetches them, here from loopback stand-ins for the internet: the shared
//! fixture's https repositories served by a static HTTP server, and its
//! OCI ones pushed to a real registry (docker-registry) as Helm chart
//! artifacts. Every fixture cluster's bundle carries every archive, byte
//! for byte; a tampered index and a missing version stop the export.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn export_through(
    repos: &charts::ChartRepos,
    infra: &Path,
    cluster: &str,
    out: &Path,
    keys: &Keys,
) -> Run {
    let mut cmd = Command::new(R2R);
    cmd.args(["export", "--infra", s(infra), "--cluster", cluster])
        .args(["--sign-key", s(&keys.key), "--output", s(out), "--quiet"])
        .args(&repos.args)
        .env_remove("R2R_KEY_PASSWORD");
    if cluster == "hhmi" {
        cmd.args(hhmi_allowances());
    }
    run(&mut cmd)
}

#[test]
fn every_cluster_carries_every_archive_from_loopback_repositories() {
    let repos = charts::start(None);
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let root = charts::fixture_root();
    let mut archives = 0;
    for cluster in fixture_clusters() {
        let out = work.path().join(&cluster);
        let r = export_through(&repos, &shared_infra(), &cluster, &out, &keys);
        assert_eq!(r.code, 0, "{cluster}: {r:?}");
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("bundle.json")).unwrap()).unwrap();
        let charts = m["source"]["charts"].as_array().unwrap();
        assert!(
            charts.iter().any(|c| c["path"] == "charts/support"),
            "{cluster}"
        );
        for hub in m["source"]["hubs"].as_array().unwrap() {
            let path = hub["chart_path"].as_str().unwrap();
            assert!(
                out.join(path).join("Chart.yaml").is_file(),
                "{cluster}: {path}"
            );
            assert!(
                out.join(path).join("Chart.lock").is_file(),
                "{cluster}: {path}"
            );
        }
        for c in charts {
            for d in c["dependencies"].as_array().unwrap() {
                let repo = d["repository"].as_str().unwrap();
                let archive = out
                    .join(c["path"].as_str().unwrap())
                    .join(d["archive"].as_str().unwrap());
                let from = d["fetched_from"].as_str().unwrap();
                if repo.starts_with("file://") {
                    assert!(archive.is_file(), "{cluster}: {}", archive.display());
                    continue;
                }
                // The archive is the repository's, byte for byte, fetched
                // from the loopback server the flags named.
                let (scheme, rest) = repo.trim_end_matches('/').split_once("://").unwrap();
                let name = format!(
                    "{}-{}.tgz",
                    d["name"].as_str().unwrap(),
                    d["version"].as_str().unwrap()
                );
                let original = root.join(scheme).join(rest).join(&name);
                assert_eq!(
                    fs::read(&archive).unwrap(),
                    fs::read(&original).unwrap(),
                    "{cluster}: {} differs from {}",
                    archive.display(),
                    original.display()
                );
                let checked = d["digest_checked_against"].as_str().unwrap();
                if scheme == "oci" {
                    assert!(
                        from.starts_with(&format!("oci://{}/", repos.registry.host)),
                        "{from}"
                    );
                    assert_eq!(checked, "the layer digest in the OCI manifest");
                } else {
                    assert!(
                        from.starts_with(&format!("http://127.0.0.1:{}/", repos.http.port)),
                        "{from}"
                    );
                    assert_eq!(checked, "the digest in index.yaml");
                }
                archives += 1;
            }
        }
        assert_eq!(verify(&out, &keys.public).code, 0, "{cluster}");
    }
    assert!(archives > 100, "only {archives} archives checked");
}

#[test]
fn a_tampered_index_or_a_missing_version_stops_the_export() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();

    // index.yaml lists another digest for jupyterhub 4.3.3.
    let https = work.path().join("https");
    copy_tree(&charts::fixture_root().join("https"), &https);
    let index = https.join("jupyterhub.github.io/helm-chart/index.yaml");
    let text = fs::read_to_string(&index).unwrap();
    let real = sha256_hex(
        &fs::read(https.join("jupyterhub.github.io/helm-chart/jupyterhub-4.3.3.tgz")).unwrap(),
    );
    assert!(text.contains(&real));
    rewrite(&index, |t| t.replace(&real, &"0".repeat(64)));
    let repos = charts::start(Some(&https));
    let out = work.path().join("b.tar");
    let r = export_through(&repos, &shared_infra(), "2i2c-uk", &out, &keys);
    assert_eq!(r.code, 1, "{r:?}");
    for want in [
        "chart basehub",
        "dependency jupyterhub 4.3.3",
        "https://jupyterhub.github.io/helm-chart/",
        &format!("sha256 is {real}, but index.yaml says {}", "0".repeat(64)),
    ] {
        assert!(r.stderr.contains(want), "{want:?} not in:\n{}", r.stderr);
    }
    assert!(!out.exists());

    // basehub asks for a version no repository has.
    let infra = scratch_infra(work.path());
    rewrite(&infra.join("helm-charts/basehub/Chart.yaml"), |t| {
        t.replace("version: 4.3.3\n", "version: 9.9.9\n")
    });
    let good = charts::start(None);
    let r = export_through(&good, &infra, "nasa-cryo", &out, &keys);
    assert_eq!(r.code, 1, "{r:?}");
    for want in [
        "chart daskhub",
        "chart basehub",
        "dependency jupyterhub 9.9.9 from https://jupyterhub.github.io/helm-chart/",
        "has no version of `jupyterhub` matching 9.9.9",
        "4.3.3",
    ] {
        assert!(r.stderr.contains(want), "{want:?} not in:\n{}", r.stderr);
    }
    assert!(!out.exists());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// A copy of the shared repository to change, in `work`.
fn scratch_infra(work: &Path) -> std::path::PathBuf {
    let infra = work.join("infra");
    copy_tree(&shared_infra(), &infra);
    infra
}

/// Rewrites a copied file with `edit`; returns the new text. The fixture's
/// files are read-only, and so are their copies, so it is made writable.
fn rewrite(p: &Path, edit: impl FnOnce(String) -> String) -> String {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
    let text = edit(fs::read_to_string(p).unwrap());
    fs::write(p, &text).unwrap();
    text
}

/// A Chart.lock committed beside Chart.yaml and in sync with it fixes the
/// versions, as `helm dependency build` installs them; one out of date is
/// resolved again, with a warning, as `helm dependency update` would.
#[test]
fn a_committed_lock_in_sync_fixes_the_versions() {
    use r2r::source::charts::archive::parse_chart_yaml;
    use r2r::source::charts::lock::{Locked, render};
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let infra = scratch_infra(work.path());
    // A range both dask-gateway versions of the fixture match.
    let text = rewrite(&infra.join("helm-charts/basehub/Chart.yaml"), |t| {
        t.replace("version: 2026.3.0", "version: \">=2024.1.0\"")
    });
    let meta = parse_chart_yaml(&text, "Chart.yaml").unwrap();
    let locked: Vec<Locked> = meta
        .dependencies
        .iter()
        .map(|d| Locked {
            name: d.name.clone(),
            repository: d.repository.clone(),
            version: if d.name == "dask-gateway" {
                "2024.1.0".into()
            } else {
                d.version.clone()
            },
        })
        .collect();
    let lock = infra.join("helm-charts/basehub/Chart.lock");
    fs::write(
        &lock,
        render(&meta.dependencies, &locked, "2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let dask = |out: &Path| -> String {
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("bundle.json")).unwrap()).unwrap();
        m["source"]["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == "charts/basehub")
            .unwrap()["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "dask-gateway")
            .unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let out = work.path().join("locked");
    let r = export(
        &infra,
        "2i2c-uk",
        &keys,
        &out,
        &["--format", "dir", "--hub", "staging"],
    );
    assert_eq!(dask(&out), "2024.1.0", "{r:?}");
    assert!(
        out.join("charts/basehub/charts/dask-gateway-2024.1.0.tgz")
            .is_file()
    );
    // Out of date (another digest): the newest matching version, and a warning.
    let stale = fs::read_to_string(&lock).unwrap();
    let digest = stale
        .lines()
        .find(|l| l.starts_with("digest:"))
        .unwrap()
        .to_owned();
    fs::write(
        &lock,
        stale.replace(&digest, &format!("digest: sha256:{}", "0".repeat(64))),
    )
    .unwrap();
    let out = work.path().join("unlocked");
    let r = export(
        &infra,
        "2i2c-uk",
        &keys,
        &out,
        &["--format", "dir", "--hub", "staging"],
    );
    assert_eq!(dask(&out), "2026.3.0", "{r:?}");
    assert!(r.stderr.contains("Chart.lock is out of date"), "{r:?}");
}

/// Regression: a chart override whose `name:` matches no chart in the hub's
/// chart tree was ignored in silence, and the hub got the repository's own
/// dependency versions instead of the override's.
#[test]
fn an_override_that_names_no_chart_is_refused() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let infra = scratch_infra(work.path());
    rewrite(&infra.join("config/clusters/2i2c-uk/lis-chart.yaml"), |t| {
        t.replace("name: basehub", "name: nothub")
    });
    let out = work.path().join("b.tar");
    let r = run(&mut export_cmd(&infra, "2i2c-uk", &keys.key, &out));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("lis-chart.yaml") && r.stderr.contains("would change nothing"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}
