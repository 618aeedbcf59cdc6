//! The cluster layer (cert-manager, support, the community's ClusterIssuer)
//! on the three clouds, from real 2i2c clusters exported with the chart
//! mirrors: nasa-cryo (AWS), 2i2c-uk (GCP), utoronto (Azure). helm and
//! kubectl are RECORDING STAND-INS (tests/fixtures/stand-in.py): the tests
//! check the invocations and the files they were given, never a cluster.
//! What Helm would install is checked with Helm's real engine
//! (helm-python-sdk, tests/fixtures/cluster-layer-check.py).

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value as Json;

struct Case {
    cluster: &'static str,
    target: &'static str,
    /// The target's answers (YAML), naming the new cluster.
    answers: &'static str,
    new_cluster: &'static str,
    /// Host names under the provider's domain that its support values
    /// carry, which must not reach the community's.
    provider_hosts: &'static [&'static str],
}

const CASES: [Case; 3] = [
    Case {
        cluster: "nasa-cryo",
        target: "aws",
        answers: "aws: {account_id: \"123456789012\", region: eu-west-1, cluster_name: cryo-community}\n",
        new_cluster: "cryo-community",
        provider_hosts: &[
            "grafana.cryointhecloud.2i2c.cloud",
            "prometheus.cryointhecloud.2i2c.cloud",
        ],
    },
    Case {
        cluster: "2i2c-uk",
        target: "gcp",
        answers: "gcp: {project: community-proj, region: europe-west1, cluster_name: uk-community}\n",
        new_cluster: "uk-community",
        provider_hosts: &["grafana.uk.2i2c.cloud", "prometheus.uk.2i2c.cloud"],
    },
    Case {
        cluster: "utoronto",
        target: "azure",
        answers: "azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: canadacentral, cluster_name: toronto-community}\n",
        new_cluster: "toronto-community",
        provider_hosts: &[
            "grafana.utoronto.2i2c.cloud",
            "prometheus.utoronto.2i2c.cloud",
        ],
    },
];

const EMAIL: &str = "jupyter-admins@community.example.org";

fn stand_ins(dir: &Path) -> PathBuf {
    let bin = dir.join("stand-in-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["terraform", "helm", "kubectl"] {
        std::os::unix::fs::symlink(project().join("tests/fixtures/stand-in.py"), bin.join(tool))
            .unwrap();
    }
    bin
}

/// The bundle's hub names, from its bundle.json.
fn hub_names(bundle: &Path) -> Vec<String> {
    let (_, json, _) = read_tar(bundle)
        .into_iter()
        .find(|(p, _, _)| p == "bundle.json")
        .unwrap();
    let m: Json = serde_json::from_slice(&json).unwrap();
    m["source"]["hubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect()
}

fn calls(log: &Path) -> Vec<Json> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn args(c: &Json) -> Vec<&str> {
    c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// `helm upgrade --install NAME` → NAME; `kubectl apply -f F` → `apply F`.
fn what(c: &Json) -> String {
    let a = args(c);
    match c["tool"].as_str().unwrap() {
        "helm" if a.starts_with(&["upgrade", "--install"]) => a[2].to_owned(),
        "kubectl" if a.first() == Some(&"apply") => format!("apply {}", a[2]),
        t => format!("{t} {}", a.join(" ")),
    }
}

/// The text a recorded call was given after `--values` FILE.
fn values_text<'a>(c: &'a Json, file: &str) -> &'a str {
    let f = &c["files"][file];
    assert_eq!(f["exists"], true, "{file} did not exist at the call: {c}");
    f["text"].as_str().unwrap()
}

#[test]
fn the_cluster_layer_goes_in_front_of_the_hubs_on_every_cloud() {
    require("age-keygen", "age");
    require("kubernetes-validate", "pip install kubernetes-validate");
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let identity = t.path().join("community.age");
    assert_eq!(
        run(Command::new("age-keygen").arg("-o").arg(&identity)).code,
        0
    );
    let bin = stand_ins(t.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for case in &CASES {
        let at = format!("{} ({})", case.cluster, case.target);
        let bundle = t.path().join(format!("{}.r2r.tar", case.cluster));
        let out = export(&shared_infra(), case.cluster, &keys, &bundle, &["--quiet"]);
        assert!(
            !out.stderr.contains("cert-manager"),
            "{at}: cert-manager was not carried: {out:?}"
        );
        let hubs = hub_names(&bundle);
        let dir = t.path().join(case.cluster);
        let answers = t.path().join(format!("{}.answers.yaml", case.cluster));
        let mut text = format!(
            "target: {}\ndir: {dir:?}\n{}age_identity: {identity:?}\nrestore_image: r2r:test\nacme_email: {EMAIL}\nhubs:\n",
            case.target, case.answers
        );
        for h in &hubs {
            text.push_str(&format!(
                "  {h}: {{domain: {h}.hubs.community.example.org, oauth_client_id: keep}}\n"
            ));
        }
        std::fs::write(&answers, text).unwrap();
        let log = t.path().join(format!("{}.log", case.cluster));
        let install = |extra: &[&str]| {
            run(Command::new(R2R)
                .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
                .args(["--answers", s(&answers), "--yes"])
                .args(extra)
                .env("PATH", &path)
                .env("R2R_STAND_IN_LOG", &log)
                .env("R2R_STAND_IN_HUBS", hubs.join(",")))
        };

        // Without --apply: the releases and the commands, in order.
        let out = install(&[]);
        assert_eq!(out.code, 0, "{at}: {out:?}");
        let releases: Json = serde_json::from_str(
            &std::fs::read_to_string(dir.join(".r2r-install/releases.json")).unwrap(),
        )
        .unwrap();
        let names: Vec<&str> = releases["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let mut want = vec!["cert-manager", "support"];
        want.extend(hubs.iter().map(String::as_str));
        assert_eq!(names, want, "{at}: releases.json");
        let r = &releases["releases"];
        assert_eq!(r[0]["chart"], "charts/cert-manager", "{at}");
        assert_eq!(r[0]["namespace"], "cert-manager", "{at}");
        assert_eq!(r[1]["chart"], "charts/support", "{at}");
        assert_eq!(r[1]["namespace"], "support", "{at}");
        assert_eq!(
            r[1]["sealed_secrets"], "config/_support/secret-values.yaml.age",
            "{at}"
        );
        let next = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
        let pos = |needle: &str| {
            next.find(needle)
                .unwrap_or_else(|| panic!("{at}: NEXT-STEPS.md lacks {needle:?}:\n{next}"))
        };
        let cm = pos(
            "helm upgrade --install cert-manager charts/cert-manager --namespace cert-manager --create-namespace --values config/_cert-manager/values.yaml",
        );
        let support = pos(
            "helm upgrade --install support charts/support --namespace support --create-namespace --values config/_support/values.yaml --values .r2r-install/private/support-secrets.yaml",
        );
        let issuer = pos("kubectl apply -f kubernetes/cluster-issuer.yaml");
        let first_hub = pos(&format!("helm upgrade --install {} ", hubs[0]));
        let address = pos(
            "kubectl --namespace support get service cluster-entrypoint --output 'jsonpath={.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}'",
        );
        assert!(
            cm < support && support < issuer && issuer < first_hub && first_hub < address,
            "{at}: out of order:\n{next}"
        );
        for h in &hubs {
            pos(&format!("{h}.hubs.community.example.org"));
        }
        assert!(calls(&log).is_empty(), "{at}: a tool ran without --apply");

        // The ClusterIssuer: the community's email, a valid object. It is a
        // CRD kind, so kubernetes-validate's own schemas only check it is a
        // well-formed object (it says it has no schema for the kind); the
        // CRD's schema is checked below, with the rendered cert-manager.
        let issuer_text =
            std::fs::read_to_string(dir.join("kubernetes/cluster-issuer.yaml")).unwrap();
        let issuer_doc: Json = serde_json::to_value(
            r2r::values::tree::to_json(&r2r::values::tree::parse_yaml(&issuer_text).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(issuer_doc["metadata"]["name"], "letsencrypt-prod", "{at}");
        assert_eq!(issuer_doc["spec"]["acme"]["email"], EMAIL, "{at}");
        let kv = run(Command::new("kubernetes-validate")
            .arg("--strict")
            .arg(dir.join("kubernetes/cluster-issuer.yaml")));
        assert_eq!(kv.code, 0, "{at}: kubernetes-validate: {kv:?}");
        assert!(
            kv.stdout
                .contains("Couldn't find schema for kind ClusterIssuer"),
            "{at}: kubernetes-validate now knows ClusterIssuer; check it strictly: {kv:?}"
        );

        // With --apply: the stand-ins are called in order, with real files.
        let out = install(&["--resume", "--apply"]);
        assert_eq!(out.code, 0, "{at}: {out:?}");
        let recorded = calls(&log);
        let order: Vec<String> = recorded
            .iter()
            .filter(|c| {
                c["tool"] == "helm"
                    || (c["tool"] == "kubectl"
                        && (args(c).contains(&"kubernetes/cluster-issuer.yaml")
                            || args(c).contains(&"kubernetes/default-storage-class.yaml")))
            })
            .map(what)
            .collect();
        // On EKS, which has no default StorageClass, r2r's comes before any
        // release's claim.
        let mut want: Vec<String> = vec!["cert-manager".into()];
        if at.contains("aws") {
            want.push("apply kubernetes/default-storage-class.yaml".into());
        }
        want.extend(
            ["support", "apply kubernetes/cluster-issuer.yaml"]
                .map(String::from)
                .to_vec(),
        );
        want.extend(hubs.iter().cloned());
        assert_eq!(order, want, "{at}: the order of the helm and kubectl calls");
        let support_call = recorded
            .iter()
            .find(|c| c["tool"] == "helm" && args(c).get(2) == Some(&"support"))
            .unwrap();
        let text = values_text(support_call, "config/_support/values.yaml");
        check_support_values(&at, case, text);
        // The secrets reached Helm through a private file, and hold the
        // generated password, which is nowhere in plaintext in the directory.
        let a = args(support_call);
        let secrets_arg = a[a.len() - 1];
        let secrets = values_text(support_call, secrets_arg);
        let sv: Json = serde_json::to_value(
            r2r::values::tree::to_json(&r2r::values::tree::parse_yaml(secrets).unwrap()).unwrap(),
        )
        .unwrap();
        let password = sv["prometheusAuthSecret"]["password"].as_str().unwrap();
        assert_eq!(password.len(), 64, "{at}");
        assert_eq!(
            support_call["files"][secrets_arg]["mode"], "0o600",
            "{at}: {support_call}"
        );
        let cm_call = recorded
            .iter()
            .find(|c| c["tool"] == "helm" && args(c).get(2) == Some(&"cert-manager"))
            .unwrap();
        let cm_values = values_text(cm_call, "config/_cert-manager/values.yaml");
        assert!(
            cm_values.contains("crds:\n  enabled: true"),
            "{at}: {cm_values}"
        );
        let grep = run(Command::new("grep").args(["-rl", password, s(&dir)]));
        assert_eq!(
            grep.stdout, "",
            "{at}: the Prometheus password is in plaintext in the install directory"
        );

        render_with_helm(&at, case, &dir, secrets, password);
    }
}

/// The support values as the community gets them.
fn check_support_values(at: &str, case: &Case, text: &str) {
    let v: Json = serde_json::to_value(
        r2r::values::tree::to_json(&r2r::values::tree::parse_yaml(text).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(v["nginx-ingress"]["enabled"], true, "{at}");
    assert_eq!(
        v["clusterEntrypoint"]["targetController"], "nginx-ingress",
        "{at}"
    );
    assert_eq!(v["prometheusAuthSecret"]["enabled"], true, "{at}");
    // reflector has no switch in the chart: nothing may turn it off.
    assert!(v.get("reflector").is_none(), "{at}: {}", v["reflector"]);
    for host in case.provider_hosts {
        assert!(!text.contains(host), "{at}: {host} is still in the values");
    }
    for token in ["2i2c-org", "2i2c.cloud", "2i2c-sa@", "arn:aws:iam::"] {
        let allowed = token == "arn:aws:iam::" && case.target == "aws";
        if !allowed {
            assert!(!text.contains(token), "{at}: {token} is in the values");
        }
    }
    assert_eq!(v["grafana"]["ingress"]["enabled"], false, "{at}");
    assert_eq!(
        v["prometheus"]["server"]["ingress"]["enabled"], false,
        "{at}"
    );
    assert_eq!(v["grafana"]["grafana.ini"]["auth.github"]["enabled"], false);
    assert_eq!(v["prometheus"]["alertmanager"]["enabled"], false, "{at}");
    let ca = &v["cluster-autoscaler"];
    if case.target == "aws" {
        assert_eq!(ca["enabled"], true, "{at}");
        assert_eq!(ca["autoDiscovery"]["clusterName"], case.new_cluster, "{at}");
        assert_eq!(ca["awsRegion"], "eu-west-1", "{at}");
        assert_eq!(
            ca["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            format!(
                "arn:aws:iam::123456789012:role/{}-autoscaler",
                case.new_cluster
            ),
            "{at}"
        );
        assert!(!text.contains("nasa-cryo"), "{at}: the old cluster name");
    } else {
        assert_eq!(ca["enabled"], false, "{at}");
    }
    // values.jsonnet was rendered for the new cluster (its alert labels).
    assert!(
        text.contains(&format!("\"cluster\": \"{}\"", case.new_cluster)),
        "{at}: values.jsonnet not rendered for {}",
        case.new_cluster
    );
}

/// cert-manager and support render with Helm's real engine from the install
/// directory, with the values files r2r wrote; what the hubs need is there.
fn render_with_helm(at: &str, case: &Case, dir: &Path, secrets: &str, password: &str) {
    let secrets_file = dir.with_extension("support-secrets.yaml");
    std::fs::write(&secrets_file, secrets).unwrap();
    let out = python(&[
        s(&project().join("tests/fixtures/cluster-layer-check.py")),
        s(dir),
        s(&secrets_file),
    ]);
    assert_eq!(out.code, 0, "{at}: {out:?}");
    let r: Json = serde_json::from_str(&out.stdout).unwrap();
    let cm = &r["cert-manager"];
    assert_eq!(cm["rendered"], true, "{at}: cert-manager: {}", cm["error"]);
    assert_eq!(cm["offline_error"], "", "{at}");
    assert_eq!(
        cm["kinds"]["CustomResourceDefinition"]
            .as_array()
            .unwrap()
            .len(),
        6,
        "{at}: crds.enabled installs cert-manager's six CRDs"
    );
    assert_eq!(
        r["issuer"]["checked_against"],
        "clusterissuers.cert-manager.io"
    );
    assert_eq!(r["issuer"]["schema_errors"], serde_json::json!([]), "{at}");

    let sp = &r["support"];
    assert_eq!(sp["rendered"], true, "{at}: support: {}", sp["error"]);
    // Recorded for the replica check: offline, Helm cannot fetch the URL
    // nginx-ingress's values.schema.json refers to.
    let offline = sp["offline_error"].as_str().unwrap();
    assert!(
        offline.is_empty() || offline.contains("nginx-ingress"),
        "{at}: {offline}"
    );
    let objects = sp["objects"].as_array().unwrap();
    let find = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{at}: support renders no {kind} {name}"))
    };
    find("IngressClass", "nginx");
    find("Deployment", "support-nginx-ingress-controller");
    find("Deployment", "support-reflector");
    let lb = find("Service", "cluster-entrypoint");
    assert_eq!(lb["spec"]["type"], "LoadBalancer", "{at}");
    let secret = find("Secret", "prometheus-auth");
    assert_eq!(secret["stringData"]["password"], password, "{at}");
    assert_eq!(
        secret["metadata"]["annotations"]["reflector.v1.k8s.emberstack.com/reflection-allowed"],
        "true",
        "{at}"
    );
    assert!(
        !objects.iter().any(|o| o["kind"] == "Ingress"),
        "{at}: support renders an Ingress (the provider's Grafana or Prometheus host)"
    );
    let autoscaler = objects.iter().find(|o| {
        o["kind"] == "Deployment"
            && o["metadata"]["name"]
                .as_str()
                .unwrap()
                .contains("autoscaler")
    });
    if case.target == "aws" {
        let d = autoscaler.unwrap_or_else(|| panic!("{at}: no cluster-autoscaler"));
        let text = d.to_string();
        assert!(
            text.contains(&format!("k8s.io/cluster-autoscaler/{}", case.new_cluster)),
            "{at}: {text}"
        );
        assert!(text.contains("eu-west-1"), "{at}: {text}");
        assert_eq!(
            d["spec"]["template"]["spec"]["serviceAccountName"], "cluster-autoscaler",
            "{at}: terraform's autoscaler role trusts support/cluster-autoscaler"
        );
    } else {
        assert!(
            autoscaler.is_none(),
            "{at}: an autoscaler on {}",
            case.target
        );
    }
}

/// Every string under a key named `key`, anywhere in a values tree.
fn strings_under(v: &Json, key: &str, out: &mut Vec<String>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m {
                match child {
                    Json::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(child, key, out),
                }
            }
        }
        Json::Array(a) => a.iter().for_each(|c| strings_under(c, key, out)),
        _ => {}
    }
}

/// Every fixture cluster has a support chart: each gets a cluster layer
/// that renders with Helm's engine, and whose IngressClass and issuer are
/// the ones the hubs' values name. Installed to the cluster's own cloud
/// (utoronto, a kubeconfig cluster on Azure, to azure).
#[test]
fn every_fixture_cluster_gets_the_ingress_class_and_issuer_its_hubs_name() {
    require("age-keygen", "age");
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let identity = t.path().join("community.age");
    assert_eq!(
        run(Command::new("age-keygen").arg("-o").arg(&identity)).code,
        0
    );
    let mut checked = 0;
    for cluster in fixture_clusters() {
        let bundle = t.path().join(format!("{cluster}.r2r.tar"));
        let allow = hhmi_allowances();
        let mut extra: Vec<&str> = vec!["--quiet"];
        if cluster == "hhmi" {
            extra.extend(allow.iter().map(String::as_str));
        }
        export(&shared_infra(), &cluster, &keys, &bundle, &extra);
        let m: Json = serde_json::from_slice(
            &read_tar(&bundle)
                .into_iter()
                .find(|(p, _, _)| p == "bundle.json")
                .unwrap()
                .1,
        )
        .unwrap();
        let target = match m["source"]["provider"].as_str().unwrap() {
            "aws" => "aws: {account_id: \"123456789012\", region: us-east-1}\n",
            "gcp" => "gcp: {project: community-proj, region: us-central1}\n",
            _ => {
                "azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus}\n"
            }
        };
        let target_name = target.split(':').next().unwrap();
        let hubs = hub_names(&bundle);
        let dir = t.path().join(&cluster);
        let answers = t.path().join(format!("{cluster}.answers.yaml"));
        let mut text = format!(
            "target: {target_name}\ndir: {dir:?}\n{target}age_identity: {identity:?}\nrestore_image: r2r:test\nacme_email: {EMAIL}\nhubs:\n"
        );
        for h in &hubs {
            text.push_str(&format!(
                "  {h}: {{domain: {h}.{cluster}.community.example.org, oauth_client_id: keep}}\n"
            ));
        }
        std::fs::write(&answers, text).unwrap();
        let out = run(Command::new(R2R)
            .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
            .args(["--answers", s(&answers), "--yes"]));
        assert_eq!(out.code, 0, "{cluster}: {out:?}");

        let secrets = run(Command::new("age").args([
            "-d",
            "-i",
            s(&identity),
            s(&dir.join("config/_support/secret-values.yaml.age")),
        ]));
        assert_eq!(secrets.code, 0, "{cluster}: {secrets:?}");
        let secrets_file = dir.with_extension("secrets.yaml");
        std::fs::write(&secrets_file, &secrets.stdout).unwrap();
        let r = python(&[
            s(&project().join("tests/fixtures/cluster-layer-check.py")),
            s(&dir),
            s(&secrets_file),
        ]);
        assert_eq!(r.code, 0, "{cluster}: {r:?}");
        let r: Json = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            r["cert-manager"]["rendered"], true,
            "{cluster}: {}",
            r["cert-manager"]["error"]
        );
        assert_eq!(
            r["support"]["rendered"], true,
            "{cluster}: {}",
            r["support"]["error"]
        );
        assert_eq!(
            r["issuer"]["schema_errors"],
            serde_json::json!([]),
            "{cluster}"
        );
        let classes: Vec<&str> = r["support"]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "IngressClass")
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(classes, ["nginx"], "{cluster}");
        let issuer: Json = serde_json::to_value(
            r2r::values::tree::to_json(
                &r2r::values::tree::parse_yaml(
                    &std::fs::read_to_string(dir.join("kubernetes/cluster-issuer.yaml")).unwrap(),
                )
                .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        for h in &hubs {
            let values: Json = serde_json::to_value(
                r2r::values::tree::to_json(
                    &r2r::values::tree::parse_yaml(
                        &std::fs::read_to_string(dir.join("config").join(h).join("values.yaml"))
                            .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            let mut named = Vec::new();
            strings_under(&values, "ingressClassName", &mut named);
            assert!(!named.is_empty(), "{cluster}/{h}: no ingressClassName");
            for c in &named {
                assert!(
                    classes.contains(&c.as_str()),
                    "{cluster}/{h}: IngressClass {c}"
                );
            }
            let mut issuers = Vec::new();
            strings_under(&values, "cert-manager.io/cluster-issuer", &mut issuers);
            assert!(
                !issuers.is_empty(),
                "{cluster}/{h}: no cluster-issuer annotation"
            );
            for i in &issuers {
                assert_eq!(
                    i,
                    issuer["metadata"]["name"].as_str().unwrap(),
                    "{cluster}/{h}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

/// `acme_email` is asked on cloud targets only, and must be an address: it
/// goes into a manifest r2r applies. The plan names the cluster layer.
#[test]
fn acme_email_is_required_and_checked_on_cloud_targets() {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = example_bundle(t.path(), &keys);
    let identity = t.path().join("community.age");
    assert_eq!(
        run(Command::new("age-keygen").arg("-o").arg(&identity)).code,
        0
    );
    let install = |target: &str, email: Option<&str>, extra: &[&str]| {
        let dir = t.path().join(format!("{target}-{}", email.is_some()));
        let answers = dir.with_extension("answers.yaml");
        let mut text = format!(
            "target: {target}\ndir: {dir:?}\ngcp: {{project: community-proj, region: europe-west1}}\n\
             kubeconfig: {{context: c}}\nage_identity: {identity:?}\nrestore_image: r2r:test\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{oauth_client_id: keep}}\n"
        );
        if let Some(e) = email {
            text.push_str(&format!("acme_email: {e:?}\n"));
        }
        std::fs::write(&answers, text).unwrap();
        run(Command::new(R2R)
            .args(["install", s(&bundle), "--pubkey", s(&keys.public)])
            .args(["--answers", s(&answers), "--yes"])
            .args(extra))
    };
    let out = install("gcp", None, &["--dry-run"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("acme_email"), "{out:?}");
    for bad in [
        "admin",
        "admin@localhost",
        "a b@example.org",
        "a@example.org\nkind: Secret",
    ] {
        let out = install("gcp", Some(bad), &["--dry-run"]);
        assert_ne!(out.code, 0, "{bad:?} was accepted: {out:?}");
        assert!(out.stderr.contains("not an email address"), "{out:?}");
    }
    let out = install("gcp", Some("admin@example.org"), &["--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    for line in [
        "helm release cert-manager in namespace cert-manager",
        "helm release support in namespace support",
        "config/_support/secret-values.yaml.age",
        "kubernetes/cluster-issuer.yaml",
        "staging.example-community.org",
    ] {
        assert!(
            out.stdout.contains(line) || out.stderr.contains(line),
            "the plan lacks {line:?}: {out:?}"
        );
    }
    // A kubeconfig cluster is the community's own: no cluster layer, no question.
    let out = install("kubeconfig", None, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let dir = t.path().join("kubeconfig-false");
    let releases = std::fs::read_to_string(dir.join(".r2r-install/releases.json")).unwrap();
    assert!(
        !releases.contains("cert-manager") && !releases.contains("\"support\""),
        "{releases}"
    );
    assert!(!dir.join("kubernetes/cluster-issuer.yaml").exists());
}
