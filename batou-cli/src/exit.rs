//! The exit-code table (also in the README and `--help`).

/// How a run ended, as the process exit code tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: everything worked (also: help and version).
    Success,
    /// 1: a component failed during deploy (verify or update).
    DeployFailed,
    /// 2: the command line was wrong.
    Usage,
    /// 3: the environment or the model is wrong; nothing was touched.
    Config,
    /// 4: a host could not be reached or the transport is unavailable.
    Connection,
    /// 5: another batou holds the project lock.
    Locked,
    /// 6: with `-P --exit-code`, the prediction found changes.
    ChangesPending,
    /// 7: `exec`: the command failed (non-zero, killed or timed out) on
    /// at least one host; `run`: the registered command failed on one.
    CommandFailed,
    /// 8: `rollback` refused: files changed since the deploy it would
    /// undo (`--force` overrides).
    Drift,
    /// 130: interrupted (SIGINT) during a deploy; the running components
    /// finished, the rest did not start.
    Interrupted,
    /// 70: a bug in batou.
    Internal,
    /// A code passed through as is (the agent's).
    Code(i32),
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::DeployFailed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Config => 3,
            ExitStatus::Connection => 4,
            ExitStatus::Locked => 5,
            ExitStatus::ChangesPending => 6,
            ExitStatus::CommandFailed => 7,
            ExitStatus::Drift => 8,
            ExitStatus::Interrupted => 130,
            ExitStatus::Internal => 70,
            ExitStatus::Code(c) => c,
        }
    }

    /// A stable name, for `--json`'s summary.
    pub fn name(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::DeployFailed => "deploy_failed",
            ExitStatus::Usage => "usage",
            ExitStatus::Config => "config",
            ExitStatus::Connection => "connection",
            ExitStatus::Locked => "locked",
            ExitStatus::ChangesPending => "changes_pending",
            ExitStatus::CommandFailed => "command_failed",
            ExitStatus::Drift => "drift",
            ExitStatus::Interrupted => "interrupted",
            ExitStatus::Internal => "internal",
            ExitStatus::Code(0) => "success",
            ExitStatus::Code(_) => "failed",
        }
    }
}

/// For `--help`.
pub const TABLE: &str = "\
Exit codes:
  0   success
  1   deployment failed (a component's verify or update failed)
  2   usage error (bad command line)
  3   configuration error (environment or model; nothing was touched)
  4   connection or transport error (exec, run: a host could not be
      reached and the command failed nowhere; history: a host's journal
      could not be read)
  5   a lock is held: another run in this project (.batou-lock) or another
      deploy on a target (named in the message; see --break-lock; exec
      or run --lock: a host's deploy lock is held and the command failed nowhere)
  6   changes pending (only with `deploy -P --exit-code`)
  7   exec: the command failed (non-zero, signal, timeout) on some host;
      run: the registered command failed on some host
  8   rollback refused: files changed since the deploy it would undo
      (named on stderr; --force overrides)
  70  internal error (a bug in batou)
  130 interrupted (Ctrl-C during a deploy: the running components
      finished, the rest did not start; Ctrl-C twice stops at once)";
