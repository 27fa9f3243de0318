//! Rolling rollouts on the cross-host graph: how many instances of a root
//! component may deploy at once (`max_parallel`), which hosts deploy in
//! which batch (`serial`), and how many failed hosts stop the line
//! (`max_fail`). This module decides; the schedulers ask it before they
//! start a root.
//!
//! Batches and the graph: a root belongs to its host's batch, unless a
//! root of an earlier batch depends on it (directly or further down),
//! then it deploys in that earlier batch, so a batch never waits for a
//! later one. A batch ends when its roots have finished; the next starts
//! only then.

mod limit;

use std::collections::{BTreeMap, BTreeSet};

pub use limit::{BadLimit, Limit, Serial};

use serde::{Deserialize, Serialize};

/// A root's `max_parallel`: the environment's `[component:NAME]
/// max_parallel`, else its component's own.
pub fn max_parallel_of(
    model: &crate::configure::Model,
    root: &crate::configure::Root,
) -> Option<Limit> {
    model
        .env
        .max_parallel
        .get(&root.name)
        .copied()
        .or_else(|| root.tree.as_ref().and_then(|t| t.component.max_parallel()))
}

/// The health gates in a root's tree, by label.
pub fn gates_of(root: &crate::configure::Root) -> Vec<String> {
    fn walk(node: &crate::component::Node, out: &mut Vec<String>) {
        for child in &node.children {
            walk(child, out);
        }
        let any: &dyn std::any::Any = &*node.component;
        if any.is::<crate::stdlib::HealthCheck>() {
            out.push(node.component.label());
        }
    }
    let mut out = Vec::new();
    if let Some(tree) = &root.tree {
        walk(tree, &mut out);
    }
    out
}

/// What the scheduler knows of one root.
#[derive(Debug, Clone)]
pub struct RootSpec {
    pub host: String,
    pub name: String,
    /// Deployed in this run (not ignored, selected).
    pub deploys: bool,
    /// Its component's `max_parallel` (the environment's, else the
    /// component's own).
    pub max_parallel: Option<Limit>,
}

/// How the run rolls out: the environment's `serial` and `max_fail`,
/// or the command line's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutSettings {
    pub serial: Option<Serial>,
    pub max_fail: Option<Limit>,
    /// Seconds between batches.
    pub batch_wait: Option<u64>,
}

/// Why a ready root does not start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// As many instances of its component as `max_parallel` allows run.
    Limit,
    /// Its batch has not started.
    Batch,
    /// Its host failed (with `max_fail`, the others go on): nothing more
    /// starts there.
    HostFailed,
}

/// One batch that started: its number (from 1), how many there are, and
/// its hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStart {
    pub index: usize,
    pub total: usize,
    pub hosts: Vec<String>,
}

/// The hosts of a rollout at its end, by what happened to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTally {
    /// Every root to deploy finished.
    pub deployed: Vec<String>,
    pub failed: Vec<String>,
    /// Some roots started, the rest never did (the line stopped).
    pub partial: Vec<String>,
    /// No root started.
    pub untouched: Vec<String>,
}

/// The rollout's state during a deploy.
#[derive(Debug)]
pub struct Rollout {
    roots: Vec<RootSpec>,
    /// Each root's `max_parallel` as a number of instances.
    limit: Vec<Option<usize>>,
    batch_of: Vec<usize>,
    batches: Vec<Vec<String>>,
    current: usize,
    tolerated: usize,
    /// Roots started and not ended (at most `jobs`).
    running: BTreeSet<usize>,
    started: Vec<bool>,
    finished: Vec<bool>,
    failed_hosts: BTreeSet<String>,
}

impl Rollout {
    /// The rollout of `roots`; `edges` are `(a, b)`: `a` waits for `b`;
    /// `order` is the deploy order (every `b` before its `a`); `hosts`
    /// all hosts in the environment's order.
    pub fn new(
        roots: Vec<RootSpec>,
        edges: &[(usize, usize)],
        order: &[usize],
        hosts: &[String],
        settings: &RolloutSettings,
    ) -> Rollout {
        let n = roots.len();
        // Sets, not scans: an environment may have 100,000 hosts.
        let with_roots: BTreeSet<&str> = roots
            .iter()
            .filter(|r| r.deploys)
            .map(|r| r.host.as_str())
            .collect();
        let deploying: Vec<String> = hosts
            .iter()
            .filter(|h| with_roots.contains(h.as_str()))
            .cloned()
            .collect();
        let batches = match &settings.serial {
            Some(serial) => serial.batches(&deploying),
            None => vec![deploying.clone()],
        };
        let batch_by_host: BTreeMap<&str, usize> = batches
            .iter()
            .enumerate()
            .flat_map(|(k, b)| b.iter().map(move |h| (h.as_str(), k)))
            .collect();
        let mut batch_of: Vec<usize> = roots
            .iter()
            .map(|r| batch_by_host.get(r.host.as_str()).copied().unwrap_or(0))
            .collect();
        // Dependents come later in the deploy order: walking it backwards
        // settles every dependent's batch before its dependencies'.
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in edges {
            dependents[b].push(a);
        }
        for &id in order.iter().rev() {
            for &a in &dependents[id] {
                batch_of[id] = batch_of[id].min(batch_of[a]);
            }
        }
        let mut instances: BTreeMap<&str, usize> = BTreeMap::new();
        for r in roots.iter().filter(|r| r.deploys) {
            *instances.entry(r.name.as_str()).or_default() += 1;
        }
        let limit = roots
            .iter()
            .map(|r| {
                r.max_parallel
                    .map(|l| l.of(instances.get(r.name.as_str()).copied().unwrap_or(0)))
            })
            .collect();
        let tolerated = settings
            .max_fail
            .map_or(0, |l| l.tolerated(deploying.len()));
        Rollout {
            roots,
            limit,
            batch_of,
            batches,
            current: 0,
            tolerated,
            running: BTreeSet::new(),
            started: vec![false; n],
            finished: vec![false; n],
            failed_hosts: BTreeSet::new(),
        }
    }

    /// The batches' hosts, in order.
    pub fn batches(&self) -> &[Vec<String>] {
        &self.batches
    }

    /// Whether the run deploys in more than one batch.
    pub fn batched(&self) -> bool {
        self.batches.len() > 1
    }

    /// The first batch, to announce when the deploy begins (only when
    /// there are several).
    pub fn first(&self) -> Option<BatchStart> {
        self.batched().then(|| self.start_of(0))
    }

    fn start_of(&self, k: usize) -> BatchStart {
        BatchStart {
            index: k + 1,
            total: self.batches.len(),
            hosts: self.batches[k].clone(),
        }
    }

    /// Why root `id` may not start now, if it may not.
    pub fn hold(&self, id: usize) -> Option<Hold> {
        let root = &self.roots[id];
        if self.failed_hosts.contains(&root.host) {
            Some(Hold::HostFailed)
        } else if self.batch_of[id] > self.current {
            Some(Hold::Batch)
        } else if self.limit[id].is_some_and(|max| {
            let same = |r: &&usize| self.roots[**r].name == root.name;
            self.running.iter().filter(same).count() >= max
        }) {
            Some(Hold::Limit)
        } else {
            None
        }
    }

    /// Root `id` started.
    pub fn started(&mut self, id: usize) {
        self.started[id] = true;
        self.running.insert(id);
    }

    /// Root `id` ended; `ok`: it deployed (else its host failed).
    pub fn ended(&mut self, id: usize, ok: bool) {
        self.running.remove(&id);
        if ok {
            self.finished[id] = true;
        } else {
            self.failed_hosts.insert(self.roots[id].host.clone());
        }
    }

    /// `host` failed (lost, or a root failed).
    pub fn host_failed(&mut self, host: &str) {
        self.failed_hosts.insert(host.to_string());
    }

    /// Roots of `host` that started and have not ended are not running
    /// any more (the host was lost).
    pub fn host_lost(&mut self, host: &str) {
        let roots = &self.roots;
        self.running.retain(|id| roots[*id].host != host);
        self.host_failed(host);
    }

    /// Whether more hosts failed than `max_fail` tolerates: nothing new
    /// starts.
    pub fn line_stopped(&self) -> bool {
        self.failed_hosts.len() > self.tolerated
    }

    /// Whether a batch follows the current one.
    pub fn has_next(&self) -> bool {
        self.current + 1 < self.batches.len()
    }

    /// The current batch's index (from 0).
    pub fn current(&self) -> usize {
        self.current
    }

    /// The next batch, once the current one is over (the caller knows:
    /// nothing runs and nothing of it is ready); `None` after the last.
    pub fn advance(&mut self) -> Option<BatchStart> {
        if self.current + 1 >= self.batches.len() {
            return None;
        }
        self.current += 1;
        Some(self.start_of(self.current))
    }

    /// The hosts by what happened to them, in the environment's order.
    pub fn tally(&self) -> HostTally {
        self.tally_of(self.batches.iter().flatten())
    }

    /// The hosts of batch `k` (from 0) by what happened to them so far.
    pub fn batch_tally(&self, k: usize) -> HostTally {
        self.tally_of(self.batches.get(k).into_iter().flatten())
    }

    fn tally_of<'h>(&self, hosts: impl Iterator<Item = &'h String>) -> HostTally {
        // Per host: (every root finished, some root started).
        let mut state: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for (id, r) in self.roots.iter().enumerate().filter(|(_, r)| r.deploys) {
            let s = state.entry(r.host.as_str()).or_insert((true, false));
            s.0 &= self.finished[id];
            s.1 |= self.started[id];
        }
        let mut tally = HostTally::default();
        for host in hosts {
            let (all_done, any_started) =
                state.get(host.as_str()).copied().unwrap_or((true, false));
            let list = if self.failed_hosts.contains(host) {
                &mut tally.failed
            } else if all_done {
                &mut tally.deployed
            } else if any_started {
                &mut tally.partial
            } else {
                &mut tally.untouched
            };
            list.push(host.clone());
        }
        tally
    }
}

#[cfg(test)]
mod tests;
