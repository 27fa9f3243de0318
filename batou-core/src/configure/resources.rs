//! Service discovery bookkeeping: who provides what, who required what and
//! what they saw.

use indexmap::IndexMap;
use serde_json::Value;

/// A `require` made by a root during its latest configure.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub root: usize,
    pub key: String,
    pub host: Option<String>,
    pub strict: bool,
    pub reverse: bool,
    /// What the require returned; if the answer is different now, the root
    /// is stale and configured again.
    pub seen: Vec<Value>,
}

/// The resource registry of one configure run.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    /// Host of each root, by root id.
    root_hosts: Vec<String>,
    /// key → (root, value), in provide order per root.
    provided: IndexMap<String, Vec<(usize, Value)>>,
    subscriptions: Vec<Subscription>,
}

impl Resources {
    pub fn new(root_hosts: Vec<String>) -> Self {
        Resources {
            root_hosts,
            ..Default::default()
        }
    }

    pub fn host_of(&self, root: usize) -> &str {
        self.root_hosts.get(root).map(String::as_str).unwrap_or("")
    }

    /// Forgets what `root` provided and required, before configuring it
    /// again.
    pub fn clear_root(&mut self, root: usize) {
        for values in self.provided.values_mut() {
            values.retain(|(r, _)| *r != root);
        }
        self.provided.retain(|_, v| !v.is_empty());
        self.subscriptions.retain(|s| s.root != root);
    }

    pub fn provide(&mut self, root: usize, key: &str, value: Value) {
        self.provided
            .entry(key.to_string())
            .or_default()
            .push((root, value));
    }

    /// The values currently provided for `key` (optionally only by roots on
    /// `host`), ordered by root, so the answer never depends on the order
    /// in which roots were configured.
    pub fn query(&self, key: &str, host: Option<&str>) -> Vec<(usize, Value)> {
        let mut out: Vec<(usize, Value)> = self
            .provided
            .get(key)
            .map(|v| {
                v.iter()
                    .filter(|(r, _)| host.is_none_or(|h| self.host_of(*r) == h))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // Stable: keeps each root's own provide order.
        out.sort_by_key(|(r, _)| *r);
        out
    }

    /// Records a require and answers it.
    pub fn subscribe(
        &mut self,
        root: usize,
        key: &str,
        host: Option<&str>,
        strict: bool,
        reverse: bool,
    ) -> Vec<Value> {
        let values: Vec<Value> = self.query(key, host).into_iter().map(|(_, v)| v).collect();
        self.subscriptions.push(Subscription {
            root,
            key: key.to_string(),
            host: host.map(str::to_string),
            strict,
            reverse,
            seen: values.clone(),
        });
        values
    }

    /// Roots that saw something different from what is provided now.
    pub fn stale_roots(&self) -> Vec<usize> {
        let mut stale: Vec<usize> = self
            .subscriptions
            .iter()
            .filter(|s| {
                let now: Vec<Value> = self
                    .query(&s.key, s.host.as_deref())
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                now != s.seen
            })
            .map(|s| s.root)
            .collect();
        stale.sort_unstable();
        stale.dedup();
        stale
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Every (key, providing root, value).
    pub fn provisions(&self) -> impl Iterator<Item = (&str, usize, &Value)> {
        self.provided
            .iter()
            .flat_map(|(k, v)| v.iter().map(move |(r, val)| (k.as_str(), *r, val)))
    }
}
