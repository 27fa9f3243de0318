//! Routing between roots (and hosts): the ordering edges events add to the
//! graph, and what a root is told when it starts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::configure::Root;
use crate::error::{ConfigError, Error};

/// A root that published a routing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    pub host: String,
    pub root: String,
}

/// A routing key delivered to a root, with every root that published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    pub key: String,
    pub from: Vec<Publisher>,
}

/// What a root learns from the roots that finished before it: the routed
/// events for its subscriptions, and which roots it watches changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootInputs {
    #[serde(default)]
    pub routed: Vec<Routed>,
    /// Names of watched roots on the same host that changed.
    #[serde(default)]
    pub changed_roots: Vec<String>,
}

impl RootInputs {
    pub fn is_empty(&self) -> bool {
        self.routed.is_empty() && self.changed_roots.is_empty()
    }
}

/// `(a, b)`: root `a` deploys after root `b`, because `a` subscribes to a
/// key `b` publishes or watches `b` by name (on the same host). A watched
/// name that is not on the host is an error.
pub(crate) fn edges(roots: &[Root]) -> (Vec<(usize, usize)>, Vec<ConfigError>) {
    let mut publishers: HashMap<String, Vec<usize>> = HashMap::new();
    for root in roots {
        for key in root.events.published_keys() {
            publishers.entry(key).or_default().push(root.id);
        }
    }
    let mut edges = Vec::new();
    let mut errors = Vec::new();
    for root in roots {
        for key in root.events.subscribed_keys() {
            for &p in publishers.get(&key).into_iter().flatten() {
                if p != root.id {
                    edges.push((root.id, p));
                }
            }
        }
        for name in root.events.watched_roots() {
            let found: Vec<usize> = roots
                .iter()
                .filter(|r| r.host == root.host && r.name == name && r.id != root.id)
                .map(|r| r.id)
                .collect();
            if found.is_empty() {
                errors.push(ConfigError::Component {
                    host: root.host.clone(),
                    component: root.name.clone(),
                    source: Error::msg(format!(
                        "watches the component `{name}`, which is not on host `{}`",
                        root.host
                    )),
                });
            }
            edges.extend(found.into_iter().map(|w| (root.id, w)));
        }
    }
    (edges, errors)
}

/// What finished roots did, to tell the roots that start later.
pub(crate) struct Ledger {
    changed: Vec<bool>,
    /// Routing key → roots that published it, in the order they finished.
    published: HashMap<String, Vec<usize>>,
}

impl Ledger {
    pub fn new(roots: usize) -> Self {
        Ledger {
            changed: vec![false; roots],
            published: HashMap::new(),
        }
    }

    /// Root `id` finished.
    pub fn record(&mut self, id: usize, changed: bool, published: &[String]) {
        self.changed[id] = changed;
        for key in published {
            self.published.entry(key.clone()).or_default().push(id);
        }
    }

    /// What root `id` gets when it starts.
    pub fn inputs(&self, roots: &[Root], id: usize) -> RootInputs {
        let root = &roots[id];
        let routed = root
            .events
            .subscribed_keys()
            .into_iter()
            .filter_map(|key| {
                let from: Vec<Publisher> = self
                    .published
                    .get(&key)?
                    .iter()
                    .map(|&p| Publisher {
                        host: roots[p].host.clone(),
                        root: roots[p].name.clone(),
                    })
                    .collect();
                Some(Routed { key, from })
            })
            .collect();
        let changed_roots = root
            .events
            .watched_roots()
            .into_iter()
            .filter(|name| {
                roots
                    .iter()
                    .any(|r| r.host == root.host && &r.name == name && self.changed[r.id])
            })
            .collect();
        RootInputs {
            routed,
            changed_roots,
        }
    }
}
