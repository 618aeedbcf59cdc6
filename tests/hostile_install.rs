//! Issue 14, the install side: what a compromised signer, a neighbour on a
//! shared machine or a stale bucket can make `r2r install` do. Each test
//! crafts its input the way the attacker would and checks the refusal (or
//! the repair) through the real binary, against a real S3 server where a
//! bucket is involved.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::craft::put_member;
use common::*;

const TFVARS: &str = "infra/terraform/gcp/projects/example.tfvars";

struct Fixture {
    t: tempfile::TempDir,
    keys: Keys,
    /// The example community with its homes, in directory form.
    bundle: PathBuf,
    answers: PathBuf,
}

/// The example exported with its homes, and answers for every target.
fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let keys = keys();
    let bundle = t.path().join("bundle");
    let homes = example_repo().join("homes");
    export(
        &example_repo(),
        "example",
        &keys,
        &bundle,
        &["--format", "dir", "--homes", s(&homes), "--quiet"],
    );
    require("age-keygen", "age");
    let identity = t.path().join("community.age");
    let out = run(Command::new("age-keygen").arg("-o").arg(&identity));
    assert_eq!(out.code, 0, "{out:?}");
    let answers = t.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!(
            "age_identity: {identity:?}\nrestore_image: r2r:test\nacme_email: admin@example.org\n\
             hubs:\n  staging: {{oauth_client_id: keep}}\n  prod: {{domain: hub.example.net, oauth_client_id: keep}}\n"
        ),
    )
    .unwrap();
    Fixture {
        t,
        keys,
        bundle,
        answers,
    }
}

impl Fixture {
    fn install(&self, extra: &[&str]) -> Run {
        self.install_in(None, extra)
    }

    fn install_in(&self, cwd: Option<&Path>, extra: &[&str]) -> Run {
        let mut c = Command::new(R2R);
        c.args(["install", s(&self.bundle), "--pubkey", s(&self.keys.public)])
            .args(["--answers", s(&self.answers), "--yes"])
            .args(extra);
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        run(&mut c)
    }

    /// The answers file with `more` appended.
    fn answer(&self, more: &str) {
        let mut text = std::fs::read_to_string(&self.answers).unwrap();
        text.push_str(more);
        std::fs::write(&self.answers, text).unwrap();
    }
}

/// Flaw 4: a signer asks for 5000 × n2-highmem-32 (4000 always on), 40
/// pools, and an 18.6-million-GB home disk. None of it reaches terraform
/// unseen: the install refuses naming each value, the member it came from
/// and the limit; an answer allows a value or picks a smaller one, and the
/// plan (text and --json) shows every value beside its limit.
#[test]
fn bundle_sizes_above_the_blueprint_limits_need_an_explicit_answer() {
    let f = fixture();
    let mut tfvars = String::from(
        "zone = \"us-central1-b\"\nregion = \"us-central1\"\n\
         persistent_disks = { prod = { size = 18600000 } }\nnotebook_nodes = {\n",
    );
    tfvars.push_str("  \"huge\" : { min : 4000, max : 5000, machine_type : \"n2-highmem-32\" },\n");
    for n in 0..39 {
        tfvars.push_str(&format!(
            "  \"p{n}\" : {{ min : 0, max : 20, machine_type : \"n2-highmem-4\" }},\n"
        ));
    }
    tfvars.push_str("}\n");
    put_member(&f.bundle, &f.keys.key, TFVARS, tfvars.as_bytes());

    let ws = f.t.path().join("ws");
    let out = f.install(&["--target", "gcp", "--dir", s(&ws), "--dry-run"]);
    assert_ne!(out.code, 0, "the oversized plan was accepted: {out:?}");
    // 40 pools carried, and one r2r makes for hub prod's dask workers,
    // which no carried pool takes.
    for want in [
        "5000",
        "4000",
        "18600000",
        "41",
        TFVARS,
        "limit",
        "sizes.user_node_pools.huge.max",
        "sizes.home_disks.prod",
        "sizes.user_pools",
    ] {
        assert!(out.stderr.contains(want), "no {want:?} in: {}", out.stderr);
    }
    assert!(!ws.exists(), "a refused install wrote {}", ws.display());

    // Allowing the larger values explicitly: shown in the plan with limits.
    f.answer(
        "sizes:\n  user_pools: 41\n  user_node_pools: {huge: {min: 4000, max: 5000}}\n  home_disks: {prod: 18600000}\n",
    );
    let out = f.install(&["--target", "gcp", "--dir", s(&ws), "--dry-run", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let bounds = plan["plan"]["sizes"]["bounds"].as_array().unwrap();
    let max = bounds
        .iter()
        .find(|b| b["key"] == "sizes.user_node_pools.huge.max")
        .unwrap_or_else(|| panic!("no bound for huge.max in {bounds:#?}"));
    assert_eq!(max["value"], 5000);
    assert_eq!(max["used"], 5000);
    assert_eq!(max["source"], TFVARS);
    assert!(max["limit"].as_u64().unwrap() < 5000);
    let text = f.install(&["--target", "gcp", "--dir", s(&ws), "--dry-run"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("5000") && text.stdout.contains("18600000"),
        "the plan hides the sizes: {}",
        text.stdout
    );

    // Picking smaller values instead: they, not the bundle's, reach terraform.
    f.answer("");
    let small = std::fs::read_to_string(&f.answers)
        .unwrap()
        .replace("user_pools: 41", "user_pools: 2")
        .replace("max: 5000", "max: 8")
        .replace("min: 4000", "min: 1")
        .replace("prod: 18600000", "prod: 200");
    std::fs::write(&f.answers, small).unwrap();
    let out = f.install(&["--target", "gcp", "--dir", s(&ws)]);
    assert_eq!(out.code, 0, "{out:?}");
    let rendered = std::fs::read_to_string(ws.join("terraform/terraform.tfvars")).unwrap();
    let body = hcl::parse(&rendered).unwrap();
    let v: serde_json::Value = hcl::from_body(body).unwrap();
    let pools = v["user_node_pools"].as_object().unwrap();
    assert_eq!(pools.len(), 2, "{rendered}");
    assert_eq!(pools["huge"]["max"], 8, "{rendered}");
    assert_eq!(pools["huge"]["min"], 1, "{rendered}");
    assert_eq!(v["home_disks"]["prod"]["size_gb"], 200, "{rendered}");
}

/// Flaw 4, `_hub.json`: its `bytes` sized the home disk (twice the homes)
/// without being checked against anything. A signer that inflates it to
/// 10 PB is refused, the member and its index named.
#[test]
fn hub_json_bytes_that_disagree_with_the_signed_index_are_refused() {
    let f = fixture();
    let member = "homes/prod/_hub.json";
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.bundle.join(member)).unwrap()).unwrap();
    let home = rec["homes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|h| h["home"] == "jovyan")
        .unwrap();
    home["bytes"] = serde_json::json!(10_000_000_000_000_000u64);
    put_member(
        &f.bundle,
        &f.keys.key,
        member,
        &serde_json::to_vec_pretty(&rec).unwrap(),
    );
    let ws = f.t.path().join("ws");
    let out = f.install(&["--target", "gcp", "--dir", s(&ws), "--dry-run"]);
    assert_ne!(out.code, 0, "the inflated homes were accepted: {out:?}");
    for want in [member, "homes/prod/jovyan.index.jsonl", "10000000000000000"] {
        assert!(out.stderr.contains(want), "no {want:?} in: {}", out.stderr);
    }
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

/// Flaw 7: an empty directory someone else owns (the default
/// `<cluster>-<target>` planted in a shared cwd such as /tmp), or one
/// others may write to, is refused before anything is written in it; so
/// is a restore destination someone else owns. One r2r creates is fine.
#[test]
fn an_install_directory_someone_else_owns_or_can_write_is_refused() {
    let f = fixture();
    let root = rustix::process::geteuid().is_root();
    // Someone else's: as root, a directory given to nobody (65534); as
    // anyone else, the root-owned `/`.
    let foreign = if root {
        let d = f.t.path().join("planted");
        std::fs::create_dir(&d).unwrap();
        chown(&d, 65534);
        d
    } else {
        PathBuf::from("/")
    };
    let out = f.install(&["--target", "local", "--dir", s(&foreign)]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(s(&foreign)) && out.stderr.contains("owned by uid"),
        "{}",
        out.stderr
    );
    assert!(!foreign.join(".r2r-install").exists());

    if root {
        // The default name, planted by a neighbour in a shared sticky cwd.
        let shared = f.t.path().join("tmp");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let planted = shared.join("example-local");
        std::fs::create_dir(&planted).unwrap();
        chown(&planted, 65534);
        let out = f.install_in(Some(&shared), &["--target", "local"]);
        assert_ne!(out.code, 0, "{out:?}");
        assert!(
            out.stderr.contains("example-local") && out.stderr.contains("uid 65534"),
            "{}",
            out.stderr
        );
        assert!(std::fs::read_dir(&planted).unwrap().next().is_none());

        // A restore destination someone else owns.
        let dest = f.t.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        chown(&dest, 65534);
        let out = r2r(&[
            "restore-homes",
            s(&f.bundle),
            "--pubkey",
            s(&f.keys.public),
            "--to",
            s(&dest),
        ]);
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("uid 65534"), "{}", out.stderr);
        assert!(std::fs::read_dir(&dest).unwrap().next().is_none());
    }

    // Ours, but writable by the group.
    let loose = f.t.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o775)).unwrap();
    let out = f.install(&["--target", "local", "--dir", s(&loose)]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(s(&loose)) && out.stderr.contains("775"),
        "{}",
        out.stderr
    );
    assert!(std::fs::read_dir(&loose).unwrap().next().is_none());

    // One r2r makes itself is fine, and nobody else may write to it.
    let fresh = f.t.path().join("fresh");
    let out = f.install(&["--target", "local", "--dir", s(&fresh)]);
    assert_eq!(out.code, 0, "{out:?}");
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o022, 0, "{mode:o}");
}

/// Flaw 9: an object of the member's size but other bytes (stale, or
/// planted) was kept, the install reported success and every restore Job
/// then failed verification. Now only an object whose recorded sha256 is
/// the signed one is kept; this one is replaced by the signed bytes.
#[test]
fn an_equal_size_object_in_the_bucket_is_replaced_by_the_signed_bytes() {
    let f = fixture();
    let moto = s3::moto();
    moto.bucket("r2r-bundle");
    let member = "homes/prod/_hub.json";
    let signed = std::fs::read(f.bundle.join(member)).unwrap();
    let planted = vec![b'x'; signed.len()];
    let key = format!("/r2r-bundle/drill/{member}");
    let put = moto.raw("PUT", &key, &[], &planted);
    assert!(put.starts_with("HTTP/1.1 200"), "{put}");

    let bin = f.t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["terraform", "helm", "kubectl"] {
        std::os::unix::fs::symlink(project().join("tests/fixtures/stand-in.py"), bin.join(tool))
            .unwrap();
    }
    f.answer(&format!(
        "aws: {{account_id: \"123456789012\", region: us-west-2, cluster_name: example}}\nbundle_url: {:?}\n",
        moto.url("r2r-bundle/drill")
    ));
    let ws = f.t.path().join("ws");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut c = Command::new(R2R);
    c.args(["install", s(&f.bundle), "--pubkey", s(&f.keys.public)])
        .args(["--answers", s(&f.answers), "--yes", "--apply"])
        .args(["--target", "aws", "--dir", s(&ws)])
        .env("PATH", &path)
        .env("R2R_STAND_IN_LOG", f.t.path().join("stand-in.log"))
        .env("R2R_STAND_IN_HUBS", "staging,prod")
        .envs(s3::ENV);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{out:?}");
    // Fetched back with boto3, as a restore Job's bucket mount would read it.
    let fetched = f.t.path().join("fetched");
    let got = run(Command::new("python3")
        .arg(project().join("tests/fixtures/s3-fetch.py"))
        .args([
            &format!("http://127.0.0.1:{}", moto.port),
            "r2r-bundle",
            "drill/homes/prod/",
            s(&fetched),
        ])
        .envs(s3::ENV));
    assert_eq!(got.code, 0, "{got:?}");
    let body = std::fs::read(fetched.join("_hub.json")).unwrap();
    assert_eq!(body.len(), planted.len());
    assert_eq!(
        r2r::bundle::digest::sha256_bytes(&body),
        r2r::bundle::digest::sha256_bytes(&signed),
        "the planted object was kept: {}",
        String::from_utf8_lossy(&body)
    );
}

/// A bundle's jsonnet is a program: the eksctl config r2r renders at
/// install time (for the node pools) may loop, grow without end, or import
/// what is not its own. Each is evaluated in a child r2r under CPU and
/// memory limits, its imports confined to the bundle's eksctl files; the
/// install goes on with a warning naming the member and why (the pools
/// then come from the terraform variables).
#[test]
fn a_hostile_eksctl_jsonnet_is_stopped_at_its_limits() {
    let f = fixture();
    let member = "infra/eksctl/example.jsonnet";
    let cases = [
        (
            "memory",
            "{ nodeGroups: std.makeArray(200000000, function(i) { name: 'n' + i }) }\n",
            "limits",
        ),
        (
            "time",
            "local f(n) = if n == 0 then 1 else f(n - 1) + f(n - 1);\n{ nodeGroups: [{ name: 'x', minSize: f(60) }] }\n",
            "limits",
        ),
        (
            "escape",
            "local c = importstr '../../config/cluster.yaml';\n{ nodeGroups: [{ name: c }] }\n",
            "import",
        ),
    ];
    for (what, text, says) in cases {
        put_member(&f.bundle, &f.keys.key, member, text.as_bytes());
        let ws = f.t.path().join(format!("ws-{what}"));
        let out = f.install(&["--target", "gcp", "--dir", s(&ws), "--dry-run"]);
        assert_eq!(out.code, 0, "{what}: {out:?}");
        assert!(
            out.stderr.contains(member)
                && out.stderr.contains("cannot read its node groups")
                && out.stderr.contains(says),
            "{what}: no warning naming {member} and {says:?}: {}",
            out.stderr
        );
    }
}
