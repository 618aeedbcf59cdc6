//! Secrets: recognising sops-sealed files and the keys that seal them,
//! opening them (natively for age, through the `sops` binary otherwise),
//! sealing the result for the community with age, and the leak scan that
//! keeps plaintext secrets out of every bundle.

pub(crate) mod leak;
pub(crate) mod open;
pub(crate) mod seal;
pub(crate) mod sops;
pub(crate) mod sops_age;
pub(crate) mod sops_cli;
