//! Asking a person, with dialoguer, on the terminal; and not asking, for
//! answers files, `--yes` and runs without a terminal.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use dialoguer::{Confirm, Input, Password, Select};

use super::answers::{Asker, Asking};
use super::blueprint::AnswerKind;

/// Whether a person can be asked: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Never asks: every unanswered question without a default is missing.
pub struct NoAsk;

impl Asker for NoAsk {
    fn ask(&mut self, _: &Asking<'_>) -> Result<Option<String>> {
        Ok(None)
    }
}

pub struct Terminal;

impl Asker for Terminal {
    fn ask(&mut self, q: &Asking<'_>) -> Result<Option<String>> {
        if let Some(help) = q.help {
            eprintln!("  {}", crate::cli::print::safe(help));
        }
        let prompt = crate::cli::print::safe(q.prompt);
        let answer = if q.kind == AnswerKind::Secret {
            Password::new()
                .with_prompt(&prompt)
                .allow_empty_password(q.optional)
                .interact()
        } else {
            let mut input = Input::<String>::new()
                .with_prompt(&prompt)
                .allow_empty(q.optional);
            if let Some(d) = q.default {
                input = input.default(d.to_owned());
            }
            input.interact_text()
        };
        answer
            .map(Some)
            .with_context(|| format!("cannot read the answer to {}", q.key))
    }
}

/// Picks a target from a list.
pub fn choose(prompt: &str, items: &[String], default: usize) -> Result<usize> {
    Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact()
        .context("cannot read the choice")
}

pub fn confirm(prompt: &str) -> Result<bool> {
    Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .context("cannot read the confirmation")
}
