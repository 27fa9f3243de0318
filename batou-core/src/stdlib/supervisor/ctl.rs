//! Talking to one supervisord with `supervisorctl -c CONF`.
//!
//! supervisorctl's exit codes say little (`status` is 3 for a stopped
//! program, 4 for an unknown one, 7 when the daemon is not reachable), so
//! the answers are read from what it prints.

use std::time::{Duration, Instant};

use super::SupervisorRef;
use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};

/// How often a wait asks again.
const POLL: Duration = Duration::from_millis(200);

/// One program's state as supervisord reports it (`RUNNING`, `STARTING`,
/// `BACKOFF`, `STOPPED`, `EXITED`, `FATAL`, ...), or unknown to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Known(String),
    /// No such process: its configuration is not loaded.
    Unknown,
}

impl State {
    /// Running or on its way there: a stop is needed to have it stopped.
    pub fn is_up(&self) -> bool {
        matches!(self, State::Known(s) if ["RUNNING", "STARTING", "BACKOFF"].contains(&s.as_str()))
    }

    pub fn is_running(&self) -> bool {
        matches!(self, State::Known(s) if s == "RUNNING")
    }

    pub fn describe(&self) -> &str {
        match self {
            State::Known(s) => s,
            State::Unknown => "not loaded",
        }
    }
}

/// `supervisorctl -c CONF` for the supervisord a [`SupervisorRef`] names.
pub(crate) struct Ctl<'a> {
    pub sup: &'a SupervisorRef,
}

impl Ctl<'_> {
    fn spec(&self, args: &[&str]) -> CommandSpec {
        let conf = self.sup.conf.display().to_string();
        CommandSpec::argv(
            [self.sup.supervisorctl.as_str(), "-c", conf.as_str()]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .timeout(Duration::from_secs(60))
    }

    /// stdout, whatever the exit code; an error only when supervisorctl
    /// could not run at all.
    pub fn output(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<String> {
        match ctx.run(&self.spec(args)) {
            Ok(out) => Ok(out.stdout),
            Err(Error::Command(e)) => match e.kind {
                CommandErrorKind::Failed { stdout, .. } => Ok(stdout),
                kind => Err(Error::msg(format!(
                    "supervisorctl {} failed ({}): {kind}",
                    args.join(" "),
                    self.sup.conf.display()
                ))),
            },
            Err(e) => Err(e),
        }
    }

    /// Runs a command that must succeed; its output is in the error.
    pub fn run(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<String> {
        match ctx.run(&self.spec(args)) {
            Ok(out) => Ok(out.stdout),
            Err(Error::Command(e)) => Err(Error::msg(format!(
                "supervisorctl {} failed ({}): {}",
                args.join(" "),
                self.sup.conf.display(),
                e.kind
            ))),
            Err(e) => Err(e),
        }
    }

    /// The daemon's pid, or `None` when it is not running (or shutting
    /// down).
    pub fn pid(&self, ctx: &Deploy<'_>) -> Result<Option<u32>> {
        Ok(self.output(ctx, &["pid"])?.trim().parse().ok())
    }

    /// A program's state.
    pub fn state(&self, ctx: &Deploy<'_>, name: &str) -> Result<State> {
        let out = self.output(ctx, &["status", name])?;
        for line in out.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some(name) {
                return Ok(match words.next() {
                    Some("ERROR") | None => State::Unknown,
                    Some(state) => State::Known(state.to_string()),
                });
            }
        }
        if out.contains("no such process") {
            return Ok(State::Unknown);
        }
        Err(Error::msg(format!(
            "supervisorctl status {name} ({}): unexpected answer `{}`",
            self.sup.conf.display(),
            out.trim()
        )))
    }

    /// Whether supervisord's loaded configuration of group `name` differs
    /// from the files (`reread`: `NAME: changed`, `available`,
    /// `disappeared`). It applies nothing.
    pub fn pending(&self, ctx: &Deploy<'_>, name: &str) -> Result<bool> {
        let out = self.output(ctx, &["reread"])?;
        if out.starts_with("error:") || out.starts_with("ERROR") {
            return Err(Error::msg(format!(
                "supervisorctl reread ({}): {}",
                self.sup.conf.display(),
                out.trim()
            )));
        }
        let prefix = format!("{name}: ");
        Ok(out.lines().any(|l| l.starts_with(&prefix)))
    }

    /// Waits until `done` holds, asking every 200 ms.
    pub fn wait(&self, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
        let start = Instant::now();
        loop {
            if done()? {
                return Ok(true);
            }
            if start.elapsed() >= limit {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }
}
