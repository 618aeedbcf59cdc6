//! The report as markdown, for a community's engineer to read and act on.

use std::fmt::Write;

use super::{Finding, Report, Severity};

pub(crate) fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Portability report: cluster `{}` ({})\n",
        r.cluster, r.cloud
    );
    let _ = writeln!(
        s,
        "Leaving **{}**. {} blockers, {} actions, {} warnings.\n",
        r.provider.display_name, r.summary.blockers, r.summary.actions, r.summary.warnings
    );
    if r.recipients.is_empty() {
        let _ = writeln!(
            s,
            "No secrets were opened: every secret is carried sealed as the provider sealed it.\n"
        );
    } else {
        let _ = writeln!(
            s,
            "Opened secrets are sealed with age to: {}\n",
            r.recipients
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(s, "## Cluster\n");
    findings(&mut s, &r.cluster_findings);
    for h in &r.hubs {
        let _ = writeln!(s, "## Hub `{}` — {}\n", h.name, h.domain);
        let _ = writeln!(
            s,
            "- chart: `{}`; standalone values: `{}`",
            h.helm_chart, h.values
        );
        match &h.secrets {
            Some(m) => {
                let _ = writeln!(s, "- secrets: `{m}` (age)");
            }
            None => {
                let _ = writeln!(s, "- secrets: none opened");
            }
        }
        let _ = writeln!(s, "- provider-derived values: {}\n", h.derived_by);
        findings(&mut s, &h.findings);
        if !h.parameters.is_empty() {
            let _ = writeln!(s, "### Installer parameters\n");
            let _ = writeln!(s, "| parameter | current value | used at |\n|---|---|---|");
            for p in &h.parameters {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} |",
                    p.name,
                    cell(&p.value),
                    p.key_paths
                        .iter()
                        .map(|k| format!("`{}`", cell(k)))
                        .collect::<Vec<_>>()
                        .join("<br>")
                );
            }
            s.push('\n');
        }
        if !h.removed.is_empty() {
            let _ = writeln!(s, "### Removed from the standalone values\n");
            for r in &h.removed {
                let _ = writeln!(s, "- `{}`: {}", r.key_path, r.reason);
            }
            s.push('\n');
        }
        let _ = writeln!(s, "### Validation against the Zero to JupyterHub schema\n");
        if !h.validation.checked {
            let _ = writeln!(
                s,
                "Not checked: no z2jh chart was given (`r2r export --z2jh DIR`).\n"
            );
        } else if h.validation.violations.is_empty() {
            let _ = writeln!(s, "No violations.\n");
        } else {
            for v in &h.validation.violations {
                let _ = writeln!(s, "- `{}`: {}", v.key_path, cell(&v.message));
            }
            s.push('\n');
        }
    }
    s
}

fn findings(s: &mut String, list: &[Finding]) {
    if list.is_empty() {
        let _ = writeln!(s, "Nothing ties this to the provider.\n");
        return;
    }
    let mut sorted: Vec<&Finding> = list.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    for f in sorted {
        let tag = match f.severity {
            Severity::Blocker => "BLOCKER",
            Severity::Action => "action",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = write!(s, "- **{tag}** [{}] {}", f.category, f.subject);
        if let Some(l) = &f.location {
            let _ = write!(s, " (`{l}`)");
        }
        let _ = writeln!(s, "\n  - do: {}", f.action);
        if !f.key_paths.is_empty() {
            let _ = writeln!(
                s,
                "  - holds: {}",
                f.key_paths
                    .iter()
                    .map(|k| format!("`{}`", cell(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    s.push('\n');
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
