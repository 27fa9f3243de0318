//! `CronJob` and `CronTab`: batou's hook-component collector pattern.
//!
//! A `CronJob` anywhere in the environment provides its crontab line under
//! the resource key [`CRON_JOB_KEY`]; the `CronTab` of a host requires all
//! lines provided on that host (the configure engine iterates until it has
//! seen every provider) and installs them as one crontab. As in batou, a
//! `CronJob` on a host without a `CronTab` is an unused resource (a
//! configuration error), and a `CronTab` without jobs says
//! `No cron jobs found.` unless it purges.
//!
//! # Where the crontab goes
//!
//! Into the **user's own crontab, with the `crontab` command** (the
//! deploying user's, or `crontab -u USER` for another user when deploying
//! as root). That is where batou installed it, and it fits batou's service
//! user model: it needs no root, the jobs run as the service user, cron
//! notices the change by itself, and `crontab` checks the syntax before it
//! replaces anything (a bad line leaves the old crontab in place). A file
//! in `/etc/cron.d` would need root and a user column in every line. The
//! rendered file is also kept as `crontab` in the workdir, as batou does.

use crate::component::{Component, Configure, Deploy, Require, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};

use super::File;
use super::content::show_change;

/// The resource key under which `CronJob`s provide their line.
pub const CRON_JOB_KEY: &str = "batou:cronjob";

/// `@reboot` and friends, which stand for the five time fields.
const NICKNAMES: &[&str] = &[
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// One line of the host's crontab (collected by [`CronTab`]).
///
/// ```
/// use batou_core::stdlib::CronJob;
/// let backup = CronJob::new("/srv/app/bin/backup")
///     .timing("15 3 * * *")
///     .args("--full")
///     .logger("backup");
/// ```
pub struct CronJob {
    command: String,
    timing: String,
    args: String,
    logger: Option<String>,
}

impl CronJob {
    pub fn new(command: impl Into<String>) -> Self {
        CronJob {
            command: command.into(),
            timing: String::new(),
            args: String::new(),
            logger: None,
        }
    }

    /// The five time fields (`15 3 * * *`) or a nickname (`@daily`);
    /// required.
    pub fn timing(mut self, timing: impl Into<String>) -> Self {
        self.timing = timing.into();
        self
    }

    /// Arguments appended to the command.
    pub fn args(mut self, args: impl Into<String>) -> Self {
        self.args = args.into();
        self
    }

    /// Send the job's output to syslog with this tag
    /// (`2>&1 | logger -t TAG`).
    pub fn logger(mut self, tag: impl Into<String>) -> Self {
        self.logger = Some(tag.into());
        self
    }

    /// The crontab line.
    fn line(&self) -> Result<String> {
        let bad = |why: &str| {
            Err(Error::usage(format!(
                "CronJob `{}`: {why}",
                self.command.trim()
            )))
        };
        let timing = self.timing.split_whitespace().collect::<Vec<_>>();
        let valid_timing = match timing.as_slice() {
            [one] => NICKNAMES.contains(one),
            fields => {
                fields.len() == 5
                    && fields.iter().all(|f| {
                        f.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "*/,-".contains(c))
                    })
            }
        };
        if !valid_timing {
            return bad(&format!(
                "timing `{}` is not five cron fields (`15 3 * * *`) or one of {}",
                self.timing,
                NICKNAMES.join(", ")
            ));
        }
        if self.command.trim().is_empty() {
            return bad("a command is required");
        }
        if [&self.command, &self.args]
            .iter()
            .any(|s| s.contains('\n') || s.contains('%'))
        {
            return bad(
                "the command and args must be one line without `%` (cron reads `%` as a newline)",
            );
        }
        let mut line = format!("{} {}", timing.join(" "), self.command.trim());
        if !self.args.trim().is_empty() {
            line.push(' ');
            line.push_str(self.args.trim());
        }
        if let Some(tag) = &self.logger {
            if tag.is_empty()
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return bad(&format!("invalid logger tag `{tag}`"));
            }
            line.push_str(&format!(" 2>&1 | logger -t {tag}"));
        }
        Ok(line)
    }
}

impl Component for CronJob {
    fn label(&self) -> String {
        format!("CronJob('{}')", self.command.trim())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let line = self.line()?;
        ctx.provide(CRON_JOB_KEY, line)
    }
}

/// The crontab of a host: every [`CronJob`] provided on it, sorted, with
/// `MAILTO` and environment lines on top (see the module docs for where it
/// is installed).
///
/// ```
/// use batou_core::stdlib::CronTab;
/// let crontab = CronTab::new().mailto("ops@example.com").env("PATH", "/usr/bin:/bin");
/// // Remove every job of the user (batou's `PurgeCronTab`):
/// let purge = CronTab::new().purge(true);
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CronTab {
    mailto: Option<String>,
    env: indexmap::IndexMap<String, String>,
    purge: bool,
    user: Option<String>,
    /// The rendered crontab (configure).
    #[serde(skip)]
    content: String,
}

/// As a root: `crontab` in an environment (`[component:crontab]` sets
/// `mailto`, `purge`, `user`; `env` in TOML as a table).
impl crate::component::Attributes for CronTab {
    const NAME: &'static str = "crontab";
    const COMPUTED: &'static [&'static str] = &[];
}

impl Default for CronTab {
    fn default() -> Self {
        Self::new()
    }
}

impl CronTab {
    pub fn new() -> Self {
        CronTab {
            mailto: None,
            env: indexmap::IndexMap::new(),
            purge: false,
            user: None,
            content: String::new(),
        }
    }

    /// Where cron mails the jobs' output (`MAILTO=`).
    pub fn mailto(mut self, address: impl Into<String>) -> Self {
        self.mailto = Some(address.into());
        self
    }

    /// An environment line (`KEY=VALUE`) for all jobs.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Install an empty crontab; jobs on this host are then an error.
    pub fn purge(mut self, purge: bool) -> Self {
        self.purge = purge;
        self
    }

    /// The crontab of this user (`crontab -u USER`; the deploy must run as
    /// root) instead of the deploying user's.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    fn crontab(&self, args: &[&str]) -> CommandSpec {
        let mut argv = vec!["crontab".to_string()];
        if let Some(user) = &self.user {
            argv.extend(["-u".into(), user.clone()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        CommandSpec::argv(argv)
    }

    /// The revert step: when its root is undone (the old `crontab` file
    /// in the workdir already back), that file is installed again; with
    /// no old file (the deploy was the first), the crontab is removed.
    fn revert_handler(
        &self,
    ) -> impl FnMut(&mut Deploy<'_>, &crate::handlers::Cause) -> Result<()> + Send + 'static {
        let tab = CronTab {
            content: String::new(),
            env: indexmap::IndexMap::new(),
            mailto: None,
            purge: false,
            user: self.user.clone(),
        };
        move |ctx, _cause| {
            let file = ctx.map("crontab");
            if ctx.host().stat(&file)?.is_some() {
                ctx.run(&tab.crontab(&[&file.display().to_string()]))?;
                ctx.log("installed the old crontab");
            } else if !tab.installed(ctx)?.is_empty() {
                ctx.run(&tab.crontab(&["-r"]))?;
                ctx.log("removed the crontab (it had none before)");
            }
            Ok(())
        }
    }

    /// The installed crontab; empty when the user has none.
    fn installed(&self, ctx: &Deploy<'_>) -> Result<String> {
        match ctx.run(&self.crontab(&["-l"])) {
            Ok(out) => Ok(out.stdout),
            Err(Error::Command(e))
                if matches!(&e.kind, CommandErrorKind::Failed { stderr, .. }
                    if stderr.contains("no crontab for")) =>
            {
                Ok(String::new())
            }
            Err(e) => Err(e),
        }
    }
}

/// The lines that matter (batou ignores comments when comparing).
fn significant(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect()
}

impl Component for CronTab {
    fn label(&self) -> String {
        "CronTab".into()
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        if let Some(user) = &self.user
            && (user.is_empty() || user.contains(char::is_whitespace))
        {
            return Err(Error::usage(format!("CronTab: invalid user `{user}`")));
        }
        let host = ctx.host().name.clone();
        let mut jobs: Vec<String> =
            ctx.require_with(CRON_JOB_KEY, Require::new().host(host).optional())?;
        if jobs.is_empty() && !self.purge {
            return Err(Error::usage("No cron jobs found."));
        }
        if !jobs.is_empty() && self.purge {
            return Err(Error::usage(format!(
                "Cron jobs found, but this CronTab purges: {}",
                jobs.join("; ")
            )));
        }
        jobs.sort();
        let mut text = format!(
            "# {}\n",
            ctx.render("crontab-header", "{{ batou_generated_header }}")?
        );
        if let Some(mailto) = &self.mailto {
            text.push_str(&format!("MAILTO={mailto}\n"));
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains(['=', ' ', '\n']) || v.contains('\n') {
                return Err(Error::usage(format!(
                    "CronTab: invalid environment line `{k}={v}`"
                )));
            }
            text.push_str(&format!("{k}={v}\n"));
        }
        for job in &jobs {
            text.push_str(job);
            text.push('\n');
        }
        self.content = text.clone();
        ctx.add(File::new("crontab").content(text))?;
        ctx.on_revert("install the old crontab", self.revert_handler());
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        if let Some(user) = &self.user
            && ctx.host().user(user)?.is_none()
        {
            if ctx.predicting() {
                // Possibly created by a component before this one.
                ctx.log(format!(
                    "user `{user}` does not exist (yet); cannot check its crontab"
                ));
                return Ok(Verdict::NeedsUpdate);
            }
            return Err(Error::usage(format!(
                "unknown user `{user}` (the owner of the crontab)"
            )));
        }
        let installed = self.installed(ctx)?;
        if significant(&installed) == significant(&self.content) {
            return Ok(Verdict::UpToDate);
        }
        show_change(
            ctx,
            "crontab (installed)".into(),
            installed.as_bytes(),
            self.content.as_bytes(),
            true,
            None,
        );
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let file = ctx.map("crontab");
        ctx.run(&self.crontab(&[&file.display().to_string()]))?;
        Ok(())
    }
}
