//! Narrowing a run to some hosts and components (`--hosts`,
//! `--skip-hosts`, `--components`, `--skip-components`; batou #530).
//!
//! The model is always configured whole, so resources and ordering stay
//! right; a [`Selection`] only marks which roots are deployed. The others
//! are reported as skipped ([`crate::event::SkipReason::NotSelected`]).

use super::{Model, Root};
use crate::environment::{Environment, HostConfig, HostPattern, PatternError};

/// Which roots to deploy. Empty lists mean "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these hosts (empty: all): host patterns (see [`HostPattern`])
    /// until [`Selection::resolve_hosts`] makes them names.
    pub hosts: Vec<String>,
    /// Not these hosts (patterns, as `hosts`).
    pub skip_hosts: Vec<String>,
    /// Only these root components (empty: all).
    pub components: Vec<String>,
    /// Not these root components.
    pub skip_components: Vec<String>,
}

/// Why a [`Selection`] cannot be applied: a host pattern that selects
/// nothing, or a name the model does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error(transparent)]
    Hosts(#[from] PatternError),
    #[error(transparent)]
    Unknown(#[from] UnknownName),
}

/// A name in a [`Selection`] that the model does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}` (known: {})", .known.join(", "))]
pub struct UnknownName {
    /// `host` or `component`.
    pub kind: &'static str,
    pub name: String,
    /// The names the environment has, in environment order.
    pub known: Vec<String>,
}

impl Selection {
    /// Whether this selects every root.
    pub fn is_everything(&self) -> bool {
        self.hosts.is_empty()
            && self.skip_hosts.is_empty()
            && self.components.is_empty()
            && self.skip_components.is_empty()
    }

    /// This selection with its host terms (globs, `@tags`, `!negations`:
    /// [`HostPattern`]; `skip_hosts` negated) resolved against `env` to
    /// the host names they select.
    pub fn resolve_hosts(&self, env: &Environment) -> Result<Selection, PatternError> {
        if self.hosts.is_empty() && self.skip_hosts.is_empty() {
            return Ok(self.clone());
        }
        let pattern =
            HostPattern::parse(&self.hosts)?.excluding(HostPattern::parse(&self.skip_hosts)?);
        Ok(Selection {
            hosts: pattern.select(env)?,
            skip_hosts: Vec::new(),
            ..self.clone()
        })
    }

    /// Whether `root` is deployed under this selection.
    pub fn selects(&self, root: &Root) -> bool {
        self.selects_host(&root.host) && self.selects_component(&root.name)
    }

    fn selects_host(&self, host: &str) -> bool {
        (self.hosts.is_empty() || listed(&self.hosts, host)) && !listed(&self.skip_hosts, host)
    }

    fn selects_component(&self, name: &str) -> bool {
        (self.components.is_empty() || listed(&self.components, name))
            && !listed(&self.skip_components, name)
    }

    /// Whether a remote deploy may need to connect to `host`, judged from
    /// the environment alone (before the model is configured): the
    /// connections opened early must not reach hosts that narrowing leaves
    /// out. True wherever [`Model::host_has_selected_roots`] will be.
    pub fn may_connect(&self, host: &HostConfig) -> bool {
        self.selects_host(&host.name)
            && (host.components.is_empty()
                || host
                    .components
                    .iter()
                    .any(|c| self.selects_component(&c.name)))
    }

    /// Every name that `model` does not know, in the order given.
    pub fn unknown_names(&self, model: &Model) -> Vec<UnknownName> {
        let hosts: Vec<String> = model.env.hosts.keys().cloned().collect();
        let mut components: Vec<String> = Vec::new();
        for r in &model.roots {
            if !components.contains(&r.name) {
                components.push(r.name.clone());
            }
        }
        let mut unknown = Vec::new();
        for name in self.hosts.iter().chain(&self.skip_hosts) {
            if !hosts.contains(name) {
                unknown.push(UnknownName {
                    kind: "host",
                    name: name.clone(),
                    known: hosts.clone(),
                });
            }
        }
        for name in self.components.iter().chain(&self.skip_components) {
            if !components.contains(name) {
                unknown.push(UnknownName {
                    kind: "component",
                    name: name.clone(),
                    known: components.clone(),
                });
            }
        }
        unknown
    }
}

fn listed(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

impl Model {
    /// Marks the roots `selection` leaves out as not selected, after
    /// checking that it names only hosts and components the model has.
    pub fn select(&mut self, selection: &Selection) -> Result<(), Vec<UnknownName>> {
        let unknown = selection.unknown_names(self);
        if !unknown.is_empty() {
            return Err(unknown);
        }
        for root in &mut self.roots {
            root.selected = selection.selects(root);
        }
        Ok(())
    }

    /// Whether a remote deploy needs to connect to `host`: it has no roots
    /// at all (as batou, it is still connected), or narrowing left at
    /// least one of them selected.
    pub fn host_has_selected_roots(&self, host: &str) -> bool {
        let mut on_host = self.roots.iter().filter(|r| r.host == host).peekable();
        on_host.peek().is_none() || on_host.any(|r| r.selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configure::tests::probes;
    use crate::testutil::Project;

    fn model(ini: &str) -> Model {
        Project::new().model(&probes(&["hello", "provider"]), ini)
    }

    #[test]
    fn narrows_by_host_and_component() {
        let mut model = model(
            "[environment]\nconnect_method = local\n[hosts]\na = hello, provider\nb = hello\n",
        );
        let selection = Selection {
            hosts: vec!["a".into()],
            skip_components: vec!["provider".into()],
            ..Default::default()
        };
        model.select(&selection).unwrap();
        let selected: Vec<(String, String)> = model
            .roots
            .iter()
            .filter(|r| r.selected)
            .map(|r| (r.host.clone(), r.name.clone()))
            .collect();
        assert_eq!(selected, [("a".to_string(), "hello".to_string())]);
        assert!(model.host_has_selected_roots("a"));
        assert!(!model.host_has_selected_roots("b"), "b is not connected");
        for host in model.env.hosts.values() {
            assert_eq!(
                selection.may_connect(host),
                model.host_has_selected_roots(&host.name),
                "{}",
                host.name
            );
        }
    }

    #[test]
    fn the_hosts_connected_early_are_the_hosts_the_selection_needs() {
        let ini = "[environment]\nconnect_method = local\n[hosts]\n\
                   a = hello, provider\nb = hello\nc = provider\n";
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let selections = [
            Selection::default(),
            Selection {
                components: names(&["provider"]),
                ..Default::default()
            },
            Selection {
                skip_components: names(&["hello"]),
                ..Default::default()
            },
            Selection {
                skip_hosts: names(&["a", "c"]),
                ..Default::default()
            },
            Selection {
                hosts: names(&["b", "c"]),
                components: names(&["hello"]),
                ..Default::default()
            },
        ];
        for selection in selections {
            let mut model = model(ini);
            model.select(&selection).unwrap();
            let early: Vec<&str> = model
                .env
                .hosts
                .values()
                .filter(|h| selection.may_connect(h))
                .map(|h| h.name.as_str())
                .collect();
            let needed: Vec<&str> = model
                .env
                .hosts
                .keys()
                .filter(|h| model.host_has_selected_roots(h))
                .map(String::as_str)
                .collect();
            assert_eq!(early, needed, "{selection:?}");
            assert!(
                early.len() < 3 || selection.is_everything(),
                "{selection:?}"
            );
        }
    }

    #[test]
    fn refuses_unknown_names_listing_the_known_ones() {
        let mut model = model("[environment]\nconnect_method = local\n[hosts]\na = hello\n");
        let selection = Selection {
            skip_hosts: vec!["nope".into()],
            components: vec!["nada".into()],
            ..Default::default()
        };
        let errors = model.select(&selection).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].to_string(), "unknown host `nope` (known: a)");
        assert_eq!(
            errors[1].to_string(),
            "unknown component `nada` (known: hello)"
        );
        assert!(model.roots.iter().all(|r| r.selected));
    }
}
