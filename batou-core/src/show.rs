//! What `batou show ENV` and `batou graph ENV` print, as typed values: the
//! merged environment with where every value came from (batou #401), and
//! the cross-host dependency graph of the configured model. Values that
//! came from the secrets are never included, only where they came from.

use std::path::Path;

use serde::Serialize;

use crate::convert::OverrideValue;
use crate::environment::Environment;
use crate::error::Origin;

/// Where a value was set: a file (relative to the project) and a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
}

impl Source {
    fn of(origin: &Origin, project_dir: &Path) -> Self {
        Source {
            file: origin
                .file
                .strip_prefix(project_dir)
                .unwrap_or(&origin.file)
                .display()
                .to_string(),
            line: origin.line,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The whole environment.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub environment: String,
    /// The environment file, relative to the project.
    pub file: String,
    /// `[environment]` settings, in a fixed order.
    pub settings: Vec<SettingDescription>,
    pub hosts: Vec<HostDescription>,
    /// `[component:NAME]` overrides (and secrets), per component.
    pub overrides: Vec<ComponentDescription>,
    /// `[resolver]` overrides: one entry per address, in file order.
    pub resolver: Vec<ResolverDescription>,
}

/// One `[resolver]` override: a name and one address it resolves to.
#[derive(Debug, Clone, Serialize)]
pub struct ResolverDescription {
    pub host: String,
    pub address: String,
    pub source: Source,
}

/// One `[environment]` setting; `source` is `None` for a default.
#[derive(Debug, Clone, Serialize)]
pub struct SettingDescription {
    pub key: String,
    pub value: serde_json::Value,
    pub source: Option<Source>,
}

/// One host.
#[derive(Debug, Clone, Serialize)]
pub struct HostDescription {
    pub name: String,
    pub fqdn: String,
    pub source: Source,
    /// The platform in effect (the host's, the environment's, or `-p`).
    pub platform: Option<String>,
    pub ignored: bool,
    pub data: indexmap::IndexMap<String, serde_json::Value>,
    pub components: Vec<RootDescription>,
}

/// A root component listed for a host.
#[derive(Debug, Clone, Serialize)]
pub struct RootDescription {
    pub name: String,
    pub features: Vec<String>,
    pub ignored: bool,
    pub source: Source,
}

/// The overrides of one component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentDescription {
    pub component: String,
    pub values: Vec<OverrideDescription>,
}

/// One override. `value` is `None` for a secret.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideDescription {
    pub key: String,
    pub value: Option<serde_json::Value>,
    pub secret: bool,
    pub source: Source,
}

/// Describes `env`; `platform` is `-p`, which overrides every host's.
pub fn describe(env: &Environment, platform: Option<&str>) -> Description {
    let dir = env.project_dir.as_path();
    let settings = serde_json::to_value(&env.settings)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key != "origins" && key != "extra")
        .map(|(key, value)| SettingDescription {
            source: env.settings.origins.get(&key).map(|o| Source::of(o, dir)),
            key,
            value,
        })
        .chain(
            env.settings
                .extra
                .iter()
                .map(|(key, value)| SettingDescription {
                    key: key.clone(),
                    value: serde_json::Value::String(value.clone()),
                    source: env.settings.origins.get(key).map(|o| Source::of(o, dir)),
                }),
        )
        .collect();
    let hosts = env
        .hosts
        .values()
        .map(|h| HostDescription {
            name: h.name.clone(),
            fqdn: env.fqdn_of(h),
            source: Source::of(&h.origin, dir),
            platform: env.platform_of(h, platform),
            ignored: h.ignore,
            data: h.data.clone(),
            components: h
                .components
                .iter()
                .map(|c| RootDescription {
                    name: c.name.clone(),
                    features: c.features.clone(),
                    ignored: c.ignored,
                    source: Source::of(&c.origin, dir),
                })
                .collect(),
        })
        .collect();
    let overrides = env
        .overrides
        .iter()
        .map(|(component, o)| ComponentDescription {
            component: component.clone(),
            values: o
                .values
                .iter()
                .map(|(key, v)| {
                    let secret = env.secrets.is_secret_override(component, key);
                    OverrideDescription {
                        key: key.clone(),
                        value: (!secret).then(|| match &v.value {
                            OverrideValue::Text(t) => serde_json::Value::String(t.clone()),
                            OverrideValue::Typed(t) => t.clone(),
                        }),
                        secret,
                        source: Source::of(&v.origin, dir),
                    }
                })
                .collect(),
        })
        .collect();
    let resolver = env
        .resolver
        .iter()
        .map(|r| ResolverDescription {
            host: r.host.clone(),
            address: r.value.clone(),
            source: Source::of(&r.origin, dir),
        })
        .collect();
    Description {
        environment: env.name.clone(),
        file: env
            .file
            .strip_prefix(dir)
            .unwrap_or(&env.file)
            .display()
            .to_string(),
        settings,
        hosts,
        overrides,
        resolver,
    }
}

/// One root in the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphNode {
    pub host: String,
    pub component: String,
    /// `!name`, or on an ignored host: configured, not deployed.
    pub ignored: bool,
    /// The roots this one depends on (through resources, routed events
    /// and watched roots), as indices into [`Graph::nodes`].
    pub depends_on: Vec<usize>,
    /// Routing keys it publishes (see [`crate::handlers`]).
    pub publishes: Vec<String>,
    /// Routing keys it subscribes to.
    pub subscribes: Vec<String>,
    /// Roots on its host whose changes it watches.
    pub watches: Vec<String>,
    /// Its component's `max_parallel` (`1`, `25%`), if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<String>,
    /// The health gates (`HealthCheck`) in its tree.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<String>,
}

/// The cross-host dependency graph of a configured model, in deploy order
/// (dependencies first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
}

/// The dependency graph of `model`.
pub fn graph(model: &crate::configure::Model) -> Graph {
    let mut position = vec![0; model.roots.len()];
    for (pos, &id) in model.order.iter().enumerate() {
        position[id] = pos;
    }
    let nodes = model
        .order
        .iter()
        .map(|&id| {
            let root = &model.roots[id];
            let mut depends_on: Vec<usize> = model
                .edges
                .iter()
                .filter(|(a, b)| *a == id && *b != id)
                .map(|(_, b)| position[*b])
                .collect();
            depends_on.sort_unstable();
            depends_on.dedup();
            GraphNode {
                host: root.host.clone(),
                component: root.name.clone(),
                ignored: root.ignored || root.host_ignored,
                depends_on,
                publishes: root.publishes(),
                subscribes: root.subscribes(),
                watches: root.watches(),
                max_parallel: crate::rollout::max_parallel_of(model, root).map(|l| l.to_string()),
                gates: crate::rollout::gates_of(root),
            }
        })
        .collect();
    Graph { nodes }
}

impl GraphNode {
    /// `host:component`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.component)
    }
}

impl Graph {
    /// One line per root: `host:component <- a:x, b:y` (or no arrow).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&node.label());
            if !node.depends_on.is_empty() {
                let deps: Vec<String> = node
                    .depends_on
                    .iter()
                    .map(|d| self.nodes[*d].label())
                    .collect();
                out.push_str(&format!(" <- {}", deps.join(", ")));
            }
            if node.ignored {
                out.push_str(" (ignored)");
            }
            out.push('\n');
            for key in &node.publishes {
                out.push_str(&format!("  publishes {key}\n"));
            }
            for key in &node.subscribes {
                out.push_str(&format!("  subscribes {key}\n"));
            }
            for name in &node.watches {
                out.push_str(&format!("  watches {name}\n"));
            }
            if let Some(limit) = &node.max_parallel {
                out.push_str(&format!("  max_parallel {limit}\n"));
            }
            for gate in &node.gates {
                out.push_str(&format!("  gate {gate}\n"));
            }
        }
        out
    }

    /// Graphviz DOT: one cluster per host, an edge from each root to what
    /// it depends on.
    pub fn to_dot(&self, name: &str) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", quote(name));
        let mut hosts: Vec<&str> = Vec::new();
        for node in &self.nodes {
            if !hosts.contains(&node.host.as_str()) {
                hosts.push(&node.host);
            }
        }
        for (i, host) in hosts.iter().enumerate() {
            out.push_str(&format!(
                "  subgraph cluster_{i} {{\n    label={};\n",
                quote(host)
            ));
            for node in self.nodes.iter().filter(|n| n.host == *host) {
                let style = if node.ignored { ", style=dashed" } else { "" };
                out.push_str(&format!(
                    "    {} [label={}{style}];\n",
                    quote(&node.label()),
                    quote(&node.component)
                ));
            }
            out.push_str("  }\n");
        }
        for node in &self.nodes {
            for d in &node.depends_on {
                out.push_str(&format!(
                    "  {} -> {};\n",
                    quote(&node.label()),
                    quote(&self.nodes[*d].label())
                ));
            }
        }
        // Routed events: a dashed edge from publisher to subscriber,
        // labelled with the key.
        for publisher in &self.nodes {
            for key in &publisher.publishes {
                for subscriber in self.nodes.iter().filter(|n| n.subscribes.contains(key)) {
                    if subscriber.label() == publisher.label() {
                        continue;
                    }
                    out.push_str(&format!(
                        "  {} -> {} [style=dashed, label={}];\n",
                        quote(&publisher.label()),
                        quote(&subscriber.label()),
                        quote(key)
                    ));
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Project;

    #[test]
    fn describes_hosts_overrides_and_their_sources() {
        let p = Project::new();
        let env = p.env(
            "[environment]\nconnect_method = local\nplatform = deb\n\
             [host:web]\ncomponents = app:tls, !old\ndata-role = primary\n\
             [component:app]\nport = 8080\n\
             [resolver]\ndb.internal =\n    10.0.0.1\n    fd00::1\n",
        );
        let d = describe(&env, None);
        assert_eq!(d.environment, "test");
        assert_eq!(d.file, "environments/test.cfg");
        let web = &d.hosts[0];
        assert_eq!(web.name, "web");
        assert_eq!(web.platform.as_deref(), Some("deb"));
        assert_eq!(web.data["role"], "primary");
        assert_eq!(web.components[0].features, ["tls"]);
        assert!(web.components[1].ignored);
        let port = &d.overrides[0].values[0];
        assert_eq!(port.key, "port");
        assert_eq!(port.value, Some(serde_json::json!("8080")));
        assert_eq!(port.source.to_string(), "environments/test.cfg:8");
        let method = d.settings.iter().find(|s| s.key == "connect_method");
        assert_eq!(
            method.and_then(|s| s.source.clone()).map(|s| s.line),
            Some(2)
        );
        let resolver: Vec<(String, String, usize)> = d
            .resolver
            .iter()
            .map(|r| (r.host.clone(), r.address.clone(), r.source.line))
            .collect();
        assert_eq!(
            resolver,
            [
                ("db.internal".into(), "10.0.0.1".into(), 11),
                ("db.internal".into(), "fd00::1".into(), 12)
            ]
        );
        assert_eq!(
            describe(&env, Some("alp")).hosts[0].platform.as_deref(),
            Some("alp")
        );
    }
}
