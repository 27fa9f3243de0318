//! `supervisor::Program`: one `[program:NAME]` section of a
//! [`super::Supervisor`], kept running (or stopped), restarted when it or
//! what it depends on changed.

use std::path::PathBuf;
use std::time::Duration;

use super::ctl::{Ctl, State};
use super::{SUPERVISOR_KEY, SupervisorRef, escape};
use crate::component::{Component, Configure, Deploy, Require, Sub, Verdict};
use crate::error::{Error, Result};
use crate::handlers::UpdateScope;
use crate::stdlib::{Deployment, File};

/// Option keys set by their own builder methods (or by the Supervisor).
const OWN_KEYS: &[&str] = &[
    "command",
    "process_name",
    "directory",
    "priority",
    "environment",
    "user",
    "startsecs",
    "startretries",
    "autostart",
    "stdout_logfile",
    "stderr_logfile",
    "redirect_stderr",
];

/// A program run by the host's [`super::Supervisor`] (batou's
/// `supervisor.Program`): its section is written to
/// `etc/supervisor.d/NAME.conf` and applied with `supervisorctl update
/// NAME`, which restarts this program alone; output goes to
/// `var/log/NAME.log`.
///
/// A relative program path (`bin/app`) is taken relative to the workdir
/// (batou's `command_absolute`); a bare name (`sleep`) is searched on
/// supervisord's `PATH`. A deploy waits until the program is `RUNNING`
/// (it stayed up `startsecs`), and fails naming its state and log when it
/// does not get there.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Deployment;
/// use batou_core::stdlib::supervisor::Program;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct App;
///
/// impl Component for App {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Program::new("app")
///                 .command("bin/app")
///                 .args("--port 8080")
///                 .env("RUST_LOG", "info")
///                 .startsecs(2)
///                 .priority(20)
///                 .deployment(Deployment::Cold)
///                 .depends_on(File::new("app.toml").content("workers = 2\n")),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct Program {
    name: String,
    command: String,
    args: String,
    directory: Option<PathBuf>,
    env: Vec<(String, String)>,
    user: Option<String>,
    startsecs: u32,
    startretries: u32,
    priority: i32,
    options: Vec<(String, String)>,
    enable: bool,
    deployment: Deployment,
    deps: Vec<Box<dyn Component>>,
    /// Set in configure: the supervisor, the section's File, the
    /// dependencies.
    sup: Option<(SupervisorRef, Sub, Vec<Sub>)>,
    plan: Plan,
}

#[derive(Default)]
struct Plan {
    apply: bool,
    restart: bool,
    start: bool,
    stop: bool,
}

impl Program {
    /// A program named `name` (letters, digits, `-`, `_`, `.`).
    pub fn new(name: impl Into<String>) -> Self {
        Program {
            name: name.into(),
            command: String::new(),
            args: String::new(),
            directory: None,
            env: Vec::new(),
            user: None,
            startsecs: 5,
            startretries: 3,
            priority: 10,
            options: Vec::new(),
            enable: true,
            deployment: Deployment::Hot,
            deps: Vec::new(),
            sup: None,
            plan: Plan::default(),
        }
    }

    /// The command (required): a program path and possibly arguments.
    pub fn command(mut self, line: impl Into<String>) -> Self {
        self.command = line.into();
        self
    }

    /// Arguments appended to the command (batou's `args`).
    pub fn args(mut self, args: impl Into<String>) -> Self {
        self.args = args.into();
        self
    }

    /// Working directory (default: the workdir).
    pub fn directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.directory = Some(dir.into());
        self
    }

    /// An environment variable of the program.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run as this user (`user =`; supervisord must run as root).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Seconds the program must stay up to count as started (default 5).
    pub fn startsecs(mut self, secs: u32) -> Self {
        self.startsecs = secs;
        self
    }

    /// Start attempts before supervisord gives up (default 3).
    pub fn startretries(mut self, n: u32) -> Self {
        self.startretries = n;
        self
    }

    /// Start order within the supervisor, low first (default 10).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Any other option of the section (`stopsignal`, `stopwaitsecs`,
    /// `autorestart`, ...), batou's `options`.
    pub fn option(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.options.push((key.into(), value.to_string()));
        self
    }

    /// Running (default) or stopped (batou's `enable`).
    pub fn enable(mut self, enable: bool) -> Self {
        self.enable = enable;
        self
    }

    /// [`Deployment::Hot`] (default) or [`Deployment::Cold`]: stopped
    /// before the components deployed before it in its root change, and
    /// started again by its own deploy.
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployment = deployment;
        self
    }

    /// A component the program depends on (its configuration, its code):
    /// deployed before it, and when it changed the program is restarted
    /// (batou's `dependencies`).
    pub fn depends_on(mut self, component: impl Component) -> Self {
        self.deps.push(Box::new(component));
        self
    }

    fn section(&self, ctx: &Configure<'_>, sup: &SupervisorRef) -> Result<String> {
        let err = |why: String| Error::usage(format!("supervisor Program `{}`: {why}", self.name));
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(err(
                "a name of letters, digits, `-`, `_` and `.` is required".into(),
            ));
        }
        let command = self.command.trim();
        if command.is_empty() {
            return Err(err(
                "a command is required: .command(\"bin/app --flag\")".into()
            ));
        }
        let one_line = |what: &str, text: &str| {
            if text.contains(['\n', '\r']) {
                Err(err(format!("{what} must be one line")))
            } else {
                Ok(())
            }
        };
        one_line("the command", command)?;
        one_line("args", &self.args)?;
        let mut s = format!("[program:{}]\n", self.name);
        let mut line = exec_line(ctx, command);
        if !self.args.trim().is_empty() {
            line = format!("{line} {}", self.args.trim());
        }
        s.push_str(&format!("command = {}\n", escape(&line)));
        s.push_str(&format!("process_name = {}\n", self.name));
        let dir = ctx.map(
            self.directory
                .clone()
                .unwrap_or_else(|| ctx.workdir().into()),
        );
        let dir = dir.display().to_string();
        one_line("the directory", &dir)?;
        s.push_str(&format!("directory = {}\n", escape(&dir)));
        s.push_str(&format!("priority = {}\n", self.priority));
        s.push_str(&format!("startsecs = {}\n", self.startsecs));
        s.push_str(&format!("startretries = {}\n", self.startretries));
        s.push_str(&format!("autostart = {}\n", self.enable));
        if let Some(user) = &self.user {
            if user.trim().is_empty() || user.contains(char::is_whitespace) {
                return Err(err(format!("invalid user `{user}`")));
            }
            s.push_str(&format!("user = {user}\n"));
        }
        if !self.env.is_empty() {
            let mut pairs = Vec::new();
            for (key, value) in &self.env {
                let valid = key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid || value.contains(['\n', '\r']) {
                    return Err(err(format!(
                        "invalid environment variable `{key}` (a name of letters, digits \
                         and _, a value on one line)"
                    )));
                }
                // supervisord splits KEY="value" pairs with a
                // non-POSIX shlex: no escapes, and the quotes around a
                // value are stripped with any quote characters at its
                // ends.
                let quote = if value.contains('"') { '\'' } else { '"' };
                if (value.contains('"') && value.contains('\''))
                    || value.starts_with(['"', '\''])
                    || value.ends_with(['"', '\''])
                {
                    return Err(err(format!(
                        "the value of environment variable `{key}` cannot be written for \
                         supervisord (it holds both kinds of quotes, or starts or ends with one)"
                    )));
                }
                pairs.push(format!("{key}={quote}{}{quote}", escape(value)));
            }
            s.push_str(&format!("environment = {}\n", pairs.join(",")));
        }
        let log = sup.log_dir.join(format!("{}.log", self.name));
        let log = escape(&log.display().to_string());
        s.push_str(&format!(
            "stdout_logfile = {log}\nstdout_logfile_maxbytes = 0\nstdout_logfile_backups = 0\n\
             redirect_stderr = true\n"
        ));
        for (key, value) in &self.options {
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(err(format!("invalid option name `{key}`")));
            }
            if OWN_KEYS.contains(&key.as_str()) || key.starts_with("stdout_logfile") {
                return Err(err(format!(
                    "option `{key}` is set by the Program itself; use its own method"
                )));
            }
            one_line(&format!("option `{key}`"), value)?;
            s.push_str(&format!("{key} = {}\n", escape(value)));
        }
        Ok(s)
    }

    fn configured(&self) -> Result<&(SupervisorRef, Sub, Vec<Sub>)> {
        self.sup.as_ref().ok_or_else(|| {
            Error::msg(format!(
                "supervisor Program `{}`: deployed without configure",
                self.name
            ))
        })
    }

    /// How long a start may take: every attempt stays up `startsecs`, and
    /// supervisord backs off a second more per retry.
    fn start_limit(&self) -> Duration {
        let attempts = u64::from(self.startretries) + 1;
        Duration::from_secs(
            (u64::from(self.startsecs) + 1) * attempts + attempts * (attempts + 1) / 2 + 10,
        )
    }
}

/// The command with a relative program path made absolute.
fn exec_line(ctx: &Configure<'_>, command: &str) -> String {
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

impl Component for Program {
    fn label(&self) -> String {
        format!("supervisor.Program('{}')", self.name)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let host = ctx.host().name.clone();
        let sup: SupervisorRef = ctx
            .require_one_with(SUPERVISOR_KEY, Require::new().host(host))?
            .ok_or_else(|| Error::Retry {
                key: SUPERVISOR_KEY.to_string(),
            })?;
        let text = self.section(ctx, &sup)?;
        let mut deps = Vec::new();
        for dep in std::mem::take(&mut self.deps) {
            deps.push(ctx.add_boxed(dep)?);
        }
        let path = sup.program_dir.join(format!("{}.conf", self.name));
        let sub = ctx.add(File::new(path).content(text))?;
        if self.deployment == Deployment::Cold {
            let name = self.name.clone();
            let sup = sup.clone();
            ctx.before_update("stop", UpdateScope::Precursor, move |ctx, _cause| {
                let ctl = Ctl { sup: &sup };
                // Nothing to stop while the daemon is not there (the
                // first deploy); checked every time, not remembered: the
                // same model can be deployed more than once.
                if ctl.pid(ctx)?.is_some() && ctl.state(ctx, &name)?.is_up() {
                    ctl.run(ctx, &["stop", &name])?;
                    ctx.log(format!("stopped {name} (cold deployment)"));
                }
                Ok(())
            });
        }
        self.sup = Some((sup, sub, deps));
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.plan = Plan::default();
        let (sup, sub, deps) = self.configured()?;
        if !sup.enable {
            // The whole supervisor is off; its section is still written.
            return Ok(Verdict::UpToDate);
        }
        let ctl = Ctl { sup };
        if ctl.pid(ctx)?.is_none() {
            if ctx.predicting() {
                ctx.log("supervisord is not running (yet); cannot check the program");
                return Ok(Verdict::NeedsUpdate);
            }
            return Err(Error::msg(format!(
                "supervisord ({}) is not running: deploy the Supervisor component of this \
                 host first",
                sup.conf.display()
            )));
        }
        let section_changed = ctx.changed(*sub);
        let deps_changed = deps.iter().any(|d| ctx.changed(*d));
        let state = ctl.state(ctx, &self.name)?;
        let apply = section_changed || state == State::Unknown || ctl.pending(ctx, &self.name)?;
        let restart = self.enable && deps_changed && !apply && state.is_up();
        let plan = Plan {
            apply,
            restart,
            start: self.enable && !apply && !restart && !state.is_up(),
            stop: !self.enable && state.is_up(),
        };
        let verdict = Verdict::update_if(plan.apply || plan.restart || plan.start || plan.stop);
        self.plan = plan;
        Ok(verdict)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let (sup, _, _) = self.configured()?;
        let ctl = Ctl { sup };
        let name = self.name.as_str();
        if self.plan.apply {
            ctl.run(ctx, &["update", name])?;
            ctx.log(format!("applied the configuration of {name}"));
        }
        if self.plan.restart {
            // `restart` waits startsecs itself; its verdict is read below.
            ctl.output(ctx, &["restart", name])?;
            ctx.log(format!("restarted {name}"));
        }
        // A cold deployment's handler may have stopped it since verify.
        let state = ctl.state(ctx, name)?;
        if self.enable && !state.is_up() {
            ctl.output(ctx, &["start", name])?;
            ctx.log(format!("started {name}"));
        } else if !self.enable && state.is_up() {
            ctl.run(ctx, &["stop", name])?;
            ctx.log(format!("stopped {name}"));
        }
        if !self.enable {
            return Ok(());
        }
        let mut last = state;
        ctl.wait(self.start_limit(), || {
            last = ctl.state(ctx, name)?;
            // Given up on (FATAL) or gone: no use waiting longer.
            Ok(last.is_running() || !last.is_up())
        })?;
        if last.is_running() {
            return Ok(());
        }
        Err(Error::msg(format!(
            "program {name} is {} instead of RUNNING (see {})",
            last.describe(),
            sup.log_dir.join(format!("{name}.log")).display()
        )))
    }
}
