//! r2r: the Right to Replicate for JupyterHub communities.
//!
//! Data flows source → bundle → target: `source` reads a provider's
//! deployment, `bundle` is the signed format that carries it, and the
//! commands in `cli` drive both.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod cli;
pub mod data;
pub(crate) mod drill;
pub(crate) mod exit;
pub(crate) mod export;
pub(crate) mod fsutil;
pub(crate) mod images;
pub(crate) mod install;
pub(crate) mod process;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod secrets;
pub mod source;
pub(crate) mod text;
pub mod values;
