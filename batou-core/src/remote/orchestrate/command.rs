//! `batou run` on one host: its agent started as for a deploy, asked to
//! configure the model (without the deploy lock unless `--lock`) and to
//! run one registered command; its answer, or why there is none.
//!
//! Each host is a session of its own, not part of a deploy's pump: a host
//! that cannot be reached, is locked or fails is that host's answer, never
//! the others'.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::RemoteOptions;
use super::early::launch_parts;
use super::platform_launch::{self, NotStarted};
use super::session::{Inbox, Incoming, Session};
use super::untrusted::{agent_text, printable, stderr_suffix};
use crate::environment::{Environment, HostConfig};
use crate::event::EventSink;
use crate::remote::protocol::{PROTOCOL_VERSION, Reply, Request};

/// How often a waiting host looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

/// How long a finished agent gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// How a command ended on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum CommandOutcome {
    /// It ran and answered.
    Ok { value: serde_json::Value },
    /// It ran and failed (or panicked: a bug in the command), or the
    /// model did not configure on the host.
    Failed {
        error: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        panicked: bool,
    },
    /// The host could not be reached, or its agent not started or lost.
    Unreachable { error: String },
    /// `--lock`: a deploy holds the host's deploy lock.
    Locked { error: String },
    /// Ctrl-C: the host's connection was closed (or never opened).
    Interrupted,
}

impl CommandOutcome {
    pub fn ok(&self) -> bool {
        matches!(self, CommandOutcome::Ok { .. })
    }
}

/// What `run_on_host` is asked.
pub struct CommandCall<'a> {
    pub env: &'a Environment,
    pub host: &'a HostConfig,
    pub command: &'a str,
    pub args: &'a [String],
    /// Take the host's deploy lock while the command runs.
    pub lock: bool,
    /// Not a registered command: `batou rollback` with these options
    /// (the lock is taken, `command` and `args` are not used).
    pub rollback: Option<crate::deploy::rollback::RollbackOptions>,
    /// The deploy (here: rollback) the agent records in the host's
    /// history.
    pub deploy: Option<crate::history::DeployMeta>,
}

/// Runs `call` on its host through `options`' transport; returns how it
/// ended and the user the agent ran as (when it started).
pub fn run_on_host(
    call: &CommandCall<'_>,
    options: &RemoteOptions,
    sink: &dyn EventSink,
) -> (CommandOutcome, Option<String>) {
    let name = call.host.name.clone();
    if crate::interrupt::requested() {
        return (CommandOutcome::Interrupted, None);
    }
    let (target, spec) = launch_parts(call.host, call.env, options);
    let launched = match platform_launch::start(options, &target, &spec, None, true, sink) {
        Ok((launched, binary)) => (launched, binary),
        Err(NotStarted::Failed(f)) => {
            return (CommandOutcome::Unreachable { error: f.message }, None);
        }
        Err(NotStarted::NeedsBuild { os, arch }) => {
            let error = format!("no agent for {os} {arch}");
            return (CommandOutcome::Unreachable { error }, None);
        }
    };
    let ((launched, binary), (tx, inbox)) = (launched, Inbox::new());
    let user = launched.user.clone();
    let mut session = Session::new(
        0,
        &name,
        launched.user,
        launched.uploaded,
        launched.channel,
        tx,
    );
    session.assets = crate::assets::project::shipment(&call.env.project_dir);
    let requests = [
        Request::Hello {
            protocol: PROTOCOL_VERSION,
            binary_hash: binary.hash.clone(),
            controller: options.controller.clone(),
            break_lock: false,
            assets: session.assets.manifest.clone(),
            assets_hash: session.assets.manifest_hash.clone(),
        },
        Request::Configure {
            environment: Box::new(call.env.clone()),
            host: name.clone(),
            platform: options.platform.clone(),
            secrets: call.env.secrets.to_wire(),
            lock: call.lock || call.rollback.is_some(),
            deploy: call.deploy.clone().map(Box::new),
        },
        match call.rollback {
            Some(o) => Request::Rollback {
                id: 1,
                predict: o.predict,
                force: o.force,
            },
            None => Request::Run {
                id: 1,
                command: call.command.to_string(),
                args: call.args.to_vec(),
            },
        },
    ];
    for request in &requests {
        if let Err(e) = session.send(request) {
            let error = format!(
                "{name}: cannot talk to the agent: {e}{}",
                stderr_suffix(&session.stderr_tail())
            );
            session.kill();
            return (CommandOutcome::Unreachable { error }, Some(user));
        }
    }
    let outcome = await_answer(&session, &inbox, &binary.hash, options.heartbeat_timeout);
    match outcome {
        CommandOutcome::Interrupted | CommandOutcome::Unreachable { .. } => session.kill(),
        _ => session.close(GRACE),
    }
    (outcome, Some(user))
}

/// Reads the agent's replies until the command's answer (or the end).
fn await_answer(
    session: &Session,
    inbox: &Inbox,
    binary_hash: &str,
    silence: Duration,
) -> CommandOutcome {
    let host = session.host.as_str();
    let failed = |error: String| CommandOutcome::Failed {
        error,
        panicked: false,
    };
    let lost = |error: String| CommandOutcome::Unreachable {
        error: format!("{host}: {error}"),
    };
    let started = Instant::now();
    loop {
        if crate::interrupt::requested() {
            return CommandOutcome::Interrupted;
        }
        let reply = match inbox.next(POLL) {
            Ok(Incoming::Reply(_, reply)) => reply,
            Ok(Incoming::Closed { stderr, .. }) => {
                return lost(format!(
                    "the agent ended without an answer{}",
                    stderr_suffix(&stderr)
                ));
            }
            Ok(Incoming::Garbled { message, .. }) => {
                return lost(format!(
                    "the agent broke the protocol: {}",
                    printable(&message)
                ));
            }
            Ok(Incoming::Broken { message, .. }) => return lost(message),
            Err(RecvTimeoutError::Timeout)
                if session.silence() >= silence && started.elapsed() >= silence =>
            {
                return lost(format!("no word from the agent for {}s", silence.as_secs()));
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                return lost("the agent's connection is gone".into());
            }
        };
        match reply {
            Reply::Hello { protocol, .. } if protocol != PROTOCOL_VERSION => {
                return lost(format!(
                    "the agent speaks protocol {protocol}, we speak {PROTOCOL_VERSION}"
                ));
            }
            Reply::Hello { binary_hash: h, .. } if h != binary_hash => {
                return lost(format!(
                    "the agent runs binary {}, not the {binary_hash} the controller started",
                    printable(&h)
                ));
            }
            Reply::Hello { missing_assets, .. } if !missing_assets.is_empty() => {
                if let Err(e) = session.send_assets(&missing_assets) {
                    return lost(e);
                }
            }
            Reply::Configured { assets_hash, .. }
                if assets_hash != session.assets.manifest_hash =>
            {
                return lost(format!(
                    "the agent configured with assets {}, not the set the controller shipped",
                    printable(&assets_hash)
                ));
            }
            Reply::LockHeld { holder } => {
                return CommandOutcome::Locked {
                    error: format!("the deploy lock is held by {holder}"),
                };
            }
            Reply::Configured { errors, .. } if !errors.is_empty() => {
                let messages: Vec<String> = errors.iter().map(|e| agent_text(&e.message)).collect();
                return failed(format!(
                    "the model does not configure here: {}",
                    messages.join("; ")
                ));
            }
            Reply::Ran { id: 1, value, .. } => return CommandOutcome::Ok { value },
            Reply::Failed { id: 1, error } => {
                return CommandOutcome::Failed {
                    error: agent_text(&error.message),
                    panicked: error.panicked,
                };
            }
            Reply::Fatal { message } => return failed(agent_text(&message)),
            Reply::Ran { .. } | Reply::Failed { .. } | Reply::Deployed { .. } => {
                return lost("the agent answered a request it was not sent".into());
            }
            Reply::Hello { .. }
            | Reply::Configured { .. }
            | Reply::Event { .. }
            | Reply::Heartbeat => {}
        }
    }
}
