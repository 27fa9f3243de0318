//! Starting the agent: the start command, the upload when the target
//! lacks the binary, and the gated variant that connects early.

use std::io::{Read, Write};

use super::binary::AgentBinary;
use super::error::BootstrapError;
use super::preamble::{Outcome, Preamble, ended_early, note, read_preamble};
use super::scripts::{START, UPLOAD, outer_command};
use crate::transport::{Channel, Target, Transport, TransportError};

/// How to start the agent on one target.
pub struct AgentLaunch<'a> {
    /// How to reach the target.
    pub transport: &'a dyn Transport,
    /// The target (host name for messages, address, ssh config).
    pub target: &'a Target,
    /// What to run there.
    pub binary: &'a AgentBinary,
    /// Where binaries are cached on the target, for the user the agent
    /// runs as (`~` is that user's home). Default
    /// `~/.cache/batou/agents`.
    pub cache_dir: Option<String>,
    /// Run the agent as this user (via `sudo -n -u`) when the login user
    /// differs.
    pub service_user: Option<String>,
    /// `Some(true)`: always sudo (to the service user, else root);
    /// `Some(false)`: never; `None`: when the service user differs.
    pub require_sudo: Option<bool>,
    /// Arguments for the agent binary, e.g. `["agent"]`.
    pub agent_args: Vec<String>,
}

/// A started agent.
pub struct Launched {
    /// Positioned at the start of the agent's own stdout (the protocol);
    /// its stderr is the agent's.
    pub channel: Channel,
    /// Whether the binary had to be uploaded first.
    pub uploaded: bool,
    /// Who the agent runs as.
    pub user: String,
}

/// Starts the agent, uploading the binary first when the target does not
/// have it (or has a copy whose hash does not match).
pub fn launch(l: &AgentLaunch<'_>) -> Result<Launched, BootstrapError> {
    launch_from(l, None)
}

/// Connects to the target and starts the bootstrap script gated: it does
/// nothing on the target until [`launch_gated`] lets it go, and nothing
/// at all if the channel is dropped (killed) instead. The SSH handshake
/// thus overlaps with whatever the controller does meanwhile.
pub fn connect_gated(l: &AgentLaunch<'_>) -> Result<Channel, TransportError> {
    l.transport
        .start(l.target, &outer_command(l, START, &l.agent_args, true))
}

/// Starts the agent on a channel from [`connect_gated`] (uploading the
/// binary first if the target lacks it), like [`launch`].
pub fn launch_gated(l: &AgentLaunch<'_>, mut channel: Channel) -> Result<Launched, BootstrapError> {
    let go = match channel.stdin.as_mut() {
        Some(stdin) => stdin.write_all(b"go\n").and_then(|_| stdin.flush()),
        None => Err(std::io::ErrorKind::BrokenPipe.into()),
    };
    if let Err(e) = go {
        // The connection failed meanwhile: say why, as a fresh start would.
        let (code, _, err) = channel.finish().unwrap_or((None, Vec::new(), Vec::new()));
        let err = String::from_utf8_lossy(&err);
        return Err(match l.transport.diagnose(l.target, code, &err) {
            Some(t) => t.into(),
            None => BootstrapError::Exited {
                host: l.target.host.clone(),
                code,
                stderr: format!("{e}; {}", err.trim()),
            },
        });
    }
    launch_from(l, Some(channel))
}

fn launch_from(
    l: &AgentLaunch<'_>,
    mut gated: Option<Channel>,
) -> Result<Launched, BootstrapError> {
    let mut uploaded = false;
    loop {
        let outcome = match gated.take() {
            Some(channel) => read_preamble(l, channel)?,
            None => start(l)?,
        };
        match outcome {
            Outcome::Started(channel, pre) => {
                return Ok(Launched {
                    channel,
                    uploaded,
                    user: pre.user.unwrap_or_default(),
                });
            }
            Outcome::Missing if uploaded => {
                return Err(BootstrapError::Upload {
                    host: l.target.host.clone(),
                    message: "the uploaded binary is still missing from the cache after the upload"
                        .into(),
                });
            }
            Outcome::Missing => {
                upload(l)?;
                uploaded = true;
            }
        }
    }
}

fn start(l: &AgentLaunch<'_>) -> Result<Outcome, BootstrapError> {
    let command = outer_command(l, START, &l.agent_args, false);
    let channel = l.transport.start(l.target, &command)?;
    read_preamble(l, channel)
}

/// Sends the binary through a second command (same sudo decision) that
/// verifies its hash on the target before moving it into the cache.
fn upload(l: &AgentLaunch<'_>) -> Result<(), BootstrapError> {
    let host = l.target.host.clone();
    let upload_err = |message: String| BootstrapError::Upload {
        host: host.clone(),
        message,
    };
    let mut file = std::fs::File::open(&l.binary.path)
        .map_err(|e| upload_err(format!("cannot read {}: {e}", l.binary.path.display())))?;
    let command = outer_command(l, UPLOAD, &[], false);
    let mut channel = l.transport.start(l.target, &command)?;
    // Drain stdout and stderr while sending, so a chatty target cannot
    // block the upload.
    let mut out_pipe = std::mem::replace(&mut channel.stdout, Box::new(std::io::empty()));
    let mut err_pipe = std::mem::replace(&mut channel.stderr, Box::new(std::io::empty()));
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let sent = match channel.stdin.take() {
        Some(mut stdin) => std::io::copy(&mut file, &mut stdin).map(|_| ()),
        None => Ok(()),
    };
    let code = channel.control.wait();
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let out = String::from_utf8_lossy(&out);
    let err = String::from_utf8_lossy(&err);
    if out.lines().any(|l| l == "BATOU-UPLOADED") {
        return Ok(());
    }
    let code = code.ok().flatten();
    let mut pre = Preamble::default();
    for line in out.lines() {
        note(&mut pre, line);
    }
    match ended_early(l, &pre, code, &err) {
        BootstrapError::Exited { stderr, code, .. } => Err(upload_err(format!(
            "the upload command exited ({}){}{}",
            code.map_or("no exit status".to_string(), |c| format!("exit {c}")),
            if stderr.is_empty() { "" } else { ": " },
            match &sent {
                Err(e) if stderr.is_empty() => format!("sending failed: {e}"),
                _ => stderr,
            }
        ))),
        other => Err(other),
    }
}
