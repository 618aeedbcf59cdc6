//! The cluster layer a cloud target installs in front of the hubs, as the
//! provider's deployer does (`deploy_support`): cert-manager (its CRDs and
//! controller), then the support chart with standalone values for the
//! community (nginx ingress behind the `cluster-entrypoint` LoadBalancer,
//! reflector, the prometheus-auth Secret, on EKS the cluster autoscaler),
//! then the community's ClusterIssuer `letsencrypt-prod`, applied with
//! kubectl. The hubs' values name the `nginx` IngressClass and that issuer,
//! and basehub's hub container needs the prometheus-auth Secret.
//!
//! The provider's support secrets (`enc-support`, `enc-cryptnono`: its
//! Grafana and alerting tokens) are not used: they are the provider's.

use std::io::Read;

use anyhow::{Context, Result, bail};

use super::steps::files;
use super::steps::helm::Release;
use super::steps::jobs::kubectl;
use super::{Install, layout, render::Renderer};
use crate::bundle::layout::{CERT_MANAGER, Kind};
use crate::secrets::seal::Recipients;
use crate::values::derived::DeployVars;
use crate::values::tree;

/// The targets whose cluster r2r makes, and so whose cluster layer too.
const CLOUDS: [&str; 3] = ["gcp", "aws", "azure"];
/// Release names, which are also their namespaces.
const CERT_MANAGER_RELEASE: &str = "cert-manager";
const SUPPORT_RELEASE: &str = "support";
/// The support chart's LoadBalancer Service in front of nginx-ingress
/// (its templates/traffic-entrypoint.yaml): the address of every hub.
const ENTRYPOINT_SERVICE: &str = "cluster-entrypoint";
const MAX_VALUES_BYTES: u64 = 16 << 20;

/// What the bundle carries for the cluster layer.
pub(crate) struct Layer {
    /// `charts/support`: the complete support chart.
    pub support_chart: String,
    /// `charts/cert-manager`, when the export could fetch it.
    pub cert_manager_chart: Option<String>,
    /// The support release's plaintext values members, in order.
    pub support_files: Vec<String>,
    /// Its sealed ones: the provider's tokens, not used.
    pub provider_secrets: Vec<String>,
}

/// The cluster layer of this install: on a cloud target, when the bundle
/// carries the support chart.
pub(crate) fn layer(i: &Install) -> Option<Layer> {
    if !CLOUDS.contains(&i.blueprint.target.as_str()) {
        return None;
    }
    let source = &i.trusted.manifest.source;
    let support = source.support.as_ref()?;
    let support_chart = support.chart_path.clone()?;
    if !i.trusted.has(&format!("{support_chart}/Chart.yaml")) {
        return None;
    }
    let cm = crate::bundle::layout::chart(CERT_MANAGER);
    let cert_manager_chart = source
        .charts
        .iter()
        .any(|c| c.path == cm && c.fetched.is_some())
        .then_some(cm)
        .filter(|p| i.trusted.has(&format!("{p}/Chart.yaml")));
    let (support_files, provider_secrets) = support
        .values_files
        .iter()
        .cloned()
        .partition(|m| m.starts_with(&Kind::Config.prefix()));
    Some(Layer {
        support_chart,
        cert_manager_chart,
        support_files,
        provider_secrets,
    })
}

/// The chart folders the cluster layer installs from, to copy.
pub(crate) fn chart_folders(i: &Install) -> Vec<String> {
    layer(i).map_or_else(Vec::new, |l| {
        l.cert_manager_chart
            .into_iter()
            .chain([l.support_chart])
            .collect()
    })
}

/// The releases in front of the hubs: cert-manager, then support.
pub(crate) fn releases(i: &Install) -> Vec<Release> {
    let Some(l) = layer(i) else {
        return Vec::new();
    };
    let release = |name: &str, chart: String, values: &str, sealed: Option<&str>| Release {
        name: name.to_owned(),
        hub: None,
        namespace: name.to_owned(),
        chart,
        needs_dependency_build: false,
        values: vec![values.to_owned()],
        sealed_secrets: sealed.map(str::to_owned),
    };
    let mut out = Vec::new();
    if let Some(c) = l.cert_manager_chart {
        out.push(release(
            CERT_MANAGER_RELEASE,
            c,
            layout::CERT_MANAGER_VALUES,
            None,
        ));
    }
    out.push(release(
        SUPPORT_RELEASE,
        l.support_chart,
        layout::SUPPORT_VALUES,
        Some(layout::SUPPORT_SECRETS),
    ));
    out
}

/// What the config step writes (the values of both releases and the
/// ClusterIssuer), for the plan, with what it leaves out and why.
pub(crate) fn files_to_write(i: &Install) -> Vec<String> {
    let Some(l) = layer(i) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match l.cert_manager_chart {
        Some(_) => out.push(layout::CERT_MANAGER_VALUES.to_owned()),
        None => out.push("(no cert-manager: the bundle does not carry its chart; install it yourself before the support release)".into()),
    }
    out.push(layout::SUPPORT_VALUES.to_owned());
    if !l.provider_secrets.is_empty() {
        out.push(format!(
            "(not used: {}, the provider's support tokens)",
            l.provider_secrets.join(", ")
        ));
    }
    out.push(layout::CLUSTER_ISSUER.to_owned());
    if needs_default_storage_class(i) {
        out.push(layout::DEFAULT_STORAGE_CLASS.to_owned());
    }
    out
}

/// EKS clusters from Kubernetes 1.30 have no default StorageClass, and the
/// charts' claims (hub-db-dir, Prometheus, Grafana) name none.
fn needs_default_storage_class(i: &Install) -> bool {
    i.blueprint.target == "aws"
}

/// Writes the cluster layer's files (config step); how many changed.
pub(crate) fn write(i: &Install) -> Result<usize> {
    let Some(l) = layer(i) else {
        return Ok(0);
    };
    let target = &i.blueprint.target;
    let renderer = Renderer::new(target)?;
    let ctx = i.context(None);
    let mut out = Vec::new();
    if l.cert_manager_chart.is_some() {
        let text = renderer.file(target, "cert-manager-values.yaml.tera", &ctx)?;
        out.push((layout::CERT_MANAGER_VALUES, text));
    }
    out.push((layout::SUPPORT_VALUES, support_values(i, &l, &renderer)?));
    let issuer = renderer.file(target, "cluster-issuer.yaml.tera", &ctx)?;
    tree::parse_yaml(&issuer)
        .with_context(|| format!("blueprint {target}: cluster-issuer.yaml.tera is not YAML"))?;
    out.push((layout::CLUSTER_ISSUER, issuer));
    if needs_default_storage_class(i) {
        let class = renderer.file(target, "default-storage-class.yaml.tera", &ctx)?;
        tree::parse_yaml(&class).with_context(|| {
            format!("blueprint {target}: default-storage-class.yaml.tera is not YAML")
        })?;
        out.push((layout::DEFAULT_STORAGE_CLASS, class));
    }
    let mut n = 0;
    for (rel, text) in out {
        n += usize::from(files::write_if_changed(
            i.stamp,
            &i.dir.join(rel),
            text.as_bytes(),
            0o644,
        )?);
    }
    Ok(n)
}

/// The support values: the provider's (values.jsonnet rendered for the new
/// cluster, the plaintext support values files) with r2r's overlay.
fn support_values(i: &Install, l: &Layer, renderer: &Renderer) -> Result<String> {
    let target = &i.blueprint.target;
    let answer = |k: &str| i.answers.str(&format!("{target}.{k}")).unwrap_or("");
    let vars = DeployVars {
        cluster: answer("cluster_name").to_owned(),
        hub: String::new(),
        domain: String::new(),
        provider: target.clone(),
        account_id: match target.as_str() {
            "aws" => answer("account_id"),
            "gcp" => answer("project"),
            _ => "",
        }
        .to_owned(),
    };
    let mut texts = Vec::new();
    for m in &l.support_files {
        let bytes = i.trusted.read_small(m, MAX_VALUES_BYTES)?;
        texts.push((
            format!("member {m}"),
            String::from_utf8(bytes).with_context(|| format!("member {m} is not UTF-8"))?,
        ));
    }
    let overlay_text = renderer.file(target, "support-overlay.yaml.tera", &i.context(None))?;
    let overlay = tree::parse_yaml(&overlay_text)
        .with_context(|| format!("blueprint {target}: support-overlay.yaml.tera is not YAML"))?;
    let chart_dir = i.dir.join(&l.support_chart);
    let values = crate::values::support::build(
        &chart_dir,
        &vars,
        &texts,
        overlay,
        crate::values::bounded::render,
    )
    .with_context(|| format!("the support release's values ({})", l.support_chart))?;
    let not_used = if l.provider_secrets.is_empty() {
        "none".to_owned()
    } else {
        l.provider_secrets.join(", ")
    };
    Ok(format!(
        "# The support release's values, written by `r2r install` for cluster {}.\n# values.jsonnet rendered, then {}, then r2r's overlay (blueprints/support-overlay.yaml.tera).\n# The provider's support secrets are not used: {not_used}.\n{}",
        vars.cluster,
        if l.support_files.is_empty() {
            "no values files".to_owned()
        } else {
            l.support_files.join(", ")
        },
        tree::to_helm_text(&values)?
    ))
}

/// Seals the support release's generated secrets for the install's age
/// identities (secrets step), keeping a password an earlier run made.
/// Returns whether the layer has them.
pub(crate) fn seal_secrets(i: &Install, ids: &[age::x25519::Identity]) -> Result<bool> {
    if layer(i).is_none() {
        return Ok(false);
    }
    let path = i.dir.join(layout::SUPPORT_SECRETS);
    if path.exists() && super::steps::secrets::open_file(&path, ids).is_ok() {
        return Ok(true);
    }
    if ids.is_empty() {
        bail!("the support release's secrets need an age identity (age_identity) to be sealed for");
    }
    let text = format!(
        "# The support release's secrets, generated by `r2r install` for the community.\nprometheusAuthSecret:\n  username: r2r\n  password: \"{}\"\n",
        random_hex()?
    );
    let mut r = Recipients::default();
    for id in ids {
        r.add(&id.to_public().to_string(), "the age identity")?;
    }
    files::write_if_changed(i.stamp, &path, &r.seal(text.as_bytes())?, 0o644)?;
    Ok(true)
}

/// 32 bytes from the kernel's random source, as hex: a password that
/// goes into a values file and a basic-auth header without quoting.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the Prometheus password")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What runs after release `name`: the default StorageClass (where the
/// cluster has none) after cert-manager, before any release's claim; the
/// ClusterIssuer after support.
/// Without cert-manager in the bundle the class follows support instead
/// (Kubernetes gives claims made before a default exists that default).
pub(crate) fn after(i: &Install, name: &str) -> Vec<Vec<String>> {
    let Some(l) = layer(i) else {
        return Vec::new();
    };
    let class = || kubectl(i, &["apply", "-f", layout::DEFAULT_STORAGE_CLASS]);
    let first = if l.cert_manager_chart.is_some() {
        CERT_MANAGER_RELEASE
    } else {
        SUPPORT_RELEASE
    };
    let mut out = Vec::new();
    if name == first && needs_default_storage_class(i) {
        out.push(class());
    }
    if name == SUPPORT_RELEASE {
        out.push(kubectl(i, &["apply", "-f", layout::CLUSTER_ISSUER]));
    }
    out
}

/// The command that prints the address every hub domain must point at:
/// the IP (GKE, AKS) or host name (EKS) of the support chart's LoadBalancer.
pub(crate) fn address_command(i: &Install) -> Option<Vec<String>> {
    layer(i)?;
    Some(kubectl(
        i,
        &[
            "--namespace",
            SUPPORT_RELEASE,
            "get",
            "service",
            ENTRYPOINT_SERVICE,
            "--output",
            "jsonpath={.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}",
        ],
    ))
}

/// For people: which domains to point at that address.
pub(crate) fn dns_note(i: &Install) -> Option<String> {
    layer(i)?;
    let domains: Vec<&str> = i.hubs.iter().map(|h| h.new_domain.as_str()).collect();
    Some(format!(
        "point {} at the address `kubectl --namespace {SUPPORT_RELEASE} get service {ENTRYPOINT_SERVICE}` prints (an A record for an IP, a CNAME for a host name)",
        domains.join(", ")
    ))
}
