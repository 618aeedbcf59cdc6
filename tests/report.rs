//! The portability report on the real 2i2c clusters: who pays for the cloud
//! account.

mod common;

use common::*;
use serde_json::Value as Json;

/// hhmi's staging and spyglass hubs set a real password in plaintext; the
/// export carries it only when each is let through by name.
const HHMI_PLAINTEXT: [&str; 2] = [
    "config/spyglass/spyglass.values.yaml:jupyterhub.singleuser.extraContainers[0].env[0].value",
    "config/staging/staging.values.yaml:jupyterhub.singleuser.extraContainers[0].env[0].value",
];

/// `report.json` of `cluster`, exported as a directory.
fn report(cluster: &str) -> Json {
    let keys = keys();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("b");
    let mut extra = vec!["--format", "dir", "--quiet"];
    if cluster == "hhmi" {
        for a in HHMI_PLAINTEXT {
            extra.extend(["--allow-plaintext", a]);
        }
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
