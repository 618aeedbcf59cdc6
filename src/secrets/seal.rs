//! Sealing secrets for the community with age, so that stock `age -d -i
//! key.txt` opens them. The output is ASCII-armored: it diffs and mails.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

/// The community's age recipients (`age1…`).
#[derive(Clone, Default)]
pub(crate) struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn add(&mut self, text: &str, from: &str) -> Result<()> {
        let text = text.trim();
        // The text is never echoed: a common slip is passing the identity
        // (the secret key) where the recipient belongs.
        let r = age::x25519::Recipient::from_str(text).map_err(|_| {
            if text.starts_with("AGE-SECRET-KEY-") {
                anyhow!(
                    "{from}: this is an age identity (a secret key), not a recipient; give its public key (age1…), which `age-keygen -y KEYFILE` prints"
                )
            } else {
                anyhow!("{from}: not an age recipient (expected age1…)")
            }
        })?;
        self.0.push(r);
        Ok(())
    }

    /// A recipients file as `age -R` reads it: one per line, `#` comments.
    pub(crate) fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = crate::source::repo::read_text(path, 1 << 20)?;
        let before = self.0.len();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.add(line, &format!("{} line {}", path.display(), n + 1))?;
        }
        if self.0.len() == before {
            bail!("{} lists no age recipient", path.display());
        }
        Ok(())
    }

    pub(crate) fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }

    /// Encrypts `plain` to every recipient, armored.
    pub(crate) fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        if self.0.is_empty() {
            bail!("no age recipient to seal for");
        }
        let encryptor =
            age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| anyhow!("cannot set up age encryption: {e}"))?;
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .context("age armor")?;
        let mut w = encryptor.wrap_output(armor).context("age encryption")?;
        w.write_all(plain).context("age encryption")?;
        w.finish()
            .and_then(age::armor::ArmoredWriter::finish)
            .context("age encryption")?;
        Ok(out)
    }
}
