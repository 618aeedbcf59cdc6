//! The portability report on the real 2i2c clusters: who pays for the cloud
//! account, and which NFS servers are the provider's.

mod common;

use common::*;
use serde_json::Value as Json;

/// `report.json` of `cluster`, exported as a directory (hhmi with its
/// real plaintext password let through by name).
fn report(cluster: &str) -> Json {
    let keys = keys();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("b");
    let mut extra = vec!["--format", "dir", "--quiet"];
    let allow = hhmi_allowances();
    if cluster == "hhmi" {
        extra.extend(allow.iter().map(String::as_str));
    }
    export(&shared_infra(), cluster, &keys, &out, &extra);
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn of<'a>(findings: &'a Json, category: &str) -> Vec<&'a Json> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == category)
        .collect()
}

fn hub<'a>(r: &'a Json, name: &str) -> &'a Json {
    r["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no hub {name}"))
}

// Regression: a cluster the provider pays for (`paid_by_us: true`) had no
// finding saying that its homes and buckets sit in the provider's cloud
// account, and go with it when the provider stops paying.
#[test]
fn a_cluster_the_provider_pays_for_says_to_copy_its_data_out() {
    for (cluster, flag) in [
        ("2i2c-uk", Some("gcp.billing.paid_by_us")),
        ("nasa-cryo", Some("aws.billing.paid_by_us")),
        ("awi-ciroh", None),
        ("maap", None),
    ] {
        let r = report(cluster);
        let billing = of(&r["cluster_findings"], "billing");
        match flag {
            Some(flag) => {
                assert_eq!(billing.len(), 1, "{cluster}: {billing:?}");
                let f = billing[0];
                assert_eq!(f["severity"], "action", "{cluster}");
                assert_eq!(
                    f["location"],
                    format!("config/cluster.yaml:{flag}"),
                    "{cluster}"
                );
                let subject = f["subject"].as_str().unwrap();
                assert!(
                    subject.contains("2i2c pays")
                        && subject.contains("home directories")
                        && subject.contains("buckets"),
                    "{cluster}: {subject}"
                );
            }
            // paid_by_us: false: the community pays and owns the account.
            None => assert!(billing.is_empty(), "{cluster}: {billing:?}"),
        }
    }
}

// Regression: every GCP hub got an `nfs` finding for
// `storage-quota-home-nfs.<hub>.svc.cluster.local`, its own in-cluster NFS
// service (set by 2i2c's values.jsonnet), as if it were the provider's.
#[test]
fn a_hubs_own_in_cluster_nfs_service_is_not_the_providers() {
    let r = report("2i2c-uk");
    for name in ["staging", "lis"] {
        let nfs = of(&hub(&r, name)["findings"], "nfs");
        let locations: Vec<&str> = nfs
            .iter()
            .map(|f| f["location"].as_str().unwrap())
            .collect();
        assert!(
            locations.iter().all(|l| !l.ends_with("nfs.pv.serverIP")),
            "{name}: {nfs:?}"
        );
        // Its disk is still in the provider's project.
        assert!(
            locations
                .iter()
                .any(|l| l.ends_with(":jupyterhub-home-nfs.gke.volumeId")),
            "{name}: {nfs:?}"
        );
    }

    // A real NFS server outside the cluster still is the provider's.
    let r = report("nasa-cryo");
    let nfs = of(&hub(&r, "staging")["findings"], "nfs");
    let server = nfs
        .iter()
        .find(|f| f["location"].as_str().unwrap().ends_with("nfs.pv.serverIP"))
        .unwrap_or_else(|| panic!("{nfs:?}"));
    assert_eq!(server["severity"], "action");
    assert!(
        server["subject"]
            .as_str()
            .unwrap()
            .contains("provider's NFS server 10.100.95.149"),
        "{server}"
    );

    // hhmi's staging hub mounts spyglass's in-cluster service: not the
    // provider's, but it needs that other hub.
    let r = report("hhmi");
    let nfs = of(&hub(&r, "staging")["findings"], "nfs");
    let server = nfs
        .iter()
        .find(|f| f["location"].as_str().unwrap().ends_with("nfs.pv.serverIP"))
        .unwrap_or_else(|| panic!("{nfs:?}"));
    assert_eq!(server["severity"], "warning");
    let subject = server["subject"].as_str().unwrap();
    assert!(
        subject.contains("namespace spyglass") && !subject.contains("provider"),
        "{subject}"
    );
    assert!(
        of(&hub(&r, "spyglass")["findings"], "nfs")
            .iter()
            .all(|f| !f["location"].as_str().unwrap().ends_with("nfs.pv.serverIP")),
        "spyglass's own service is reported"
    );
}
