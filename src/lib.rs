//! r2r: the Right to Replicate for JupyterHub communities.
//!
//! Data flows source → bundle → target: `source` reads a provider's
//! deployment, `bundle` is the signed format that carries it, and the
//! commands in `cli` drive both.

pub mod bundle;
pub mod cli;
pub mod data;
pub mod drill;
pub mod exit;
pub mod export;
pub mod fsutil;
pub mod images;
pub mod install;
pub mod progress;
pub mod report;
pub mod secrets;
pub mod source;
pub mod text;
pub mod values;
