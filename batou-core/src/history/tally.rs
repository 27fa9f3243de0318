//! Which roots ran and which components changed, per host, counted from
//! a deploy's events as they pass to whoever shows them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::record::{MAX_CHANGED_NAMES, Record};
use crate::event::{Event, EventSink};

/// What one host's part of a deploy did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTally {
    pub roots: Vec<String>,
    pub changed: Vec<String>,
    pub changed_count: usize,
    /// A root of this deploy failed and was put back whole.
    pub reverted: bool,
}

impl HostTally {
    pub fn root(&mut self, name: &str) {
        if !self.roots.iter().any(|r| r == name) {
            self.roots.push(name.to_string());
        }
    }

    pub fn changed(&mut self, component: &str) {
        self.changed_count = self.changed_count.saturating_add(1);
        if self.changed.len() < MAX_CHANGED_NAMES {
            self.changed.push(component.to_string());
        }
    }

    /// `record` with what this tally saw.
    pub fn fill(&self, record: &mut Record) {
        record.roots.clone_from(&self.roots);
        record.changed.clone_from(&self.changed);
        record.changed_count = self.changed_count;
    }
}

/// Counts per host while passing every event on to `inner`.
pub struct Tally<'a> {
    inner: &'a dyn EventSink,
    hosts: Mutex<BTreeMap<String, HostTally>>,
}

impl<'a> Tally<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Tally<'a> {
        Tally {
            inner,
            hosts: Mutex::new(BTreeMap::new()),
        }
    }

    /// The hosts that had a root scheduled, with what they did.
    pub fn into_hosts(self) -> BTreeMap<String, HostTally> {
        self.hosts.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventSink for Tally<'_> {
    fn emit(&self, event: Event) {
        match &event {
            Event::RootScheduled { host, root } => self
                .hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(host.clone())
                .or_default()
                .root(root),
            Event::ComponentFinished {
                host,
                component,
                changed: true,
                ..
            } => self
                .hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(host.clone())
                .or_default()
                .changed(component),
            Event::RootReverted {
                host,
                failed,
                recovered: false,
                ..
            } if failed.is_empty() => {
                self.hosts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(host.clone())
                    .or_default()
                    .reverted = true
            }
            _ => {}
        }
        self.inner.emit(event);
    }
}
