//! Passwords for secret keys: from `R2R_KEY_PASSWORD`, else a prompt on the
//! terminal, else a clear error. Never from a command-line flag, which would
//! leak into shell history and `ps`.

use std::io::IsTerminal;

use anyhow::{Result, bail};

use crate::bundle::sign::{PASSWORD_ENV, PasswordSource};

pub(super) struct EnvOrPrompt {
    pub confirm: bool,
}

impl PasswordSource for EnvOrPrompt {
    fn password(&self, purpose: &str) -> Result<String> {
        if let Ok(pw) = std::env::var(PASSWORD_ENV) {
            return Ok(pw);
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            bail!(
                "a {purpose} is needed, but there is no terminal to ask on\n\
                 hint: set {PASSWORD_ENV}, or create keys with `r2r keygen --no-password`"
            );
        }
        let mut prompt = dialoguer::Password::new().with_prompt(capitalise(purpose));
        if self.confirm {
            prompt = prompt.with_confirmation("Repeat it", "the two entries differ");
        }
        Ok(prompt.interact()?)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}
