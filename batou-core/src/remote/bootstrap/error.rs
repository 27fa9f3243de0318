//! Why the agent could not be started.

use crate::transport::TransportError;

/// Why the agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The transport could not reach the target (host key, auth, connect).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The target's OS/architecture cannot run the binary.
    #[error(
        "{host} runs {remote}, but the agent binary is built for {local}: build one for the host (e.g. `cargo build --release --target {triple}`) and set `agent_binary = PATH` in [environment] or [host:{host}]"
    )]
    Platform {
        host: String,
        remote: String,
        local: String,
        /// The suggested Rust target triple.
        triple: String,
    },
    /// `sudo -n` would have to ask for a password.
    #[error(
        "sudo on {host} asks for a password to run as {user}; batou needs passwordless sudo (NOPASSWD) for the login user"
    )]
    SudoPassword { host: String, user: String },
    /// sudo refused for another reason (no rule, unknown user, ...).
    #[error("{host}: sudo to {user} failed: {message}")]
    Sudo {
        host: String,
        user: String,
        message: String,
    },
    /// The cache directory cannot be created or is not safely ours.
    #[error("{host}: cannot use the agent cache {path}: {message}")]
    CacheDir {
        host: String,
        path: String,
        message: String,
    },
    /// Sending or verifying the binary failed.
    #[error("{host}: cannot upload the agent binary: {message}")]
    Upload { host: String, message: String },
    /// The bootstrap command ended before the agent started, for a reason
    /// none of the above explains.
    #[error("{host}: the agent bootstrap exited ({}) before the agent started: {stderr}", .code.map_or("no exit status".to_string(), |c| format!("exit {c}")))]
    Exited {
        host: String,
        code: Option<i32>,
        stderr: String,
    },
}
