#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    r2r::cli::main()
}
