//! Everything r2r says to a person goes through here: results to stdout,
//! errors, warnings and progress to stderr, one prefix style throughout.

// The one module (with output.rs) that may write to stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;

pub use crate::text::{bytes, count, safe, safe_json, safe_lines};

/// `error: …`, each cause on its own line, and any `hint:` paragraph last,
/// whichever level of the chain gave it.
pub fn error(err: &anyhow::Error) {
    let mut hints = Vec::new();
    let mut split = |msg: String| -> String {
        match msg.find("\nhint: ") {
            Some(i) => {
                hints.push(msg[i + 1..].to_owned());
                msg[..i].to_owned()
            }
            None => msg,
        }
    };
    // A parser's or the system's own error quotes the input it choked on,
    // which may be a bundle's: it keeps no line break. Only r2r's own
    // messages may span lines (a hint, a list).
    let mut shown = |cause: &(dyn std::error::Error + 'static)| -> String {
        if foreign(cause) {
            safe(&cause.to_string())
        } else {
            safe_lines(&split(cause.to_string()))
        }
    };
    let mut causes = err.chain();
    let mut text = format!(
        "error: {}",
        causes.next().map(&mut shown).unwrap_or_default()
    );
    for cause in causes {
        let _ = write!(text, "\n  caused by: {}", shown(cause));
    }
    for h in hints {
        let _ = write!(text, "\n{}", safe_lines(&h));
    }
    eprintln!("{text}");
}

/// An error from a parser or the system rather than one r2r worded.
fn foreign(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.is::<serde_json::Error>()
        || cause.is::<yaml_serde::Error>()
        || cause.is::<std::io::Error>()
        || cause.is::<rusqlite::Error>()
        || cause.is::<hcl::Error>()
}

pub fn warn(msg: &str) {
    eprintln!("warning: {}", safe_lines(msg));
}

pub fn progress(msg: &str) {
    eprintln!("{}", safe_lines(msg));
}

/// Writes pretty JSON and a newline to stdout.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One line on stderr as it is: for text r2r made itself (a JSON event).
pub fn line(s: &str) {
    eprintln!("{s}");
}

/// A line of a command's result on stdout.
pub fn out(s: &str) {
    println!("{s}");
}

/// A command's result on stdout as it is (text that ends in its own newline).
pub fn out_raw(s: &str) {
    print!("{s}");
}
