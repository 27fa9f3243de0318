//! The roots along the cross-host graph: a root starts when the roots it
//! depends on have finished, up to `jobs` at once, earliest in the
//! deploy order first, as the rollout allows (its component's
//! `max_parallel`, its host's batch; see [`crate::rollout`]). More failed
//! or lost hosts than `max_fail` tolerates (by default: one), or an
//! interrupt, start nothing new; what runs is waited for.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use super::RemoteOptions;
use super::outcome::{RootFailure, RootReport, agent_seconds};
use super::pump::{Loss, Phase, Pump};
use super::sessions::Sessions;
use crate::configure::Model;
use crate::event::{Event, EventSink};
use crate::handlers::Ledger;
use crate::remote::protocol::{Reply, Request};
use crate::rollout::{Hold, HostTally, Rollout, RootSpec};

/// What the roots did.
pub(super) struct Scheduled {
    pub reports: Vec<RootReport>,
    pub failed: Vec<RootFailure>,
    /// (host, root) of the roots to deploy that never finished.
    pub undone: Vec<(String, String)>,
}

/// Deploys the roots of `model` through the pump's sessions.
pub(super) fn run_roots(
    pump: &mut Pump<'_>,
    model: &Model,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> Scheduled {
    let mut phase = Schedule::new(model, options, sink);
    pump.run(&mut phase);
    // The batch the run ended in: the last, or where the line stopped.
    phase.finish_batch();
    let undone = (0..model.roots.len())
        .filter(|&id| !phase.graph.done[id] && model.roots[id].skip_reason().is_none())
        .map(|id| (model.roots[id].host.clone(), model.roots[id].name.clone()))
        .collect();
    // Which hosts got the new version matters once a rollout goes on
    // past a failure or stops between batches.
    let rolling = options.rollout.serial.is_some() || options.rollout.max_fail.is_some();
    if rolling && !options.predict {
        sink.emit(tally_event(phase.rollout.tally()));
    }
    Scheduled {
        reports: phase.reports,
        failed: phase.failed,
        undone,
    }
}

fn batch_event(index: usize, total: usize, t: HostTally) -> Event {
    Event::BatchFinished {
        index,
        total,
        deployed: t.deployed,
        failed: t.failed,
        partial: t.partial,
        untouched: t.untouched,
    }
}

fn tally_event(t: HostTally) -> Event {
    Event::RolloutFinished {
        deployed: t.deployed,
        failed: t.failed,
        partial: t.partial,
        untouched: t.untouched,
    }
}

/// The rollout of `model`'s roots.
fn rollout_of(model: &Model, options: &RemoteOptions) -> Rollout {
    let specs = model
        .roots
        .iter()
        .map(|r| RootSpec {
            host: r.host.clone(),
            name: r.name.clone(),
            deploys: r.skip_reason().is_none(),
            max_parallel: crate::rollout::max_parallel_of(model, r),
        })
        .collect();
    let hosts: Vec<String> = model.env.hosts.keys().cloned().collect();
    Rollout::new(specs, &model.edges, &model.order, &hosts, &options.rollout)
}

/// Which roots wait for which.
struct Graph {
    /// How many unfinished roots each root still waits for.
    waiting_on: Vec<usize>,
    /// The roots waiting for each root.
    dependents: Vec<Vec<usize>>,
    /// Each root's place in the deploy order.
    position: Vec<usize>,
    /// Roots free to start, keyed by their place in the deploy order: a
    /// heap, so a long run of skipped roots (thousands of ignored hosts)
    /// costs a log each, not a sort each.
    ready: BinaryHeap<Reverse<(usize, usize)>>,
    /// Finished (or skipped) roots.
    done: Vec<bool>,
}

impl Graph {
    fn new(model: &Model) -> Graph {
        let n = model.roots.len();
        let mut waiting_on = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in &model.edges {
            waiting_on[a] += 1;
            dependents[b].push(a);
        }
        let mut position = vec![0; n];
        for (pos, &id) in model.order.iter().enumerate() {
            position[id] = pos;
        }
        let ready = (0..n)
            .filter(|i| waiting_on[*i] == 0)
            .map(|i| Reverse((position[i], i)))
            .collect();
        Graph {
            ready,
            waiting_on,
            dependents,
            position,
            done: vec![false; n],
        }
    }

    /// The next root to start, earliest in the deploy order.
    fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop().map(|Reverse((_, id))| id)
    }

    /// `id` was ready but held by the rollout: ready again.
    fn hold(&mut self, id: usize) {
        self.ready.push(Reverse((self.position[id], id)));
    }

    /// `id` finished: the roots waiting only for it may start.
    fn release(&mut self, id: usize) {
        self.done[id] = true;
        for &d in &self.dependents[id] {
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 {
                self.ready.push(Reverse((self.position[d], d)));
            }
        }
    }
}

struct Schedule<'a> {
    model: &'a Model,
    options: &'a RemoteOptions,
    sink: &'a dyn EventSink,
    graph: Graph,
    /// Started roots and when.
    running: BTreeMap<usize, Instant>,
    reports: Vec<RootReport>,
    failed: Vec<RootFailure>,
    ledger: Ledger,
    rollout: Rollout,
    /// Whether the first batch was announced.
    announced: bool,
    /// The end of the wait before the next batch.
    wait_until: Option<Instant>,
    /// Roots said to wait for their limit.
    told_waiting: Vec<bool>,
    /// How many batches were said to be over.
    told_finished: usize,
    interrupted: bool,
}

impl<'a> Schedule<'a> {
    fn new(model: &'a Model, options: &'a RemoteOptions, sink: &'a dyn EventSink) -> Self {
        Schedule {
            model,
            options,
            sink,
            graph: Graph::new(model),
            running: BTreeMap::new(),
            reports: Vec::new(),
            failed: Vec::new(),
            ledger: Ledger::new(model.roots.len()),
            rollout: rollout_of(model, options),
            announced: false,
            wait_until: None,
            told_waiting: vec![false; model.roots.len()],
            told_finished: 0,
            interrupted: false,
        }
    }

    /// Whether nothing new may start.
    fn stopping(&self) -> bool {
        self.rollout.line_stopped() || self.interrupted
    }

    fn on_host(&self, id: usize, sessions: &Sessions, i: usize) -> bool {
        self.model.roots[id].host == sessions.host(i)
    }

    /// Starts root `id` on its host's agent; `false` if its host is lost.
    fn start(&mut self, pump: &mut Pump<'_>, id: usize) -> bool {
        let root = &self.model.roots[id];
        let Some(session) = pump.sessions.by_host(&root.host).map(|s| s.index) else {
            pump.lose_host(&root.host, Loss::NoAgent);
            self.rollout.host_failed(&root.host);
            return false;
        };
        self.sink.emit(Event::RootScheduled {
            host: root.host.clone(),
            root: root.name.clone(),
        });
        let request = Request::Deploy {
            id: id as u64,
            root: id,
            name: root.name.clone(),
            predict: self.options.predict,
            // The controller routes: what finished roots published, and
            // which watched roots changed.
            inputs: self.ledger.inputs(&self.model.roots, id),
            quiet: self.options.quiet_events,
            full_diff: self.options.full_diff.covers(&root.name),
        };
        if !pump.send(session, &request) {
            return false;
        }
        self.running.insert(id, Instant::now());
        self.rollout.started(id);
        true
    }

    /// Says, once, that the current batch is over, with its hosts by
    /// outcome (with several batches, not when predicting: a prediction
    /// deploys nothing).
    fn finish_batch(&mut self) {
        let current = self.rollout.current();
        if !self.rollout.batched() || self.options.predict || self.told_finished > current {
            return;
        }
        self.told_finished = current + 1;
        let total = self.rollout.batches().len();
        self.sink.emit(batch_event(
            current + 1,
            total,
            self.rollout.batch_tally(current),
        ));
    }

    /// Whether the wait between batches (`batch_wait`, not when
    /// predicting) is over; starts it when the batch just ended. The pump
    /// steps every tick, so the wait ends on time without a message.
    fn waited(&mut self) -> bool {
        let wait = Duration::from_secs(self.options.rollout.batch_wait.unwrap_or(0));
        if wait.is_zero() || self.options.predict || !self.rollout.has_next() {
            return true;
        }
        match self.wait_until {
            None => {
                self.wait_until = Some(Instant::now() + wait);
                self.sink.emit(Event::BatchWait {
                    seconds: wait.as_secs(),
                    next: self.rollout.current() + 2,
                });
                false
            }
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                self.wait_until = None;
                true
            }
        }
    }

    /// Starts what may start now: ready roots, up to `jobs`, that the
    /// rollout does not hold; the held ones stay ready.
    fn start_ready(&mut self, pump: &mut Pump<'_>) {
        let mut held = Vec::new();
        while !self.stopping() && self.running.len() < self.options.jobs.max(1) {
            let Some(id) = self.graph.next_ready() else {
                break;
            };
            let root = &self.model.roots[id];
            if let Some(reason) = root.skip_reason() {
                self.sink.emit(Event::RootSkipped {
                    host: root.host.clone(),
                    root: root.name.clone(),
                    reason,
                });
                self.graph.release(id);
                continue;
            }
            match self.rollout.hold(id) {
                // Nothing more starts on a failed host; what waits for
                // it never becomes ready.
                Some(Hold::HostFailed) => continue,
                Some(Hold::Limit) => {
                    if !std::mem::replace(&mut self.told_waiting[id], true) {
                        self.sink.emit(Event::RootWaiting {
                            host: root.host.clone(),
                            root: root.name.clone(),
                            limit: crate::rollout::max_parallel_of(self.model, root)
                                .map(|l| l.to_string())
                                .unwrap_or_default(),
                        });
                    }
                    held.push(id);
                    continue;
                }
                Some(Hold::Batch) => {
                    held.push(id);
                    continue;
                }
                None => {}
            }
            if !self.start(pump, id) {
                break;
            }
        }
        for id in held {
            self.graph.hold(id);
        }
    }

    /// The root an agent answers for, if it was asked to deploy it on its
    /// own host; anything else is a broken or hostile agent, and its host
    /// is dropped rather than believed.
    fn asked(&self, pump: &mut Pump<'_>, i: usize, id: u64) -> Option<usize> {
        match usize::try_from(id) {
            Ok(id) if self.running.contains_key(&id) && self.on_host(id, pump.sessions, i) => {
                Some(id)
            }
            _ => {
                pump.lose(
                    i,
                    Loss::Violation(format!(
                        "the agent answered for root #{id}, which it was not asked to deploy"
                    )),
                );
                None
            }
        }
    }
}

impl Phase for Schedule<'_> {
    const DURING: &'static str = "during the deploy";

    fn awaiting(&self, sessions: &Sessions, i: usize) -> bool {
        self.running.keys().any(|&id| self.on_host(id, sessions, i))
    }

    fn needs(&self, sessions: &Sessions, i: usize) -> bool {
        self.awaiting(sessions, i)
            || (0..self.model.roots.len()).any(|id| {
                !self.graph.done[id]
                    && self.on_host(id, sessions, i)
                    && self.model.roots[id].skip_reason().is_none()
            })
    }

    fn step(&mut self, pump: &mut Pump<'_>) {
        if !self.interrupted && crate::interrupt::requested() {
            self.interrupted = true;
            if !self.running.is_empty() {
                let reverts = self.model.env.settings.revert && !self.options.predict;
                self.sink.emit(Event::Warning {
                    host: None,
                    component: None,
                    message: if reverts {
                        format!(
                            "interrupted: starting nothing new, stopping {} running root(s) at their next component and reverting them",
                            self.running.len()
                        )
                    } else {
                        format!(
                            "interrupted: starting nothing new, waiting for {} running component(s) to finish",
                            self.running.len()
                        )
                    },
                });
                // The agents decide by their own `revert` setting (the
                // controller's, sent with `configure`).
                let busy: Vec<usize> = pump
                    .sessions
                    .all()
                    .map(|s| s.index)
                    .filter(|&i| self.awaiting(pump.sessions, i))
                    .collect();
                for i in busy {
                    pump.send(i, &Request::Interrupt);
                }
            }
        }
        if !self.announced {
            self.announced = true;
            if let Some(batch) = self.rollout.first() {
                self.sink.emit(batch.into());
            }
        }
        loop {
            self.start_ready(pump);
            // With nothing running, whatever is still ready is held by
            // its batch alone (a limit holds nothing then): the current
            // batch is over.
            if !self.running.is_empty() || self.stopping() || self.graph.ready.is_empty() {
                break;
            }
            if self.rollout.has_next() {
                self.finish_batch();
            }
            if !self.waited() {
                break;
            }
            match self.rollout.advance() {
                Some(batch) => self.sink.emit(batch.into()),
                None => break,
            }
        }
    }

    fn done(&self, _pump: &Pump<'_>) -> bool {
        self.running.is_empty() && (self.graph.ready.is_empty() || self.stopping())
    }

    fn reply(&mut self, pump: &mut Pump<'_>, i: usize, reply: Reply) {
        match reply {
            Reply::Event { event, .. } => pump.forward(i, event, self.sink),
            Reply::Deployed {
                id,
                changed,
                seconds,
                published,
            } => {
                if let Some(id) = self.asked(pump, i, id) {
                    self.running.remove(&id);
                    self.ledger.record(id, changed > 0, &published);
                    let root = &self.model.roots[id];
                    self.reports.push(RootReport {
                        host: root.host.clone(),
                        root: root.name.clone(),
                        seconds: agent_seconds(seconds),
                        changed,
                    });
                    self.graph.release(id);
                    self.rollout.ended(id, true);
                }
            }
            Reply::Failed { id, error } => {
                if let Some(id) = self.asked(pump, i, id) {
                    self.running.remove(&id);
                    self.rollout.ended(id, false);
                    let root = &self.model.roots[id];
                    self.failed
                        .push(RootFailure::reported(&root.host, &root.name, error));
                }
            }
            _ => {}
        }
    }

    fn lost(&mut self, sessions: &Sessions, i: usize) {
        let host = sessions.host(i).to_string();
        let roots = &self.model.roots;
        self.running.retain(|id, _| roots[*id].host != host);
        self.rollout.host_lost(&host);
    }
}
