//! `RotatedLogfile` and `Logrotate`: log files collected per host, the same
//! hook-component pattern as `CronJob` / `CronTab`.
//!
//! Each `RotatedLogfile` provides its stanza under [`ROTATED_LOGFILE_KEY`];
//! the host's `Logrotate` requires all of them (host-filtered) and writes
//! one logrotate configuration.
//!
//! # Where the configuration goes
//!
//! By default to `logrotate.conf` in the workdir, as batou wrote it. That
//! file is only a configuration; something has to run logrotate on it:
//!
//! * as a service user (batou's model, no root): [`Logrotate::schedule`]
//!   adds a `CronJob` that runs `/usr/sbin/logrotate -s <workdir>/logrotate.state
//!   <workdir>/logrotate.conf`, collected by the host's `CronTab` (batou's
//!   `debian.Logrotate` added such a nightly job). The state file lives
//!   with the configuration, because the system's state file is root's.
//! * as root: [`Logrotate::path`]`("/etc/logrotate.d/NAME")`, which the
//!   system's daily logrotate run includes.

use std::path::PathBuf;

use super::{CronJob, File};
use crate::component::{Component, Configure, Require};
use crate::error::{Error, Result};

/// The resource key under which `RotatedLogfile`s provide their stanza.
pub const ROTATED_LOGFILE_KEY: &str = "batou:logrotate";

fn check_line(what: &str, line: &str) -> Result<()> {
    if line.contains(['\n', '{', '}']) || line.trim().is_empty() {
        return Err(Error::usage(format!(
            "{what}: `{line}` must be one non-empty line without braces"
        )));
    }
    Ok(())
}

/// A log file to rotate, with logrotate directives (collected by
/// [`Logrotate`]). The path is mapped (relative → the workdir) and may be
/// a glob (`var/log/*.log`).
///
/// ```
/// use batou_core::stdlib::RotatedLogfile;
/// let log = RotatedLogfile::new("var/log/app.log")
///     .args(["daily", "rotate 14", "compress", "missingok"])
///     .postrotate("systemctl --user kill -s HUP app.service");
/// ```
pub struct RotatedLogfile {
    path: PathBuf,
    args: Vec<String>,
    prerotate: Option<String>,
    postrotate: Option<String>,
}

impl RotatedLogfile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RotatedLogfile {
            path: path.into(),
            args: Vec::new(),
            prerotate: None,
            postrotate: None,
        }
    }

    /// Directives for this file, one per item (`daily`, `rotate 7`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// A shell script run before rotating.
    pub fn prerotate(mut self, script: impl Into<String>) -> Self {
        self.prerotate = Some(script.into());
        self
    }

    /// A shell script run after rotating (e.g. to reopen the log).
    pub fn postrotate(mut self, script: impl Into<String>) -> Self {
        self.postrotate = Some(script.into());
        self
    }

    fn stanza(&self, path: &str) -> Result<String> {
        let what = format!("RotatedLogfile `{}`", self.path.display());
        let mut text = if path.contains(char::is_whitespace) {
            format!("\"{path}\" {{\n")
        } else {
            format!("{path} {{\n")
        };
        for arg in &self.args {
            check_line(&what, arg)?;
            text.push_str(&format!("    {}\n", arg.trim()));
        }
        for (name, script) in [
            ("prerotate", &self.prerotate),
            ("postrotate", &self.postrotate),
        ] {
            if let Some(script) = script {
                if script.lines().any(|l| l.trim() == "endscript") || script.trim().is_empty() {
                    return Err(Error::usage(format!(
                        "{what}: the {name} script must not be empty or contain `endscript`"
                    )));
                }
                text.push_str(&format!("    {name}\n"));
                for line in script.trim().lines() {
                    text.push_str(&format!("        {line}\n"));
                }
                text.push_str("    endscript\n");
            }
        }
        text.push_str("}\n");
        Ok(text)
    }
}

impl Component for RotatedLogfile {
    fn label(&self) -> String {
        format!("RotatedLogfile('{}')", self.path.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::usage("RotatedLogfile needs a path"));
        }
        let path = ctx.map(&self.path).display().to_string();
        if path.contains(['\n', '"', '{', '}']) {
            return Err(Error::usage(format!(
                "RotatedLogfile: unusable path `{path}`"
            )));
        }
        let stanza = self.stanza(&path)?;
        ctx.provide(ROTATED_LOGFILE_KEY, stanza)
    }
}

/// The logrotate configuration of a host: common directives, then every
/// [`RotatedLogfile`] provided on the host, sorted (see the module docs
/// for where it goes and what runs it).
///
/// ```
/// use batou_core::stdlib::Logrotate;
/// // As a service user: rotate nightly from the user's crontab.
/// let rotation = Logrotate::new().common(["compress", "missingok"]).schedule("@daily");
/// // As root: part of the system's logrotate run.
/// let system = Logrotate::new().path("/etc/logrotate.d/myapp");
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Logrotate {
    common: Vec<String>,
    path: PathBuf,
    schedule: Option<String>,
}

/// As a root: `logrotate` in an environment (`[component:logrotate]`
/// sets `common`, `path`, `schedule`).
impl crate::component::Attributes for Logrotate {
    const NAME: &'static str = "logrotate";
    const COMPUTED: &'static [&'static str] = &[];
}

impl Default for Logrotate {
    fn default() -> Self {
        Self::new()
    }
}

impl Logrotate {
    pub fn new() -> Self {
        Logrotate {
            common: Vec::new(),
            path: PathBuf::from("logrotate.conf"),
            schedule: None,
        }
    }

    /// Directives for all files (batou's `common_config`), written first.
    pub fn common<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.common = lines.into_iter().map(Into::into).collect();
        self
    }

    /// Where the configuration is written (default `logrotate.conf` in
    /// the workdir).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = path.into();
        self
    }

    /// Run logrotate on this configuration from cron (cron timing such as
    /// `@daily` or `30 4 * * *`), through a `CronJob` for the host's
    /// `CronTab`.
    pub fn schedule(mut self, timing: impl Into<String>) -> Self {
        self.schedule = Some(timing.into());
        self
    }
}

impl Component for Logrotate {
    fn label(&self) -> String {
        "Logrotate".into()
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let host = ctx.host().name.clone();
        let mut stanzas: Vec<String> =
            ctx.require_with(ROTATED_LOGFILE_KEY, Require::new().host(host).optional())?;
        stanzas.sort();
        let mut text = format!(
            "# {}\n",
            ctx.render("logrotate-header", "{{ batou_generated_header }}")?
        );
        for line in &self.common {
            check_line("Logrotate common config", line)?;
            text.push_str(line.trim());
            text.push('\n');
        }
        for stanza in &stanzas {
            text.push('\n');
            text.push_str(stanza);
        }
        ctx.add(File::new(self.path.clone()).content(text))?;
        if let Some(timing) = &self.schedule {
            let conf = ctx.map(&self.path);
            let state = ctx.map("logrotate.state");
            ctx.add(
                CronJob::new("/usr/sbin/logrotate")
                    .timing(timing.clone())
                    .args(format!("-s {} {}", state.display(), conf.display())),
            )?;
        }
        Ok(())
    }
}
