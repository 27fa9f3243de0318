//! How a whole operation ends when it does not succeed.

use std::path::PathBuf;

use crate::configure::SelectionError;
use crate::error::{ConfigError, DeployError};
use crate::lock::LockError;
use crate::remote::orchestrate::RemoteFailure;

/// Where in a run it stopped (batou's `FAILED (during …)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Load,
    LoadSecrets,
    Connect,
    Deploy,
}

impl Stage {
    /// As batou names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Load => "load",
            Stage::LoadSecrets => "load secrets",
            Stage::Connect => "connect",
            Stage::Deploy => "deploy",
        }
    }
}

/// The remote deploy cannot be set up from the environment's settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("unknown connect_method `{method}`")]
    UnknownConnectMethod { method: String, known: Vec<String> },
    #[error("cannot read this executable to upload it: {0}")]
    CurrentExecutable(std::io::Error),
    #[error(
        "agent_binary {} is not an executable this batou understands (expected an ELF binary)",
        .0.display()
    )]
    NotAnExecutable(PathBuf),
    #[error("cannot read agent_binary {}: {source}", .path.display())]
    AgentBinary {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The records a killed local deploy left could not be restored.
    #[error("cannot restore the undo records in {}: {source}", .store.display())]
    Undo {
        store: PathBuf,
        source: std::io::Error,
    },
}

impl SetupError {
    /// A suggestion, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            SetupError::UnknownConnectMethod { known, .. } => {
                Some(format!("known: {}", known.join(", ")))
            }
            _ => None,
        }
    }
}

/// Why a deploy (or prediction, or check) did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The project's `.batou-lock` is held by another run, or cannot be
    /// opened.
    ProjectLock(LockError),
    /// The environment or the model is wrong; nothing was touched.
    Config {
        stage: Stage,
        errors: Vec<ConfigError>,
    },
    Setup(SetupError),
    /// `--hosts`, `--components` or their `--skip-` forms name what the
    /// model does not have, or a host pattern selects nothing (all of
    /// them reported at once, after configuring).
    Selection(Vec<SelectionError>),
    Remote(RemoteFailure),
    /// A component failed in a local deploy.
    Deploy(DeployError),
}

impl Failure {
    /// Where the run stopped; `None` before it started (the project lock).
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Failure::ProjectLock(_) => None,
            Failure::Config { stage, .. } => Some(*stage),
            Failure::Setup(_) | Failure::Selection(_) => Some(Stage::Connect),
            Failure::Remote(
                RemoteFailure::Config(_) | RemoteFailure::Connect(_) | RemoteFailure::Locked(_),
            ) => Some(Stage::Connect),
            Failure::Remote(RemoteFailure::Deploy { .. } | RemoteFailure::Interrupted { .. })
            | Failure::Deploy(_) => Some(Stage::Deploy),
        }
    }
}
