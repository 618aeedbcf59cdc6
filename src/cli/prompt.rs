//! Asking a person, with dialoguer, on the terminal. The installer asks
//! through [`Asker`]; this is the terminal's side of it.

use super::print;
use std::io::IsTerminal;

use anyhow::{Context, Result};
use dialoguer::{Confirm, Input, Password, Select};

use crate::install::answers::{Asker, Asking};
use crate::install::blueprint::AnswerKind;

/// Whether a person can be asked: stdin and stderr are terminals.
pub(super) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub(super) struct Terminal;

impl Asker for Terminal {
    fn ask(&mut self, q: &Asking<'_>) -> Result<Option<String>> {
        if let Some(help) = q.help {
            print::line(&format!("  {}", crate::text::safe(help)));
        }
        let prompt = crate::text::safe(q.prompt);
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
pub(super) fn choose(prompt: &str, items: &[String], default: usize) -> Result<usize> {
    Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact()
        .context("cannot read the choice")
}

pub(super) fn confirm(prompt: &str) -> Result<bool> {
    Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .context("cannot read the confirmation")
}
