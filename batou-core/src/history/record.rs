//! One deploy on one host, as its journal keeps it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// How a deploy ended on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every root of the host deployed and its stale externals were removed.
    Ok,
    /// A root of the host failed.
    Failed,
    /// A root failed and its changes were undone (set by the revert
    /// machinery; see issue 22).
    Reverted,
    /// The deploy stopped before the host's part was complete: Ctrl-C, a
    /// lost connection, a failure on another host, or an agent that was
    /// killed (its record then has no end time). A deploy still running
    /// shows this too, until it ends.
    Interrupted,
    /// `batou rollback` put the host back to before its last deploy.
    #[serde(rename = "rolled-back")]
    RolledBack,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Reverted => "reverted",
            Outcome::Interrupted => "interrupted",
            Outcome::RolledBack => "rolled-back",
        }
    }
}

/// At most this many names of changed components are kept per record (the
/// count is always exact): a first deploy of thousands of files must not
/// make one record as large as the whole journal may be.
pub const MAX_CHANGED_NAMES: usize = 50;

/// One deploy on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The deploy's id, the same on every host of one deploy.
    pub id: String,
    pub host: String,
    pub environment: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
    /// `None` while it runs, and forever when its agent was killed.
    pub ended: Option<u64>,
    /// `user@host` of the controller.
    pub controller: String,
    /// The project's git commit (`None` outside a git work tree).
    pub commit: Option<String>,
    /// Whether tracked files differed from that commit.
    pub dirty: Option<bool>,
    /// The sha256 of the agent that deployed (`None` for a local deploy
    /// and in the controller's copy).
    pub agent: Option<String>,
    /// The roots deployed (in the order they started).
    pub roots: Vec<String>,
    /// Components that changed (the first [`MAX_CHANGED_NAMES`]).
    pub changed: Vec<String>,
    /// How many components changed.
    pub changed_count: usize,
    pub outcome: Outcome,
}

/// What the controller tells every host about the deploy it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployMeta {
    pub id: String,
    pub environment: String,
    /// `user@host` of the controller.
    pub controller: String,
    pub started: u64,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
}

impl DeployMeta {
    /// A new deploy of `environment` from `project_dir`, now: the id is
    /// the start time and the controller's pid (two deploys of one project
    /// cannot share both: the project lock serializes them).
    pub fn start(project_dir: &Path, environment: &str) -> DeployMeta {
        let started = now();
        let stamp = crate::remote::protocol::format_epoch(started)
            .trim_end_matches(" UTC")
            .replace(['-', ':'], "")
            .replace(' ', "T");
        let (commit, dirty) = git_state(project_dir);
        DeployMeta {
            id: format!("{stamp}Z-{}", std::process::id()),
            environment: environment.to_string(),
            controller: format!(
                "{}@{}",
                crate::remote::whoami::current_user(),
                crate::remote::whoami::hostname()
            ),
            started,
            commit,
            dirty,
        }
    }

    /// An open record of this deploy on `host`.
    pub fn record(&self, host: &str, agent: Option<String>) -> Record {
        Record {
            id: self.id.clone(),
            host: host.to_string(),
            environment: self.environment.clone(),
            started: self.started,
            ended: None,
            controller: self.controller.clone(),
            commit: self.commit.clone(),
            dirty: self.dirty,
            agent,
            roots: Vec::new(),
            changed: Vec::new(),
            changed_count: 0,
            outcome: Outcome::Interrupted,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The commit checked out in `dir` and whether tracked files differ from
/// it (untracked files do not count: `.batou/` and build output are
/// usually untracked). `(None, None)` without git or outside a work tree.
fn git_state(dir: &Path) -> (Option<String>, Option<bool>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--verify", "-q", "HEAD"]).filter(|c| !c.is_empty())
    else {
        return (None, None);
    };
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
    (Some(commit), dirty)
}
