//! `batou exec ENV -- COMMAND`: one shell command on every selected host,
//! in parallel, over the environment's own transport and as its service
//! user, with each host's exit status, output and duration.
//!
//! No agent is uploaded: a plain command needs only the transport's
//! channel (the one a deploy starts its agent through), so `exec` works
//! on a host no deploy has reached yet and costs one connection per host.
//! No lock is taken either: operators may look at hosts while a deploy
//! runs.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::component::Registry;
use crate::environment::PatternError;
use crate::error::ConfigError;
use crate::secrets::Keys;
use crate::transport::{
    Channel, ChannelControl, Target, Transport, TransportError, ssh_config_for,
};

use super::exec_script::{LOCKED, NO_FLOCK, STARTED, SUDO_REFUSED, Wrap, wrapper};
use super::hosts::{on_each_host, select_hosts};
use super::load::load;
use super::observe::Observer;
use super::plan::Connect;
use super::{SelectedHost, SetupError};

/// At most this many hosts are connected at once unless `-j` says more.
const MAX_PARALLEL: usize = 64;

/// How long after the command timeout the controller cuts the
/// connection, when the target's `timeout` did not end the command.
const BACKSTOP: Duration = Duration::from_secs(4);

/// How often a running command looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

/// What `exec` was asked to do.
#[derive(Debug, Clone)]
pub struct ExecPlan {
    pub project_dir: PathBuf,
    pub environment: String,
    /// `--hosts` and `--skip-hosts` terms (see [`crate::environment::HostPattern`]).
    pub hosts: Vec<String>,
    pub skip_hosts: Vec<String>,
    /// The command's words, joined with spaces and run by the target's
    /// `sh -c` (as ssh does).
    pub command: Vec<String>,
    /// Hosts at once (default: all, up to 64).
    pub jobs: Option<usize>,
    pub connect_timeout: Option<u64>,
    /// Seconds a command may run before it is killed (default: the
    /// environment's `command_timeout`, else no limit).
    pub command_timeout: Option<u64>,
    /// `--lock`: hold each target's deploy lock while the command runs
    /// (a host where a deploy runs answers `locked`). Off by default, so
    /// that operators can look at hosts during a deploy.
    pub lock: bool,
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the command ended on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Outcome {
    /// It ran and exited with this status (`None`: killed by a signal).
    Exited { exit_code: Option<i32> },
    /// It ran longer than the command timeout and was killed.
    TimedOut { seconds: u64 },
    /// The host could not be reached, or the command not started there
    /// (sudo refused); the command did not run.
    Unreachable { error: String },
    /// Ctrl-C: the command was stopped (its connection closed), or not
    /// started.
    Interrupted,
    /// `--lock`: another deploy (or `exec --lock`) holds the host's
    /// deploy lock; the command did not run.
    Locked { error: String },
}

impl Outcome {
    /// Whether the command ran and exited 0.
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Exited { exit_code: Some(0) })
    }
}

/// One host's answer.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host: String,
    /// The user the command ran as (when it ran).
    pub user: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    /// From connecting to the command's end.
    pub seconds: f64,
}

/// Every selected host's answer, in the environment's order.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub command: String,
    pub hosts: Vec<HostRun>,
    /// Selected hosts with `ignore = True`: not contacted.
    pub ignored: Vec<String>,
}

/// Why `exec` ran nowhere.
#[derive(Debug, thiserror::Error)]
pub enum ExecFailure {
    #[error("the environment does not load")]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Hosts(#[from] PatternError),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Receives output lines as they arrive (for `--stream`) and each host's
/// answer when it is complete; called from several threads.
pub trait ExecSink: Sync {
    fn line(&self, host: &str, stream: Stream, line: &str);
    fn done(&self, run: &HostRun);
}

/// Runs `plan`. Loading reports to `observer` (warnings, the secrets'
/// masker before anything from a host arrives); output goes to `sink`.
///
/// Installs batou's SIGINT handling ([`crate::interrupt`]): a Ctrl-C
/// closes every running command's connection and starts no more; they
/// are reported [`Outcome::Interrupted`].
pub fn exec(
    registry: &Registry,
    plan: &ExecPlan,
    keys: &mut Keys,
    observer: &mut dyn Observer,
    sink: &dyn ExecSink,
) -> Result<ExecReport, ExecFailure> {
    let loaded = load(
        &plan.project_dir,
        &plan.environment,
        registry,
        keys,
        observer,
    )
    .map_err(ExecFailure::Config)?;
    if !loaded.errors.is_empty() {
        return Err(ExecFailure::Config(loaded.errors));
    }
    let env = loaded.env;
    let selected = select_hosts(&env, &plan.hosts, &plan.skip_hosts)?;
    let connect = Connect::of(&env.settings);
    let transport: Option<std::sync::Arc<dyn Transport>> = match &connect {
        Connect::Local => None,
        Connect::Remote(method) => Some(registry.transport_for(method).ok_or_else(|| {
            SetupError::UnknownConnectMethod {
                method: method.clone(),
                known: registry.transport_names(),
            }
        })?),
    };
    let command = plan.command.join(" ");
    let timeout = plan
        .command_timeout
        .or(env.settings.command_timeout)
        .map(Duration::from_secs);
    let connect_timeout =
        Duration::from_secs(plan.connect_timeout.unwrap_or(env.settings.connect_timeout));
    let ssh_config = ssh_config_for(&plan.project_dir, &env.name);
    let (ignored, active): (Vec<SelectedHost>, Vec<SelectedHost>) =
        selected.into_iter().partition(|h| h.ignored);
    crate::interrupt::install();
    let hosts = on_each_host(&active, plan.jobs.unwrap_or(MAX_PARALLEL), |host| {
        let run = if crate::interrupt::requested() {
            HostRun {
                host: host.name.clone(),
                user: None,
                outcome: Outcome::Interrupted,
                stdout: String::new(),
                stderr: String::new(),
                seconds: 0.0,
            }
        } else {
            let target = Target {
                host: host.name.clone(),
                address: host.address.clone(),
                ssh_config: ssh_config.clone(),
                connect_timeout,
            };
            let script = wrapper(&Wrap {
                env: &env,
                host: &host.name,
                command: &command,
                remote: transport.is_some(),
                timeout,
                lock: plan.lock,
            });
            run_one(transport.as_deref(), &target, &script, timeout, sink)
        };
        sink.done(&run);
        Some(run)
    });
    Ok(ExecReport {
        command,
        hosts,
        ignored: ignored.into_iter().map(|h| h.name).collect(),
    })
}

/// Runs `script` on `target` (locally without a transport), streaming
/// its lines to `sink`, killing it after `timeout`.
fn run_one(
    transport: Option<&dyn Transport>,
    target: &Target,
    script: &str,
    timeout: Option<Duration>,
    sink: &dyn ExecSink,
) -> HostRun {
    let started = Instant::now();
    let host = target.host.as_str();
    let channel = match transport {
        Some(t) => t.start(target, script),
        None => local_channel(script, host),
    };
    let unreachable = |error: String, started: Instant| HostRun {
        host: host.to_string(),
        user: None,
        outcome: Outcome::Unreachable { error },
        stdout: String::new(),
        stderr: String::new(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut channel = match channel {
        Ok(c) => c,
        Err(e) => return unreachable(e.to_string(), started),
    };
    channel.stdin = None;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let stdout = std::mem::replace(&mut channel.stdout, Box::new(std::io::empty()));
    let stderr = std::mem::replace(&mut channel.stderr, Box::new(std::io::empty()));
    let mut timed_out = false;
    let mut interrupted = false;
    let (out, err) = std::thread::scope(|scope| {
        let tx = done_tx.clone();
        let out = scope.spawn(move || {
            let text = read_lines(stdout, host, Stream::Stdout, sink, true);
            let _ = tx.send(());
            text
        });
        let tx = done_tx;
        let err = scope.spawn(move || {
            let text = read_lines(stderr, host, Stream::Stderr, sink, false);
            let _ = tx.send(());
            text
        });
        // The target's own `timeout` ends it first, where it can.
        let deadline = timeout.map(|limit| started + limit + BACKSTOP);
        let mut open = 2;
        while open > 0 {
            if crate::interrupt::requested() {
                interrupted = true;
                channel.control.kill();
                break;
            }
            let wait = deadline.map_or(POLL, |d| {
                d.saturating_duration_since(Instant::now()).min(POLL)
            });
            match done_rx.recv_timeout(wait) {
                Ok(()) => open -= 1,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    if deadline.is_some_and(|d| Instant::now() >= d) =>
                {
                    timed_out = true;
                    channel.control.kill();
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let code = channel.control.wait().ok().flatten();
    let seconds = started.elapsed().as_secs_f64();
    let (user, stdout) = out;
    let (_, stderr) = err;
    if let Some(refused) = stderr.lines().find(|l| l.starts_with(SUDO_REFUSED)) {
        let as_user = refused.trim_start_matches(SUDO_REFUSED).trim();
        return unreachable(
            format!(
                "sudo -n to {as_user} was refused (batou needs NOPASSWD sudo for the login user)"
            ),
            started,
        );
    }
    if let Some(no_flock) = stderr.lines().find(|l| l.starts_with(NO_FLOCK)) {
        let why = no_flock.trim_start_matches(NO_FLOCK).trim();
        return unreachable(format!("--lock: {why}"), started);
    }
    if let Some(held) = stderr.lines().find(|l| l.starts_with(LOCKED)) {
        let path = held.trim_start_matches(LOCKED).trim();
        return HostRun {
            outcome: Outcome::Locked {
                error: format!("the deploy lock {path} is held (a deploy runs there)"),
            },
            ..unreachable(String::new(), started)
        };
    }
    // `timeout` on the target exits 124 (TERM) or 137 (KILL).
    let ended_by_timeout =
        timeout.is_some_and(|t| started.elapsed() >= t) && matches!(code, Some(124 | 137));
    let outcome = match (&user, timed_out || ended_by_timeout) {
        _ if interrupted => Outcome::Interrupted,
        (_, true) => Outcome::TimedOut {
            seconds: timeout.map_or(0, |t| t.as_secs()),
        },
        (Some(_), false) => Outcome::Exited { exit_code: code },
        (None, false) => {
            // The wrapper never started: the transport's failure.
            let error = transport
                .and_then(|t| t.diagnose(target, code, &stderr))
                .map(|e| e.to_string())
                .unwrap_or_else(|| {
                    format!(
                        "{host}: the command did not start (exit {}): {}",
                        code.map_or("unknown".into(), |c| c.to_string()),
                        stderr.trim()
                    )
                });
            Outcome::Unreachable { error }
        }
    };
    HostRun {
        host: host.to_string(),
        user,
        outcome,
        stdout,
        stderr,
        seconds,
    }
}

/// `script` in a local `sh`, in its own process group, which a timeout
/// kills whole (the command's own children hold its pipes too).
fn local_channel(script: &str, host: &str) -> Result<Channel, TransportError> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| TransportError::Connect {
            host: host.to_string(),
            message: format!("cannot start sh: {e}"),
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(TransportError::Io {
            host: host.to_string(),
            message: "no output pipes".into(),
        });
    };
    Ok(Channel {
        stdin: None,
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
        control: Box::new(GroupControl(child)),
    })
}

struct GroupControl(std::process::Child);

impl ChannelControl for GroupControl {
    fn wait(&mut self) -> std::io::Result<Option<i32>> {
        self.0.wait().map(|s| s.code())
    }

    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signals the process group this child leads; no
            // memory is involved.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

/// Reads `pipe` to its end, line by line to `sink`; with `marker`, the
/// wrapper's first line names the user and is not part of the output.
/// Returns `(user, text)`.
fn read_lines(
    pipe: Box<dyn Read + Send>,
    host: &str,
    stream: Stream,
    sink: &dyn ExecSink,
    marker: bool,
) -> (Option<String>, String) {
    let mut reader = BufReader::new(pipe);
    let mut user = None;
    let mut text = String::new();
    let mut first = marker;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        if std::mem::take(&mut first)
            && let Some(u) = line.trim_end().strip_prefix(STARTED)
        {
            user = Some(u.to_string());
            continue;
        }
        sink.line(host, stream, line.trim_end_matches('\n'));
        text.push_str(&line);
    }
    (user, text)
}
