//! The install directory: every file and folder `r2r install` writes under
//! it, as paths relative to it. NEXT-STEPS.md's commands run after `cd` into
//! the directory, so they use the same relative paths.
//!
//! The install directory mirrors the bundle where it copies members as they
//! are (charts, images, hub databases keep their member paths, see
//! `bundle/layout.rs`), so the folders it shares with the bundle take their
//! names from `Kind::folder()`.

use std::path::{Path, PathBuf};

use crate::bundle::layout::{Kind, SECRETS_FILE, VALUES_FILE};

/// r2r's own state: the journal, the answers, the private folder.
pub(crate) const STATE: &str = ".r2r-install";
/// The Helm releases the install applies, in order (`steps::helm::Releases`):
/// what the replica check renders.
pub(crate) const RELEASES: &str = ".r2r-install/releases.json";
/// Where decrypted secrets live while Helm reads them: 0700, emptied at the
/// start of every helm step.
pub(crate) const PRIVATE: &str = ".r2r-install/private";
/// What is left for a person to run, and what is here.
pub(crate) const NEXT_STEPS: &str = "NEXT-STEPS.md";
/// Where each image was pushed, when the answers name a registry.
pub(crate) const IMAGES_MAPPING: &str = "images-mapping.json";
/// The terraform workspace.
pub(crate) const TERRAFORM: &str = "terraform";
/// The saved plan, inside the workspace.
pub(crate) const TERRAFORM_PLAN: &str = "r2r.tfplan";
/// The outputs an `apply` gave, kept for a resumed install.
pub(crate) const TERRAFORM_OUTPUTS: &str = "terraform/outputs.json";
/// Kubernetes manifests a blueprint renders per hub (the home restore jobs).
pub(crate) const KUBERNETES: &str = "kubernetes";
/// Each hub's values, overlay and secrets, under `config/<hub>/`.
pub(crate) const CONFIG: &str = Kind::Config.folder();
/// The restored homes, under `homes/<hub>/`.
pub(crate) const HOMES: &str = Kind::Home.folder();
/// The restored buckets, one folder each.
pub(crate) const BUCKETS: &str = Kind::Bucket.folder();
/// The copied OCI image layout, when no registry is answered.
pub(crate) const IMAGES: &str = Kind::Image.folder();

/// The cluster layer (install/cluster_layer.rs): cert-manager's values,
/// written by r2r.
pub(crate) const CERT_MANAGER_VALUES: &str = "config/_cert-manager/values.yaml";
/// The support release's values for the community (the provider's, with
/// r2r's overlay).
pub(crate) const SUPPORT_VALUES: &str = "config/_support/values.yaml";
/// The support release's secrets r2r generates (the Prometheus password),
/// sealed with age.
pub(crate) const SUPPORT_SECRETS: &str = "config/_support/secret-values.yaml.age";
/// The community's ClusterIssuer, applied with kubectl after support.
pub(crate) const CLUSTER_ISSUER: &str = "kubernetes/cluster-issuer.yaml";
/// The default StorageClass of a cluster that comes without one (EKS).
pub(crate) const DEFAULT_STORAGE_CLASS: &str = "kubernetes/default-storage-class.yaml";

/// The decrypted secrets file of the local target.
const PLAIN_SECRETS: &str = "secret-values.yaml";

/// The install journal (install/journal.rs).
pub(crate) fn journal(dir: &Path) -> PathBuf {
    dir.join(STATE).join("journal.json")
}

/// The answers of the install, without secrets: what `--resume` reads.
pub(crate) fn answers(dir: &Path) -> PathBuf {
    dir.join(STATE).join("answers.yaml")
}

/// `config/<hub>/values.yaml`: the hub's values with the answers in place.
pub(crate) fn hub_values(hub: &str) -> String {
    format!("{CONFIG}/{hub}/{VALUES_FILE}")
}

/// `config/<hub>/overlay.yaml`: the target's Helm overlay for the hub.
pub(crate) fn hub_overlay(hub: &str) -> String {
    format!("{CONFIG}/{hub}/overlay.yaml")
}

/// `config/<hub>/secret-values.yaml`, or sealed with age
/// (`secret-values.yaml.age`) on every target but the local one.
pub(crate) fn hub_secrets(hub: &str, sealed: bool) -> String {
    let file = if sealed { SECRETS_FILE } else { PLAIN_SECRETS };
    format!("{CONFIG}/{hub}/{file}")
}

/// The 0600 file a hub's secrets are opened into for the helm command.
pub(crate) fn private_secrets(hub: &str) -> String {
    format!("{PRIVATE}/{hub}-secrets.yaml")
}

/// The folder a bucket is restored into.
pub(crate) fn bucket(dir: &Path, name: &str) -> PathBuf {
    dir.join(BUCKETS).join(name)
}

/// Whether `rel`, a blueprint template's destination, lies in `folder`.
pub(crate) fn in_folder(folder: &str, rel: &str) -> bool {
    rel.strip_prefix(folder)
        .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NEXT-STEPS.md of earlier installs, docs/install.md and the tests name
    /// these paths.
    #[test]
    fn paths_are_the_documented_ones() {
        let d = Path::new("/i");
        assert_eq!(journal(d), Path::new("/i/.r2r-install/journal.json"));
        assert_eq!(answers(d), Path::new("/i/.r2r-install/answers.yaml"));
        assert_eq!(hub_values("prod"), "config/prod/values.yaml");
        assert_eq!(hub_overlay("prod"), "config/prod/overlay.yaml");
        assert_eq!(hub_secrets("prod", false), "config/prod/secret-values.yaml");
        assert_eq!(
            hub_secrets("prod", true),
            "config/prod/secret-values.yaml.age"
        );
        assert_eq!(
            private_secrets("prod"),
            ".r2r-install/private/prod-secrets.yaml"
        );
        assert_eq!(bucket(d, "b"), Path::new("/i/buckets/b"));
        assert_eq!((HOMES, IMAGES), ("homes", "images"));
        assert!(in_folder(CONFIG, "config/{hub}/overlay.yaml"));
        assert!(!in_folder(CONFIG, "configs/x"));
        assert!(!in_folder(TERRAFORM, "terraform"));
        assert!(in_folder(STATE, PRIVATE));
        assert!(in_folder(TERRAFORM, TERRAFORM_OUTPUTS));
        assert!(in_folder(CONFIG, CERT_MANAGER_VALUES));
        assert!(in_folder(CONFIG, SUPPORT_VALUES));
        assert!(in_folder(CONFIG, SUPPORT_SECRETS));
        assert!(in_folder(KUBERNETES, CLUSTER_ISSUER));
        assert!(in_folder(KUBERNETES, DEFAULT_STORAGE_CLASS));
    }
}
