//! Secrets on the way out: sops files opened natively with an age key or
//! through the provider's sops (a recording stand-in here), merged per hub,
//! re-sealed for the community and opened again by stock `age`; files no one
//! can open carried sealed and named as blockers; and the leak scan that
//! keeps plaintext secrets out of every bundle.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::sops::{age_keygen, seal};
use common::*;

/// A copy of the example repository whose staging hub also lists `files`
/// (name, content) after its own values files.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_repo(), dir.path());
    let cluster = dir.path().join("config/clusters/example");
    let mut yaml = fs::read_to_string(cluster.join("cluster.yaml")).unwrap();
    let mut extra = String::new();
    for (name, content) in files {
        fs::write(cluster.join(name), content).unwrap();
        extra.push_str(&format!("  - {name}\n"));
    }
    yaml = yaml.replacen(
        "  - staging.values.yaml\n",
        &format!("  - staging.values.yaml\n{extra}"),
        1,
    );
    fs::write(cluster.join("cluster.yaml"), yaml).unwrap();
    dir
}

fn age_decrypt(identity: &Path, file: &Path) -> String {
    require("age", "age");
    let out = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "stock age -d failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// An executable shell script: the tests' stand-ins for `sops`.
fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn yaml(text: &str) -> yaml_serde::Value {
    yaml_serde::from_str(text).unwrap()
}

fn report_of(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(bundle.join("report.json")).unwrap()).unwrap()
}

#[test]
fn age_sealed_sops_files_open_natively_and_reseal_for_stock_age() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let (provider_id, provider_r) = age_keygen(work.path(), "provider.txt");
    let (community_id, community_r) = age_keygen(work.path(), "community.txt");
    let common = seal(
        "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_id: abc123\n        client_secret: first-secret-value\n  proxy:\n    secretToken: 0a1b2c3d\n",
        &provider_r,
    );
    let staging = seal(
        "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_secret: second-secret-value\n    services:\n      grader:\n        apiToken: tok-xyz\n        admin: true\n        weight: 3\n  note_unencrypted: visible\n",
        &provider_r,
    );
    let repo = repo_with(&[
        ("enc-common.secret.values.yaml", &common),
        ("enc-staging.secret.values.yaml", &staging),
    ]);
    let out = work.path().join("b");
    export(
        repo.path(),
        "example",
        &keys,
        &out,
        &[
            "--format",
            "dir",
            "--age-identity",
            s(&provider_id),
            "--recipient",
            &community_r,
        ],
    );
    let sealed = out.join("secrets/staging/secret-values.yaml.age");
    let raw = fs::read_to_string(&sealed).unwrap();
    assert!(
        raw.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{raw}"
    );
    assert!(!raw.contains("second-secret-value"));
    let opened = yaml(&age_decrypt(&community_id, &sealed));
    // Merged in cluster.yaml order by Helm's rules: the later file wins.
    assert_eq!(
        opened,
        yaml(
            "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_id: abc123\n        client_secret: second-secret-value\n    services:\n      grader:\n        apiToken: tok-xyz\n        admin: true\n        weight: 3\n  proxy:\n    secretToken: 0a1b2c3d\n  note_unencrypted: visible\n"
        )
    );
    // The provider's identity is not a recipient of the re-sealed file.
    let out_p = std::process::Command::new("age")
        .args(["-d", "-i", s(&provider_id), s(&sealed)])
        .output()
        .unwrap();
    assert!(!out_p.status.success());

    let r = report_of(&out);
    assert_eq!(r["recipients"], serde_json::json!([community_r]));
    let hub = &r["hubs"][0];
    assert_eq!(hub["secrets"], "secrets/staging/secret-values.yaml.age");
    let kms: Vec<&serde_json::Value> = hub["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == "kms")
        .collect();
    assert_eq!(kms.len(), 2, "{kms:?}");
    assert!(
        kms.iter().all(
            |f| f["severity"] == "info" && f["subject"].as_str().unwrap().contains(&provider_r)
        )
    );
    // Opened files name what they hold too, by key path.
    assert_eq!(
        kms[0]["key_paths"],
        serde_json::json!([
            "jupyterhub.hub.config.GitHubOAuthenticator.client_id",
            "jupyterhub.hub.config.GitHubOAuthenticator.client_secret",
            "jupyterhub.proxy.secretToken"
        ])
    );
    // The bundle still verifies, and no plaintext secret is anywhere in it.
    assert_eq!(verify(&out, &keys.public).code, 0);
    for entry in walk(&out) {
        let bytes = fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            "first-secret-value",
            "second-secret-value",
            "tok-xyz",
            "0a1b2c3d",
        ] {
            assert!(!text.contains(secret), "{} holds {secret}", entry.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn altered_sops_files_are_refused_by_name() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let (id, r) = age_keygen(work.path(), "provider.txt");
    let (_, community) = age_keygen(work.path(), "community.txt");
    let sealed = seal("a:\n  one: first-value\n  two: second-value\n", &r);
    // Swapping two sealed values keeps each one authentic on its own, but
    // its key path is its associated data.
    let lines: Vec<&str> = sealed.lines().collect();
    let one = lines.iter().position(|l| l.contains("one:")).unwrap();
    let two = lines.iter().position(|l| l.contains("two:")).unwrap();
    let mut swapped: Vec<String> = lines.iter().map(std::string::ToString::to_string).collect();
    swapped[one] = lines[one].replace(
        lines[one].split_once(": ").unwrap().1,
        lines[two].split_once(": ").unwrap().1,
    );
    swapped[two] = lines[two].replace(
        lines[two].split_once(": ").unwrap().1,
        lines[one].split_once(": ").unwrap().1,
    );
    // Dropping a value leaves every remaining value intact but breaks the MAC.
    let dropped: String = lines
        .iter()
        .filter(|l| !l.contains("two:"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (case, text, why) in [
        (
            "swapped",
            swapped.join("\n") + "\n",
            "cannot open the value at a.one",
        ),
        ("dropped", dropped, "MAC mismatch"),
    ] {
        let repo = repo_with(&[("enc-x.secret.values.yaml", &text)]);
        let out = work.path().join(case);
        let r = run(export_cmd(repo.path(), "example", &keys.key, &out).args([
            "--age-identity",
            s(&id),
            "--recipient",
            &community,
        ]));
        assert_ne!(r.code, 0, "{case}: {r:?}");
        assert!(
            r.stderr.contains("enc-x.secret.values.yaml"),
            "{case}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(why), "{case}: {}", r.stderr);
        assert!(!r.stderr.contains("first-value") && !r.stderr.contains("second-value"));
        assert!(!out.exists(), "{case}: a bundle was written");
    }
}

#[test]
fn unopened_secrets_stay_sealed_and_block_with_the_key_named() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("uk");
    export(
        &shared_infra(),
        "2i2c-uk",
        &keys,
        &out,
        &["--format", "dir"],
    );
    assert!(!out.join("secrets/staging/secret-values.yaml.age").exists());
    let r = report_of(&out);
    assert_eq!(r["recipients"], serde_json::json!([]));
    let key =
        "projects/two-eye-two-see/locations/global/keyRings/sops-keys/cryptoKeys/similar-hubs";
    for hub in r["hubs"].as_array().unwrap() {
        let blocker = hub["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["category"] == "kms")
            .unwrap();
        assert_eq!(blocker["severity"], "blocker");
        assert!(
            blocker["subject"].as_str().unwrap().contains(key),
            "{blocker}"
        );
        assert!(blocker["subject"].as_str().unwrap().contains("GCP KMS"));
    }
    assert!(r["summary"]["blockers"].as_u64().unwrap() >= 3);
}

// Regression: the report named each sealed file and its key but not what
// it holds, so a community that cannot open it did not know which OAuth
// secrets, pull secrets and API keys to make anew; the support chart's own
// sealed files were not in the report at all.
#[test]
fn the_report_names_the_key_paths_each_sealed_file_holds_never_a_value() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("uk.r2r.tar");
    export(&shared_infra(), "2i2c-uk", &keys, &out, &["--quiet"]);
    let report = r2r(&[
        "inspect",
        s(&out),
        "--pubkey",
        s(&keys.public),
        "--report",
        "--json",
    ]);
    assert_eq!(report.code, 0, "{report:?}");
    let r = report.json();
    let kms_at = |findings: &serde_json::Value, member: &str| -> Vec<String> {
        let f = findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["category"] == "kms" && f["location"] == member)
            .unwrap_or_else(|| panic!("no kms finding for {member}: {findings}"));
        f["key_paths"]
            .as_array()
            .unwrap_or_else(|| panic!("{member}: no key_paths: {f}"))
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    let hub = |name: &str| {
        r["hubs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()["findings"]
            .clone()
    };
    assert_eq!(
        kms_at(
            &hub("staging"),
            "secrets/staging/enc-staging.secret.values.yaml"
        ),
        [
            "jupyterhub.hub.config.CILogonOAuthenticator.client_id",
            "jupyterhub.hub.config.CILogonOAuthenticator.client_secret"
        ]
    );
    let lis = kms_at(&hub("lis"), "secrets/lis/enc-lis.secret.values.yaml");
    assert!(
        lis.contains(&"jupyterhub.hub.config.GitHubOAuthenticator.client_secret".to_owned()),
        "{lis:?}"
    );
    // The support values, and the support chart's own sealed files.
    let cluster = &r["cluster_findings"];
    let support = kms_at(cluster, "secrets/_support/enc-support.secret.values.yaml");
    assert!(
        support.contains(&"prometheusAuthSecret.password".to_owned()),
        "{support:?}"
    );
    let chart = kms_at(cluster, "charts/support/enc-support.secret.values.yaml");
    assert!(
        chart.contains(&"grafana.adminPassword".to_owned())
            && chart.contains(
                &"prometheus.alertmanager.config.receivers[*].pagerduty_configs[*].routing_key"
                    .to_owned()
            ),
        "{chart:?}"
    );
    // Thousands of sealed list entries are one thing to make anew.
    let cryptnono = kms_at(cluster, "charts/support/enc-cryptnono.secret.values.yaml");
    assert!(cryptnono.len() < 10, "{cryptnono:?}");
    // Names only: nothing sealed, nothing opened.
    assert!(
        !report.stdout.contains("ENC["),
        "a sealed value is in the report"
    );

    let md = r2r(&["inspect", s(&out), "--pubkey", s(&keys.public), "--report"]);
    assert_eq!(md.code, 0, "{md:?}");
    assert!(
        md.stdout.contains(
            "  - holds: `jupyterhub.hub.config.CILogonOAuthenticator.client_id`, `jupyterhub.hub.config.CILogonOAuthenticator.client_secret`\n"
        ),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("`grafana.adminPassword`"),
        "{}",
        md.stdout
    );
    assert!(!md.stdout.contains("ENC["));
}

#[test]
fn sops_binary_route_through_a_recording_stand_in() {
    // A recording stand-in for `sops`: the real binary and 2i2c's KMS key
    // are not available here. It records its arguments and prints the
    // plaintext a real `sops --decrypt` would; r2r's side of the process
    // boundary (arguments, output parsing, re-sealing) is what is tested.
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let (community_id, community) = age_keygen(work.path(), "community.txt");
    let log = work.path().join("sops.log");
    let stand_in = work.path().join("sops-stand-in");
    write_script(
        &stand_in,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\ncase \"$2\" in\n  *enc-staging*) printf 'jupyterhub:\\n  hub:\\n    config:\\n      CILogonOAuthenticator:\\n        client_secret: from-kms-staging\\n' ;;\n  *) printf 'other: from-kms\\n' ;;\nesac\n",
            log.display()
        ),
    );
    let out = work.path().join("uk");
    let r = run(export_cmd(&shared_infra(), "2i2c-uk", &keys.key, &out)
        .args([
            "--format",
            "dir",
            "--hub",
            "staging",
            "--decrypt-with",
            "sops",
            "--recipient",
            &community,
        ])
        .env("R2R_SOPS", &stand_in));
    assert_eq!(r.code, 0, "{r:?}");
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls
            .lines()
            .any(|l| l.starts_with("--decrypt ") && l.ends_with("enc-staging.secret.values.yaml")),
        "{calls}"
    );
    assert!(
        calls
            .lines()
            .any(|l| l.ends_with("enc-support.secret.values.yaml")),
        "{calls}"
    );
    let opened = yaml(&age_decrypt(
        &community_id,
        &out.join("secrets/staging/secret-values.yaml.age"),
    ));
    assert_eq!(
        opened,
        yaml(
            "jupyterhub:\n  hub:\n    config:\n      CILogonOAuthenticator:\n        client_secret: from-kms-staging\n"
        )
    );
    assert!(
        out.join("secrets/_support/secret-values.yaml.age")
            .is_file()
    );
    let rep = report_of(&out);
    let kms = rep["hubs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["category"] == "kms")
        .unwrap()
        .clone();
    assert_eq!(kms["severity"], "info");
    assert!(
        kms["subject"]
            .as_str()
            .unwrap()
            .contains("opened with sops")
    );
}

#[test]
fn opening_secrets_needs_a_recipient_and_a_failing_sops_is_named() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let (id, _) = age_keygen(work.path(), "id.txt");
    let r = run(export_cmd(
        &example_repo(),
        "example",
        &keys.key,
        &work.path().join("b"),
    )
    .args(["--age-identity", s(&id)]));
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--recipient"), "{}", r.stderr);

    // An identity passed where the recipient belongs is named, not printed.
    let identity = fs::read_to_string(&id).unwrap();
    let secret = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let r = run(export_cmd(
        &example_repo(),
        "example",
        &keys.key,
        &work.path().join("b"),
    )
    .args(["--recipient", secret]));
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("this is an age identity"), "{}", r.stderr);
    assert!(
        !r.stderr.contains(secret),
        "the secret key was printed: {}",
        r.stderr
    );

    let (_, community) = age_keygen(work.path(), "c.txt");
    let stand_in = work.path().join("failing-sops");
    write_script(
        &stand_in,
        "#!/bin/sh\necho 'Failed to get the data key required to decrypt the SOPS file.' >&2\nexit 128\n",
    );
    let out = work.path().join("uk");
    let r = run(export_cmd(&shared_infra(), "2i2c-uk", &keys.key, &out)
        .args(["--decrypt-with", "sops", "--recipient", &community])
        .env("R2R_SOPS", &stand_in));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("enc-") && r.stderr.contains("Failed to get the data key"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn leak_scan_catches_planted_secrets_by_member_and_key_path() {
    let keys = keys();
    let work = tempfile::tempdir().unwrap();
    let (_, provider) = age_keygen(work.path(), "p.txt");
    let planted = [
        "0123456789abcdef-client-secret",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0123456789abcdefghijABCDEFGHIJ0123456789",
        "hunter2hunter2hunter2",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
    ];
    let sealed_with_plain_leaf = seal(
        &format!("a:\n  ok: fine\n  password_unencrypted: {}\n", planted[3]),
        &provider,
    );
    let repo = repo_with(&[
        (
            "leaky.values.yaml",
            &format!(
                "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_secret: {}\n  singleuser:\n    extraEnv:\n      KEYS: [\"{}\"]\n",
                planted[0], planted[1]
            ),
        ),
        ("enc-leaky.secret.values.yaml", &sealed_with_plain_leaf),
    ]);
    let tf = repo.path().join("terraform/gcp/projects/example.tfvars");
    let mut tfv = fs::read_to_string(&tf).unwrap();
    tfv.push_str(&format!("github_token = \"{}\"\n", planted[2]));
    fs::write(&tf, tfv).unwrap();
    let tpl = repo.path().join("helm-charts/basehub/templates");
    fs::create_dir_all(&tpl).unwrap();
    fs::write(tpl.join("key.yaml"), format!("{{{{- if .Values.x }}}}\ndata: |\n  -----BEGIN PRIVATE KEY-----\n  {}\n  -----END PRIVATE KEY-----\n{{{{- end }}}}\n", planted[4])).unwrap();
    let support = repo
        .path()
        .join("config/clusters/example/support.values.yaml");
    let mut sv = fs::read_to_string(&support).unwrap();
    sv.push_str(&format!("extra:\n  header: \"Bearer {}\"\n", planted[5]));
    fs::write(&support, sv).unwrap();

    let out = work.path().join("b");
    let r = run(&mut export_cmd(repo.path(), "example", &keys.key, &out));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(!out.exists());
    let expected = [
        "config/staging/leaky.values.yaml: jupyterhub.hub.config.GitHubOAuthenticator.client_secret",
        "config/staging/leaky.values.yaml: jupyterhub.singleuser.extraEnv.KEYS[0]",
        "secrets/staging/enc-leaky.secret.values.yaml: a.password_unencrypted",
        "infra/terraform/gcp/projects/example.tfvars: line ",
        "charts/basehub/templates/key.yaml: line 3",
        "config/_support/support.values.yaml: extra.header",
    ];
    for e in expected {
        assert!(r.stderr.contains(e), "missing {e:?} in:\n{}", r.stderr);
    }
    // Each value is named once, where it was written: not again for its
    // copy in the generated standalone values.
    assert!(
        !r.stderr.contains("config/staging/values.yaml"),
        "a copy in the standalone values was reported:\n{}",
        r.stderr
    );
    for p in planted {
        assert!(
            !r.stderr.contains(p),
            "the refusal printed a planted secret:\n{}",
            r.stderr
        );
    }

    // Allowing all but one still refuses that one; allowing all lets the
    // export through, warning about each.
    let flags: Vec<String> = r
        .stderr
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("to carry it anyway: --allow-plaintext ")
        })
        .map(|f| f.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(flags.len(), expected.len(), "{}", r.stderr);
    let mut cmd = export_cmd(repo.path(), "example", &keys.key, &out);
    for f in &flags[1..] {
        cmd.args(["--allow-plaintext", f]);
    }
    let r2 = run(&mut cmd);
    assert_ne!(r2.code, 0);
    assert!(
        r2.stderr.contains("1 plaintext secret found"),
        "{}",
        r2.stderr
    );
    assert!(r2.stderr.contains(&flags[0]));
    cmd.args(["--allow-plaintext", &flags[0]]);
    let r3 = run(&mut cmd);
    assert_eq!(r3.code, 0, "{r3:?}");
    assert_eq!(
        r3.stderr.matches("as --allow-plaintext asked").count(),
        flags.len()
    );
}
