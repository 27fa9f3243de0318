//! The `ssh2` transport: a native libssh2 session per command.
//!
//! Settings come from `ssh -G` when an OpenSSH client is installed (so the
//! user's `~/.ssh/config` and the project's `ssh_config` apply as far as a
//! native client can follow them), else from defaults. Host keys are
//! checked strictly against the known_hosts files before anything else is
//! sent: an unknown or changed key is refused.
//!
//! libssh2 sessions are not thread-safe and reading one stream of a channel
//! while the other fills up deadlocks (ssh2-rs#22), so every session is
//! owned by one I/O pump thread that runs it non-blocking and moves bytes
//! between the channel and in-memory pipes, which the returned [`Channel`]'s
//! stdin/stdout/stderr read and write.
mod auth;
mod connect;
mod pipes;
mod pump;
mod settings;

use std::io;
use std::process::Command;

pub use settings::Settings;

use super::{Channel, Target, Transport, TransportError};
use connect::connect;
use pump::Pump;

/// Runs commands over a native libssh2 session.
#[derive(Debug, Clone, Default)]
pub struct Ssh2Transport {
    /// The OpenSSH client used for `ssh -G` (default: `ssh` from `PATH`;
    /// without one, defaults apply).
    pub ssh_program: Option<String>,
}

impl Ssh2Transport {
    /// The transport with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connection settings for `target` (what `ssh -G` says, or
    /// defaults when there is no ssh client).
    pub fn settings(&self, target: &Target) -> Result<Settings, TransportError> {
        let mut cmd = Command::new(self.ssh_program.as_deref().unwrap_or("ssh"));
        if let Some(config) = &target.ssh_config {
            cmd.arg("-F").arg(config);
        }
        cmd.arg("-G").arg("--").arg(&target.address);
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(Settings::from_ssh_g(
                &String::from_utf8_lossy(&out.stdout),
                target,
            )),
            Ok(out) => Err(TransportError::Connect {
                host: target.host.clone(),
                message: format!(
                    "`ssh -G {}` failed: {}",
                    target.address,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Settings::defaults(target)),
            Err(e) => Err(TransportError::Connect {
                host: target.host.clone(),
                message: format!("cannot run `ssh -G`: {e}"),
            }),
        }
    }
}

impl Transport for Ssh2Transport {
    fn start(&self, target: &Target, command: &str) -> Result<Channel, TransportError> {
        let settings = self.settings(target)?;
        let (session, socket) = connect(target, &settings)?;
        let host = target.host.clone();
        let io_err = |what: &str, e: ssh2::Error| TransportError::Io {
            host: host.clone(),
            message: format!("{what}: {e}"),
        };
        let mut channel = session
            .channel_session()
            .map_err(|e| io_err("opening a session channel", e))?;
        channel
            .exec(command)
            .map_err(|e| io_err("starting the command", e))?;
        session.set_blocking(false);
        Pump::spawn(session, socket, channel, host.clone()).map_err(|e| TransportError::Io {
            host,
            message: format!("cannot start the ssh2 I/O pump: {e}"),
        })
    }
}
