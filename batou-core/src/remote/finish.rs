//! After the last root: each agent removes the externals that left the
//! environment on its host (`finish`, answered like a deploy). Hosts work
//! at once; their events stream in as they come.

use std::collections::BTreeMap;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use super::orchestrate::{
    HostFailure, RemoteOptions, RootFailure, RootReport, Sessions, stderr_suffix,
};
use super::protocol::{Reply, Request};
use super::session::{Inbox, Incoming};
use super::untrusted::{agent_text, event_host, printable};
use crate::configure::Model;
use crate::event::EventSink;

/// Request ids of `finish`, apart from the roots' (which are root indices).
pub(crate) const FINISH_ID: u64 = 1 << 62;

/// Sends `finish` to every host that deployed something in this run (a
/// host whose roots were all left out by `--hosts`/`--components` is left
/// alone) and waits for the answers.
pub(super) fn finish_hosts(
    sessions: &Sessions,
    inbox: &Inbox,
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
        let incoming = match inbox.next(Duration::from_millis(250)) {
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
        // The same distrust as during the roots: an agent answers only the
        // `finish` it was sent, for its own host, in printable words.
        let hostile = |i: usize, what: String| -> Option<HostFailure> {
            let host = waiting.get(&i)?.clone();
            if let Some(s) = sessions.get(i) {
                s.kill();
            }
            Some(HostFailure {
                host,
                message: format!("{what} (protocol violation)"),
            })
        };
        match incoming {
            Incoming::Reply(i, Reply::Event { event, .. }) => {
                let own = sessions.get(i).map(|s| s.host.clone()).unwrap_or_default();
                match event_host(&event) {
                    Some(other) if other != own => {
                        if let Some(f) = hostile(
                            i,
                            format!("the agent reported events of host `{}`", printable(&other)),
                        ) {
                            waiting.remove(&i);
                            lost.push(f);
                        }
                    }
                    _ => sink.emit(event),
                }
            }
            Incoming::Reply(i, Reply::Deployed { id, .. } | Reply::Failed { id, .. })
                if waiting.contains_key(&i) && id != FINISH_ID + i as u64 =>
            {
                if let Some(f) = hostile(
                    i,
                    format!("the agent answered request #{id}, which it was not sent"),
                ) {
                    waiting.remove(&i);
                    lost.push(f);
                }
            }
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
                        seconds: if seconds.is_finite() && seconds > 0.0 {
                            seconds
                        } else {
                            0.0
                        },
                        changed,
                    });
                }
            }
            Incoming::Reply(i, Reply::Failed { error, .. }) => {
                if let Some(host) = waiting.remove(&i) {
                    failed.push(RootFailure {
                        // The host is the one we asked, whatever it says.
                        host,
                        component: error.component.unwrap_or_default(),
                        message: agent_text(&error.message),
                        panicked: error.panicked,
                    });
                }
            }
            Incoming::Reply(i, Reply::Fatal { message }) => {
                if let Some(host) = waiting.remove(&i) {
                    lost.push(HostFailure {
                        host,
                        message: agent_text(&message),
                    });
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
                        message: format!(
                            "the agent said something unexpected: {}",
                            agent_text(&message)
                        ),
                    });
                }
            }
        }
    }
    (reports, lost, failed)
}
