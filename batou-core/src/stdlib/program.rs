//! `Program`: a long-running process, realised as a systemd service (what
//! batou's `supervisor.Program` was for).

use std::path::PathBuf;
use std::time::Duration;

use super::systemd::SystemdUnit;
use crate::component::{Component, Configure};
use crate::error::{Error, Result};
use crate::handlers::UpdateScope;

/// How a [`Program`] meets a deploy that changes components before it
/// (batou's `deployment = hot|cold`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deployment {
    /// Keep running while earlier components change; restarted only when
    /// its unit or its [`Program::depends_on`] components changed.
    #[default]
    Hot,
    /// Stopped before any component that deploys before it in the same
    /// root is updated (a `before-update` handler with scope
    /// [`UpdateScope::Precursor`]), then started again by its own deploy:
    /// the program never sees a half-updated installation. A deploy that
    /// changes nothing does not stop it.
    Cold,
}

/// systemd's `Restart=` values.
const RESTART_POLICIES: &[&str] = &[
    "no",
    "on-success",
    "on-failure",
    "on-abnormal",
    "on-watchdog",
    "on-abort",
    "always",
];

/// A long-running process under systemd: a `NAME.service` unit written
/// from a command line, working directory, environment, user and restart
/// policy, then enabled and started (see [`SystemdUnit`] for when it is
/// restarted).
///
/// The command line is written to `ExecStart=` as given, so systemd's
/// quoting and `$VAR` expansion apply; `%` is escaped (no specifiers). A
/// relative program path (`bin/app`) is taken relative to the workdir, as
/// batou's `command_absolute` did; a bare name (`sleep`) is searched on
/// systemd's `PATH`. The working directory defaults to the workdir.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Program;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct App;
///
/// impl Component for App {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Program::new("app")
///                 .command("bin/app --port 8080")
///                 .env("RUST_LOG", "info")
///                 .run_as("app")
///                 .restart("always")
///                 .depends_on(File::new("app.toml").content("workers = 2\n")),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct Program {
    name: String,
    command: String,
    description: Option<String>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    user: Option<String>,
    group: Option<String>,
    restart: String,
    restart_delay: Duration,
    /// Scope, dependencies, enable/running, forwarded to the unit.
    unit: Option<SystemdUnit>,
    user_scope: bool,
    deployment: Deployment,
}

impl Program {
    /// A program named `name` (its unit is `NAME.service`).
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Program {
            unit: Some(SystemdUnit::new(format!("{name}.service"))),
            name,
            command: String::new(),
            description: None,
            cwd: None,
            env: Vec::new(),
            user: None,
            group: None,
            restart: "on-failure".into(),
            restart_delay: Duration::from_secs(1),
            user_scope: false,
            deployment: Deployment::Hot,
        }
    }

    /// The command line (required).
    pub fn command(mut self, line: impl Into<String>) -> Self {
        self.command = line.into();
        self
    }

    /// The unit's `Description=` (default: `NAME (deployed by batou)`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Working directory (default: the workdir).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// An environment variable of the process.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run the process as this user (`User=`; system units only).
    pub fn run_as(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Run the process with this group (`Group=`; system units only).
    pub fn run_as_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// `Restart=`: `no`, `on-success`, `on-failure` (default),
    /// `on-abnormal`, `on-watchdog`, `on-abort` or `always`.
    pub fn restart(mut self, policy: impl Into<String>) -> Self {
        self.restart = policy.into();
        self
    }

    /// `RestartSec=` (default one second).
    pub fn restart_delay(mut self, delay: Duration) -> Self {
        self.restart_delay = delay;
        self
    }

    /// [`Deployment::Hot`] (default) or [`Deployment::Cold`]: stop the
    /// program before the components deployed before it change.
    ///
    /// ```
    /// use batou_core::prelude::*;
    /// use batou_core::stdlib::{Deployment, Program};
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct App;
    ///
    /// impl Component for App {
    ///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
    ///         // Updated while the program is stopped.
    ///         ctx.add(File::new("schema.sql").content("create table t (id int);\n"))?;
    ///         ctx.add(
    ///             Program::new("app")
    ///                 .command("bin/app")
    ///                 .deployment(Deployment::Cold),
    ///         )?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployment = deployment;
        self
    }

    fn with_unit(mut self, f: impl FnOnce(SystemdUnit) -> SystemdUnit) -> Self {
        self.unit = self.unit.take().map(f);
        self
    }

    /// Under the deploying user's own manager ([`SystemdUnit::user_unit`]).
    pub fn user_unit(mut self) -> Self {
        self.user_scope = true;
        self.with_unit(SystemdUnit::user_unit)
    }

    /// Under `user`'s manager ([`SystemdUnit::user_unit_of`]).
    pub fn user_unit_of(mut self, user: impl Into<String>) -> Self {
        self.user_scope = true;
        let user = user.into();
        self.with_unit(|u| u.user_unit_of(user))
    }

    /// See [`SystemdUnit::unit_dir`].
    pub fn unit_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.with_unit(|u| u.unit_dir(dir))
    }

    /// See [`SystemdUnit::runtime_dir`].
    pub fn runtime_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.with_unit(|u| u.runtime_dir(dir))
    }

    /// Enabled at boot (default) or not.
    pub fn enable(self, enable: bool) -> Self {
        self.with_unit(|u| u.enable(enable))
    }

    /// Running (default) or stopped.
    pub fn running(self, running: bool) -> Self {
        self.with_unit(|u| u.running(running))
    }

    /// Restart the program when `component` changed
    /// ([`SystemdUnit::depends_on`]).
    pub fn depends_on(self, component: impl Component) -> Self {
        self.with_unit(|u| u.depends_on(component))
    }

    /// The unit file.
    fn render(&self, ctx: &Configure<'_>) -> Result<String> {
        let bad = |why: String| Err(Error::usage(format!("Program `{}`: {why}", self.name)));
        let command = self.command.trim();
        if command.is_empty() {
            return bad("a command is required: .command(\"bin/app --flag\")".into());
        }
        if command.contains('\n') {
            return bad("the command must be one line".into());
        }
        if !RESTART_POLICIES.contains(&self.restart.as_str()) {
            return bad(format!(
                "unknown restart policy `{}` (one of {})",
                self.restart,
                RESTART_POLICIES.join(", ")
            ));
        }
        if self.user_scope && (self.user.is_some() || self.group.is_some()) {
            return bad(
                "run_as/run_as_group do not apply to a user unit (it runs as its user)".into(),
            );
        }
        let mut unit = String::new();
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| format!("{} (deployed by batou)", self.name));
        unit.push_str(&format!(
            "[Unit]\nDescription={}\n\n[Service]\nType=simple\n",
            one_line(&description)
        ));
        unit.push_str(&format!("ExecStart={}\n", escape(&self.exec_start(ctx))));
        let cwd = ctx.map(self.cwd.clone().unwrap_or_else(|| ctx.workdir().into()));
        unit.push_str(&format!(
            "WorkingDirectory={}\n",
            escape(&cwd.display().to_string())
        ));
        for (key, value) in &self.env {
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || value.contains('\n') {
                return bad(format!(
                    "invalid environment variable `{key}` (a name of letters, digits and _, \
                     a value on one line)"
                ));
            }
            let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
            unit.push_str(&format!("Environment=\"{}={}\"\n", key, escape(&quoted)));
        }
        for (directive, who) in [("User", &self.user), ("Group", &self.group)] {
            if let Some(who) = who {
                if who.trim().is_empty() || who.contains(char::is_whitespace) {
                    return bad(format!("invalid {directive}= `{who}`"));
                }
                unit.push_str(&format!("{directive}={who}\n"));
            }
        }
        unit.push_str(&format!(
            "Restart={}\nRestartSec={}ms\n\n[Install]\nWantedBy={}\n",
            self.restart,
            self.restart_delay.as_millis(),
            if self.user_scope {
                "default.target"
            } else {
                "multi-user.target"
            }
        ));
        Ok(unit)
    }

    /// The command with a relative program path made absolute.
    fn exec_start(&self, ctx: &Configure<'_>) -> String {
        let command = self.command.trim();
        let (program, rest) = command.split_once(' ').unwrap_or((command, ""));
        if program.contains('/') && !program.starts_with('/') {
            let absolute = ctx.map(program).display().to_string();
            if rest.is_empty() {
                absolute
            } else {
                format!("{absolute} {rest}")
            }
        } else {
            command.to_string()
        }
    }
}

/// `%` starts a specifier in unit files; a literal one is `%%`.
fn escape(text: &str) -> String {
    text.replace('%', "%%")
}

fn one_line(text: &str) -> String {
    escape(&text.replace('\n', " "))
}

impl Component for Program {
    fn label(&self) -> String {
        format!("Program('{}')", self.name)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let text = self.render(ctx)?;
        let unit = self
            .unit
            .take()
            .ok_or_else(|| Error::msg(format!("Program `{}` configured twice", self.name)))?;
        if self.deployment == Deployment::Cold {
            // Declared on the Program, which deploys after its unit and
            // the unit's dependencies: they count as precursors too.
            ctx.before_update("stop", UpdateScope::Precursor, unit.stop_handler());
        }
        ctx.add(unit.content(text))?;
        Ok(())
    }
}
