//! Helm's rules for layering values: maps deep-merge, anything else (lists
//! included) replaces, and a `null` deletes the key it lands on.
//!
//! Helm merges the `-f` files in order first, keeping nulls, then coalesces
//! the result over the chart's defaults, where a null removes the default.
//! Layering every file with nulls kept and pruning once at the end gives the
//! same tree: a later non-null value still replaces an earlier null. The
//! standalone values keep their nulls: Helm, installing them over the
//! carried chart, must still delete those defaults.

use super::tree::Values;

/// Layers `top` over `base`.
pub fn layer(base: &mut Values, top: Values) {
    match (base, top) {
        (Values::Mapping(b), Values::Mapping(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => {
                        layer(existing, v);
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

/// Drops every map entry whose value is null, through nested maps. Helm
/// never looks inside lists: they replace whole, and a null in a list's map
/// (`kubespawner_override.cmd: null`) is a value that stays.
pub fn prune_nulls(v: &mut Values) {
    if let Values::Mapping(m) = v {
        m.retain(|_, child| !child.is_null());
        for child in m.values_mut() {
            prune_nulls(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::tree::parse_yaml;

    #[test]
    fn helm_rules() {
        let mut v =
            parse_yaml("a: {x: 1, y: 2}\nl: [1, 2, 3]\ngone: {deep: 1}\nkeep: 1\n").unwrap();
        layer(
            &mut v,
            parse_yaml("a: {y: 3, z: 4}\nl: [9]\ngone: null\nback: null\n").unwrap(),
        );
        layer(
            &mut v,
            parse_yaml("back: {to: life}\nlist: [{cmd: null}]\n").unwrap(),
        );
        prune_nulls(&mut v);
        assert_eq!(
            v,
            parse_yaml(
                "a: {x: 1, y: 3, z: 4}\nl: [9]\nkeep: 1\nback: {to: life}\nlist: [{cmd: null}]\n"
            )
            .unwrap()
        );
    }
}
