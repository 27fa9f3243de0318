//! Starting each host's agent with the binary built for its platform
//! (see [`crate::agent_build`]).
//!
//! A host is offered the agent for the platform it reported last time
//! (or the only one at hand). The start script checks the platform
//! before anything runs or is uploaded; on a mismatch it reports what the
//! host runs, and the controller starts the agent for that platform
//! instead — building it first if there is none. A build does not hold up
//! the hosts that need no build: the host is set aside ([`ConnectQueue`])
//! while cargo runs, and comes back when the others have been started.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::RemoteOptions;
use super::early::{Connecting, LaunchSpec};
use super::outcome::HostFailure;
use crate::agent_build::Offer;
use crate::event::EventSink;
use crate::remote::bootstrap::{
    AgentBinary, AgentLaunch, BootstrapError, Launched, launch, launch_gated,
};
use crate::transport::Target;

/// Why a host's agent has not started (yet).
pub(super) enum NotStarted {
    /// It failed.
    Failed(HostFailure),
    /// Its platform has no agent yet: build that (in the background),
    /// then try the host again.
    NeedsBuild { os: String, arch: String },
}

impl From<HostFailure> for NotStarted {
    fn from(f: HostFailure) -> Self {
        NotStarted::Failed(f)
    }
}

/// Starts the agent for `target`'s platform. With `may_build`, waits for
/// (or runs) the build of a missing agent; without, says which build is
/// needed.
pub(super) fn start(
    options: &RemoteOptions,
    target: &Target,
    spec: &LaunchSpec,
    connecting: Option<Connecting>,
    may_build: bool,
    sink: &dyn EventSink,
) -> Result<(Launched, Arc<AgentBinary>), NotStarted> {
    let agents = &options.agents;
    let fail = |message: String| HostFailure {
        host: target.host.clone(),
        message,
    };
    let mut binary = match agents.offer(&target.address) {
        Offer::Ready(b) | Offer::Probe(b) => b,
        Offer::Build { os, arch } if !may_build => {
            close(connecting);
            return Err(NotStarted::NeedsBuild { os, arch });
        }
        Offer::Build { os, arch } => {
            close(connecting);
            return launch_built(options, target, spec, &os, &arch, sink);
        }
    };
    let first = match connecting.map(|c| c.join()) {
        Some(Ok(Ok(channel))) => launch_gated(&for_binary(options, target, spec, &binary), channel),
        Some(Ok(Err(e))) => Err(e.into()),
        // The connecting thread panicked: connect afresh.
        Some(Err(_)) | None => launch(&for_binary(options, target, spec, &binary)),
    };
    match first {
        Ok(launched) => {
            agents.learn(&target.address, &binary.os, &binary.arch);
            Ok((launched, binary))
        }
        Err(BootstrapError::Platform { remote, .. }) => {
            let (os, arch) = remote.split_once(' ').unwrap_or((remote.as_str(), ""));
            agents.learn(&target.address, os, arch);
            match agents.offer(&target.address) {
                Offer::Ready(b) if b.runs_on(os, arch) => binary = b,
                Offer::Build { os, arch } if !may_build => {
                    return Err(NotStarted::NeedsBuild { os, arch });
                }
                // Build now, or say why no agent can be had.
                _ => return launch_built(options, target, spec, os, arch, sink),
            }
            launch(&for_binary(options, target, spec, &binary))
                .map(|l| (l, binary))
                .map_err(|e| fail(e.to_string()).into())
        }
        Err(e) => Err(fail(e.to_string()).into()),
    }
}

/// Builds (or waits for the build of) the agent for `os` / `arch`, then
/// starts it.
fn launch_built(
    options: &RemoteOptions,
    target: &Target,
    spec: &LaunchSpec,
    os: &str,
    arch: &str,
    sink: &dyn EventSink,
) -> Result<(Launched, Arc<AgentBinary>), NotStarted> {
    let fail = |message: String| HostFailure {
        host: target.host.clone(),
        message,
    };
    let binary = options
        .agents
        .for_platform(&target.host, os, arch, sink)
        .map_err(|e| fail(e.to_string()))?;
    launch(&for_binary(options, target, spec, &binary))
        .map(|l| (l, binary))
        .map_err(|e| fail(e.to_string()).into())
}

fn for_binary<'a>(
    options: &'a RemoteOptions,
    target: &'a Target,
    spec: &LaunchSpec,
    binary: &'a AgentBinary,
) -> AgentLaunch<'a> {
    spec.clone()
        .launch(options.transport.as_ref(), target, binary)
}

/// Ends an early connection that will not be used (its script exits at
/// the gate, untouched).
fn close(connecting: Option<Connecting>) {
    if let Some(Ok(Ok(mut channel))) = connecting.map(|c| c.join()) {
        channel.stdin.take();
        channel.control.kill();
        let _ = channel.control.wait();
    }
}

/// Hosts to start, in order, and those set aside while their agent is
/// built; workers take from it until every host is done.
pub(super) struct ConnectQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    next: usize,
    total: usize,
    retry: VecDeque<usize>,
    /// Hosts not done yet (waiting, running or set aside).
    open: usize,
}

impl ConnectQueue {
    pub(super) fn new(total: usize) -> ConnectQueue {
        ConnectQueue {
            state: Mutex::new(QueueState {
                next: 0,
                total,
                retry: VecDeque::new(),
                open: total,
            }),
            changed: Condvar::new(),
        }
    }

    /// The next host to start (and whether it was set aside before);
    /// hosts set aside come after all others. Waits while only hosts
    /// being started by other workers remain (they may be set aside);
    /// `None` when all are done.
    pub(super) fn next(&self) -> Option<(usize, bool)> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if s.next < s.total {
                s.next += 1;
                return Some((s.next - 1, false));
            }
            if let Some(i) = s.retry.pop_front() {
                return Some((i, true));
            }
            if s.open == 0 {
                return None;
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Sets host `i` aside, to be started again later.
    pub(super) fn retry(&self, i: usize) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retry
            .push_back(i);
        self.changed.notify_all();
    }

    /// Host `i` is done (started or failed).
    pub(super) fn done(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.open = s.open.saturating_sub(1);
        drop(s);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_set_aside_come_last_and_workers_wait_for_them() {
        let queue = ConnectQueue::new(3);
        assert_eq!(queue.next(), Some((0, false)));
        assert_eq!(queue.next(), Some((1, false)));
        // Host 0 needs a build: it comes back after host 2.
        queue.retry(0);
        assert_eq!(queue.next(), Some((2, false)));
        assert_eq!(queue.next(), Some((0, true)));
        queue.done();
        queue.done();
        // Host 2 is still being started elsewhere: a worker waits for it
        // (it might be set aside), then finds nothing left.
        let waiter = std::thread::scope(|s| {
            let w = s.spawn(|| queue.next());
            std::thread::sleep(Duration::from_millis(150));
            assert!(!w.is_finished(), "a worker waits while a host is open");
            queue.done();
            w.join().unwrap()
        });
        assert_eq!(waiter, None);
    }
}
