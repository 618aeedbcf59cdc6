//! Opening one sealed file by the first route that works: natively with an
//! age identity the exporter holds, then (only when asked) through the
//! provider's own `sops` binary. A file no route opens stays sealed, and the
//! keys that seal it are what the report names.

use std::path::Path;

use anyhow::Result;

use super::sops::{self, SealingKey};
use super::sops_age::{self, AgeIdentities, OpenError};
use super::sops_cli;
use crate::values::tree::Values;

pub(crate) struct Openers {
    pub age: AgeIdentities,
    /// `--decrypt-with sops`.
    pub sops_binary: bool,
}

pub(crate) enum Opened {
    Plain {
        values: Values,
        /// `age` or `sops`.
        route: &'static str,
        keys: Vec<SealingKey>,
        key_paths: Vec<String>,
    },
    Sealed {
        keys: Vec<SealingKey>,
        /// What the file holds, by key path (sops leaves names readable).
        key_paths: Vec<String>,
        why: String,
    },
}

impl Openers {
    pub(crate) fn open(&self, path: &Path, shown: &str) -> Result<Opened> {
        let text = crate::source::repo::read_text(path, sops::MAX_SECRET_BYTES)?;
        let keys = sops::sealing_keys(&text);
        let key_paths = sops::key_paths(&text);
        let why = match sops_age::open(&text, &self.age) {
            Ok(values) => {
                return Ok(Opened::Plain {
                    values,
                    route: "age",
                    keys,
                    key_paths,
                });
            }
            // The provider's own sops is the reference: when it is allowed,
            // it gets the last word on a file the native route rejects.
            Err(OpenError::Bad(e)) if !self.sops_binary => {
                return Err(e.context(format!("cannot open {shown}")));
            }
            Err(OpenError::Bad(e)) => crate::text::one_line(&e),
            Err(OpenError::NotForUs(why)) => why,
        };
        if self.sops_binary {
            let values = sops_cli::open(path, shown)?;
            return Ok(Opened::Plain {
                values,
                route: "sops",
                keys,
                key_paths,
            });
        }
        Ok(Opened::Sealed {
            keys,
            key_paths,
            why,
        })
    }
}
