//! `r2r __render-jsonnet` (hidden): the child side of
//! `values::bounded::render`, which evaluates a bundle's jsonnet under
//! CPU and memory limits. Not for people: it prints the JSON and nothing
//! else.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::print;
use crate::exit;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The folder whose files are the only imports.
    #[arg(long)]
    root: PathBuf,
    /// The file to evaluate, relative to --root.
    file: String,
    /// NAME=VALUE, repeatable.
    #[arg(long = "ext-str")]
    ext_str: Vec<String>,
}

pub(super) fn run(args: Args) -> Result<u8> {
    let ext = args
        .ext_str
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--ext-str {e:?}: NAME=VALUE expected"))
        })
        .collect::<Result<Vec<_>>>()?;
    let json = crate::values::bounded::child(&args.root, &args.file, &ext)?;
    print::out_raw(&json);
    Ok(exit::OK)
}
