//! After the last root: each agent removes the externals that left the
//! environment on its host (`finish`, answered like a deploy). Hosts work
//! at once; their events stream in as they come.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::orchestrate::{
    HostFailure, RemoteOptions, RootFailure, RootReport, Sessions, stderr_suffix,
};
use super::protocol::{Reply, Request};
use super::session::Incoming;
use crate::configure::Model;
use crate::event::EventSink;

/// Request ids of `finish`, apart from the roots' (which are root indices).
const FINISH_ID: u64 = 1 << 62;

/// Sends `finish` to every host that deployed something in this run (a
/// host whose roots were all left out by `--hosts`/`--components` is left
/// alone) and waits for the answers.
pub(super) fn finish_hosts(
    sessions: &Sessions,
    rx: &Receiver<Incoming>,
    model: &Model,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> (Vec<RootReport>, Vec<HostFailure>, Vec<RootFailure>) {
    let mut reports = Vec::new();
    let mut lost = Vec::new();
    let mut failed = Vec::new();
    // session index → host
    let mut waiting: BTreeMap<usize, String> = BTreeMap::new();
    for session in sessions.all() {
        let roots: Vec<_> = model
            .roots
            .iter()
            .filter(|r| r.host == session.host)
            .collect();
        if !roots.is_empty() && !roots.iter().any(|r| r.selected && !r.ignored) {
            continue;
        }
        let request = Request::Finish {
            id: FINISH_ID + session.index as u64,
            predict: options.predict,
        };
        match session.send(&request) {
            Ok(()) => {
                waiting.insert(session.index, session.host.clone());
            }
            Err(e) => lost.push(HostFailure {
                host: session.host.clone(),
                message: format!(
                    "cannot send to the agent: {e}{}",
                    stderr_suffix(&session.stderr_tail())
                ),
            }),
        }
    }
    while !waiting.is_empty() {
        let incoming = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                waiting.retain(|&i, host| {
                    let Some(s) = sessions.get(i) else {
                        return false;
                    };
                    if s.silence() <= options.heartbeat_timeout {
                        return true;
                    }
                    lost.push(HostFailure {
                        host: host.clone(),
                        message: format!(
                            "no heartbeat for {}s; connection lost",
                            options.heartbeat_timeout.as_secs()
                        ),
                    });
                    s.kill();
                    false
                });
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                for host in waiting.values() {
                    lost.push(HostFailure {
                        host: host.clone(),
                        message: "all agent connections ended".into(),
                    });
                }
                break;
            }
        };
        match incoming {
            Incoming::Reply(_, Reply::Event { event, .. }) => sink.emit(event),
            Incoming::Reply(
                i,
                Reply::Deployed {
                    changed, seconds, ..
                },
            ) => {
                // Only a host that removed something gets a line in the
                // summary.
                if let Some(host) = waiting.remove(&i)
                    && changed > 0
                {
                    reports.push(RootReport {
                        host,
                        root: "(externals removed)".into(),
                        seconds,
                        changed,
                    });
                }
            }
            Incoming::Reply(i, Reply::Failed { error, .. }) => {
                if let Some(host) = waiting.remove(&i) {
                    failed.push(RootFailure {
                        host: error.host.unwrap_or(host),
                        component: error.component.unwrap_or_default(),
                        message: error.message,
                    });
                }
            }
            Incoming::Reply(i, Reply::Fatal { message }) => {
                if let Some(host) = waiting.remove(&i) {
                    lost.push(HostFailure { host, message });
                }
            }
            Incoming::Reply(..) => {}
            Incoming::Closed { session, stderr } => {
                if let Some(host) = waiting.remove(&session) {
                    lost.push(HostFailure {
                        host,
                        message: format!(
                            "connection lost during the deploy{}",
                            stderr_suffix(&stderr)
                        ),
                    });
                }
            }
            Incoming::Garbled { session, message } => {
                if let Some(host) = waiting.remove(&session) {
                    lost.push(HostFailure {
                        host,
                        message: format!("the agent said something unexpected: {message}"),
                    });
                }
            }
        }
    }
    (reports, lost, failed)
}
