//! Container images end to end, against real registries: Debian's
//! `docker-registry` on loopback (one open, one behind htpasswd), seeded
//! with images built in code by `skopeo copy`, and checked with skopeo.

// A scenario test reads best as one story; the 100-line limit is for src/.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci_build::{self, TestImages};
use common::registry::{self, Registry};
use common::{Run, keys, run, s};

const NOTEBOOK: &str = "jupyter/scipy-notebook:2024-10-07";

struct World {
    tmp: tempfile::TempDir,
    images: TestImages,
    layout: PathBuf,
    src: Registry,
    repo: PathBuf,
    keys: common::Keys,
}

/// Two registries' worth of setup: test images built and pushed to an
/// open source registry; the example community pointed at it.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let images = oci_build::build(&layout);
    let src = registry::start(false);
    registry::seed(
        &layout,
        "notebook",
        &format!("{}/{NOTEBOOK}", src.host),
        None,
    );
    registry::seed(&layout, "one", &format!("{}/base/one:1", src.host), None);
    registry::seed(&layout, "two", &format!("{}/base/two:1", src.host), None);
    // Docker's own manifest type, which most images in the wild still use.
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "copy",
        "--quiet",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
    ])
    .arg(format!("oci:{}:one", layout.display()))
    .arg(format!("docker://{}/base/docker:1", src.host));
    assert_eq!(run(&mut cmd).code, 0);
    let repo = community_using(tmp.path(), &format!("{}/jupyter/scipy-notebook", src.host));
    World {
        tmp,
        images,
        layout,
        src,
        repo,
        keys: keys(),
    }
}

/// The example community, its notebook image moved to `image`.
fn community_using(dir: &Path, image: &str) -> PathBuf {
    let repo = dir.join("community");
    common::copy_tree(&common::example_repo(), &repo);
    for f in ["common.values.yaml", "prod.values.yaml"] {
        let p = repo.join("config/clusters/example").join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("quay.io/jupyter/scipy-notebook"));
        std::fs::write(&p, text.replace("quay.io/jupyter/scipy-notebook", image)).unwrap();
    }
    repo
}

impl World {
    fn export(&self, out: &Path, extra: &[&str]) -> Run {
        self.export_with(out, extra, &[])
    }

    fn export_with(&self, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = common::export_cmd(&self.repo, "example", &self.keys.key, out);
        cmd.args(["--images", "--json", "--quiet"]).args(extra);
        hermetic(&mut cmd, self.tmp.path());
        run(cmd.envs(env.iter().copied()))
    }

    fn push(&self, bundle: &Path, to: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let (b, k) = (s(bundle), s(&self.keys.public));
        let mut args = vec!["push-images", b, "--pubkey", k, "--to", to];
        args.extend_from_slice(extra);
        self.r2r(&args, env)
    }

    fn r2r(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_r2r"));
        cmd.args(args);
        hermetic(&mut cmd, self.tmp.path());
        run(cmd.envs(env.iter().copied()))
    }
}

/// No credentials but those a test gives; short retry pauses.
fn hermetic(cmd: &mut Command, tmp: &Path) {
    let empty = tmp.join("no-docker-config");
    std::fs::create_dir_all(&empty).unwrap();
    cmd.env("DOCKER_CONFIG", &empty)
        .env_remove("REGISTRY_AUTH_FILE")
        .env("R2R_RETRY_FIRST_MS", "50");
}

fn carried(out: &Run) -> Vec<serde_json::Value> {
    out.json()["images"]["images"].as_array().unwrap().clone()
}

fn digest_of(out: &Run, reference: &str) -> String {
    carried(out)
        .iter()
        .find(|i| i["reference"] == reference)
        .unwrap_or_else(|| panic!("{reference} not carried: {out:?}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn export_then_push_keeps_every_digest() {
    let w = world();
    let bundle = w.tmp.path().join("b.r2r.tar");
    let one = format!("{}/base/one:1", w.src.host);
    let two = format!("{}/base/two:1", w.src.host);
    let docker = format!("{}/base/docker:1", w.src.host);
    let out = w.export(
        &bundle,
        &["--image", &one, "--image", &two, "--image", &docker],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        digest_of(&out, &docker),
        registry::remote_digest(&docker, None)
    );
    let dm = carried(&out)
        .into_iter()
        .find(|i| i["reference"] == docker.as_str())
        .unwrap();
    assert_eq!(
        dm["media_type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let notebook = format!("{}/{NOTEBOOK}", w.src.host);
    // The layout names each image by the registry's own digest.
    assert_eq!(digest_of(&out, &notebook), w.images.notebook);
    assert_eq!(digest_of(&out, &one), w.images.one);
    assert_eq!(digest_of(&out, &two), w.images.two);
    let nb = carried(&out)
        .into_iter()
        .find(|i| i["reference"] == notebook.as_str())
        .unwrap();
    assert_eq!(
        nb["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    // Every distinct blob of the source layout is stored, the shared base
    // once; the Docker-typed copy adds its own manifest (its config and
    // layers are the same bytes) and the OCI index r2r names it by.
    let distinct = std::fs::read_dir(w.layout.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        out.json()["images"]["blobs"],
        distinct as u64 + 2,
        "{out:?}"
    );
    assert!(
        out.json()["images"]["shared"].as_u64().unwrap() >= 2,
        "{out:?}"
    );
    assert_eq!(common::verify(&bundle, &w.keys.public).code, 0);

    // inspect --images: per hub, the values path, and the carried digest.
    let ins = w.r2r(
        &[
            "inspect",
            s(&bundle),
            "--pubkey",
            s(&w.keys.public),
            "--images",
            "--json",
        ],
        &[],
    );
    assert_eq!(ins.code, 0, "{ins:?}");
    let hubs = ins.json();
    let staging = hubs
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hub"] == "staging")
        .unwrap();
    let row = &staging["images"][0];
    assert_eq!(row["canonical"], notebook.as_str());
    assert_eq!(row["values_path"], "jupyterhub.singleuser.image");
    assert_eq!(row["carried"], w.images.notebook.as_str());

    // Stock tools on the extracted layout: skopeo inspect and copy.
    let x = w.tmp.path().join("x");
    std::fs::create_dir(&x).unwrap();
    assert_eq!(
        run(Command::new("tar").args(["-xf", s(&bundle), "-C", s(&x)])).code,
        0
    );
    let layout = format!("oci:{}:{notebook}", x.join("images").display());
    let raw = run(Command::new("skopeo").args(["inspect", "--raw", &layout]));
    assert_eq!(raw.code, 0, "skopeo inspect: {raw:?}");
    assert_eq!(oci_build::digest(raw.stdout.as_bytes()), w.images.notebook);
    // A Docker-typed image: skopeo finds it through the OCI index r2r
    // names it by, picks the platform, and copies the registry's manifest
    // unchanged (same digest).
    let docker_layout = format!("oci:{}:{docker}", x.join("images").display());
    let ins = run(Command::new("skopeo").args(["inspect", &docker_layout]));
    assert_eq!(ins.code, 0, "skopeo inspect: {ins:?}");
    let seen: serde_json::Value = serde_json::from_str(&ins.stdout).unwrap();
    assert_eq!(seen["Architecture"], "amd64", "{ins:?}");
    assert_eq!(seen["Layers"].as_array().map(Vec::len), Some(2), "{ins:?}");
    let dst = registry::start(true);
    let creds = format!("{}:{}", registry::USER, registry::PASSWORD);
    let copied = format!("{}/by-skopeo/notebook:1", dst.host);
    let cp = run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--quiet",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &layout,
        &format!("docker://{copied}"),
    ]));
    assert_eq!(cp.code, 0, "skopeo copy: {cp:?}");
    assert_eq!(
        registry::remote_digest(&copied, Some(&creds)),
        w.images.notebook
    );
    let copied = format!("{}/by-skopeo/docker:1", dst.host);
    let cp = run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &docker_layout,
        &format!("docker://{copied}"),
    ]));
    assert_eq!(cp.code, 0, "skopeo copy: {cp:?}");
    assert_eq!(
        registry::remote_digest(&copied, Some(&creds)),
        digest_of(&out, &docker)
    );

    // push-images into the authenticated registry, then pull each pinned
    // reference back: the same digests.
    let auth = registry::auth_file(w.tmp.path(), &dst.host);
    let env = [("REGISTRY_AUTH_FILE", s(&auth))];
    let map = w.tmp.path().join("map.json");
    let vals = w.tmp.path().join("values");
    let to = format!("{}/community", dst.host);
    let push = w.push(
        &bundle,
        &to,
        &[
            "--mapping",
            s(&map),
            "--rewrite-values",
            s(&vals),
            "--json",
            "--quiet",
        ],
        &env,
    );
    assert_eq!(push.code, 0, "{push:?}");
    assert!(!push.stderr.contains(registry::PASSWORD) && !push.stdout.contains(registry::PASSWORD));
    let mapping: serde_json::Value = serde_json::from_slice(&std::fs::read(&map).unwrap()).unwrap();
    let moved = mapping["images"].as_array().unwrap();
    assert_eq!(moved.len(), 4);
    for m in moved {
        let pinned = m["pinned"].as_str().unwrap();
        assert!(pinned.starts_with(&format!("{to}/")), "{pinned}");
        let want = digest_of(&out, m["from"].as_str().unwrap());
        assert_eq!(m["digest"], want.as_str());
        assert_eq!(
            registry::remote_digest(pinned, Some(&creds)),
            want,
            "{pinned}"
        );
        assert_eq!(
            registry::remote_digest(m["to"].as_str().unwrap(), Some(&creds)),
            want
        );
    }
    let counts = &push.json()["counts"];
    assert!(
        counts["mounted"].as_u64().unwrap() + counts["present"].as_u64().unwrap() >= 1,
        "the shared base layer is not uploaded twice: {push:?}"
    );
    // The rewritten values pin the notebook by digest in the new registry.
    let staging_values = std::fs::read_to_string(vals.join("staging/values.yaml")).unwrap();
    assert!(
        staging_values.contains(&format!("{to}/jupyter/scipy-notebook")),
        "{staging_values}"
    );
    assert!(
        staging_values.contains(&format!("2024-10-07@{}", w.images.notebook)),
        "{staging_values}"
    );

    // Again: everything is there already, nothing is uploaded.
    let again = w.push(&bundle, &to, &["--json", "--quiet"], &env);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["counts"]["uploaded"], 0, "{again:?}");
    assert!(again.json()["counts"]["present"].as_u64().unwrap() > 0);
}

#[test]
fn platform_picks_one_manifest_of_an_index() {
    let w = world();
    let bundle = w.tmp.path().join("arm.r2r");
    let one = format!("{}/base/one:1", w.src.host);
    let out = w.export(
        &bundle,
        &[
            "--platform",
            "linux/arm64",
            "--format",
            "dir",
            "--image",
            &one,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // An amd64-only image is carried anyway, with a warning.
    assert!(out.stderr.contains("built for linux/amd64 only"), "{out:?}");
    let nb = carried(&out)
        .into_iter()
        .find(|i| i["reference"].as_str().unwrap().contains("scipy-notebook"))
        .unwrap();
    assert_eq!(nb["platforms"], serde_json::json!(["linux/arm64"]));
    assert_ne!(
        nb["digest"],
        w.images.notebook.as_str(),
        "the arm64 manifest, not the index"
    );
    // The amd64-only 9 MiB layer was not carried.
    let big = bundle
        .join("images/blobs/sha256")
        .join(&w.images.big_layer[7..]);
    assert!(!big.exists());
    assert!(
        bundle
            .join("images/blobs/sha256")
            .join(&w.images.shared_layer[7..])
            .is_file()
    );
    let bad = w.export(&w.tmp.path().join("x.tar"), &["--platform", "linux/s390x"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("linux/s390x") && bad.stderr.contains("linux/arm64"),
        "{bad:?}"
    );
}

#[test]
fn an_authenticated_source_needs_its_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let images = oci_build::build(&layout);
    let src = registry::start(true);
    let creds = format!("{}:{}", registry::USER, registry::PASSWORD);
    registry::seed(
        &layout,
        "one",
        &format!("{}/private/one:1", src.host),
        Some(&creds),
    );
    let repo = community_using(tmp.path(), &format!("{}/private/one", src.host));
    // The values name private/one:2024-10-07; carry the image by hand.
    let w = World {
        tmp,
        images,
        layout,
        src,
        repo,
        keys: keys(),
    };
    let image = format!("{}/private/one:1", w.src.host);
    let no_auth = w.export(
        &w.tmp.path().join("a.tar"),
        &["--image", &image, "--retries", "1"],
    );
    assert_ne!(no_auth.code, 0);
    assert!(
        no_auth.stderr.contains("private/one"),
        "names the image: {no_auth:?}"
    );
    assert!(!w.tmp.path().join("a.tar").exists());

    let auth = registry::auth_file(w.tmp.path(), &w.src.host);
    // Only --image: drop the values' image, which the registry lacks.
    let repo2 = community_using(&w.tmp.path().join("r2"), "quay.io/not-used/x");
    let mut cmd = common::export_cmd(&repo2, "example", &w.keys.key, &w.tmp.path().join("b.tar"));
    cmd.args([
        "--image",
        &image,
        "--json",
        "--quiet",
        "--image-source",
        &format!("oci:{}", w.layout.display()),
    ]);
    hermetic(&mut cmd, w.tmp.path());
    let out = run(cmd.env("REGISTRY_AUTH_FILE", &auth));
    // quay.io/not-used/x is not in the layout and there is no network: the
    // export must fail on it, naming it, after authenticating fine for ours.
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("quay.io/not-used/x"), "{out:?}");

    let mut cmd = common::export_cmd(&w.repo, "example", &w.keys.key, &w.tmp.path().join("c.tar"));
    cmd.args(["--image", &image, "--json", "--quiet"]);
    hermetic(&mut cmd, w.tmp.path());
    // The values' own image (private/one:2024-10-07) does not exist: seed it.
    registry::seed(
        &w.layout,
        "two",
        &format!("{}/private/one:2024-10-07", w.src.host),
        Some(&creds),
    );
    let ok = run(cmd.env("REGISTRY_AUTH_FILE", &auth));
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(digest_of(&ok, &image), w.images.one);
    assert!(!ok.stderr.contains(registry::PASSWORD));
}

#[test]
fn a_flaky_or_busy_registry_is_retried() {
    let w = world();
    for mode in ["flaky", "busy"] {
        let proxy = common::s3::faulty_proxy(w.src.server.port, mode);
        let host = format!("127.0.0.1:{}", proxy.port);
        let repo = community_using(
            &w.tmp.path().join(mode),
            &format!("{host}/jupyter/scipy-notebook"),
        );
        let bundle = w.tmp.path().join(format!("{mode}.tar"));
        let mut cmd = common::export_cmd(&repo, "example", &w.keys.key, &bundle);
        cmd.args(["--images", "--json"]);
        hermetic(&mut cmd, w.tmp.path());
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{mode}: {out:?}");
        assert!(out.stderr.contains("retrying"), "{mode}: {out:?}");
        assert_eq!(
            digest_of(&out, &format!("{host}/{NOTEBOOK}")),
            w.images.notebook
        );
    }
    // An upload that fails part-way, once, and a manifest PUT answered 429.
    let bundle = w.tmp.path().join("flaky.tar");
    let dst = registry::start(false);
    let proxy = common::s3::faulty_proxy(dst.server.port, "once");
    let to = format!("127.0.0.1:{}/c", proxy.port);
    let push = w.push(&bundle, &to, &["--json"], &[]);
    assert_eq!(push.code, 0, "{push:?}");
    assert!(push.stderr.contains("retrying"), "{push:?}");
    let pinned = push.json()["images"][0]["pinned"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(registry::remote_digest(&pinned, None), w.images.notebook);
}

#[test]
fn failures_name_the_image_and_leave_no_bundle() {
    let w = world();
    // A registry that is down for good.
    let proxy = common::s3::faulty_proxy(w.src.server.port, "down");
    let down = format!("127.0.0.1:{}/base/one:1", proxy.port);
    let out_path = w.tmp.path().join("down.tar");
    let out = w.export(&out_path, &["--image", &down, "--retries", "2"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(&down) && out.stderr.contains("503"),
        "{out:?}"
    );
    assert!(!out_path.exists());

    // A missing image.
    let missing = format!("{}/base/missing:1", w.src.host);
    let out_path = w.tmp.path().join("missing.tar");
    let out = w.export(&out_path, &["--image", &missing]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains(&missing), "{out:?}");
    assert!(!out_path.exists());

    // A blob whose bytes no longer match its digest (same size, one bit).
    let path = w.src.blob_path(&w.images.big_layer);
    let good = std::fs::read(&path).unwrap();
    let mut bytes = good.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out_path = w.tmp.path().join("corrupt.tar");
    let out = w.export(&out_path, &[]);
    assert_ne!(out.code, 0);
    let notebook = format!("{}/{NOTEBOOK}", w.src.host);
    assert!(
        out.stderr.contains(&notebook) && out.stderr.contains(&w.images.big_layer),
        "{out:?}"
    );
    assert!(!out_path.exists());
    // The bad blob was not kept for --resume: once the registry serves the
    // right bytes again, the resumed export fetches it anew and is sound.
    std::fs::write(&path, good).unwrap();
    let out = w.export(&out_path, &["--resume"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(common::verify(&out_path, &w.keys.public).code, 0);
    assert_eq!(digest_of(&out, &notebook), w.images.notebook);
    // Every blob holds what its name says (verify alone cannot tell: the
    // checksums are of whatever was stored).
    for (name, data, _) in common::read_tar(&out_path) {
        if let Some(hex) = name.strip_prefix("images/blobs/sha256/") {
            assert_eq!(oci_build::digest(&data), format!("sha256:{hex}"), "{name}");
        }
    }
}

#[test]
fn an_image_layout_on_disk_works_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let images = oci_build::build(&layout);
    // Name the layout's images as the values do, with skopeo (stock tool).
    let named = tmp.path().join("named");
    let canonical = "quay.io/jupyter/scipy-notebook:2024-10-07";
    let cp = run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--quiet",
        &format!("oci:{}:notebook", layout.display()),
        &format!("oci:{}:{canonical}", named.display()),
    ]));
    assert_eq!(cp.code, 0, "{cp:?}");
    let keys = keys();
    let bundle = tmp.path().join("offline.tar");
    let mut cmd = common::export_cmd(&common::example_repo(), "example", &keys.key, &bundle);
    cmd.args([
        "--images",
        "--json",
        "--quiet",
        "--image-source",
        &format!("oci:{}", named.display()),
    ]);
    hermetic(&mut cmd, tmp.path());
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(digest_of(&out, canonical), images.notebook);
    assert!(
        carried(&out)[0]["from"]
            .as_str()
            .unwrap()
            .starts_with("oci:")
    );
}

#[test]
fn inspect_lists_the_images_of_real_hubs_with_their_paths() {
    let k = keys();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("cryo.tar");
    common::export(&common::shared_infra(), "nasa-cryo", &k, &bundle, &[]);
    let ins = common::r2r(&[
        "inspect",
        s(&bundle),
        "--pubkey",
        s(&k.public),
        "--images",
        "--json",
    ]);
    assert_eq!(ins.code, 0, "{ins:?}");
    let hubs = ins.json();
    let all: Vec<&serde_json::Value> = hubs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["images"].as_array().unwrap())
        .collect();
    let cryo = all
        .iter()
        .find(|i| i["canonical"] == "quay.io/cryointhecloud/cryo-hub-image:b39d8d901d7b")
        .unwrap_or_else(|| panic!("{ins:?}"));
    assert!(
        cryo["values_path"]
            .as_str()
            .unwrap()
            .ends_with("profile_options.image.choices.01-python.kubespawner_override.image"),
        "{cryo}"
    );
    assert!(cryo.get("carried").is_none());
    // Images only a subchart's defaults or a template name are listed too,
    // each once, with every place (regression: discovery read only keys
    // named `image` in the hub's own values).
    let find = |canonical: &str| {
        all.iter()
            .find(|i| i["canonical"] == canonical)
            .unwrap_or_else(|| panic!("{canonical} not listed: {ins:?}"))
    };
    let ganesha = find("ghcr.io/2i2c-org/nfs-ganesha:1.2.1-0.dev.git.1.h1c81b4b");
    assert_eq!(ganesha["places"][0]["origin"], "chart_default");
    assert_eq!(
        ganesha["places"][0]["chart"],
        "daskhub > basehub > jupyterhub-home-nfs"
    );
    assert_eq!(
        ganesha["places"][0]["at"],
        "basehub.jupyterhub-home-nfs.nfsServer.image"
    );
    let dirsize = find("quay.io/yuvipanda/prometheus-dirsize-exporter:v3.3");
    assert_eq!(dirsize["places"][0]["origin"], "template");
    assert_eq!(
        dirsize["places"][0]["at"],
        "templates/home-dirsize-reporter.yaml:38"
    );
    find("quay.io/jupyterhub/configurable-http-proxy:5.2.0");
    find("quay.io/jupyterhub/repo2docker:2025.12.1.dev94-gd3893dba2");
    let gateway = find("ghcr.io/dask/dask-gateway-server:2026.3.0");
    assert_eq!(gateway["places"].as_array().unwrap().len(), 2, "{gateway}");
    // Once per hub.
    for h in hubs.as_array().unwrap() {
        let mut names: Vec<&str> = h["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["canonical"].as_str().unwrap())
            .collect();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "an image is listed twice for a hub");
    }
    // The report flags those in the provider's registries.
    let report = common::r2r(&[
        "inspect",
        s(&bundle),
        "--pubkey",
        s(&k.public),
        "--report",
        "--json",
    ]);
    assert!(
        report.stdout.contains("ghcr.io/2i2c-org/nfs-ganesha:1.2.1-0.dev.git.1.h1c81b4b is in 2i2c's registry ghcr.io/2i2c-org/"),
        "{}",
        report.stdout
    );
    let unlisted: Vec<&serde_json::Value> = hubs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["unlisted"].as_array().unwrap())
        .collect();
    assert!(unlisted.iter().any(|u| u["value"] == "{value}"), "{ins:?}");
    // The text form says the bundle carries none.
    let text = common::r2r(&["inspect", s(&bundle), "--pubkey", s(&k.public), "--images"]);
    assert!(
        text.stdout.contains("carries no images") && text.stdout.contains("not carried"),
        "{text:?}"
    );
}

#[test]
fn push_refuses_a_hostile_layout_naming_the_member() {
    let w = world();
    let bundle = w.tmp.path().join("b");
    let one = format!("{}/base/one:1", w.src.host);
    let out = w.export(&bundle, &["--format", "dir", "--image", &one]);
    assert_eq!(out.code, 0, "{out:?}");
    let dst = registry::start(false);
    let to = format!("{}/c", dst.host);
    let push = |b: &Path| w.push(b, &to, &["--quiet"], &[]);
    let index_path = bundle.join("images/index.json");
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let put_index = |index: &serde_json::Value| {
        let bytes = serde_json::to_vec(index).unwrap();
        common::craft::put_member(&bundle, &w.keys.key, "images/index.json", &bytes);
    };

    // A digest that would make a path outside the layout.
    let mut evil = good.clone();
    evil["manifests"][0]["digest"] = "sha256:../../../../etc/passwd".into();
    put_index(&evil);
    let r = push(&bundle);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("images/index.json") && r.stderr.contains("digest"),
        "{r:?}"
    );

    // A manifest naming a layer the bundle does not carry.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": good_config(&bundle, &good),
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{}", "e".repeat(64)), "size": 3}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let d = oci_build::digest(&bytes);
    common::craft::put_member(
        &bundle,
        &w.keys.key,
        &format!("images/blobs/sha256/{}", &d[7..]),
        &bytes,
    );
    let mut evil = good.clone();
    evil["manifests"][0]["digest"] = d.clone().into();
    evil["manifests"][0]["size"] = bytes.len().into();
    put_index(&evil);
    let r = push(&bundle);
    assert_ne!(r.code, 0);
    let missing = format!("images/blobs/sha256/{}", "e".repeat(64));
    assert!(
        r.stderr.contains(&missing) && r.stderr.contains("not in the signed manifest"),
        "{r:?}"
    );

    // A signed blob whose bytes are not what its name says.
    common::craft::put_member(&bundle, &w.keys.key, &missing, b"abc");
    let v = common::verify(&bundle, &w.keys.public);
    assert_eq!(v.code, 4, "{v:?}");
    assert!(
        v.stdout.contains(&missing) && v.stdout.contains("named by its digest"),
        "{v:?}"
    );
    let r = push(&bundle);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&missing), "{r:?}");
}

/// The config descriptor of the bundle's first image.
fn good_config(bundle: &Path, index: &serde_json::Value) -> serde_json::Value {
    let top = index["manifests"][0]["digest"].as_str().unwrap();
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bundle.join("images/blobs/sha256").join(&top[7..])).unwrap(),
    )
    .unwrap();
    m["config"].clone()
}

#[test]
fn resume_keeps_the_blobs_an_interrupted_export_stored() {
    let w = world();
    let bundle = w.tmp.path().join("resume.tar");
    // Sorted after the notebook, so the notebook is stored before it fails.
    let late = format!("{}/zzz/late:1", w.src.host);
    let first = w.export(&bundle, &["--image", &late]);
    assert_ne!(first.code, 0);
    assert!(
        first.stderr.contains(&late) && first.stderr.contains("--resume"),
        "{first:?}"
    );
    assert!(!bundle.exists());
    // The image appears; the notebook's big layer rots in the registry. A
    // resumed export must take the layer it already stored, not fetch it.
    registry::seed(&w.layout, "one", &late, None);
    let path = w.src.blob_path(&w.images.big_layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = w.export(&bundle, &["--image", &late, "--resume"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        digest_of(&out, &format!("{}/{NOTEBOOK}", w.src.host)),
        w.images.notebook
    );
    assert_eq!(digest_of(&out, &late), w.images.one);
    assert_eq!(common::verify(&bundle, &w.keys.public).code, 0);
}
