//! What happens during a run, as values. The CLI renders them as batou's
//! transcript (or JSON); tests collect them; agents stream them to the
//! controller. Nothing here knows about terminals.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Why a root component is not deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Listed as `!name` in the environment.
    ComponentIgnored,
    /// The host has `ignore = True` (or `!host` in `[hosts]`).
    HostIgnored,
    /// Left out by `--hosts`, `--components` or their `--skip-` forms.
    NotSelected,
}

/// How long a component took, in seconds. `None` means "did not run".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub total: f64,
    pub verify: Option<f64>,
    pub update: Option<f64>,
    pub sub: Option<f64>,
}

impl Timing {
    /// Whether batou would call this component slow and show its timings
    /// in the transcript: verify or update over a second, or over ten
    /// seconds in all.
    pub fn is_slow(&self) -> bool {
        self.verify.unwrap_or(0.0) > 1.0 || self.update.unwrap_or(0.0) > 1.0 || self.total > 10.0
    }
}

/// The phase a remote run enters once every agent is configured (batou's
/// section after connecting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Deploying,
    Predicting,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Phase {
        phase: Phase,
    },
    HostConnecting {
        host: String,
        method: String,
        index: usize,
        total: usize,
    },
    HostIgnored {
        host: String,
        index: usize,
        total: usize,
    },
    /// `--hosts`, `--components` or their `--skip-` forms left none of
    /// the host's roots: it is not connected at all.
    HostNotSelected {
        host: String,
        index: usize,
        total: usize,
    },
    /// The agent on a host is running (after uploading it, if the host
    /// did not have this build yet).
    AgentReady {
        host: String,
        /// Who the agent runs as.
        user: String,
        uploaded: bool,
    },
    /// The controller builds the agent for a target (cargo runs), because
    /// `host` runs a platform it has no agent for yet.
    AgentBuildStarted {
        triple: String,
        host: String,
        /// The command line, as a user would type it.
        command: String,
    },
    /// A line cargo printed while building an agent (its progress).
    AgentBuildOutput {
        triple: String,
        line: String,
    },
    AgentBuildFinished {
        triple: String,
        seconds: f64,
        success: bool,
    },
    /// A batch of a rollout (`serial`) starts: the `index`th (from 1)
    /// of `total`, on `hosts`.
    BatchStarted {
        index: usize,
        total: usize,
        hosts: Vec<String>,
    },
    /// A batch (the `index`th of `total`) is over: its hosts by what
    /// happened to them (as in [`Event::RolloutFinished`]). Not when
    /// predicting.
    BatchFinished {
        index: usize,
        total: usize,
        deployed: Vec<String>,
        failed: Vec<String>,
        partial: Vec<String>,
        untouched: Vec<String>,
    },
    /// A batch ended; the next (`next`, from 1) starts in `seconds`
    /// (`batch_wait`).
    BatchWait {
        seconds: u64,
        next: usize,
    },
    /// The end of a rollout with `serial` or `max_fail`: its hosts by
    /// what happened to them.
    RolloutFinished {
        /// Every root deployed.
        deployed: Vec<String>,
        failed: Vec<String>,
        /// Some roots deployed, the others never started.
        partial: Vec<String>,
        /// Never started.
        untouched: Vec<String>,
    },
    /// A root is ready but waits: as many instances of its component
    /// as `limit` (its `max_parallel`) allows are deploying. Said once
    /// per root.
    RootWaiting {
        host: String,
        root: String,
        limit: String,
    },
    RootScheduled {
        host: String,
        root: String,
    },
    RootSkipped {
        host: String,
        root: String,
        reason: SkipReason,
    },
    /// A component needs (or, predicting, would need) an update; printed
    /// before its diffs and logs.
    ComponentNeedsUpdate {
        host: String,
        component: String,
    },
    Diff {
        host: String,
        component: String,
        /// What the diff is of, usually the file name.
        label: String,
        lines: Vec<String>,
    },
    /// A diff exists but is not shown (sensitive or binary content).
    DiffHidden {
        host: String,
        component: String,
        label: String,
        reason: String,
    },
    Log {
        host: String,
        component: Option<String>,
        message: String,
    },
    Warning {
        host: Option<String>,
        component: Option<String>,
        message: String,
    },
    ComponentFinished {
        host: String,
        component: String,
        changed: bool,
        timing: Timing,
    },
    /// An event handler runs (or, predicting, would run): `trigger` is
    /// `before_update`, `change` or `routed`, `cause` what set it off
    /// (see [`crate::handlers`]).
    HandlerTriggered {
        host: String,
        /// The breadcrumbs of the component that declared the handler.
        component: String,
        handler: String,
        trigger: String,
        cause: String,
        predicted: bool,
    },
    /// A root failed and what it had changed was put back (see
    /// docs/transactions.md): `restored` the paths, newest first;
    /// `not_reverted` what cannot be undone (commands run); `failed` the
    /// restores that did not work. `recovered`: the root was left by a
    /// deploy that was killed, and this run restored it first.
    RootReverted {
        host: String,
        root: String,
        restored: Vec<String>,
        not_reverted: Vec<String>,
        failed: Vec<String>,
        #[serde(default)]
        recovered: bool,
    },
    /// A root published a routing key (one of its publishing components
    /// changed); subscribers get it after this root finished.
    EventPublished {
        host: String,
        root: String,
        key: String,
    },
}

/// Receives events. Implemented for closures, so `&|e| println!("{e:?}")`
/// works.
pub trait EventSink: Sync {
    fn emit(&self, event: Event);
}

impl<F: Fn(Event) + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

impl Event {
    /// The event after `edit` changed its JSON form: how the secret mask
    /// and the terminal's screening reach every string field, including
    /// ones added to `Event` later. Unchanged if the edit leaves something
    /// that is no longer an event.
    ///
    /// One non-generic place for the round trip: each crate that did it
    /// itself compiled its own copy of `Event`'s deserializer.
    pub fn edit_json(self, edit: &mut dyn FnMut(&mut serde_json::Value)) -> Event {
        let Ok(mut value) = serde_json::to_value(&self) else {
            return self;
        };
        edit(&mut value);
        serde_json::from_value(value).unwrap_or(self)
    }
}

/// Keeps every event, for tests and for callers that render afterwards.
#[derive(Debug, Default)]
pub struct Collected(Mutex<Vec<Event>>);

impl Collected {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for Collected {
    fn emit(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

/// Drops everything.
pub struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) {}
}

impl From<crate::rollout::BatchStart> for Event {
    fn from(b: crate::rollout::BatchStart) -> Event {
        Event::BatchStarted {
            index: b.index,
            total: b.total,
            hosts: b.hosts,
        }
    }
}
