//! Starting the agents: the hosts a deploy needs, a few at a time, each
//! greeted and sent the environment to configure in one go.

use std::sync::Mutex;
use std::time::Instant;

use super::RemoteOptions;
use super::early::{Connecting, EarlyConnections, launch_parts};
use super::outcome::{HostFailure, RemoteFailure};
use super::platform_launch::{self, ConnectQueue, NotStarted};
use super::session::{Outbox, Session};
use super::sessions::Sessions;
use crate::configure::Model;
use crate::environment::{Environment, HostConfig};
use crate::event::{Event, EventSink};
use crate::remote::protocol::{PROTOCOL_VERSION, Request};

/// The hosts the deploy connects to, in the environment's order; every
/// host is announced (connecting, ignored or not selected).
pub(super) fn wanted_hosts(model: &Model, sink: &dyn EventSink) -> Vec<HostConfig> {
    let hosts: Vec<_> = model.env.hosts.values().collect();
    let total = hosts.len();
    let mut wanted = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let (host_name, index) = (host.name.clone(), i + 1);
        if host.ignore {
            sink.emit(Event::HostIgnored {
                host: host_name,
                index,
                total,
            });
        } else if !model.host_has_selected_roots(&host.name) {
            sink.emit(Event::HostNotSelected {
                host: host_name,
                index,
                total,
            });
        } else {
            sink.emit(Event::HostConnecting {
                host: host_name,
                method: model.env.settings.connect_method.clone(),
                index,
                total,
            });
            wanted.push((*host).clone());
        }
    }
    wanted
}

/// The agents of every wanted host, running and sent their environment.
pub(super) struct Connected {
    pub sessions: Sessions,
    /// Seconds each host took to connect, by session index.
    pub seconds: Vec<f64>,
}

/// One host's attempt to start its agent.
struct Started {
    index: usize,
    result: Result<Session, HostFailure>,
    seconds: f64,
}

/// Starts the agents of `wanted`, `parallel_connects` at a time, using
/// the `early` connections where there are some. Any host failing fails
/// the deploy (the others are closed).
pub(super) fn start_agents(
    wanted: &[HostConfig],
    env: &Environment,
    options: &RemoteOptions,
    early: Option<EarlyConnections>,
    tx: Outbox,
    sink: &dyn EventSink,
) -> Result<Connected, RemoteFailure> {
    let results: Mutex<Vec<Started>> = Mutex::new(Vec::new());
    let queue = ConnectQueue::new(wanted.len());
    // When each host was first tried: a host set aside for its agent's
    // build counts the wait as connecting.
    let first_try = Mutex::new(vec![Instant::now(); wanted.len()]);
    // Only the environment crosses into the connecting threads (components
    // are not Sync).
    std::thread::scope(|scope| {
        for _ in 0..options.parallel_connects.max(1).min(wanted.len().max(1)) {
            scope.spawn(|| {
                while let Some((index, retry)) = queue.next() {
                    let host = &wanted[index];
                    let first_try = &first_try;
                    if !retry {
                        first_try.lock().unwrap_or_else(|p| p.into_inner())[index] = Instant::now();
                    }
                    let connecting = match retry {
                        false => early.as_ref().and_then(|e| e.take(&host.name)),
                        true => None,
                    };
                    let attempt = Attempt {
                        index,
                        host,
                        env,
                        options,
                        may_build: retry,
                    };
                    let result = match start_agent(&attempt, connecting, tx.clone(), sink) {
                        Err(NotStarted::NeedsBuild { os, arch }) => {
                            // Built meanwhile; the host comes back after
                            // the others and waits for the build then.
                            let name = &host.name;
                            scope.spawn(move || {
                                let _ = options.agents.for_platform(name, &os, &arch, sink);
                            });
                            queue.retry(index);
                            continue;
                        }
                        Err(NotStarted::Failed(f)) => Err(f),
                        Ok(session) => Ok(session),
                    };
                    let started = first_try.lock().unwrap_or_else(|p| p.into_inner())[index];
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Started {
                            index,
                            result,
                            seconds: started.elapsed().as_secs_f64(),
                        });
                    queue.done();
                }
            });
        }
    });
    drop(tx);
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|s| s.index);
    let mut sessions: Vec<Option<Session>> = (0..wanted.len()).map(|_| None).collect();
    let mut seconds = vec![0.0; wanted.len()];
    let mut failures = Vec::new();
    for started in results {
        seconds[started.index] = started.seconds;
        match started.result {
            Ok(s) => {
                sink.emit(Event::AgentReady {
                    host: s.host.clone(),
                    user: s.user.clone(),
                    uploaded: s.uploaded,
                });
                sessions[started.index] = Some(s);
            }
            Err(f) => failures.push(f),
        }
    }
    let sessions = Sessions::new(sessions);
    if !failures.is_empty() {
        return Err(RemoteFailure::Connect(failures));
    }
    Ok(Connected { sessions, seconds })
}

/// One host's agent to start.
struct Attempt<'a> {
    index: usize,
    host: &'a HostConfig,
    env: &'a Environment,
    options: &'a RemoteOptions,
    /// Whether to build (or wait for) a missing agent now, rather than
    /// set the host aside.
    may_build: bool,
}

fn start_agent(
    attempt: &Attempt<'_>,
    connecting: Option<Connecting>,
    tx: Outbox,
    sink: &dyn EventSink,
) -> Result<Session, NotStarted> {
    let &Attempt {
        index,
        host,
        env,
        options,
        may_build,
    } = attempt;
    let (target, spec) = launch_parts(host, env, options);
    let (launched, binary) =
        platform_launch::start(options, &target, &spec, connecting, may_build, sink)?;
    let mut session = Session::new(
        index,
        &host.name,
        launched.user,
        launched.uploaded,
        launched.channel,
        tx,
    );
    session.sent_bytes = launched.sent_bytes;
    session.binary_hash = binary.hash.clone();
    session.assets = crate::assets::project::shipment(&env.project_dir);
    let fail = |e: std::io::Error| HostFailure {
        host: host.name.clone(),
        message: format!("cannot talk to the agent: {e}; {}", session.stderr_tail()),
    };
    // Hello and configure in one go: one round trip per host.
    session
        .send(&Request::Hello {
            protocol: PROTOCOL_VERSION,
            binary_hash: binary.hash.clone(),
            controller: options.controller.clone(),
            break_lock: options.break_lock,
            assets: session.assets.manifest.clone(),
            assets_hash: session.assets.manifest_hash.clone(),
        })
        .map_err(fail)?;
    session
        .send(&Request::Configure {
            environment: Box::new(env.clone()),
            host: host.name.clone(),
            platform: options.platform.clone(),
            secrets: env.secrets.to_wire(),
            lock: true,
            deploy: options.deploy.clone().map(Box::new),
        })
        .map_err(fail)?;
    Ok(session)
}
