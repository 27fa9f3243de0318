//! `External`: hands a request to an executable already on the target (the
//! host's own tools for users, sysctl, NFS exports, ...).
//!
//! The external `E` is the executable `<externals>/E` on the target
//! (`externals` is an environment key, default
//! `/usr/local/lib/batou/externals`; relative to the target directory).
//! It is called as `E NAME install` or `E NAME remove` with the data on
//! stdin, and must make it so (idempotently). The agent keeps a per-host
//! record of what it installed (`work/.batou/externals-HOST.json`):
//! unchanged data is not sent again, changed data means `remove` (old
//! data) then `install` (new), and an `External` that left the
//! environment is removed by the next deploy.

mod record;
mod stale;

use std::time::Duration;

use sha2::Digest;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};

pub use record::Installed;
pub(crate) use stale::{current_externals, remove_stale};

/// A call's timeout unless the component or the environment's
/// `command_timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the data for the external comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalData {
    /// Given in the deployment (inline, or a file compiled in with
    /// `include_bytes!`).
    Bytes(Vec<u8>),
    /// The stdout of this shell command, run on the target (in the root's
    /// workdir) at verify time — also when predicting, so it must only
    /// read.
    Script(String),
}

/// Calls `<externals>/<external> <name> install|remove` with data on stdin.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::External;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Users;
///
/// impl Component for Users {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(External::new("user", "alice").data("uid=1200\nshell=/bin/bash\n"))?;
///         ctx.add(External::new("sysctl", "net").data_script("cat sysctl.conf"))?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct External {
    external: String,
    name: String,
    source: ExternalData,
    ignore_failure: bool,
    timeout: Option<Duration>,
    /// The data as verify found it.
    data: Option<Vec<u8>>,
}

impl External {
    /// The external `external` (an executable name) for `name`.
    pub fn new(external: impl Into<String>, name: impl Into<String>) -> Self {
        External {
            external: external.into(),
            name: name.into(),
            source: ExternalData::Bytes(Vec::new()),
            ignore_failure: false,
            timeout: None,
            data: None,
        }
    }

    /// The data, given inline (or `include_bytes!` of a file).
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.source = ExternalData::Bytes(data.into());
        self
    }

    /// The data is what this shell command prints on the target.
    pub fn data_script(mut self, script: impl Into<String>) -> Self {
        self.source = ExternalData::Script(script.into());
        self
    }

    /// A non-zero exit is a warning instead of an error.
    pub fn ignore_failure(mut self) -> Self {
        self.ignore_failure = true;
        self
    }

    /// Kill a call (or the data script) after this long (default: the
    /// environment's `command_timeout`, else [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `(external, name)`.
    pub fn key(&self) -> (&str, &str) {
        (&self.external, &self.name)
    }

    fn limit(&self, ctx: &Deploy<'_>) -> Duration {
        limit(self.timeout, ctx.environment().command_timeout)
    }

    fn current_data(&self, ctx: &Deploy<'_>) -> Result<Vec<u8>> {
        match &self.source {
            ExternalData::Bytes(b) => Ok(b.clone()),
            ExternalData::Script(script) => {
                let spec = CommandSpec::shell(script.clone())
                    .cwd(ctx.workdir())
                    .timeout(self.limit(ctx));
                let out = ctx.host().run(&spec).map_err(|e| {
                    Error::msg(format!("the data script of {} failed: {e}", self.label()))
                })?;
                Ok(out.stdout.into_bytes())
            }
        }
    }
}

fn limit(own: Option<Duration>, command_timeout: Option<u64>) -> Duration {
    own.or(command_timeout.map(Duration::from_secs))
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// sha256 of `data`, hex.
pub(crate) fn hash(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An external's name must be a plain file name in the externals
/// directory.
fn check_external(external: &str) -> Result<()> {
    if external.is_empty() || external == "." || external == ".." || external.contains('/') {
        return Err(Error::msg(format!(
            "invalid external {external:?}: must be the name of an executable in the externals directory"
        )));
    }
    Ok(())
}

/// How one call ended.
pub(crate) enum Called {
    Ok,
    /// Failed, but the component said to ignore failures: the message.
    Ignored(String),
}

/// Runs `<dir>/<external> <name> <action>` with `data` on stdin.
pub(crate) fn call(
    target: &crate::host::Host,
    dir: &std::path::Path,
    entry: (&str, &str),
    action: &str,
    data: &[u8],
    timeout: Duration,
    ignore_failure: bool,
) -> Result<Called> {
    let (external, name) = entry;
    let exe = dir.join(external);
    if target.stat(&exe)?.is_none() {
        return Err(Error::msg(format!(
            "the external `{external}` is not installed: {} does not exist (set the environment's `externals` key to the directory holding it)",
            exe.display()
        )));
    }
    let spec = CommandSpec::argv([exe.display().to_string(), name.to_string(), action.into()])
        .cwd(dir)
        .stdin(data.to_vec())
        .timeout(timeout);
    match target.run(&spec) {
        Ok(_) => Ok(Called::Ok),
        Err(e) => {
            let message = format!("external `{external}` {action} `{name}` failed: {}", e.kind);
            let exited = matches!(
                e.kind,
                CommandErrorKind::Failed { .. } | CommandErrorKind::Signal { .. }
            );
            if ignore_failure && exited {
                Ok(Called::Ignored(message))
            } else {
                Err(Error::msg(message))
            }
        }
    }
}

impl Component for External {
    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        check_external(&self.external)?;
        if self.name.is_empty() {
            return Err(Error::msg(format!(
                "the external `{}` needs a non-empty name",
                self.external
            )));
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let data = self.current_data(ctx)?;
        let wanted = hash(&data);
        self.data = Some(data);
        let installed = record::load(ctx.host(), ctx.environment(), &ctx.host_info().name)?;
        match installed.iter().find(|i| i.is(&self.external, &self.name)) {
            Some(i) if i.hash == wanted => Ok(Verdict::UpToDate),
            Some(_) => {
                ctx.log(format!(
                    "{} {}: data changed (remove, then install)",
                    self.external, self.name
                ));
                Ok(Verdict::NeedsUpdate)
            }
            None => {
                ctx.log(format!("{} {}: install", self.external, self.name));
                Ok(Verdict::NeedsUpdate)
            }
        }
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let data = match self.data.take() {
            Some(d) => d,
            None => self.current_data(ctx)?,
        };
        let host = ctx.host_info().name.clone();
        let dir = ctx.environment().externals_dir.clone();
        let timeout = self.limit(ctx);
        let key = (self.external.as_str(), self.name.as_str());
        let installed = record::load(ctx.host(), ctx.environment(), &host)?;
        if let Some(old) = installed.iter().find(|i| i.is(key.0, key.1)) {
            let outcome = call(
                ctx.host(),
                &dir,
                key,
                "remove",
                &old.data_bytes(),
                timeout,
                self.ignore_failure,
            )?;
            if let Called::Ignored(message) = outcome {
                ctx.warn(message);
            }
            record::update(ctx.host(), ctx.environment(), &host, |all| {
                all.retain(|i| !i.is(key.0, key.1))
            })?;
        }
        let outcome = call(
            ctx.host(),
            &dir,
            key,
            "install",
            &data,
            timeout,
            self.ignore_failure,
        )?;
        if let Called::Ignored(message) = outcome {
            ctx.warn(message);
        }
        let entry = Installed {
            external: self.external.clone(),
            name: self.name.clone(),
            hash: hash(&data),
            data: Installed::encode(&data),
            ignore_failure: self.ignore_failure,
            timeout: self.timeout.map(|t| t.as_secs()),
        };
        record::update(ctx.host(), ctx.environment(), &host, |all| {
            all.retain(|i| !i.is(key.0, key.1));
            all.push(entry);
        })
    }

    fn label(&self) -> String {
        format!("External('{}', '{}')", self.external, self.name)
    }
}
