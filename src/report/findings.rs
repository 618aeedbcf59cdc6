//! Finding the provider in a hub's configuration. Each check reads the
//! standalone values (or cluster files) and the provider profile; none
//! knows a provider by name.

use super::profile::Profile;
use super::{Finding, Severity};
use crate::bundle::layout::CLUSTER;
use crate::images::discover::Discovery;
use crate::secrets::sops::SealingKey;
use crate::values::params;
use crate::values::tree::{self, KeyPath, Values};

/// One sealed file as the export found it.
pub(crate) struct SealedFile {
    pub member: String,
    pub keys: Vec<SealingKey>,
    /// The key paths it holds; never a value.
    pub key_paths: Vec<String>,
    /// `age` or `sops` when it was opened; `None` when carried sealed.
    pub opened_by: Option<&'static str>,
    pub why_sealed: String,
}

fn finding(
    category: &str,
    severity: Severity,
    subject: String,
    location: Option<String>,
    action: String,
) -> Finding {
    Finding {
        category: category.into(),
        severity,
        subject,
        location,
        action,
        key_paths: Vec::new(),
    }
}

pub(crate) fn sealed_files(
    files: &[SealedFile],
    profile: &Profile,
    sealed_to: Option<&str>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        let keys = if f.keys.is_empty() {
            "an unknown key".to_owned()
        } else {
            f.keys
                .iter()
                .map(SealingKey::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let owner = if f.keys.iter().any(|k| profile.owns_key(&k.id)) {
            format!("{}'s ", profile.display_name)
        } else {
            String::new()
        };
        let found = match (f.opened_by, sealed_to) {
            (Some(route), Some(to)) => finding(
                "kms",
                Severity::Info,
                format!("sealed with {owner}{keys}; opened with {route} and re-sealed for the community"),
                Some(f.member.clone()),
                format!("nothing: its values are in {to}, sealed to the community's age recipients"),
            ),
            _ => finding(
                "kms",
                Severity::Blocker,
                format!("secrets sealed with {owner}{keys}, which the community cannot open ({})", f.why_sealed),
                Some(f.member.clone()),
                "re-export with the key's holder: `r2r export --decrypt-with sops --recipient age1…` where sops can reach the KMS key, or have the provider re-encrypt the file to your age key; otherwise make each secret it holds anew (OAuth clients, pull secrets, API keys, tokens) and put it at the same key path".into(),
            ),
        };
        out.push(Finding {
            key_paths: f.key_paths.clone(),
            ..found
        });
    }
    out
}

pub(crate) fn domain(domain: &str, values_member: &str, profile: &Profile) -> Finding {
    match profile.dns_zone_of(domain) {
        Some(zone) => finding(
            "domain",
            Severity::Action,
            format!("{domain} is in {}'s DNS zone {zone}", profile.display_name),
            Some(values_member.to_owned()),
            "choose a domain in your own DNS zone and answer the installer's `domain` parameter; the provider decides what this name points to".into(),
        ),
        None => finding(
            "domain",
            Severity::Action,
            format!("{domain} is the community's own domain"),
            Some(values_member.to_owned()),
            "after installing, point its DNS record at the new ingress; TLS certificates are issued anew".into(),
        ),
    }
}

pub(crate) fn oauth(
    values: &Values,
    root: &KeyPath,
    domain: &str,
    values_member: &str,
    profile: &Profile,
) -> Option<Finding> {
    let config = root.key("jupyterhub").key("hub").key("config");
    let class = tree::get(values, &config.key("JupyterHub").key("authenticator_class"))
        .and_then(Values::as_str)?;
    let (what, fix) = match class.to_ascii_lowercase().as_str() {
        c if c.contains("cilogon") => (
            "a CILogon client",
            "register a new CILogon client (https://cilogon.org/oauth2/register) for this callback URL",
        ),
        c if c.contains("github") => (
            "a GitHub OAuth app",
            "create a GitHub OAuth app owned by your organisation with this callback URL",
        ),
        c if c.contains("auth0") => (
            "an Auth0 application",
            "create an Auth0 application in your tenant with this callback URL",
        ),
        c if c.contains("google") => (
            "a Google OAuth client",
            "create a Google OAuth client in your project with this callback URL",
        ),
        c if c.contains("generic") => (
            "an OAuth client",
            "register an OAuth client with your identity provider for this callback URL",
        ),
        _ => return None,
    };
    let callback = format!("https://{domain}/hub/oauth_callback");
    Some(finding(
        "oauth",
        Severity::Action,
        format!("authenticator `{class}` uses {what} bound to {callback}"),
        Some(format!(
            "{values_member}:{}",
            config.key("JupyterHub").key("authenticator_class")
        )),
        format!(
            "{fix}, then put its client id and secret in the hub's secrets. {}",
            profile.oauth.explain
        ),
    ))
}

/// Images in the provider's registries (wherever the chart tree names
/// them), and values that push built images under the provider's prefix.
pub(crate) fn images(
    found: &Discovery,
    values: &Values,
    values_member: &str,
    profile: &Profile,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for image in &found.images {
        let Some(reg) = profile.registry_of(&image.canonical) else {
            continue;
        };
        let place = image.places.first();
        let location = match place {
            Some(p) if p.origin == crate::images::discover::Origin::Template => {
                format!("{} template {}", p.chart, p.at)
            }
            Some(p) => format!("{values_member}:{}", p.at),
            None => format!("{values_member}:{}", image.values_path),
        };
        out.push(finding(
            "image",
            Severity::Action,
            format!(
                "image {} is in {}'s registry {reg}",
                image.reference, profile.display_name
            ),
            Some(location),
            "copy it to a registry you control (the bundle's images, once exported with --images, or skopeo copy) and let the installer point the values at it".into(),
        ));
    }
    tree::for_each_leaf(values, &mut |p, v| {
        let Some(s) = v.as_str() else { return };
        if let Some(prefix) = profile.building_prefix_of(s)
            && !params::is_image_ref(p)
        {
            out.push(finding(
                "image-building",
                Severity::Action,
                format!("images are built and pushed under {}'s prefix {prefix}", profile.display_name),
                Some(format!("{values_member}:{p}")),
                "set an image prefix in a registry you control, with push credentials in the hub's secrets".into(),
            ));
        }
    });
    out
}

/// Places where users pick images the values cannot list.
pub(crate) fn unlisted_images(found: &Discovery, values_member: &str) -> Vec<Finding> {
    found
        .unlisted
        .iter()
        .map(|u| {
            finding(
                "image-unlisted",
                Severity::Warning,
                format!(
                    "{} names images r2r cannot list ({})",
                    u.values_path, u.value
                ),
                Some(format!("{values_member}:{}", u.values_path)),
                u.reason.clone(),
            )
        })
        .collect()
}

/// The staff settings turned off; a list that held nothing but the
/// provider's staff team is now empty, which changes who may log in, so
/// that one is a blocker.
pub(crate) fn staff(
    removed: &[crate::report::Removed],
    values: &Values,
    values_member: &str,
    profile: &Profile,
) -> Vec<Finding> {
    removed
        .iter()
        .map(|r| {
            let emptied = r.removed_item.is_some()
                && KeyPath::parse(&r.key_path)
                    .and_then(|p| tree::get(values, &p))
                    .and_then(Values::as_sequence)
                    .is_some_and(std::vec::Vec::is_empty);
            if emptied {
                return finding(
                    "staff",
                    Severity::Blocker,
                    format!(
                        "{} held only {}'s staff team ({}); it is now empty",
                        r.key_path,
                        profile.display_name,
                        r.removed_item.as_deref().unwrap_or_default()
                    ),
                    Some(format!("{values_member}:{}", r.key_path)),
                    "decide who may use this: list your own organisations, teams or groups there. An empty allow-list means everyone to some authenticators and no one to others".into(),
                );
            }
            let what = match &r.removed_item {
                Some(item) => format!("{item} taken out of {}", r.key_path),
                None => format!("{} staff settings at {} turned off", profile.display_name, r.key_path),
            };
            finding(
                "staff",
                Severity::Info,
                what,
                Some(values_member.to_owned()),
                format!("nothing; add your own admins under jupyterhub.hub.config.Authenticator.admin_users. {}", profile.staff.explain),
            )
        })
        .collect()
}

pub(crate) fn nfs(values: &Values, root: &KeyPath, values_member: &str, hub: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let server = root.key("nfs").key("pv").key("serverIP");
    if let Some(ip) = tree::get(values, &server).and_then(Values::as_str) {
        let location = Some(format!("{values_member}:{server}"));
        match in_cluster_namespace(ip) {
            // The hub's own NFS service (2i2c's values.jsonnet sets it on
            // GCP): it is installed with the hub, wherever the hub goes.
            Some(ns) if ns == hub => {}
            Some(ns) => out.push(finding(
                "nfs",
                Severity::Warning,
                format!("home directories are served by {ip}, the in-cluster NFS service of namespace {ns}, not this hub's own"),
                location,
                format!("install hub {ns} alongside this one, or answer the `nfs_server` parameter with this hub's own server and restore its homes there"),
            )),
            None => out.push(finding(
                "nfs",
                Severity::Action,
                format!("home directories are served by the provider's NFS server {ip}"),
                location,
                "run your own NFS server (or jupyterhub-home-nfs), answer the `nfs_server` parameter, and restore homes into it".into(),
            )),
        }
    }
    let home_nfs = root.key("jupyterhub-home-nfs");
    for cloud in ["gke", "eks", "azureFile"] {
        let at = home_nfs.key(cloud).key("volumeId");
        if let Some(id) = tree::get(values, &at).and_then(Values::as_str) {
            out.push(finding(
                "nfs",
                Severity::Action,
                format!("home directories are on the provider's volume {id}"),
                Some(format!("{values_member}:{at}")),
                "create a volume in your own account and set its id here; the provider's volume is not yours to attach".into(),
            ));
        }
    }
    out
}

/// The namespace of a Kubernetes service name (`svc.ns.svc.cluster.local`,
/// `svc.ns.svc`), or `None` for a host or IP outside the cluster.
fn in_cluster_namespace(host: &str) -> Option<&str> {
    let host = host.trim().trim_end_matches('.');
    let name = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))?;
    let (_, ns) = name.split_once('.')?;
    (!ns.is_empty() && !ns.contains('.')).then_some(ns)
}

/// Cloud account, project and billing identifiers in cluster.yaml and the
/// terraform variables.
pub(crate) fn cloud_ids(cluster_yaml: &Values, tfvars: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let wanted = [
        ("gcp.project", "GCP project"),
        ("gcp.billing.bigquery.project", "GCP billing-export project"),
        ("gcp.billing.bigquery.billing_id", "GCP billing account"),
        ("aws.account", "AWS account"),
        ("azure.subscription_id", "Azure subscription"),
        ("azure.resource_group", "Azure resource group"),
    ];
    for (path, what) in wanted {
        let Some(kp) = KeyPath::parse(path) else {
            continue;
        };
        if let Some(v) = tree::get(cluster_yaml, &kp).filter(|v| !v.is_mapping()) {
            out.push(cloud_id(
                what,
                &tree::key_text(v),
                format!("{CLUSTER}:{path}"),
            ));
        }
    }
    let keys = [
        ("project_id", "GCP project"),
        ("billing_account_id", "GCP billing account"),
        ("subscription_id", "Azure subscription"),
        ("tenant_id", "Azure tenant"),
        ("global_storage_account_name", "Azure storage account"),
    ];
    for (member, text) in tfvars {
        for (n, line) in text.lines().enumerate() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim();
            if let Some((_, what)) = keys.iter().find(|(key, _)| *key == k) {
                let v = v.trim().trim_matches('"');
                out.push(cloud_id(what, v, format!("{member}:line {}", n + 1)));
            }
        }
    }
    out
}

/// cluster.yaml's `<cloud>.billing.paid_by_us: true`: the provider pays
/// for the cloud account, so the account, and every disk and bucket in
/// it, is the provider's. The homes and buckets are gone when it stops
/// paying unless the community copied them out first. `false` says the
/// community pays and owns the account: nothing to report.
pub(crate) fn provider_pays(cluster_yaml: &Values, profile: &Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    for (cloud, id_key, what) in [
        ("gcp", "project", "GCP project"),
        ("aws", "account", "AWS account"),
        ("azure", "subscription_id", "Azure subscription"),
    ] {
        let block = KeyPath::root().key(cloud);
        let flag = block.key("billing").key("paid_by_us");
        if tree::get(cluster_yaml, &flag).and_then(Values::as_bool) != Some(true) {
            continue;
        }
        let account = match tree::get(cluster_yaml, &block.key(id_key)).filter(|v| !v.is_mapping())
        {
            Some(id) => format!("{what} {}", tree::key_text(id)),
            None => format!("the {what}"),
        };
        out.push(finding(
            "billing",
            Severity::Action,
            format!(
                "{} pays for {account}: the home directories, buckets and hub databases sit in the provider's cloud account",
                profile.display_name
            ),
            Some(format!("{CLUSTER}:{flag}")),
            "copy them out while you still have access, before the provider stops paying (the account, and everything in it, goes with it): `r2r export … --homes URL --bucket NAME=URL --hub-db HUB=PATH`".into(),
        ));
    }
    out
}

fn cloud_id(what: &str, id: &str, location: String) -> Finding {
    finding(
        "cloud-account",
        Severity::Action,
        format!("{what} {id} belongs to the provider's cloud setup"),
        Some(location),
        "create your own and give it to the installer; these ids name resources you cannot use"
            .into(),
    )
}

pub(crate) fn terraform_state(backend: Option<String>, profile: &Profile) -> Finding {
    finding(
        "terraform-state",
        Severity::Action,
        match backend {
            Some(b) => format!("terraform state is kept in {b}"),
            None => profile.terraform_state.explain.clone(),
        },
        None,
        "start fresh state in a backend you own (the installer's terraform), or `terraform import` the resources you take over; never point at the provider's state".into(),
    )
}

pub(crate) fn monitoring(
    present: &[String],
    provider_domains: &[(String, String)],
    profile: &Profile,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in present {
        out.push(finding(
            "monitoring",
            Severity::Action,
            format!(
                "{file} holds a token for {}'s central monitoring",
                profile.display_name
            ),
            None,
            format!(
                "not carried; run your own Grafana against the support chart's Prometheus. {}",
                profile.monitoring.explain
            ),
        ));
    }
    for (host, location) in provider_domains {
        out.push(finding(
            "monitoring",
            Severity::Action,
            format!("support service published at {host}, in the provider's DNS zone"),
            Some(location.clone()),
            "publish Grafana and Prometheus under your own domain, or not at all".into(),
        ));
    }
    out
}

/// Settings that name something of the provider's the hub fetches while it
/// runs (its home page repository): each found becomes an installer
/// parameter and an action.
pub(crate) fn provider_settings(
    values: &Values,
    root: &KeyPath,
    values_member: &str,
    profile: &Profile,
) -> (Vec<super::Parameter>, Vec<Finding>) {
    let mut params = Vec::new();
    let mut found = Vec::new();
    for setting in &profile.provider_settings {
        let Some(rel) = KeyPath::parse(&setting.key_path) else {
            continue;
        };
        let at = root.join(&rel);
        let Some(value) = tree::get(values, &at).and_then(Values::as_str) else {
            continue;
        };
        if !setting
            .prefixes
            .iter()
            .any(|p| value.starts_with(p.as_str()))
        {
            continue;
        }
        params.push(super::Parameter {
            name: setting.name.clone(),
            description: setting.description.clone(),
            value: value.to_owned(),
            key_paths: vec![at.to_string()],
        });
        found.push(finding(
            "provider-setting",
            Severity::Action,
            format!(
                "{value} is {}'s: {}",
                profile.display_name, setting.description
            ),
            Some(format!("{values_member}:{at}")),
            setting.action.clone(),
        ));
    }
    (params, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(yaml: &str) -> Values {
        tree::parse_yaml(yaml).unwrap()
    }

    /// A list that held nothing but the staff team is left empty: who may
    /// log in changes, so the report makes it a blocker.
    #[test]
    fn an_emptied_allow_list_is_a_blocker() {
        let profile = Profile::built_in().unwrap();
        let v = values("a: {allowed_organizations: [], other: [x]}\n");
        let removed = |path: &str| crate::report::Removed {
            key_path: path.into(),
            reason: "staff".into(),
            replaced_with: None,
            removed_item: Some("2i2c-org:hub-access-for-2i2c-staff".into()),
        };
        let f = staff(
            &[removed("a.allowed_organizations"), removed("a.other")],
            &v,
            "m",
            &profile,
        );
        assert_eq!(f[0].severity, Severity::Blocker);
        assert!(f[0].subject.contains("now empty"), "{}", f[0].subject);
        assert_eq!(f[1].severity, Severity::Info);
    }

    #[test]
    fn in_cluster_service_names() {
        for (host, ns) in [
            (
                "storage-quota-home-nfs.staging.svc.cluster.local",
                Some("staging"),
            ),
            (
                "storage-quota-home-nfs.staging.svc.cluster.local.",
                Some("staging"),
            ),
            ("nfs.prod.svc", Some("prod")),
            ("10.100.95.149", None),
            ("fs-08b7410bc122c9d70.efs.us-west-2.amazonaws.com", None),
            ("2i2cutorontohubstorage.file.core.windows.net", None),
            ("svc.cluster.local", None),
            ("a.b.c.svc.cluster.local", None),
        ] {
            assert_eq!(in_cluster_namespace(host), ns, "{host}");
        }
    }

    // Regression: the hub's own in-cluster NFS service, which 2i2c's
    // values.jsonnet sets on GCP, was reported as "the provider's NFS
    // server" on every GCP hub.
    #[test]
    fn only_an_outside_nfs_server_is_the_providers() {
        let own =
            values("nfs:\n  pv:\n    serverIP: storage-quota-home-nfs.staging.svc.cluster.local\n");
        assert!(
            nfs(
                &own,
                &KeyPath::root(),
                "config/staging/values.yaml",
                "staging"
            )
            .is_empty()
        );
        let other = nfs(&own, &KeyPath::root(), "config/prod/values.yaml", "prod");
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].severity, Severity::Warning);
        assert!(
            other[0].subject.contains("namespace staging"),
            "{}",
            other[0].subject
        );
        let outside = values(
            "nfs:\n  pv:\n    serverIP: 10.100.95.149\njupyterhub-home-nfs:\n  eks:\n    volumeId: vol-0a1\n",
        );
        let found = nfs(
            &outside,
            &KeyPath::root(),
            "config/prod/values.yaml",
            "prod",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| f.severity == Severity::Action));
        assert!(
            found[0]
                .subject
                .contains("provider's NFS server 10.100.95.149")
        );
        assert!(found[1].subject.contains("vol-0a1"));
    }
}
