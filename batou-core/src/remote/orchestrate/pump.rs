//! The one message pump of the controller. Every phase of a remote deploy
//! (configure, the roots, finish) waits for what the agents say through
//! it, and it alone decides that a host is lost — silent past the
//! heartbeat timeout, its connection ended, garbled, gave up, broke the
//! protocol — and says so in one wording. A phase sees only the replies of
//! hosts not given up on.

use std::collections::BTreeMap;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use super::outcome::HostFailure;
use super::session::{Inbox, Incoming};
use super::sessions::Sessions;
use super::untrusted::{agent_text, event_host, printable, stderr_suffix};
use crate::event::{Event, EventSink};
use crate::remote::protocol::{Reply, Request};

/// How long the pump waits for a message before it looks at the clock
/// (heartbeats, interrupts).
const TICK: Duration = Duration::from_millis(250);

/// A phase of the deploy, driven by [`Pump::run`].
pub(super) trait Phase {
    /// How a connection that ends now is described: "during the deploy".
    const DURING: &'static str;

    /// Whether the phase waits for an answer from session `i`'s host: its
    /// silence then means the host is lost.
    fn awaiting(&self, sessions: &Sessions, i: usize) -> bool;

    /// Whether the phase still needs session `i`'s host at all: its
    /// connection ending then means the host is lost.
    fn needs(&self, sessions: &Sessions, i: usize) -> bool {
        self.awaiting(sessions, i)
    }

    /// Starts what may start; called before every wait.
    fn step(&mut self, _pump: &mut Pump<'_>) {}

    /// Whether the phase expects nothing more.
    fn done(&self, pump: &Pump<'_>) -> bool;

    /// A reply from a host not given up on (never `fatal` or `heartbeat`,
    /// which the pump handles).
    fn reply(&mut self, pump: &mut Pump<'_>, i: usize, reply: Reply);

    /// Session `i`'s host was given up on: forget what it was doing.
    fn lost(&mut self, sessions: &Sessions, i: usize);
}

/// Why a host is given up on.
pub(super) enum Loss {
    /// Silent for longer than the heartbeat timeout.
    Silent,
    /// Its connection ended; what the agent last said on stderr.
    Closed(String),
    /// It sent a line that is not protocol.
    Garbled(String),
    /// The agent gave up (`fatal`), saying why.
    Fatal(String),
    /// It broke the protocol: what it did.
    Violation(String),
    /// It is not an agent this controller can work with: why.
    Mismatch(String),
    /// A request could not be sent to it.
    Unsendable {
        error: std::io::Error,
        stderr: String,
    },
    /// A thread of its session died.
    Broken(String),
    /// Every connection ended at once.
    AllEnded,
    /// No agent runs for it.
    NoAgent,
}

impl Loss {
    /// What the operator is told; `during` as in [`Phase::DURING`].
    fn message(&self, during: &str, heartbeat: Duration) -> String {
        match self {
            Loss::Silent => format!("no heartbeat for {}s; connection lost", heartbeat.as_secs()),
            Loss::Closed(stderr) => format!("connection lost {during}{}", stderr_suffix(stderr)),
            Loss::Garbled(what) => {
                format!("the agent said something unexpected: {}", agent_text(what))
            }
            Loss::Fatal(message) => agent_text(message),
            Loss::Violation(what) => format!("{what} (protocol violation)"),
            Loss::Mismatch(why) => why.clone(),
            Loss::Unsendable { error, stderr } => {
                format!("cannot send to the agent: {error}{}", stderr_suffix(stderr))
            }
            Loss::Broken(message) => message.clone(),
            Loss::AllEnded => "all agent connections ended".into(),
            Loss::NoAgent => "no agent for this host".into(),
        }
    }

    /// Whether the connection must be dropped (it may still be open, and
    /// what comes through it is not to be believed).
    fn kills(&self) -> bool {
        matches!(
            self,
            Loss::Silent
                | Loss::Garbled(_)
                | Loss::Violation(_)
                | Loss::Mismatch(_)
                | Loss::Broken(_)
        )
    }
}

/// Delivers the agents' replies to one phase after another and keeps the
/// hosts given up on, first reason first.
pub(super) struct Pump<'s> {
    pub sessions: &'s Sessions,
    inbox: &'s Inbox,
    heartbeat: Duration,
    lost: Vec<HostFailure>,
    /// Sessions given up on whose phase has not heard of it yet.
    unheard: Vec<usize>,
    /// Sessions whose connection ended while no phase needed them, with
    /// the agent's last words: lost as soon as one does.
    closed: BTreeMap<usize, String>,
}

impl<'s> Pump<'s> {
    pub fn new(sessions: &'s Sessions, inbox: &'s Inbox, heartbeat: Duration) -> Pump<'s> {
        Pump {
            sessions,
            inbox,
            heartbeat,
            lost: Vec::new(),
            unheard: Vec::new(),
            closed: BTreeMap::new(),
        }
    }

    /// Runs `phase` until it is done (or every connection has ended).
    pub fn run<P: Phase>(&mut self, phase: &mut P) {
        loop {
            self.tell::<P>(phase);
            phase.step(self);
            self.tell::<P>(phase);
            let closed: Vec<(usize, String)> = self
                .closed
                .iter()
                .filter(|(i, _)| phase.needs(self.sessions, **i))
                .map(|(i, stderr)| (*i, stderr.clone()))
                .collect();
            for (i, stderr) in closed {
                self.closed.remove(&i);
                self.lose_as::<P>(i, Loss::Closed(stderr));
            }
            self.tell::<P>(phase);
            if phase.done(self) {
                return;
            }
            let incoming = match self.inbox.next(TICK) {
                Ok(incoming) => incoming,
                Err(RecvTimeoutError::Timeout) => {
                    for s in self.sessions.all() {
                        if phase.awaiting(self.sessions, s.index) && s.silence() > self.heartbeat {
                            self.lose_as::<P>(s.index, Loss::Silent);
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    for s in self.sessions.all() {
                        if phase.awaiting(self.sessions, s.index) {
                            self.lose_as::<P>(s.index, Loss::AllEnded);
                        }
                    }
                    self.tell::<P>(phase);
                    return;
                }
            };
            match incoming {
                // A host given up on may still have replies in flight.
                Incoming::Reply(i, _) if self.is_lost(i) => {}
                Incoming::Reply(_, Reply::Heartbeat) => {}
                Incoming::Reply(i, Reply::Fatal { message }) => {
                    self.lose_as::<P>(i, Loss::Fatal(message))
                }
                Incoming::Reply(i, reply) => phase.reply(self, i, reply),
                Incoming::Closed { session, stderr } => {
                    if phase.needs(self.sessions, session) {
                        self.lose_as::<P>(session, Loss::Closed(stderr));
                    } else {
                        self.closed.insert(session, stderr);
                    }
                }
                Incoming::Garbled { session, message } => {
                    self.lose_as::<P>(session, Loss::Garbled(message))
                }
                Incoming::Broken { session, message } => {
                    self.lose_as::<P>(session, Loss::Broken(message))
                }
            }
        }
    }

    /// Gives up on session `i`'s host (a phase's verdict, e.g. a protocol
    /// violation).
    pub fn lose(&mut self, i: usize, loss: Loss) {
        self.record(i, loss, "during the deploy");
    }

    /// Gives up on `host`, which has no session.
    pub fn lose_host(&mut self, host: &str, loss: Loss) {
        if !self.lost.iter().any(|l| l.host == host) {
            self.lost.push(HostFailure {
                host: host.to_string(),
                message: loss.message("during the deploy", self.heartbeat),
            });
        }
    }

    /// Sends `request` to session `i`; if it cannot be sent, the host is
    /// lost and `false` returned.
    pub fn send(&mut self, i: usize, request: &Request) -> bool {
        let Some(session) = self.sessions.get(i) else {
            return false;
        };
        match session.send(request) {
            Ok(()) => true,
            Err(error) => {
                let stderr = session.stderr_tail();
                self.lose(i, Loss::Unsendable { error, stderr });
                false
            }
        }
    }

    /// Passes on an event from session `i`'s agent, which speaks for its
    /// own host only: an event of another host loses it.
    pub fn forward(&mut self, i: usize, event: Event, sink: &dyn EventSink) {
        // The rollout's progress is the controller's to tell.
        if matches!(
            event,
            Event::BatchStarted { .. }
                | Event::BatchFinished { .. }
                | Event::BatchWait { .. }
                | Event::RootWaiting { .. }
                | Event::RolloutFinished { .. }
        ) {
            return self.lose(
                i,
                Loss::Violation("the agent reported the rollout's progress".into()),
            );
        }
        match event_host(&event) {
            Some(other) if other != self.sessions.host(i) => self.lose(
                i,
                Loss::Violation(format!(
                    "the agent reported events of host `{}`",
                    printable(&other)
                )),
            ),
            _ => sink.emit(event),
        }
    }

    /// Whether session `i`'s host was given up on.
    pub fn is_lost(&self, i: usize) -> bool {
        let host = self.sessions.host(i);
        self.lost.iter().any(|l| l.host == host)
    }

    /// Whether any host was given up on.
    pub fn any_lost(&self) -> bool {
        !self.lost.is_empty()
    }

    /// The hosts given up on, one failure each.
    pub fn take_lost(&mut self) -> Vec<HostFailure> {
        std::mem::take(&mut self.lost)
    }

    fn lose_as<P: Phase>(&mut self, i: usize, loss: Loss) {
        self.record(i, loss, P::DURING);
    }

    fn record(&mut self, i: usize, loss: Loss, during: &str) {
        let Some(session) = self.sessions.get(i) else {
            return;
        };
        if loss.kills() {
            session.kill();
        }
        // The first reason says why; what follows (the connection closing
        // after we dropped it) is a consequence.
        if !self.is_lost(i) {
            self.lost.push(HostFailure {
                host: session.host.clone(),
                message: loss.message(during, self.heartbeat),
            });
        }
        self.unheard.push(i);
    }

    /// Tells `phase` of the hosts given up on since it last heard.
    fn tell<P: Phase>(&mut self, phase: &mut P) {
        for i in std::mem::take(&mut self.unheard) {
            phase.lost(self.sessions, i);
        }
    }
}
