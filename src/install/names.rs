//! Checks for names that come from the bundle or the user and end up in
//! file paths, Kubernetes objects, DNS, HCL and YAML. Templates escape
//! everything as well; these checks make a hostile name fail early, with
//! the question or hub it came from.

use anyhow::{Result, bail};

/// A DNS-1123 label: what Kubernetes namespaces and hub names must be.
pub(crate) fn label(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !ok {
        bail!(
            "{:?} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, not starting or ending with '-')",
            shown(s)
        );
    }
    Ok(())
}

/// A public host name: at least two labels, each a DNS label (upper case
/// allowed), 253 bytes at most.
pub(crate) fn domain(s: &str) -> Result<()> {
    let labels: Vec<&str> = s.split('.').collect();
    let ok = s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        bail!("{:?} is not a domain name (like hub.example.org)", shown(s));
    }
    Ok(())
}

/// An email address as Let's Encrypt takes one for an ACME account: a
/// plain local part (no quotes, spaces or comments) `@` a domain name. It
/// goes into a YAML manifest, so nothing else may pass.
pub(crate) fn email(s: &str) -> Result<()> {
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(local, host)| {
            !local.is_empty()
                && local.len() <= 64
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..")
                && local
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&*+-/=?^_{|}~.".contains(&b))
                && domain(host).is_ok()
        });
    if !ok {
        bail!(
            "{:?} is not an email address (like admin@example.org)",
            shown(s)
        );
    }
    Ok(())
}

/// A cloud identifier: a project, account, subscription, region, zone,
/// bucket or storage account name. Strict enough that it can never break
/// out of a quoted string or a command's argument.
pub(crate) fn cloud_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with(['-', '.']);
    if !ok {
        bail!(
            "{:?} is not a valid name here (letters, digits, '-', '_' and '.', at most 128)",
            shown(s)
        );
    }
    Ok(())
}

/// A Python identifier: an authenticator's config section.
pub(crate) fn identifier(s: &str) -> Result<()> {
    let ok = s.len() <= 128
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        bail!("{:?} is not an identifier", shown(s));
    }
    Ok(())
}

/// No control characters: a free-text answer that is shown and templated.
pub(crate) fn printable(s: &str) -> Result<()> {
    if s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
    {
        bail!("the answer contains control characters");
    }
    Ok(())
}

/// Long or odd input is cut before it goes into an error message.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    crate::text::safe(&cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["admin@example.org", "a.b+hub@uni.ac.uk"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "@example.org",
            "admin@",
            "admin@localhost",
            "a b@example.org",
            "a\"@example.org",
            "a@b@example.org",
            ".a@example.org",
            "a..b@example.org",
            "a@example.org\nkind: Secret",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels() {
        for ok in ["staging", "a", "hub-1", "0abc"] {
            assert!(label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "../x", &"a".repeat(64)] {
            assert!(label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains() {
        for ok in [
            "hub.example.org",
            "staging.uk.2i2c.cloud",
            "Hub.Example.ORG",
        ] {
            assert!(domain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            "hub..org",
            "-a.org",
            "a.org\nb",
            "a b.org",
            "1.2.3.4",
            "x\".org",
            "a.org/x",
        ] {
            assert!(domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cloud_names() {
        assert!(cloud_name("two-eye-two-see-uk").is_ok());
        assert!(cloud_name("us-west-2").is_ok());
        for bad in ["", "-rf", "a b", "a\"b", "${x}", "a/b", ".hidden"] {
            assert!(cloud_name(bad).is_err(), "{bad}");
        }
    }
}
