//! `Command`: run a shell command, guarded by `unless` / `onlyif`.

use std::path::PathBuf;
use std::time::Duration;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::Result;
use crate::host::CommandSpec;

/// Runs a shell command on the target during `update`.
///
/// Without guards it runs on every deploy. `unless` skips it when the
/// guard command succeeds; `onlyif` runs it only when the guard succeeds.
/// Command lines are template-expanded (`{{ component.port }}`,
/// `{{ host.name }}`) when configured, and every expanded value is
/// inserted as one shell-quoted word: an attribute such as
/// `$(touch /tmp/pwned)` or `x; reboot` reaches the command as text and
/// never runs. So write `echo {{ component.name }}`, not
/// `echo '{{ component.name }}'`; mark a value that is meant as shell
/// syntax with `{{ value | safe }}`.
///
/// The command is done when its shell exits. A process it starts in the
/// background (`app --daemon`, `nohup worker &`) keeps running and does
/// not hold the deploy up; what it prints after the shell exited is not
/// captured, so give it a log file of its own (see
/// [`crate::host::CommandSpec`]). A timeout kills the command's whole
/// process group, background processes included.
///
/// ```
/// use batou_core::prelude::*;
/// let init = Command::new("initdb -D data")
///     .unless("test -f data/PG_VERSION")
///     .timeout(std::time::Duration::from_secs(120));
/// ```
pub struct Command {
    line: String,
    unless: Option<String>,
    onlyif: Option<String>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    timeout: Option<Duration>,
    expand: bool,
    workdir: PathBuf,
}

impl Command {
    pub fn new(line: impl Into<String>) -> Self {
        Command {
            line: line.into(),
            unless: None,
            onlyif: None,
            cwd: None,
            env: Vec::new(),
            timeout: None,
            expand: true,
            workdir: PathBuf::new(),
        }
    }

    /// Don't run if this guard command succeeds.
    pub fn unless(mut self, guard: impl Into<String>) -> Self {
        self.unless = Some(guard.into());
        self
    }

    /// Run only if this guard command succeeds.
    pub fn onlyif(mut self, guard: impl Into<String>) -> Self {
        self.onlyif = Some(guard.into());
        self
    }

    /// Working directory (default: the workdir).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Take the command line literally (no `{{ }}` expansion).
    pub fn raw(mut self) -> Self {
        self.expand = false;
        self
    }

    fn spec(&self, line: &str) -> CommandSpec {
        let mut spec =
            CommandSpec::shell(line).cwd(self.cwd.clone().unwrap_or_else(|| self.workdir.clone()));
        for (k, v) in &self.env {
            spec = spec.env(k, v);
        }
        if let Some(t) = self.timeout {
            spec = spec.timeout(t);
        }
        spec
    }

    fn guard_passes(&self, ctx: &Deploy<'_>, guard: &str) -> bool {
        ctx.run(&self.spec(guard)).is_ok()
    }
}

impl Component for Command {
    fn label(&self) -> String {
        format!("Command('{}')", self.line)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.workdir = ctx.workdir().to_path_buf();
        if let Some(cwd) = &self.cwd {
            self.cwd = Some(ctx.map(cwd));
        }
        if self.expand {
            self.line = ctx.expand_shell(&self.line)?;
            if let Some(g) = &self.unless {
                self.unless = Some(ctx.expand_shell(g)?);
            }
            if let Some(g) = &self.onlyif {
                self.onlyif = Some(ctx.expand_shell(g)?);
            }
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        // Guards only look; running them while predicting is safe and is
        // the only way to predict honestly.
        if let Some(g) = &self.unless
            && self.guard_passes(ctx, g)
        {
            return Ok(Verdict::UpToDate);
        }
        if let Some(g) = &self.onlyif
            && !self.guard_passes(ctx, g)
        {
            return Ok(Verdict::UpToDate);
        }
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let spec = self.spec(&self.line);
        ctx.run(&spec)?;
        Ok(())
    }
}
