//! The one way r2r parses YAML it did not write itself: values files, chart
//! files, repository indexes, cluster.yaml, profiles, decrypted secrets.
//!
//! libyaml's scanner (under yaml_serde) keeps one simple-key slot per open
//! flow collection and walks them all for every token, and yaml_serde reads
//! a whole document's events before its recursion limit applies: `a: [[[[…`
//! costs time quadratic in its length (100 KB took ~15 s; the 16 MiB a
//! member may hold, days). So the nesting is bounded first, by a streaming
//! pass of libyaml-safer (a line-by-line port of the same libyaml, so it
//! tokenises exactly as the real parser does) that stops at the first
//! collection deeper than [`MAX_DEPTH`]. Below that depth each token costs at
//! most `MAX_DEPTH` steps, so both passes are linear in the input.

use serde::de::{DeserializeOwned, Error as _};

/// The deepest nesting of mappings and sequences (block or flow) r2r
/// reads. Real values files nest about ten deep; yaml_serde itself stops at
/// 128, but only after scanning the whole document.
pub const MAX_DEPTH: usize = 64;

/// Parses untrusted YAML into `T`, refusing nesting deeper than
/// [`MAX_DEPTH`] before the full parser sees it.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, yaml_serde::Error> {
    check_depth(text)?;
    yaml_serde::from_str(text)
}

/// Refuses a document that nests deeper than [`MAX_DEPTH`], or that
/// libyaml cannot tokenise (the syntax error is reported here, since the
/// rest of the text was never bounded). Linear in the input.
pub fn check_depth(text: &str) -> Result<(), yaml_serde::Error> {
    // libyaml-safer panics on a few malformed inputs where C libyaml reads
    // its NUL padding (found by tests/fuzz.rs: `"\` at the end of input):
    // such a document is malformed either way, so the panic is its error.
    // libyaml-safer also panics on a block scalar that ends the input
    // without a line break (real chart templates do: support's
    // calico.yaml); a final line break changes no nesting, so it is added.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    std::panic::catch_unwind(|| depth_pass(text)).unwrap_or_else(|_| {
        Err(yaml_serde::Error::custom(
            "malformed YAML: the scanner stopped on it",
        ))
    })
}

fn depth_pass(text: &str) -> Result<(), yaml_serde::Error> {
    use libyaml_safer::{EventData, Parser};
    let mut input = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut depth = 0usize;
    for event in parser {
        let event = event.map_err(|e| yaml_serde::Error::custom(e.to_string()))?;
        match event.data {
            EventData::SequenceStart { .. } | EventData::MappingStart { .. } => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(yaml_serde::Error::custom(format!(
                        "collections nested deeper than {MAX_DEPTH} at {}: \
                         refused before parsing, as no real file nests so deep",
                        event.start_mark
                    )));
                }
            }
            EventData::SequenceEnd | EventData::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_scalar_at_the_end_of_input_is_not_malformed() {
        // The old pass panicked here (and printed the panic to the user).
        assert!(check_depth("a: |\n  text").is_ok());
        assert!(check_depth("a:\n  b: >-\n    folded").is_ok());
    }

    #[test]
    fn nesting_at_the_limit_parses_and_past_it_is_refused() {
        let at = format!(
            "a: {}{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(from_str::<yaml_serde::Value>(&at).is_ok());
        let past = format!("a: {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let err = from_str::<yaml_serde::Value>(&past)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested deeper than 64"), "{err}");
    }

    #[test]
    fn quoted_brackets_and_block_scalars_do_not_count() {
        let deep = "[".repeat(200);
        let text = format!("a: '{deep}'\nb: \"{deep}\"\nc: |\n  {deep}\nd: x{deep} # {deep}\n");
        assert!(from_str::<yaml_serde::Value>(&text).is_ok());
    }

    #[test]
    fn an_escape_at_the_end_of_input_is_an_error_not_a_crash() {
        assert!(from_str::<yaml_serde::Value>("\"\\").is_err());
    }

    #[test]
    fn syntax_errors_still_name_the_place() {
        let err = from_str::<yaml_serde::Value>("a: [1, 2\nb: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line"), "{err}");
    }
}
