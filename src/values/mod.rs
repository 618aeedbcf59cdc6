//! Helm values: the tree, Helm's merge rules, what the provider derives in
//! `values.jsonnet`, one standalone values file per hub, and validation
//! against the Zero to JupyterHub schema.

pub mod bounded;
pub mod coalesce;
pub mod derived;
pub mod jsonnet;
pub mod merge;
pub mod params;
pub mod standalone;
pub mod support;
pub mod tree;
pub mod validate;
pub mod yaml;
