//! Everything r2r says to a person goes through here: results to stdout,
//! errors, warnings and progress to stderr, one prefix style throughout.

use std::fmt::Write as _;

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
    let mut text = format!("error: {}", safe(&split(err.to_string())));
    for cause in err.chain().skip(1) {
        let _ = write!(text, "\n  caused by: {}", safe(&split(cause.to_string())));
    }
    for h in hints {
        let _ = write!(text, "\n{}", safe(&h));
    }
    eprintln!("{text}");
}

pub fn warn(msg: &str) {
    eprintln!("warning: {}", safe(msg));
}

pub fn progress(msg: &str) {
    eprintln!("{}", safe(msg));
}

/// Escapes control characters (other than newline) so that text from a
/// bundle or repository cannot drive the terminal.
pub fn safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Bytes for people: `1.5 MiB`.
/// `1 image`, `3 images`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Writes pretty JSON and a newline to stdout.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_control() {
        assert_eq!(safe("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
    }
}
