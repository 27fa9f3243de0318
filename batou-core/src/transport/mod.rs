//! Transports: how the controller reaches a host. A transport only has to
//! start a command on the target with piped stdin/stdout/stderr; putting a
//! file there has a default built on that. Transports are registered by
//! name (`connect_method`), so a deployment can add its own (`docker exec`,
//! `kubectl exec`, ...):
//!
//! ```
//! use batou_core::transport::{Channel, Target, Transport, TransportError};
//!
//! struct Docker;
//! impl Transport for Docker {
//!     fn start(&self, target: &Target, command: &str) -> Result<Channel, TransportError> {
//!         let mut cmd = std::process::Command::new("docker");
//!         cmd.args(["exec", "-i", &target.address, "sh", "-c", command]);
//!         Channel::spawn(cmd, &target.host)
//!     }
//! }
//! let mut registry = batou_core::Registry::new();
//! registry.transport("docker", Docker);
//! ```

mod channel;
mod ssh;
#[cfg(all(feature = "ssh2", not(target_env = "musl")))]
mod ssh2;
mod unavailable;

use std::path::PathBuf;
use std::time::Duration;

pub use channel::{Channel, ChannelControl, quote};
pub use ssh::{SshTransport, classify_failure, ssh_config_for};
#[cfg(all(feature = "ssh2", not(target_env = "musl")))]
pub use ssh2::Ssh2Transport;
pub use unavailable::Unavailable;

/// Where to connect, as the environment describes it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The host's name in the environment (for messages).
    pub host: String,
    /// What to connect to: `name.host_domain` (ssh resolves it, with its
    /// config; batou's `[resolver]` does not apply).
    pub address: String,
    /// `ssh_config_<env>` or `ssh_config` from the project, passed as `-F`.
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// A transport failed to start a command or lost its connection.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{host}: cannot connect: {message}")]
    Connect { host: String, message: String },
    /// The host's key is unknown or changed; nothing was sent to it.
    #[error("{host}: host key verification failed: {message}")]
    HostKey { host: String, message: String },
    #[error("{host}: authentication failed: {message}")]
    Auth { host: String, message: String },
    #[error("{host}: {message}")]
    Io { host: String, message: String },
    #[error("{host}: cannot place {path} on the target: {message}")]
    PutFile {
        host: String,
        path: String,
        message: String,
    },
}

/// Starts commands on a target.
pub trait Transport: Send + Sync {
    /// Runs `command` (a POSIX shell command line) on the target with
    /// piped stdin, stdout and stderr.
    fn start(&self, target: &Target, command: &str) -> Result<Channel, TransportError>;

    /// Places `bytes` at `path` on the target with `mode`, atomically (a
    /// temp file beside it, then a rename): a reader never sees half a file.
    /// The default streams the bytes through [`Transport::start`].
    fn put_file(
        &self,
        target: &Target,
        bytes: &[u8],
        path: &str,
        mode: u32,
    ) -> Result<(), TransportError> {
        channel::put_file_via_shell(self, target, bytes, path, mode)
    }

    /// Explains why a command started with [`Transport::start`] ended
    /// without doing its work, when the failure was the transport's own
    /// (e.g. `ssh` exiting 255 on a changed host key) rather than the
    /// command's. `None`: the exit code and stderr are the command's.
    fn diagnose(
        &self,
        target: &Target,
        exit_code: Option<i32>,
        stderr: &str,
    ) -> Option<TransportError> {
        let _ = (target, exit_code, stderr);
        None
    }
}
