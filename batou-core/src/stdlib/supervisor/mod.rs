//! supervisord and the programs it runs (batou's `batou.lib.supervisor`):
//! [`Supervisor`] runs a supervisord of the deploying (service) user from
//! its own configuration in the workdir; [`Program`] is one program
//! section of it.
//!
//! Unlike batou, which installed supervisor with a buildout, the
//! supervisord on the target is used (Debian's `supervisor` package, or
//! any path given to [`Supervisor::supervisord`]); and supervisorctl talks
//! to it over a unix socket only its user may open (mode 0700), not over
//! an unauthenticated TCP port. `bin/supervisorctl` in the workdir is a
//! wrapper for that user: `~/bin/supervisorctl status` as in batou.
//!
//! What a deploy changes, and only when needed:
//!
//! - the daemon's configuration changed, or it is newer than the running
//!   daemon (a deploy that stopped half-way): `supervisorctl reload`,
//!   which restarts every program (it is the daemon's own settings);
//! - a program's section changed: `supervisorctl update NAME`, which
//!   restarts that program alone (or adds it); other programs keep
//!   running;
//! - a program's [`Program::depends_on`] components changed:
//!   `supervisorctl restart NAME`;
//! - a program is not in its wanted state (running, or stopped with
//!   [`Program::enable`]`(false)`): started or stopped.
//!
//! A deploy that changes nothing runs `supervisorctl pid`, `status` and
//! `reread` (which compares and applies nothing) and leaves every process
//! as it was.

mod ctl;
mod program;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Deploy, Require, Sub, Verdict};
use crate::error::{Error, Result};
use crate::stdlib::File;
use crate::transport::quote;
use ctl::Ctl;
pub use program::Program;

/// The resource key a [`Supervisor`] provides (on its host).
pub const SUPERVISOR_KEY: &str = "supervisor";

/// supervisord's log levels.
const LOG_LEVELS: &[&str] = &[
    "critical", "error", "warn", "info", "debug", "trace", "blather",
];

/// What a [`Supervisor`] provides to the [`Program`]s of its host, under
/// [`SUPERVISOR_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisorRef {
    /// `etc/supervisord.conf`.
    pub conf: PathBuf,
    /// Where program sections go (`etc/supervisor.d`).
    pub program_dir: PathBuf,
    /// Where program logs go (`var/log`).
    pub log_dir: PathBuf,
    /// The supervisorctl to run.
    pub supervisorctl: String,
    /// Whether the daemon runs at all ([`Supervisor::enable`]).
    pub enable: bool,
}

/// A supervisord for the deploying user, configured in the workdir
/// (`etc/supervisord.conf`, programs in `etc/supervisor.d/*.conf`, logs in
/// `var/log`, socket and pid file in `var`), started when it is not
/// running and reloaded when its configuration changed.
///
/// Deploy it as a root component of its own, as batou does; the
/// [`Program`]s of other roots on the same host find it (it provides
/// [`SUPERVISOR_KEY`]) and deploy after it. It is not started at boot:
/// add a `@reboot` [`crate::stdlib::CronJob`] running
/// `supervisord -c …/etc/supervisord.conf`, or a systemd unit, if the
/// host should bring it back.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Supervisor;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Daemons;
///
/// impl Component for Daemons {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Supervisor::new().loglevel("warn"))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Supervisor {
    dir: Option<PathBuf>,
    supervisord: String,
    supervisorctl: String,
    loglevel: String,
    enable: bool,
    start_timeout: Duration,
    /// Set in configure.
    conf: Option<(Sub, PathBuf, PathBuf)>,
    plan: Plan,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Plan {
    #[default]
    Nothing,
    Start,
    Reload,
    Shutdown,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// A supervisord in the workdir, with supervisord and supervisorctl
    /// from `PATH`.
    pub fn new() -> Self {
        Supervisor {
            dir: None,
            supervisord: "supervisord".into(),
            supervisorctl: "supervisorctl".into(),
            loglevel: "info".into(),
            enable: true,
            start_timeout: Duration::from_secs(60),
            conf: None,
            plan: Plan::Nothing,
        }
    }

    /// The directory holding `etc/`, `var/` and `bin/` (default: the
    /// workdir).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The supervisord executable (default `supervisord` from `PATH`).
    pub fn supervisord(mut self, path: impl Into<String>) -> Self {
        self.supervisord = path.into();
        self
    }

    /// The supervisorctl executable (default `supervisorctl` from `PATH`).
    pub fn supervisorctl(mut self, path: impl Into<String>) -> Self {
        self.supervisorctl = path.into();
        self
    }

    /// supervisord's `loglevel`: `critical`, `error`, `warn`, `info`
    /// (default), `debug`, `trace` or `blather`.
    pub fn loglevel(mut self, level: impl Into<String>) -> Self {
        self.loglevel = level.into();
        self
    }

    /// Running (default), or shut down: everything off from the
    /// environment (`enable = false`), as batou's attribute.
    pub fn enable(mut self, enable: bool) -> Self {
        self.enable = enable;
        self
    }

    /// How long starting or reloading the daemon may take (default 60 s,
    /// batou's reload timeout).
    pub fn start_timeout(mut self, limit: Duration) -> Self {
        self.start_timeout = limit;
        self
    }

    fn config(&self, dir: &Path, log: &Path) -> String {
        let p = |rel: &str| escape(&dir.join(rel).display().to_string());
        format!(
            "; Written by batou: changes here are overwritten.\n\
             [supervisord]\n\
             logfile = {log}/supervisord.log\n\
             logfile_maxbytes = 0\n\
             logfile_backups = 0\n\
             loglevel = {level}\n\
             pidfile = {pid}\n\
             childlogdir = {log}\n\
             umask = 022\n\
             nodaemon = false\n\
             \n\
             [unix_http_server]\n\
             file = {sock}\n\
             chmod = 0700\n\
             \n\
             [supervisorctl]\n\
             serverurl = unix://{sock}\n\
             \n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             \n\
             [include]\n\
             files = {programs}/*.conf\n",
            log = escape(&log.display().to_string()),
            level = self.loglevel,
            pid = p("var/supervisord.pid"),
            sock = p("var/supervisor.sock"),
            programs = p("etc/supervisor.d"),
        )
    }

    fn check(&self, dir: &Path) -> Result<()> {
        let bad = |why: String| Err(Error::usage(format!("Supervisor: {why}")));
        if !LOG_LEVELS.contains(&self.loglevel.as_str()) {
            return bad(format!(
                "unknown loglevel `{}` (one of {})",
                self.loglevel,
                LOG_LEVELS.join(", ")
            ));
        }
        let text = dir.display().to_string();
        if text.contains(|c: char| c.is_whitespace() || c.is_control() || c == ';') {
            // supervisord splits `files =` on whitespace; `;` starts a
            // comment.
            return bad(format!(
                "its directory `{text}` contains whitespace or `;`, which supervisord's \
                 configuration cannot hold"
            ));
        }
        // sun_path holds 108 bytes, with the terminating NUL.
        let sock = dir.join("var/supervisor.sock");
        if sock.as_os_str().len() > 107 {
            return bad(format!(
                "the socket path `{}` is longer than a unix socket allows (107 bytes); \
                 give a shorter .dir(..)",
                sock.display()
            ));
        }
        for (what, exe) in [
            ("supervisord", &self.supervisord),
            ("supervisorctl", &self.supervisorctl),
        ] {
            if exe.trim().is_empty() || exe.contains('\n') {
                return bad(format!("invalid {what} executable `{exe}`"));
            }
        }
        Ok(())
    }

    fn pidfile(&self) -> Result<PathBuf> {
        let (_, _, dir) = self
            .conf
            .as_ref()
            .ok_or_else(|| Error::msg("Supervisor: deployed without configure"))?;
        Ok(dir.join("var/supervisord.pid"))
    }

    fn ctl_ref(&self) -> Result<SupervisorRef> {
        let (_, conf, dir) = self
            .conf
            .as_ref()
            .ok_or_else(|| Error::msg("Supervisor: deployed without configure"))?;
        Ok(reference(dir, conf, &self.supervisorctl, self.enable))
    }
}

fn reference(dir: &Path, conf: &Path, supervisorctl: &str, enable: bool) -> SupervisorRef {
    SupervisorRef {
        conf: conf.to_path_buf(),
        program_dir: dir.join("etc/supervisor.d"),
        log_dir: dir.join("var/log"),
        supervisorctl: supervisorctl.to_string(),
        enable,
    }
}

/// supervisord expands `%(name)s` in values; a literal `%` is `%%`.
pub(crate) fn escape(text: &str) -> String {
    text.replace('%', "%%")
}

impl Component for Supervisor {
    fn label(&self) -> String {
        "Supervisor".into()
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let dir = ctx.map(self.dir.clone().unwrap_or_else(|| ctx.workdir().into()));
        self.check(&dir)?;
        let log = dir.join("var/log");
        for sub in ["etc/supervisor.d", "var/log"] {
            ctx.add(File::new(dir.join(sub)).ensure_directory().leading(true))?;
        }
        let conf = dir.join("etc/supervisord.conf");
        let sub = ctx.add(File::new(&conf).content(self.config(&dir, &log)))?;
        ctx.add(
            File::new(dir.join("bin/supervisorctl"))
                .content(format!(
                    "#!/bin/sh\nexec {} -c {} \"$@\"\n",
                    quote(&self.supervisorctl),
                    quote(&conf.display().to_string())
                ))
                .mode(0o755)
                .leading(true),
        )?;
        let provided = reference(&dir, &conf, &self.supervisorctl, self.enable);
        ctx.provide(SUPERVISOR_KEY, &provided)?;
        // A supervisor without programs (yet) is fine: its own optional
        // subscription keeps the resource from being "unused".
        let host = ctx.host().name.clone();
        ctx.require_with::<SupervisorRef>(SUPERVISOR_KEY, Require::new().host(host).optional())?;
        self.conf = Some((sub, conf, dir));
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let sup = self.ctl_ref()?;
        let ctl = Ctl { sup: &sup };
        let pid = ctl.pid(ctx)?;
        let Some((sub, conf, dir)) = self.conf.as_ref() else {
            return Err(Error::msg("Supervisor: deployed without configure"));
        };
        self.plan = match (self.enable, pid) {
            (true, None) => Plan::Start,
            (true, Some(_)) => {
                let stale = match (
                    ctx.last_updated(dir.join("var/supervisord.pid"))?,
                    ctx.last_updated(conf)?,
                ) {
                    (Some(started), Some(written)) => written > started,
                    _ => false,
                };
                if ctx.changed(*sub) || stale {
                    Plan::Reload
                } else {
                    Plan::Nothing
                }
            }
            (false, Some(_)) => Plan::Shutdown,
            (false, None) => Plan::Nothing,
        };
        Ok(Verdict::update_if(self.plan != Plan::Nothing))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let sup = self.ctl_ref()?;
        let ctl = Ctl { sup: &sup };
        let log = sup.log_dir.join("supervisord.log");
        match self.plan {
            Plan::Nothing => return Ok(()),
            Plan::Start => {
                let conf = sup.conf.display().to_string();
                let spec = crate::host::CommandSpec::argv([
                    self.supervisord.as_str(),
                    "-c",
                    conf.as_str(),
                ])
                .cwd(ctx.workdir())
                .timeout(self.start_timeout);
                ctx.run(&spec)
                    .map_err(|e| Error::msg(format!("cannot start supervisord ({conf}): {e}")))?;
                ctx.log("started supervisord");
            }
            Plan::Reload => {
                ctl.run(ctx, &["reload"])?;
                ctx.log("reloaded supervisord (its programs restart)");
            }
            Plan::Shutdown => {
                ctl.run(ctx, &["shutdown"])?;
                if !ctl.wait(self.start_timeout, || Ok(ctl.pid(ctx)?.is_none()))? {
                    return Err(Error::msg(format!(
                        "supervisord did not shut down within {:?} (see {})",
                        self.start_timeout,
                        log.display()
                    )));
                }
                ctx.log("shut down supervisord");
                return Ok(());
            }
        }
        // Starting and reloading are asynchronous: wait until it answers,
        // having (re)read the configuration (it rewrites its pid file
        // then).
        let pidfile = self.pidfile()?;
        let ready = || -> Result<bool> {
            if ctl.pid(ctx)?.is_none() {
                return Ok(false);
            }
            Ok(
                match (ctx.last_updated(&pidfile)?, ctx.last_updated(&sup.conf)?) {
                    (Some(started), Some(written)) => started >= written,
                    _ => false,
                },
            )
        };
        if !ctl.wait(self.start_timeout, ready)? {
            return Err(Error::msg(format!(
                "supervisord did not come up within {:?} (see {})",
                self.start_timeout,
                log.display()
            )));
        }
        // Its programs are (re)starting: let them settle (batou slept
        // `max_startup_delay`), so the programs' own checks that follow
        // see them RUNNING or failed, not half-way. One that does not
        // settle is left to its Program to report.
        ctl.wait(self.start_timeout, || {
            let out = ctl.output(ctx, &["status"])?;
            Ok(!out.lines().any(|l| {
                let state = l.split_whitespace().nth(1);
                state == Some("STARTING") || state == Some("BACKOFF")
            }))
        })?;
        Ok(())
    }
}
