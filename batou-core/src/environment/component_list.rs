//! batou's component list syntax: `[!]name[:feature]`, split like batou
//! splits lists (comma-separated, else one per line).

use serde::{Deserialize, Serialize};

use crate::error::Origin;

/// One root component assigned to a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootEntry {
    pub name: String,
    /// From `name:feature`; empty means "the component's defaults".
    pub features: Vec<String>,
    /// `!name`: configured, but not deployed.
    pub ignored: bool,
    pub origin: Origin,
}

/// Parses a component list; entries naming the same component are merged
/// (features collected, ignored if any entry says so), keeping first-seen
/// order.
pub fn parse_component_list(items: &[String], origin: &Origin) -> Vec<RootEntry> {
    let mut out: Vec<RootEntry> = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (ignored, rest) = match item.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, item),
        };
        let (name, feature) = match rest.split_once(':') {
            Some((n, f)) => (n.trim(), Some(f.trim())),
            None => (rest, None),
        };
        let entry = match out.iter_mut().position(|e| e.name == name) {
            Some(i) => &mut out[i],
            None => {
                out.push(RootEntry {
                    name: name.to_string(),
                    features: Vec::new(),
                    ignored: false,
                    origin: origin.clone(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        entry.ignored |= ignored;
        if let Some(f) = feature.filter(|f| !f.is_empty())
            && !entry.features.iter().any(|x| x == f)
        {
            entry.features.push(f.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &str) -> Vec<String> {
        crate::convert::split_list(s)
    }

    #[test]
    fn features_and_ignores_merge() {
        let o = Origin::new("env.cfg", 3, None);
        let list = parse_component_list(&items("zeo:test, zope, zeo:test2, !zope"), &o);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "zeo");
        assert_eq!(list[0].features, ["test", "test2"]);
        assert!(!list[0].ignored);
        assert_eq!(list[1].name, "zope");
        assert!(list[1].ignored);
    }

    #[test]
    fn newline_lists() {
        let o = Origin::new("env.cfg", 3, None);
        let list = parse_component_list(&items("\nhello\nworld"), &o);
        let names: Vec<_> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["hello", "world"]);
    }
}
