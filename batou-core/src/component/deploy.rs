//! The context `verify` and `update` get.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{EnvironmentInfo, HostInfo, Node, Sub};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::host::{CommandOutput, CommandSpec, Host};
use crate::vfs::PathMapper;

/// The context of [`super::Component::verify`] and
/// [`super::Component::update`]: the target [`Host`], whether we are only
/// predicting, and the sub-components' results.
pub struct Deploy<'a> {
    pub(crate) host: &'a Host,
    pub(crate) info: &'a HostInfo,
    pub(crate) env: &'a EnvironmentInfo,
    pub(crate) predicting: bool,
    pub(crate) children: &'a [Node],
    /// Whether a sub-component of the same parent, deployed before this
    /// one, changed.
    pub(crate) earlier_changed: bool,
    pub(crate) breadcrumbs: &'a str,
    pub(crate) workdir: &'a Path,
    pub(crate) mapper: &'a PathMapper,
    /// Show long diffs whole (`--full-diff` named this root).
    pub(crate) full_diff: bool,
    /// The root's registered name.
    pub(crate) root: &'a str,
    /// Events held back until the runner knows whether this component
    /// shows up at all (batou's output buffer).
    pub(crate) pending: Vec<Event>,
}

impl<'a> Deploy<'a> {
    /// The target's files and processes.
    pub fn host(&self) -> &Host {
        self.host
    }

    pub fn host_info(&self) -> &HostInfo {
        self.info
    }

    pub fn environment(&self) -> &EnvironmentInfo {
        self.env
    }

    /// True in `--predict-only` runs: `update` will not be called; verify
    /// should report what it would change, and write nothing.
    pub fn predicting(&self) -> bool {
        self.predicting
    }

    pub fn workdir(&self) -> &Path {
        self.workdir
    }

    /// As [`super::Configure::map`].
    pub fn map(&self, path: impl AsRef<Path>) -> PathBuf {
        self.mapper.map(self.workdir, path.as_ref())
    }

    pub fn breadcrumbs(&self) -> &str {
        self.breadcrumbs
    }

    /// Whether the sub-component `sub` changed (or, predicting, would).
    pub fn changed(&self, sub: Sub) -> bool {
        self.children.get(sub.index).is_some_and(|n| n.changed)
    }

    /// Whether any direct sub-component changed (batou's
    /// `assert_no_subcomponent_changes`).
    pub fn any_sub_changed(&self) -> bool {
        self.children.iter().any(|n| n.changed)
    }

    /// Whether the sub-components its parent added before it changed (or,
    /// predicting, would). For a platform variant, which is its base's
    /// last sub-component: whether anything of the base changed — batou's
    /// `self.parent.assert_no_subcomponent_changes()`:
    ///
    /// ```
    /// use batou_core::prelude::*;
    ///
    /// struct DebianNginx;
    /// impl Component for DebianNginx {
    ///     fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
    ///         Ok(Verdict::update_if(ctx.base_changed()))
    ///     }
    ///     fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
    ///         ctx.cmd("systemctl reload nginx")?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn base_changed(&self) -> bool {
        self.earlier_changed
    }

    /// Shows a diff under this component's line. A diff of more than 200
    /// lines is cut to its first and last 50, followed by batou's note
    /// ([`crate::diff::truncate`]) and how to see the rest, so every front
    /// end shows the same; whole when `--full-diff` names this root.
    pub fn show_diff(&mut self, label: impl Into<String>, lines: Vec<String>) {
        let total = lines.len();
        let (lines, cut) = if self.full_diff {
            (lines, false)
        } else {
            crate::diff::truncate(lines)
        };
        self.pending.push(Event::Diff {
            host: self.info.name.clone(),
            component: self.breadcrumbs.to_string(),
            label: label.into(),
            lines,
        });
        if cut {
            self.log(crate::diff::TRUNCATED_NOTE);
            let hint = crate::diff::full_diff_hint(total, self.root, &self.env.name);
            self.log(hint);
        }
    }

    /// Says that a diff exists but is not shown, and why.
    pub fn hide_diff(&mut self, label: impl Into<String>, reason: impl Into<String>) {
        self.pending.push(Event::DiffHidden {
            host: self.info.name.clone(),
            component: self.breadcrumbs.to_string(),
            label: label.into(),
            reason: reason.into(),
        });
    }

    /// A message under this component's line.
    pub fn log(&mut self, message: impl Into<String>) {
        self.pending.push(Event::Log {
            host: self.info.name.clone(),
            component: Some(self.breadcrumbs.to_string()),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.pending.push(Event::Warning {
            host: Some(self.info.name.clone()),
            component: Some(self.breadcrumbs.to_string()),
            message: message.into(),
        });
    }

    /// Runs a shell command in the workdir; a non-zero exit is an error.
    pub fn cmd(&self, line: &str) -> Result<CommandOutput> {
        self.run(&CommandSpec::shell(line).cwd(self.workdir))
    }

    /// Runs a command as given; the environment's `command_timeout`
    /// applies if the command sets no timeout of its own.
    pub fn run(&self, spec: &CommandSpec) -> Result<CommandOutput> {
        match self.env.command_timeout {
            Some(secs) if !spec.has_timeout() => {
                let limited = spec.clone().timeout(Duration::from_secs(secs));
                self.host.run(&limited).map_err(Error::from)
            }
            _ => self.host.run(spec).map_err(Error::from),
        }
    }

    /// Polls `check` every `interval` until it says yes; an error after
    /// `timeout` naming `what` was awaited. For an `update` that must
    /// wait for what it started (a service listening, a migration done):
    ///
    /// ```no_run
    /// # use batou_core::prelude::*;
    /// # use std::time::Duration;
    /// # fn update(ctx: &mut Deploy<'_>) -> Result<()> {
    /// ctx.cmd("systemctl --user restart app")?;
    /// ctx.until("app.sock exists", Duration::from_millis(200), Duration::from_secs(30), |ctx| {
    ///     Ok(ctx.host().stat(&ctx.map("app.sock"))?.is_some())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn until(
        &mut self,
        what: &str,
        interval: Duration,
        timeout: Duration,
        mut check: impl FnMut(&Deploy<'_>) -> Result<bool>,
    ) -> Result<()> {
        let start = std::time::Instant::now();
        loop {
            if check(self)? {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(Error::msg(format!(
                    "gave up waiting until {what} after {:.1}s",
                    timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(interval);
        }
    }

    /// The environment's `timeout` setting.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.env.timeout)
    }
}
