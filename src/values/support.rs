//! The support release's values for the community: what the provider's
//! deployer passes to `helm upgrade support` (the chart's `values.jsonnet`
//! rendered with the same engine and ext-strs as a hub's, then the
//! cluster's plaintext support values files, in order), with r2r's overlay
//! on top. Helm layers the result over the chart's own `values.yaml`, which
//! the carried chart holds.
//!
//! The overlay *replaces* where the merge would keep the provider's things:
//! an empty map or list in it stands for "none" (no provider role on a
//! service account, no provider host on an ingress), where Helm's merge
//! would keep every key under it.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::derived::DeployVars;
use super::merge;
use super::tree::{self, Values};

/// The support values: `chart_dir` is the carried support chart (its
/// `values.jsonnet`, when it has one, is rendered with `vars`), `files` the
/// plaintext values files (name as shown, text) in order, `overlay` r2r's.
/// `eval` evaluates a jsonnet file (root, file, ext-strs, shown) into JSON
/// text: [`super::bounded::render`] for a bundle's chart.
pub fn build(
    chart_dir: &Path,
    vars: &DeployVars,
    files: &[(String, String)],
    overlay: Values,
    eval: impl Fn(&Path, &str, &[(String, String)], &str) -> Result<String>,
) -> Result<Values> {
    let mut values = Values::Mapping(Default::default());
    if chart_dir.join("values.jsonnet").is_file() {
        // The carried chart's jsonnet comes from the bundle: evaluated under
        // limits, its imports confined to the chart.
        let ext = vars.ext_pairs();
        let shown = format!("{}/values.jsonnet", chart_dir.display());
        let text = eval(chart_dir, "values.jsonnet", &ext, &shown)?;
        let layer: Values = serde_json::from_str(&text)
            .with_context(|| format!("{shown}: rendered output is not a values document"))?;
        if !layer.is_mapping() {
            bail!("{shown}: rendered to something other than a map of values");
        }
        merge::layer(&mut values, layer);
    }
    for (shown, text) in files {
        let layer = tree::parse_yaml(text).with_context(|| format!("{shown} is not valid YAML"))?;
        if !layer.is_mapping() {
            bail!("{shown} is not a map of values");
        }
        merge::layer(&mut values, layer);
    }
    replace(&mut values, overlay);
    Ok(values)
}

/// Layers `top` over `base`, maps merging, except that an empty map (like
/// any other value) replaces what is there.
pub fn replace(base: &mut Values, top: Values) {
    match (base, top) {
        (Values::Mapping(b), Values::Mapping(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(existing)
                        if existing.is_mapping()
                            && matches!(&v, Values::Mapping(m) if !m.is_empty()) =>
                    {
                        replace(existing, v);
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::tree::parse_yaml;

    #[test]
    fn the_overlay_replaces_what_it_empties() {
        let mut v = parse_yaml(
            "g: {ingress: {hosts: [a.provider.org], enabled: true}, sa: {annotations: {role: arn}}}\nkeep: 1\n",
        )
        .unwrap();
        replace(
            &mut v,
            parse_yaml("g: {ingress: {hosts: [], enabled: false}, sa: {annotations: {}}}\n")
                .unwrap(),
        );
        assert_eq!(
            v,
            parse_yaml(
                "g: {ingress: {hosts: [], enabled: false}, sa: {annotations: {}}}\nkeep: 1\n"
            )
            .unwrap()
        );
    }

    #[test]
    fn the_files_layer_over_the_rendered_jsonnet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("values.jsonnet"),
            "{ cluster: std.extVar('VARS_2I2C_CLUSTER_NAME'), a: { b: 1, c: 2 } }",
        )
        .unwrap();
        let vars = DeployVars {
            cluster: "new-one".into(),
            hub: String::new(),
            domain: String::new(),
            provider: "aws".into(),
            account_id: String::new(),
        };
        let files = [("s.yaml".to_owned(), "a: {c: 3}\n".to_owned())];
        // In process: the test's own file, which r2r may trust.
        let eval = |root: &Path, file: &str, ext: &[(String, String)], _: &str| {
            let repo = crate::source::repo::InfraRepo::folder(root)?;
            crate::values::jsonnet::evaluate(&repo, &repo.root().join(file), ext)
        };
        let v = build(
            dir.path(),
            &vars,
            &files,
            parse_yaml("x: {}\n").unwrap(),
            eval,
        )
        .unwrap();
        assert_eq!(
            v,
            parse_yaml("cluster: new-one\na: {b: 1, c: 3}\nx: {}\n").unwrap()
        );
        let bad = [("s.yaml".to_owned(), "- a\n".to_owned())];
        let e = build(dir.path(), &vars, &bad, Values::Null, eval).unwrap_err();
        assert!(e.to_string().contains("s.yaml"), "{e}");
    }
}
