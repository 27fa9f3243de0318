//! After the last root: each agent removes the externals that left the
//! environment on its host (`finish`, answered like a deploy). Hosts work
//! at once; their events stream in as they come.

use std::collections::BTreeSet;

use super::RemoteOptions;
use super::outcome::{RootFailure, RootReport, agent_seconds};
use super::pump::{Loss, Phase, Pump};
use super::sessions::Sessions;
use crate::configure::Model;
use crate::event::EventSink;
use crate::remote::protocol::{Reply, Request};

/// Request ids of `finish`, apart from the roots' (which are root indices).
pub(crate) const FINISH_ID: u64 = 1 << 62;

/// What the agents removed, and where removing failed.
pub(super) struct Finished {
    pub reports: Vec<RootReport>,
    pub failed: Vec<RootFailure>,
}

/// Sends `finish` to every host that deployed something in this run (a
/// host whose roots were all left out by `--hosts`/`--components` is left
/// alone) and waits for the answers.
pub(super) fn finish_hosts(
    pump: &mut Pump<'_>,
    model: &Model,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> Finished {
    let mut phase = Finishing {
        waiting: BTreeSet::new(),
        reports: Vec::new(),
        failed: Vec::new(),
        sink,
    };
    let sessions = pump.sessions;
    for session in sessions.all() {
        let mut roots = model
            .roots
            .iter()
            .filter(|r| r.host == session.host)
            .peekable();
        if roots.peek().is_some() && !roots.any(|r| r.skip_reason().is_none()) {
            continue;
        }
        let request = Request::Finish {
            id: FINISH_ID + session.index as u64,
            predict: options.predict,
        };
        if pump.send(session.index, &request) {
            phase.waiting.insert(session.index);
        }
    }
    pump.run(&mut phase);
    Finished {
        reports: phase.reports,
        failed: phase.failed,
    }
}

struct Finishing<'a> {
    /// Sessions whose `finish` is unanswered.
    waiting: BTreeSet<usize>,
    reports: Vec<RootReport>,
    failed: Vec<RootFailure>,
    sink: &'a dyn EventSink,
}

impl Phase for Finishing<'_> {
    const DURING: &'static str = "during the deploy";

    fn awaiting(&self, _: &Sessions, i: usize) -> bool {
        self.waiting.contains(&i)
    }

    fn done(&self, _: &Pump<'_>) -> bool {
        self.waiting.is_empty()
    }

    fn reply(&mut self, pump: &mut Pump<'_>, i: usize, reply: Reply) {
        // The same distrust as during the roots: an agent answers only the
        // `finish` it was sent, for its own host.
        match reply {
            Reply::Event { event, .. } => pump.forward(i, event, self.sink),
            Reply::Deployed { id, .. } | Reply::Failed { id, .. }
                if self.waiting.contains(&i) && id != FINISH_ID + i as u64 =>
            {
                pump.lose(
                    i,
                    Loss::Violation(format!(
                        "the agent answered request #{id}, which it was not sent"
                    )),
                );
            }
            Reply::Deployed {
                changed, seconds, ..
            } => {
                let answered = self.waiting.remove(&i);
                // Only a host that removed something gets a line in the
                // summary.
                if answered && changed > 0 {
                    self.reports.push(RootReport {
                        host: pump.sessions.host(i).to_string(),
                        root: "(externals removed)".into(),
                        seconds: agent_seconds(seconds),
                        changed,
                    });
                }
            }
            Reply::Failed { error, .. } => {
                let answered = self.waiting.remove(&i);
                if answered {
                    let host = pump.sessions.host(i);
                    self.failed.push(RootFailure::reported(host, "", error));
                }
            }
            _ => {}
        }
    }

    fn lost(&mut self, _: &Sessions, i: usize) {
        self.waiting.remove(&i);
    }
}
