//! `--print-answers-template`: every question of a target as a commented
//! YAML answers file, derived defaults filled in and the rest empty.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::answers::{Answers, Recorded};
use super::blueprint::AnswerKind;

pub(crate) fn write(target: &str, record: &[Recorded], answers: &Answers) -> String {
    let value = |r: &Recorded| {
        if r.kind == AnswerKind::Secret {
            Json::String(String::new())
        } else {
            answers.get(&r.key).cloned().unwrap_or(Json::Null)
        }
    };
    let required: Vec<&str> = record
        .iter()
        .filter(|r| !r.optional && is_empty(&value(r)))
        .map(|r| r.key.as_str())
        .collect();
    let mut out = format!(
        "# Answers for `r2r install --target {target} --answers FILE`.\n\
         # Filled-in values were derived from the bundle; check them. Empty ones are\n\
         # required unless marked optional. A secret may be written as env:NAME.\n"
    );
    if !required.is_empty() {
        let _ = writeln!(
            out,
            "# Required, to fill in: {}",
            one_line(&required.join(", "))
        );
    }
    let _ = writeln!(out, "target: {}", yaml_scalar(&Json::String(target.into())));
    let mut open: Vec<String> = Vec::new();
    for r in record {
        let parts: Vec<&str> = r.key.split('.').collect();
        let (leaf, parents) = parts.split_last().map_or(("", &[][..]), |(l, p)| (*l, p));
        let common = open
            .iter()
            .zip(parents)
            .take_while(|(a, b)| a.as_str() == **b)
            .count();
        open.truncate(common);
        for p in &parents[common..] {
            let _ = writeln!(out, "{}{p}:", "  ".repeat(open.len()));
            open.push((*p).to_owned());
        }
        let indent = "  ".repeat(open.len());
        let _ = writeln!(out, "{indent}# {}", one_line(&r.prompt));
        if let Some(h) = &r.help {
            let _ = writeln!(out, "{indent}# {}", one_line(h));
        }
        let value = value(r);
        if r.optional {
            let _ = writeln!(out, "{indent}# (optional)");
        } else if is_empty(&value) {
            let _ = writeln!(out, "{indent}# (required)");
        }
        if let Some(why) = &r.not_derived {
            let _ = writeln!(out, "{indent}# (no default: {})", one_line(why));
        }
        let _ = writeln!(out, "{indent}{leaf}: {}", yaml_scalar(&value));
    }
    out
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        _ => false,
    }
}

fn one_line(s: &str) -> String {
    crate::text::safe(&s.replace('\n', " "))
}

/// JSON is YAML: strings quoted, lists in flow style.
fn yaml_scalar(v: &Json) -> String {
    match v {
        Json::Null => "\"\"".into(),
        other => other.to_string(),
    }
}
