//! Text for people, made from values and from outside input: escaping that
//! keeps a bundle's strings from driving a terminal or forging a line, and
//! the few number formats r2r uses. Pure functions; printing is the CLI's.

/// Makes text from a bundle, a repository or any other outside source
/// safe to show on one line of a terminal: every control character
/// (newline, carriage return, tab, ESC, DEL, C1) and every invisible
/// formatting or bidirectional character is written as its `\u{…}` escape,
/// so the text can neither drive the terminal nor start a line of its own
/// (a hub named `x\n  signature:  verified` would otherwise forge one) nor
/// reorder what follows it (U+202E).
pub fn safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if shown_escaped(c) {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// [`safe`] for r2r's own text of several lines (an error, a warning with a
/// hint): each line is escaped and the line breaks kept. Text from outside
/// that is formatted into it must be passed through [`safe`] there.
pub fn safe_lines(s: &str) -> String {
    s.split('\n').map(safe).collect::<Vec<_>>().join("\n")
}

/// Every string (and map key) in a JSON value through [`safe`], for a
/// document from outside that is laid out as text rather than printed as
/// JSON.
pub fn safe_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(t) => Value::String(safe(&t)),
        Value::Array(items) => Value::Array(items.into_iter().map(safe_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (safe(&k), safe_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Control characters, and the formatting characters that are invisible or
/// change the direction or order of text around them: Arabic letter mark,
/// zero-width and direction marks, line and paragraph separators, the
/// embeddings, overrides and isolates, and the byte-order mark.
fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// `1 image`, `3 images`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes for people: `1.5 MiB`.
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

/// An error chain on one line, outermost first (`a: b: cause`), for an
/// error that becomes part of another message (a warning, a refusal
/// recorded for later). A `hint:` paragraph from any level is moved after
/// the whole chain, as the CLI prints hints, never left between a message
/// and its cause.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut hints = Vec::new();
    let mut causes = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let (msg, hint) = match text.find("\nhint: ") {
            Some(i) => (&text[..i], Some(&text[i + "\nhint: ".len()..])),
            None => (&text[..], None),
        };
        causes.push(msg.replace('\n', " "));
        hints.extend(hint.map(|h| h.replace('\n', " ")));
    }
    let mut line = causes.join(": ");
    for h in hints {
        line.push_str(" (hint: ");
        line.push_str(&h);
        line.push(')');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_control() {
        assert_eq!(safe("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(safe("x\n  signature:\r\t"), "x\\n  signature:\\r\\t");
        assert_eq!(
            safe("a\u{202e}b\u{7f}\u{85}\u{2066}\u{feff}"),
            "a\\u{202e}b\\u{7f}\\u{85}\\u{2066}\\u{feff}"
        );
        assert_eq!(safe("Zoë, 東京"), "Zoë, 東京");
        assert_eq!(safe_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
    }

    #[test]
    fn one_line_puts_hints_after_the_cause() {
        let err = anyhow::anyhow!("disk full")
            .context("cannot write x\nhint: free some space")
            .context("export");
        assert_eq!(
            one_line(&err),
            "export: cannot write x: disk full (hint: free some space)"
        );
    }
}
