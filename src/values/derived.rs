//! The values a 2i2c-style `values.jsonnet` derives from a hub's identity,
//! computed in Rust for repositories that do not carry the jsonnet file.
//!
//! This follows the provider's `helm-charts/basehub/values.jsonnet` (the
//! version that derives ingress, OAuth callback, user service account, NFS
//! and home quotas; see docs/standalone-values.md). Scheduling hints that
//! only make sense on the provider's node pools (node selectors, resource
//! requests) are deliberately not derived.

use super::tree::{KeyPath, Map, Values};
use crate::values::tree;

/// The five ext-strs the provider's deployer passes to `values.jsonnet`.
#[derive(Debug, Clone)]
pub struct DeployVars {
    pub cluster: String,
    pub hub: String,
    pub domain: String,
    pub provider: String,
    /// GCP project, AWS account number, or empty.
    pub account_id: String,
}

impl DeployVars {
    /// [`DeployVars::ext_strs`], owned: what a jsonnet evaluation takes.
    pub fn ext_pairs(&self) -> Vec<(String, String)> {
        self.ext_strs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub fn ext_strs(&self) -> [(&'static str, &str); 5] {
        [
            ("VARS_2I2C_CLUSTER_NAME", &self.cluster),
            ("VARS_2I2C_HUB_NAME", &self.hub),
            ("VARS_2I2C_HUB_DOMAIN", &self.domain),
            ("VARS_2I2C_PROVIDER", &self.provider),
            ("VARS_2I2C_ACCOUNT_ID", &self.account_id),
        ]
    }
}

/// The derived layer, in basehub's shape (daskhub nests it under `basehub`).
/// Keys are set in basehub's order, which the rendered values keep.
pub fn derive(vars: &DeployVars) -> Values {
    let mut v = Values::Mapping(Map::new());
    let mut put = |path: &[&str], value: Values| {
        tree::set(&mut v, &KeyPath::keys(path), value);
    };
    ingress_and_oauth(vars, &mut put);
    service_account(vars, &mut put);
    nfs(vars, &mut put);
    home_nfs(vars, &mut put);
    v
}

/// Sets one derived value at a key path.
type Put<'a> = dyn FnMut(&[&str], Values) + 'a;

/// The hub is served at its domain: ingress, TLS and the OAuth callbacks.
fn ingress_and_oauth(vars: &DeployVars, put: &mut Put<'_>) {
    let domain = vars.domain.as_str();
    put(&["jupyterhub", "ingress", "hosts"], list(&[domain]));
    let mut tls = Map::new();
    tls.insert("hosts".into(), list(&[domain]));
    tls.insert("secretName".into(), "https-auto-tls".into());
    put(
        &["jupyterhub", "ingress", "tls"],
        Values::Sequence(vec![Values::Mapping(tls)]),
    );
    put(
        &[
            "jupyterhub",
            "hub",
            "config",
            "OAuthenticator",
            "oauth_callback_url",
        ],
        format!("https://{domain}/hub/oauth_callback").into(),
    );
    put(
        &[
            "jupyterhub",
            "hub",
            "services",
            "binder",
            "oauth_redirect_uri",
        ],
        format!("https://{domain}/services/binder/oauth_callback").into(),
    );
}

/// The users' cloud identity: a GCP service account or an AWS role named
/// after the cluster and hub.
fn service_account(vars: &DeployVars, put: &mut Put<'_>) {
    let hub = vars.hub.as_str();
    put(&["userServiceAccount", "enabled"], true.into());
    let mut annotations = Map::new();
    match vars.provider.as_str() {
        "gcp" => {
            annotations.insert(
                "iam.gke.io/gcp-service-account".into(),
                format!(
                    "{}-{hub}@{}.iam.gserviceaccount.com",
                    vars.cluster, vars.account_id
                )
                .into(),
            );
        }
        "aws" => {
            annotations.insert(
                "eks.amazonaws.com/role-arn".into(),
                format!(
                    "arn:aws:iam::{}:role/{}-{hub}",
                    vars.account_id, vars.cluster
                )
                .into(),
            );
        }
        _ => {}
    }
    put(
        &["userServiceAccount", "annotations"],
        Values::Mapping(annotations),
    );
}

/// How homes are mounted over NFS, per cloud.
fn nfs(vars: &DeployVars, put: &mut Put<'_>) {
    let hub = vars.hub.as_str();
    let kubeconfig = vars.provider == "kubeconfig";
    put(
        &["nfs", "dirsizeReporter", "reportTotalSize"],
        kubeconfig.into(),
    );
    put(&["nfs", "volumeReporter", "enabled"], kubeconfig.into());
    match vars.provider.as_str() {
        "gcp" => {
            put(
                &["nfs", "pv", "serverIP"],
                format!("storage-quota-home-nfs.{hub}.svc.cluster.local").into(),
            );
            put(&["nfs", "pv", "mountOptions"], list(&["soft", "noatime"]));
        }
        "aws" => put(
            &["nfs", "pv", "mountOptions"],
            list(&[
                "rsize=1048576",
                "wsize=1048576",
                "timeo=600",
                "soft",
                "retrans=2",
                "noresvport",
            ]),
        ),
        _ => {}
    }
}

/// The in-cluster NFS server and its per-hub quota (staging hubs get less).
fn home_nfs(vars: &DeployVars, put: &mut Put<'_>) {
    let hub = vars.hub.as_str();
    let is_staging = hub.contains("staging");
    put(
        &["jupyterhub-home-nfs", "eks", "enabled"],
        (vars.provider == "aws").into(),
    );
    put(
        &["jupyterhub-home-nfs", "gke", "enabled"],
        (vars.provider == "gcp").into(),
    );
    let quota = [
        "jupyterhub-home-nfs",
        "quotaEnforcer",
        "config",
        "QuotaManager",
    ];
    let at = |k: &'static str| -> Vec<&'static str> { quota.iter().copied().chain([k]).collect() };
    let export = format!("/export/{hub}");
    put(&at("paths"), list(&[&export]));
    put(&at("hard_quota"), (if is_staging { 1 } else { 10 }).into());
    put(&at("projects_file"), format!("{export}/.projects").into());
    put(&at("projid_file"), format!("{export}/.projid").into());
    put(&at("log_level"), "INFO".into());
}

fn list(items: &[&str]) -> Values {
    Values::Sequence(items.iter().map(|s| Values::from(*s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_from_identity() {
        let v = derive(&DeployVars {
            cluster: "c".into(),
            hub: "prod".into(),
            domain: "hub.example.org".into(),
            provider: "aws".into(),
            account_id: "123".into(),
        });
        let at = |p: &str| tree::get(&v, &KeyPath::parse(p).unwrap()).cloned();
        assert_eq!(
            at("jupyterhub.hub.config.OAuthenticator.oauth_callback_url"),
            Some("https://hub.example.org/hub/oauth_callback".into())
        );
        assert_eq!(
            at("userServiceAccount.annotations[\"eks.amazonaws.com/role-arn\"]"),
            Some("arn:aws:iam::123:role/c-prod".into())
        );
        assert_eq!(
            at("jupyterhub-home-nfs.quotaEnforcer.config.QuotaManager.paths[0]"),
            Some("/export/prod".into())
        );
        assert_eq!(at("nfs.pv.serverIP"), None);
    }
}
