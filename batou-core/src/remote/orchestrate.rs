//! Deploying to remote hosts: start an agent on every host (bounded
//! concurrency), let each configure the model, merge their errors, then
//! deploy roots along the cross-host graph with up to `jobs` at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::early::{Connecting, EarlyConnections, launch_parts};
use super::platform_launch::{ConnectQueue, NotStarted};
use super::protocol::{Holder, PROTOCOL_VERSION, Reply, Request, WireError};
use super::session::{Inbox, Incoming, Outbox, Session};
use super::untrusted::{agent_text, event_host, first_per_host, printable};
use crate::agent_build::Agents;
use crate::configure::Model;
use crate::error::ConfigError;
use crate::event::{Event, EventSink, SkipReason};
use crate::transport::Transport;

/// How to deploy remotely.
#[derive(Clone)]
pub struct RemoteOptions {
    pub transport: Arc<dyn Transport>,
    /// The agents for the hosts' platforms (built as needed, or the
    /// environment's `agent_binary`).
    pub agents: Arc<Agents>,
    pub jobs: usize,
    pub predict: bool,
    /// Ask agents for only the events a transcript shows (see
    /// `Request::Deploy`); `false` for the `--json` stream.
    pub quiet_events: bool,
    pub break_lock: bool,
    pub platform: Option<String>,
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// A host silent for this long is taken as lost.
    pub heartbeat_timeout: Duration,
    /// Agents started at the same time.
    pub parallel_connects: usize,
    pub controller: Holder,
}

/// A host that could not be reached or whose agent failed.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFailure {
    pub host: String,
    pub message: String,
}

/// A root that failed on its host.
#[derive(Debug, Clone, PartialEq)]
pub struct RootFailure {
    pub host: String,
    pub component: String,
    pub message: String,
}

/// Why a remote deploy stopped.
#[derive(Debug)]
pub enum RemoteFailure {
    /// Hosts could not be reached, or their connection was lost.
    Connect(Vec<HostFailure>),
    /// The model is wrong on some hosts (merged, with the affected hosts).
    Config(Vec<ConfigError>),
    /// Another deploy runs on these hosts.
    Locked(Vec<(String, Holder)>),
    /// Components failed; connection problems during the deploy are
    /// reported here too.
    Deploy {
        roots: Vec<RootFailure>,
        lost: Vec<HostFailure>,
    },
    /// Interrupted (SIGINT, see [`crate::interrupt`]): the running roots
    /// finished (or failed, in `roots` and `lost`), `undone` (host, root)
    /// never started.
    Interrupted {
        undone: Vec<(String, String)>,
        roots: Vec<RootFailure>,
        lost: Vec<HostFailure>,
    },
}

/// Timing of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    pub host: String,
    pub user: String,
    pub uploaded: bool,
    pub connect_seconds: f64,
    pub deploy_seconds: f64,
    pub changed: usize,
}

/// Timing of one root.
#[derive(Debug, Clone, PartialEq)]
pub struct RootReport {
    pub host: String,
    pub root: String,
    pub seconds: f64,
    pub changed: usize,
}

/// What a remote deploy did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteReport {
    pub changed: usize,
    pub connect_seconds: f64,
    pub deploy_seconds: f64,
    pub hosts: Vec<HostReport>,
    pub roots: Vec<RootReport>,
}

/// Deploys `model` (configured by the controller, for ordering) through
/// agents on its hosts, using the connections of [`connect_early`] where
/// there are some.
pub fn deploy_remote(
    model: &Model,
    options: &RemoteOptions,
    early: Option<EarlyConnections>,
    sink: &dyn EventSink,
) -> Result<RemoteReport, RemoteFailure> {
    let (tx, inbox) = Inbox::new();
    let connect_start = Instant::now();
    let hosts: Vec<_> = model.env.hosts.values().collect();
    let total = hosts.len();
    let mut wanted = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        if host.ignore {
            sink.emit(Event::HostIgnored {
                host: host.name.clone(),
                index: i + 1,
                total,
            });
        } else if !model.host_has_selected_roots(&host.name) {
            sink.emit(Event::HostNotSelected {
                host: host.name.clone(),
                index: i + 1,
                total,
            });
        } else {
            sink.emit(Event::HostConnecting {
                host: host.name.clone(),
                method: model.env.settings.connect_method.clone(),
                index: i + 1,
                total,
            });
            wanted.push((*host).clone());
        }
    }

    // Start agents, a few at a time.
    let results: Mutex<Vec<Started>> = Mutex::new(Vec::new());
    // Only the environment crosses into the connecting threads (components
    // are not Sync).
    let env = &model.env;
    let queue = ConnectQueue::new(wanted.len());
    let first_try: Vec<Instant> = vec![Instant::now(); wanted.len()];
    let first_try = Mutex::new(first_try);
    std::thread::scope(|scope| {
        for _ in 0..options.parallel_connects.max(1).min(wanted.len().max(1)) {
            scope.spawn(|| {
                while let Some((i, retry)) = queue.next() {
                    let host = &wanted[i];
                    if !retry {
                        first_try.lock().unwrap_or_else(|p| p.into_inner())[i] = Instant::now();
                    }
                    let connecting = match retry {
                        false => early.as_ref().and_then(|e| e.take(&host.name)),
                        true => None,
                    };
                    let result =
                        start_agent(i, host, env, options, connecting, retry, tx.clone(), sink);
                    let result = match result {
                        Err(NotStarted::NeedsBuild { os, arch }) => {
                            // Built meanwhile; the host comes back after
                            // the others and waits for the build then.
                            let name = &host.name;
                            scope.spawn(move || {
                                let _ = options.agents.for_platform(name, &os, &arch, sink);
                            });
                            queue.retry(i);
                            continue;
                        }
                        Err(NotStarted::Failed(f)) => Err(f),
                        Ok(session) => Ok(session),
                    };
                    let started = first_try.lock().unwrap_or_else(|p| p.into_inner())[i];
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((
                        i,
                        result,
                        started.elapsed().as_secs_f64(),
                    ));
                    queue.done();
                }
            });
        }
    });
    drop(tx);
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _, _)| *i);
    let mut sessions: Vec<Option<Session>> = (0..wanted.len()).map(|_| None).collect();
    let mut connect_times = vec![0.0; wanted.len()];
    let mut failures = Vec::new();
    for (i, result, secs) in results {
        connect_times[i] = secs;
        match result {
            Ok(s) => {
                sink.emit(Event::AgentReady {
                    host: s.host.clone(),
                    user: s.user.clone(),
                    uploaded: s.uploaded,
                });
                sessions[i] = Some(s);
            }
            Err(f) => failures.push(f),
        }
    }
    let sessions = Sessions(sessions);
    if !failures.is_empty() {
        sessions.close_all();
        return Err(RemoteFailure::Connect(failures));
    }

    // Every agent configures; collect what they say.
    await_configured(&sessions, &inbox, model, options, sink)?;
    let connect_seconds = connect_start.elapsed().as_secs_f64();

    sink.emit(Event::Phase {
        phase: if options.predict {
            crate::event::Phase::Predicting
        } else {
            crate::event::Phase::Deploying
        },
    });
    let deploy_start = Instant::now();
    let outcome = run_graph(&sessions, &inbox, model, options, sink);
    let (mut roots, mut lost, mut root_failures, undone) = outcome;
    if root_failures.is_empty() && lost.is_empty() && !crate::interrupt::requested() {
        let (finished, finish_lost, finish_failed) =
            super::finish::finish_hosts(&sessions, &inbox, model, options, sink);
        roots.extend(finished);
        lost.extend(finish_lost);
        root_failures.extend(finish_failed);
    }
    sessions.close_all();
    if crate::interrupt::requested() && !undone.is_empty() {
        return Err(RemoteFailure::Interrupted {
            undone,
            roots: root_failures,
            lost,
        });
    }
    if !root_failures.is_empty() || !lost.is_empty() {
        return Err(RemoteFailure::Deploy {
            roots: root_failures,
            lost,
        });
    }
    let deploy_seconds = deploy_start.elapsed().as_secs_f64();
    let mut per_host: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in &roots {
        let e = per_host.entry(r.host.clone()).or_default();
        e.0 += r.seconds;
        // Counts come from agents; a hostile one must not overflow ours.
        e.1 = e.1.saturating_add(r.changed);
    }
    let hosts = sessions
        .0
        .iter()
        .flatten()
        .map(|s| {
            let (secs, changed) = per_host.get(&s.host).copied().unwrap_or_default();
            HostReport {
                host: s.host.clone(),
                user: s.user.clone(),
                uploaded: s.uploaded,
                connect_seconds: connect_times[s.index],
                deploy_seconds: secs,
                changed,
            }
        })
        .collect();
    Ok(RemoteReport {
        changed: roots
            .iter()
            .fold(0usize, |n, r| n.saturating_add(r.changed)),
        connect_seconds,
        deploy_seconds,
        hosts,
        roots,
    })
}

/// A host's attempt to start its agent: (host index, outcome, seconds).
type Started = (usize, Result<Session, HostFailure>, f64);

pub(super) struct Sessions(Vec<Option<Session>>);

impl Sessions {
    pub(super) fn all(&self) -> impl Iterator<Item = &Session> {
        self.0.iter().flatten()
    }

    pub(super) fn get(&self, i: usize) -> Option<&Session> {
        self.0.get(i).and_then(Option::as_ref)
    }

    fn by_host(&self, host: &str) -> Option<&Session> {
        self.0.iter().flatten().find(|s| s.host == host)
    }

    fn close_all(&self) {
        std::thread::scope(|scope| {
            for s in self.0.iter().flatten() {
                scope.spawn(move || s.close(Duration::from_secs(5)));
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn start_agent(
    index: usize,
    host: &crate::environment::HostConfig,
    env: &crate::environment::Environment,
    options: &RemoteOptions,
    connecting: Option<Connecting>,
    may_build: bool,
    tx: Outbox,
    sink: &dyn EventSink,
) -> Result<Session, NotStarted> {
    let (target, spec) = launch_parts(host, env, options);
    let (launched, binary) =
        super::platform_launch::start(options, &target, &spec, connecting, may_build, sink)?;
    let mut session = Session::new(
        index,
        &host.name,
        launched.user,
        launched.uploaded,
        launched.channel,
        tx,
    );
    session.binary_hash = binary.hash.clone();
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
        })
        .map_err(fail)?;
    session
        .send(&Request::Configure {
            environment: Box::new(env.clone()),
            host: host.name.clone(),
            platform: options.platform.clone(),
            secrets: env.secrets.to_wire(),
        })
        .map_err(fail)?;
    Ok(session)
}

fn await_configured(
    sessions: &Sessions,
    inbox: &Inbox,
    model: &Model,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> Result<(), RemoteFailure> {
    let expected: Vec<(String, String)> = model
        .roots
        .iter()
        .map(|r| (r.host.clone(), r.name.clone()))
        .collect();
    let mut waiting: Vec<usize> = sessions.0.iter().flatten().map(|s| s.index).collect();
    let mut greeted_sessions: Vec<usize> = Vec::new();
    let mut lost = Vec::new();
    let mut locked = Vec::new();
    // (message, origin) → (error, affected hosts)
    let mut merged: Vec<(WireError, Vec<String>)> = Vec::new();
    while !waiting.is_empty() {
        let incoming = match inbox.next(Duration::from_millis(250)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                for &i in &waiting {
                    if let Some(s) = sessions.get(i)
                        && s.silence() > options.heartbeat_timeout
                    {
                        lost.push(HostFailure {
                            host: s.host.clone(),
                            message: format!(
                                "no answer for {}s; connection lost",
                                options.heartbeat_timeout.as_secs()
                            ),
                        });
                        s.kill();
                    }
                }
                waiting.retain(|i| {
                    !lost
                        .iter()
                        .any(|l| sessions.get(*i).is_some_and(|s| s.host == l.host))
                });
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let (index, reply) = match incoming {
            Incoming::Reply(i, r) => (i, r),
            Incoming::Closed { session, stderr } => {
                if waiting.contains(&session)
                    && let Some(s) = sessions.get(session)
                {
                    lost.push(HostFailure {
                        host: s.host.clone(),
                        message: format!(
                            "the agent ended before it was configured{}",
                            stderr_suffix(&stderr)
                        ),
                    });
                    waiting.retain(|i| *i != session);
                }
                continue;
            }
            Incoming::Garbled { session, message } => {
                if let Some(s) = sessions.get(session) {
                    lost.push(HostFailure {
                        host: s.host.clone(),
                        message: format!(
                            "the agent said something unexpected: {}",
                            agent_text(&message)
                        ),
                    });
                    s.kill();
                }
                waiting.retain(|i| *i != session);
                continue;
            }
        };
        let Some(session) = sessions.get(index) else {
            continue;
        };
        if !waiting.contains(&index) {
            // Already configured or given up on: only an agent giving up
            // matters now (its host is not deployed).
            if let Reply::Fatal { message } = reply
                && !lost.iter().any(|l| l.host == session.host)
            {
                lost.push(HostFailure {
                    host: session.host.clone(),
                    message: agent_text(&message),
                });
            }
            continue;
        }
        let greeted = greeted_sessions.contains(&index);
        let violation = |lost: &mut Vec<HostFailure>, message: String| {
            lost.push(HostFailure {
                host: session.host.clone(),
                message,
            });
            session.kill();
        };
        match reply {
            Reply::Hello { protocol, .. } if protocol != PROTOCOL_VERSION => {
                violation(
                    &mut lost,
                    format!("the agent speaks protocol {protocol}, we speak {PROTOCOL_VERSION}"),
                );
                waiting.retain(|i| *i != index);
            }
            Reply::Hello { binary_hash, .. } if binary_hash != session.binary_hash => {
                violation(
                    &mut lost,
                    format!(
                        "the agent runs binary {}, not the {} the controller started",
                        printable(&binary_hash),
                        session.binary_hash
                    ),
                );
                waiting.retain(|i| *i != index);
            }
            Reply::Hello { .. } if greeted => {
                violation(&mut lost, "the agent greeted twice".into());
                waiting.retain(|i| *i != index);
            }
            Reply::Hello { .. } => greeted_sessions.push(index),
            Reply::Heartbeat => {}
            Reply::Configured { .. }
            | Reply::LockHeld { .. }
            | Reply::Event { .. }
            | Reply::Deployed { .. }
            | Reply::Failed { .. }
                if !greeted =>
            {
                violation(
                    &mut lost,
                    "the agent answered before it greeted (protocol violation)".into(),
                );
                waiting.retain(|i| *i != index);
            }
            Reply::Event { .. } => {}
            Reply::LockHeld { holder } => {
                locked.push((session.host.clone(), holder));
                waiting.retain(|i| *i != index);
            }
            Reply::Fatal { message } => {
                lost.push(HostFailure {
                    host: session.host.clone(),
                    message: agent_text(&message),
                });
                waiting.retain(|i| *i != index);
            }
            Reply::Configured {
                errors,
                roots,
                warnings,
            } => {
                for message in warnings {
                    sink.emit(Event::Warning {
                        host: Some(session.host.clone()),
                        component: None,
                        message: agent_text(&message),
                    });
                }
                if errors.is_empty() && roots != expected {
                    merge(
                        &mut merged,
                        WireError {
                            message: "the agent configured a different model than the controller"
                                .into(),
                            origin: None,
                            host: Some(session.host.clone()),
                            component: None,
                            hint: Some(
                                "the agent binary and the controller must be the same build".into(),
                            ),
                        },
                        &session.host,
                    );
                }
                for mut e in errors {
                    e.message = agent_text(&e.message);
                    merge(&mut merged, e, &session.host);
                }
                waiting.retain(|i| *i != index);
            }
            Reply::Deployed { .. } | Reply::Failed { .. } => {
                violation(
                    &mut lost,
                    "the agent reported a deploy before it was configured".into(),
                );
                waiting.retain(|i| *i != index);
            }
        }
    }
    if !lost.is_empty() {
        sessions.close_all();
        return Err(RemoteFailure::Connect(first_per_host(lost)));
    }
    if !locked.is_empty() {
        sessions.close_all();
        return Err(RemoteFailure::Locked(locked));
    }
    if !merged.is_empty() {
        sessions.close_all();
        let all_hosts: Vec<String> = sessions
            .0
            .iter()
            .flatten()
            .map(|s| s.host.clone())
            .collect();
        return Err(RemoteFailure::Config(
            merged
                .into_iter()
                .map(|(e, mut hosts)| {
                    // In the environment's order, not the order the
                    // agents happened to answer in.
                    hosts.sort_by_key(|h| all_hosts.iter().position(|a| a == h));
                    (e, hosts)
                })
                .map(|(e, hosts)| ConfigError::Reported {
                    message: e.message,
                    origin: e.origin,
                    host: e.host,
                    component: e.component,
                    hint: e.hint,
                    affected: if hosts.len() == all_hosts.len() && hosts.len() > 1 {
                        vec!["all hosts".into()]
                    } else {
                        hosts
                    },
                })
                .collect(),
        ));
    }
    Ok(())
}

/// Errors equal but for the reporting host are reported once.
fn merge(merged: &mut Vec<(WireError, Vec<String>)>, error: WireError, host: &str) {
    match merged
        .iter_mut()
        .find(|(e, _)| e.message == error.message && e.origin == error.origin)
    {
        Some((_, hosts)) => {
            if !hosts.iter().any(|h| h == host) {
                hosts.push(host.to_string());
            }
        }
        None => merged.push((error, vec![host.to_string()])),
    }
}

pub(super) fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(
            ": {}",
            stderr
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(" | ")
        )
    }
}

/// What ran, the hosts lost, the roots failed, and (host, root) of the
/// selected roots that never finished.
type GraphOutcome = (
    Vec<RootReport>,
    Vec<HostFailure>,
    Vec<RootFailure>,
    Vec<(String, String)>,
);

/// Deploys roots in dependency order, up to `jobs` at once.
fn run_graph(
    sessions: &Sessions,
    inbox: &Inbox,
    model: &Model,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> GraphOutcome {
    let n = model.roots.len();
    let mut waiting_on = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &model.edges {
        waiting_on[a] += 1;
        dependents[b].push(a);
    }
    let position: Vec<usize> = {
        let mut p = vec![0; n];
        for (pos, &id) in model.order.iter().enumerate() {
            p[id] = pos;
        }
        p
    };
    let mut ready: Vec<usize> = (0..n).filter(|i| waiting_on[*i] == 0).collect();
    let mut running: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut done = vec![false; n];
    let mut reports = Vec::new();
    let mut lost: Vec<HostFailure> = Vec::new();
    let mut failed: Vec<RootFailure> = Vec::new();
    let jobs = options.jobs.max(1);
    let mut ledger = crate::handlers::Ledger::new(n);

    let release =
        |id: usize, waiting_on: &mut Vec<usize>, ready: &mut Vec<usize>, done: &mut Vec<bool>| {
            done[id] = true;
            for &d in &dependents[id] {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push(d);
                }
            }
        };

    let mut interrupted = false;
    loop {
        if !interrupted && crate::interrupt::requested() {
            interrupted = true;
            if !running.is_empty() {
                sink.emit(Event::Warning {
                    host: None,
                    component: None,
                    message: format!(
                        "interrupted: starting nothing new, waiting for {} running component(s) to finish",
                        running.len()
                    ),
                });
            }
        }
        // Start what may start.
        let stopping = !failed.is_empty() || !lost.is_empty() || interrupted;
        ready.sort_by_key(|i| std::cmp::Reverse(position[*i]));
        while !stopping && running.len() < jobs {
            let Some(id) = ready.pop() else { break };
            let root = &model.roots[id];
            if root.host_ignored || root.ignored || !root.selected {
                sink.emit(Event::RootSkipped {
                    host: root.host.clone(),
                    root: root.name.clone(),
                    reason: if root.host_ignored {
                        SkipReason::HostIgnored
                    } else if root.ignored {
                        SkipReason::ComponentIgnored
                    } else {
                        SkipReason::NotSelected
                    },
                });
                release(id, &mut waiting_on, &mut ready, &mut done);
                ready.sort_by_key(|i| std::cmp::Reverse(position[*i]));
                continue;
            }
            let Some(session) = sessions.by_host(&root.host) else {
                lost.push(HostFailure {
                    host: root.host.clone(),
                    message: "no agent for this host".into(),
                });
                break;
            };
            sink.emit(Event::RootScheduled {
                host: root.host.clone(),
                root: root.name.clone(),
            });
            let request = Request::Deploy {
                id: id as u64,
                root: id,
                name: root.name.clone(),
                predict: options.predict,
                // The controller routes: what finished roots published,
                // and which watched roots changed.
                inputs: ledger.inputs(&model.roots, id),
                quiet: options.quiet_events,
            };
            if let Err(e) = session.send(&request) {
                lost.push(HostFailure {
                    host: root.host.clone(),
                    message: format!(
                        "cannot send to the agent: {e}{}",
                        stderr_suffix(&session.stderr_tail())
                    ),
                });
                break;
            }
            running.insert(id, Instant::now());
        }
        if running.is_empty()
            && (ready.is_empty() || interrupted || !failed.is_empty() || !lost.is_empty())
        {
            break;
        }
        let incoming = match inbox.next(Duration::from_millis(250)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                check_heartbeats(sessions, model, options, &mut running, &mut lost);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                for (&id, _) in running.iter() {
                    lost.push(HostFailure {
                        host: model.roots[id].host.clone(),
                        message: "all agent connections ended".into(),
                    });
                }
                running.clear();
                continue;
            }
        };
        // A host we gave up on may still have replies in flight.
        let from_lost_host = match &incoming {
            Incoming::Reply(i, _) => sessions
                .get(*i)
                .is_some_and(|s| lost.iter().any(|l| l.host == s.host)),
            Incoming::Closed { session, .. } | Incoming::Garbled { session, .. } => sessions
                .get(*session)
                .is_some_and(|s| lost.iter().any(|l| l.host == s.host)),
        };
        if from_lost_host {
            continue;
        }
        // An agent may only answer for roots it was asked to deploy on its
        // own host; anything else is a broken or hostile agent, and its
        // host is dropped rather than believed.
        let asked = |i: usize, id: u64| -> Result<usize, String> {
            let host = sessions.get(i).map(|s| s.host.as_str()).unwrap_or_default();
            match usize::try_from(id) {
                Ok(id) if running.contains_key(&id) && model.roots[id].host == host => Ok(id),
                _ => Err(format!(
                    "the agent answered for root #{id}, which it was not asked to deploy (protocol violation)"
                )),
            }
        };
        match incoming {
            Incoming::Reply(i, Reply::Event { event, .. }) => {
                let own = sessions.get(i).map(|s| s.host.as_str()).unwrap_or_default();
                match event_host(&event) {
                    // An agent speaks for its own host only.
                    Some(other) if other != own => drop_host(
                        sessions,
                        model,
                        i,
                        format!(
                            "the agent reported events of host `{}` (protocol violation)",
                            printable(&other)
                        ),
                        &mut running,
                        &mut lost,
                    ),
                    _ => sink.emit(event),
                }
            }
            Incoming::Reply(
                i,
                Reply::Deployed {
                    id,
                    changed,
                    seconds,
                    published,
                },
            ) => match asked(i, id) {
                Ok(id) => {
                    running.remove(&id);
                    ledger.record(id, changed > 0, &published);
                    let root = &model.roots[id];
                    reports.push(RootReport {
                        host: root.host.clone(),
                        root: root.name.clone(),
                        seconds: if seconds.is_finite() && seconds > 0.0 {
                            seconds
                        } else {
                            0.0
                        },
                        changed,
                    });
                    release(id, &mut waiting_on, &mut ready, &mut done);
                }
                Err(message) => drop_host(sessions, model, i, message, &mut running, &mut lost),
            },
            Incoming::Reply(i, Reply::Failed { id, error }) => match asked(i, id) {
                Ok(id) => {
                    running.remove(&id);
                    failed.push(RootFailure {
                        // The host is the one we asked, whatever it says.
                        host: model.roots[id].host.clone(),
                        component: error
                            .component
                            .unwrap_or_else(|| model.roots[id].name.clone()),
                        message: agent_text(&error.message),
                    });
                }
                Err(message) => drop_host(sessions, model, i, message, &mut running, &mut lost),
            },
            Incoming::Reply(i, Reply::Fatal { message }) => {
                if let Some(s) = sessions.get(i) {
                    running.retain(|id, _| model.roots[*id].host != s.host);
                    lost.push(HostFailure {
                        host: s.host.clone(),
                        message: agent_text(&message),
                    });
                }
            }
            Incoming::Reply(..) => {}
            Incoming::Closed { session, stderr } => {
                if let Some(s) = sessions.get(session) {
                    let before = running.len();
                    running.retain(|id, _| model.roots[*id].host != s.host);
                    let pending = ready.iter().any(|id| model.roots[*id].host == s.host)
                        || (0..n).any(|id| {
                            !done[id]
                                && model.roots[id].host == s.host
                                && !model.roots[id].ignored
                                && model.roots[id].selected
                        });
                    if before != running.len() || pending {
                        lost.push(HostFailure {
                            host: s.host.clone(),
                            message: format!(
                                "connection lost during the deploy{}",
                                stderr_suffix(&stderr)
                            ),
                        });
                    }
                }
            }
            Incoming::Garbled { session, message } => {
                if let Some(s) = sessions.get(session) {
                    running.retain(|id, _| model.roots[*id].host != s.host);
                    lost.push(HostFailure {
                        host: s.host.clone(),
                        message: format!(
                            "the agent said something unexpected: {}",
                            agent_text(&message)
                        ),
                    });
                    s.kill();
                }
            }
        }
    }
    let undone = (0..n)
        .filter(|&id| {
            let root = &model.roots[id];
            !done[id] && root.selected && !root.ignored && !root.host_ignored
        })
        .map(|id| (model.roots[id].host.clone(), model.roots[id].name.clone()))
        .collect();
    (reports, first_per_host(lost), failed, undone)
}

/// Gives up on the host of session `i`: its running roots are lost.
fn drop_host(
    sessions: &Sessions,
    model: &Model,
    i: usize,
    message: String,
    running: &mut BTreeMap<usize, Instant>,
    lost: &mut Vec<HostFailure>,
) {
    if let Some(s) = sessions.get(i) {
        running.retain(|id, _| model.roots[*id].host != s.host);
        lost.push(HostFailure {
            host: s.host.clone(),
            message,
        });
        s.kill();
    }
}

fn check_heartbeats(
    sessions: &Sessions,
    model: &Model,
    options: &RemoteOptions,
    running: &mut BTreeMap<usize, Instant>,
    lost: &mut Vec<HostFailure>,
) {
    let busy: Vec<String> = running
        .keys()
        .map(|id| model.roots[*id].host.clone())
        .collect();
    for host in busy {
        if let Some(s) = sessions.by_host(&host)
            && s.silence() > options.heartbeat_timeout
            && !lost.iter().any(|l| l.host == host)
        {
            lost.push(HostFailure {
                host: host.clone(),
                message: format!(
                    "no heartbeat for {}s; connection lost",
                    options.heartbeat_timeout.as_secs()
                ),
            });
            s.kill();
            running.retain(|id, _| model.roots[*id].host != host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(message: &str, line: usize) -> WireError {
        WireError {
            message: message.into(),
            origin: Some(crate::error::Origin::new("env.cfg", line, None)),
            host: None,
            component: None,
            hint: None,
        }
    }

    #[test]
    fn equal_errors_from_several_hosts_are_merged_with_their_hosts() {
        let mut merged = Vec::new();
        merge(&mut merged, error("bad port", 3), "h1");
        merge(&mut merged, error("bad port", 3), "h2");
        merge(&mut merged, error("bad port", 3), "h2");
        merge(&mut merged, error("bad port", 4), "h2");
        merge(&mut merged, error("no such name", 3), "h3");
        let summary: Vec<(String, usize, Vec<String>)> = merged
            .into_iter()
            .map(|(e, hosts)| (e.message, e.origin.map_or(0, |o| o.line), hosts))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "bad port".to_string(),
                    3,
                    vec!["h1".to_string(), "h2".to_string()]
                ),
                ("bad port".to_string(), 4, vec!["h2".to_string()]),
                ("no such name".to_string(), 3, vec!["h3".to_string()]),
            ]
        );
    }
}
