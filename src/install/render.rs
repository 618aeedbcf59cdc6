//! Rendering blueprint templates with tera. Every `{{ … }}` in a template
//! is escaped for the file it lands in (autoescape, with our own escape
//! functions), so a hostile hub name or answer stays inside its quoted
//! string: HCL for `.tf`/`.tfvars`, YAML for `.yaml`. Templates write the
//! quotes; the escape functions make the content safe between them.

use anyhow::{Result, anyhow};
use serde::Serialize;

use super::blueprint;

pub(crate) struct Renderer {
    tera: tera::Tera,
}

/// `"` `\` and control characters escaped as in a JSON string, which is
/// also a YAML double-quoted scalar.
pub(crate) fn yaml_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    // YAML also breaks lines at NEL, LS and PS, which JSON leaves raw.
    quoted[1..quoted.len().saturating_sub(1).max(1)]
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .replace('\u{feff}', "\\ufeff")
}

/// The content of an HCL quoted template string: JSON-style escapes, and
/// `${` / `%{` doubled so nothing is interpolated.
pub(crate) fn hcl_escape(s: &str) -> String {
    yaml_escape(s).replace("${", "$${").replace("%{", "%%{")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Hcl,
    Yaml,
}

impl Format {
    fn of(name: &str) -> Option<Format> {
        let stem = name.strip_suffix(".tera").unwrap_or(name);
        if stem.ends_with(".tf") || stem.ends_with(".tfvars") {
            Some(Format::Hcl)
        } else if stem.ends_with(".yaml") || stem.ends_with(".yml") {
            Some(Format::Yaml)
        } else {
            None
        }
    }

    fn escape(self) -> fn(&str) -> String {
        match self {
            Format::Hcl => hcl_escape,
            Format::Yaml => yaml_escape,
        }
    }
}

impl Renderer {
    /// The templates of `target`, plus an inline one per text template
    /// (question defaults and commands), which are not escaped.
    pub(crate) fn new(target: &str) -> Result<Renderer> {
        Ok(Renderer {
            tera: Self::build(target, None)?,
        })
    }

    fn build(target: &str, format: Option<Format>) -> Result<tera::Tera> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        let files = blueprint::templates(target);
        let wanted: Vec<(String, &str)> = files
            .iter()
            .filter(|(n, _)| format.is_none() || Format::of(n) == format)
            .map(|(n, b)| (n.clone(), *b))
            .collect();
        tera.add_raw_templates(wanted)
            .map_err(|e| anyhow!("blueprint {target}: {}", chain(&e)))?;
        if let Some(f) = format {
            tera.autoescape_on(vec![".tera"]);
            tera.set_escape_fn(f.escape());
        }
        Ok(tera)
    }

    /// Renders a template file of the blueprint, escaped for its format.
    pub(crate) fn file(&self, target: &str, name: &str, ctx: &impl Serialize) -> Result<String> {
        let format = Format::of(name)
            .ok_or_else(|| anyhow!("blueprint {target}: {name} is neither HCL nor YAML"))?;
        // One instance per format, so includes are escaped the same way.
        let tera = Self::build(target, Some(format))?;
        let ctx = tera::Context::from_serialize(ctx)
            .map_err(|e| anyhow!("cannot build the template context: {e}"))?;
        tera.render(name, &ctx)
            .map_err(|e| anyhow!("blueprint {target}: cannot render {name}: {}", chain(&e)))
    }

    /// Renders a one-line template string from a blueprint (a default, a
    /// condition, a command argument).
    pub(crate) fn text(&mut self, template: &str, ctx: &impl Serialize) -> Result<String> {
        let ctx = tera::Context::from_serialize(ctx)
            .map_err(|e| anyhow!("cannot build the template context: {e}"))?;
        self.tera
            .render_str(template, &ctx)
            .map(|s| s.trim().to_owned())
            .map_err(|e| anyhow!("cannot render {template:?}: {}", chain(&e)))
    }
}

/// tera's errors keep the reason in their sources.
fn chain(e: &tera::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_stay_inside_quotes() {
        assert_eq!(yaml_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            hcl_escape("${file(\"/etc/passwd\")}"),
            "$${file(\\\"/etc/passwd\\\")}"
        );
        assert_eq!(hcl_escape("%{ if x }"), "%%{ if x }");
        assert_eq!(yaml_escape(""), "");
        assert_eq!(yaml_escape("a\u{2028}b\u{85}"), "a\\u2028b\\u0085");
    }
}
