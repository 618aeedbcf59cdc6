//! Secrets: recognising sops-sealed files and the keys that seal them,
//! opening them (natively for age, through the `sops` binary otherwise),
//! sealing the result for the community with age, and the leak scan that
//! keeps plaintext secrets out of every bundle.

pub mod leak;
pub mod open;
pub mod seal;
pub mod sops;
pub mod sops_age;
pub mod sops_cli;
