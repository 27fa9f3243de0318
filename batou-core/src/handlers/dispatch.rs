//! Running a root's handlers during its deploy, from indexes built once per
//! root: a change looks up what it triggers instead of walking the tree.

use std::collections::HashMap;

use super::{Cause, DispatchStats, Handler, RootEvents, RootInputs, UpdateScope};
use crate::error::DeployError;

/// Calls (or, predicting, lists) one handler.
pub(crate) type Invoke<'a> = dyn FnMut(&mut Handler, &Cause) -> Result<(), DeployError> + 'a;

/// The handler state of one root's deploy.
pub(crate) struct Dispatch<'e> {
    events: &'e mut RootEvents,
    /// Node id → watches it is part of.
    watched_by: HashMap<usize, Vec<usize>>,
    /// Per watch: watched components not finished yet.
    pending: Vec<usize>,
    /// Per watch: what changed so far.
    hits: Vec<Vec<String>>,
    /// Node id → keys it publishes.
    publishes: HashMap<usize, Vec<usize>>,
    published: Vec<String>,
    pub stats: DispatchStats,
}

impl<'e> Dispatch<'e> {
    /// Indexes `events`; `inputs` says which watched roots changed before.
    pub fn new(events: &'e mut RootEvents, inputs: &RootInputs) -> Self {
        let mut stats = DispatchStats::default();
        let mut watched_by: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut pending = Vec::with_capacity(events.watches.len());
        let mut hits = Vec::with_capacity(events.watches.len());
        for (w, watch) in events.watches.iter().enumerate() {
            for &node in &watch.nodes {
                watched_by.entry(node).or_default().push(w);
                stats.visits += 1;
            }
            pending.push(watch.nodes.len());
            hits.push(
                watch
                    .roots
                    .iter()
                    .filter(|r| inputs.changed_roots.contains(r))
                    .cloned()
                    .collect(),
            );
        }
        let mut publishes: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, (node, _)) in events.publications.iter().enumerate() {
            publishes.entry(*node).or_default().push(i);
        }
        Dispatch {
            events,
            watched_by,
            pending,
            hits,
            publishes,
            published: Vec::new(),
            stats,
        }
    }

    /// Component `node` (breadcrumbs `component`) is about to be updated:
    /// every `All` handler, and the `Precursor` handlers of components that
    /// deploy after it.
    pub fn before_update(
        &mut self,
        node: usize,
        component: &str,
        invoke: &mut Invoke<'_>,
    ) -> Result<(), DeployError> {
        if self.events.all.is_empty() && self.events.precursor.is_empty() {
            return Ok(());
        }
        let position = self.events.position[node];
        // Handlers sorted by position: the precursor ones after `position`
        // start at a binary-searched index.
        let start = self
            .events
            .precursor
            .partition_point(|(p, _)| *p <= position);
        let mut due: Vec<(usize, UpdateScope)> = self
            .events
            .all
            .iter()
            .map(|h| (*h, UpdateScope::All))
            .collect();
        due.extend(
            self.events.precursor[start..]
                .iter()
                .map(|(_, h)| (*h, UpdateScope::Precursor)),
        );
        let cause = Cause::BeforeUpdate {
            component: component.to_string(),
        };
        self.stats.visits += 1;
        for (h, _) in due {
            self.stats.visits += 1;
            self.stats.handler_calls += 1;
            invoke(&mut self.events.handlers[h], &cause)?;
        }
        Ok(())
    }

    /// Component `node` finished; runs the change notifications it
    /// completes and records what it publishes.
    pub fn finished(
        &mut self,
        node: usize,
        changed: bool,
        component: &str,
        invoke: &mut Invoke<'_>,
    ) -> Result<(), DeployError> {
        if changed && let Some(keys) = self.publishes.get(&node) {
            for &i in keys {
                self.stats.visits += 1;
                let key = &self.events.publications[i].1;
                if !self.published.contains(key) {
                    self.published.push(key.clone());
                }
            }
        }
        let Some(watches) = self.watched_by.get(&node) else {
            return Ok(());
        };
        for &w in watches {
            self.stats.visits += 1;
            self.pending[w] -= 1;
            if changed {
                self.hits[w].push(component.to_string());
            }
            if self.pending[w] == 0 && !self.hits[w].is_empty() {
                let cause = Cause::Changed {
                    components: std::mem::take(&mut self.hits[w]),
                };
                self.stats.handler_calls += 1;
                let h = self.events.watches[w].handler;
                invoke(&mut self.events.handlers[h], &cause)?;
            }
        }
        Ok(())
    }

    /// The root's tree is done: change notifications that watch only other
    /// roots, then the subscribers of what was `routed` here. Returns the
    /// keys this root published.
    pub fn root_finished(
        mut self,
        inputs: &RootInputs,
        invoke: &mut Invoke<'_>,
    ) -> Result<(Vec<String>, DispatchStats), DeployError> {
        for w in 0..self.events.watches.len() {
            if self.events.watches[w].nodes.is_empty() && !self.hits[w].is_empty() {
                self.stats.visits += 1;
                self.stats.handler_calls += 1;
                let cause = Cause::Changed {
                    components: std::mem::take(&mut self.hits[w]),
                };
                let h = self.events.watches[w].handler;
                invoke(&mut self.events.handlers[h], &cause)?;
            }
        }
        for routed in &inputs.routed {
            for s in 0..self.events.subscriptions.len() {
                self.stats.visits += 1;
                if self.events.subscriptions[s].0 != routed.key {
                    continue;
                }
                self.stats.handler_calls += 1;
                let cause = Cause::Routed {
                    key: routed.key.clone(),
                    from: routed.from.clone(),
                };
                let h = self.events.subscriptions[s].1;
                invoke(&mut self.events.handlers[h], &cause)?;
            }
        }
        Ok((self.published, self.stats))
    }
}
