//! The command line: one file per command. Each file holds the clap struct,
//! whose doc comments are the help text, and a `run` that wires the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

mod data_args;
mod drill;
mod export;
mod image_args;
mod inspect;
mod install;
mod keygen;
mod output;
mod password;
pub mod print;
mod prompt;
mod push_images;
mod render_jsonnet;
mod restore_homes;
mod verify;

/// r2r — the Right to Replicate for JupyterHub communities.
///
/// Export a community's hubs from a provider's infrastructure repository
/// into one signed bundle, check that bundle, and install it on
/// infrastructure the community owns (a local folder, GCP, AWS, Azure or
/// any Kubernetes).
#[derive(Debug, Parser)]
#[command(name = "r2r", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Start with `r2r keygen --out keys --no-password`, then `r2r export --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::Args),
    Export(Box<export::Args>),
    Verify(verify::Args),
    Inspect(inspect::Args),
    RestoreHomes(restore_homes::Args),
    PushImages(push_images::Args),
    Install(Box<install::Args>),
    Drill(drill::Args),
    /// The bounded jsonnet evaluator r2r runs as its own child.
    #[command(name = "__render-jsonnet", hide = true)]
    RenderJsonnet(render_jsonnet::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Export(args) => export::run(*args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::RestoreHomes(args) => restore_homes::run(args),
        Command::PushImages(args) => push_images::run(args),
        Command::Install(args) => install::run(*args),
        Command::Drill(args) => drill::run(args),
        Command::RenderJsonnet(args) => render_jsonnet::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            print::error(&err);
            ExitCode::from(exit::FAILURE)
        }
    }
}
