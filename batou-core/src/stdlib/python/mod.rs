//! Python environments (batou's `batou.lib.python`): a [`VirtualEnv`] made
//! with `python -m venv` from a given interpreter, and what is installed
//! into it with pip: [`Requirements`] (a requirements or lock file) and
//! [`Package`] (one pinned package).
//!
//! Installing is idempotent without running pip: after a successful
//! install a marker in the environment (`lib/batou-installed/`) records a
//! digest of the requirements' text and pip's options, and a deploy
//! compares that digest and asks the environment's own Python (through
//! `importlib.metadata`, not pip) whether every `name==version` pin is
//! installed. pip runs only when one of these differs. Packages dropped
//! from a requirements file are not uninstalled (pip does not know
//! them); recreating the environment does that.

mod appenv;
mod install;
mod venv;

use std::path::PathBuf;

use crate::component::{Component, Configure};
use crate::error::{Error, Result};
pub use appenv::AppEnv;
pub use install::{Package, Requirements};
use venv::Interpreter;

/// A virtual environment for Python `version` (`3`, `3.11` or `3.11.2`),
/// made from `python{version}` on the `PATH` or the given
/// [`VirtualEnv::executable`], in the workdir (as batou: `bin/python`,
/// `lib/`, ...) or [`VirtualEnv::dir`]. Created once; recreated when it is
/// broken or was made from another interpreter (another executable or
/// another release of it: an upgrade of the system's Python). Recreating
/// replaces its `bin/`, `lib/`, `lib64/`, `include/` and `pyvenv.cfg`.
///
/// The [`Requirements`] and [`Package`]s given to it are installed in the
/// order given, after the environment exists.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::{Package, Requirements, VirtualEnv};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct App;
///
/// impl Component for App {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             VirtualEnv::new("3.11")
///                 .dir("venv")
///                 .requirements(
///                     Requirements::new("requirements.lock")
///                         .content("flask==3.0.3\nwerkzeug==3.0.3\n")
///                         .find_links("/srv/wheels")
///                         .no_index(),
///                 )
///                 .package(Package::new("gunicorn").version("22.0.0")),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct VirtualEnv {
    version: String,
    executable: Option<String>,
    dir: Option<PathBuf>,
    installs: Vec<install::Install>,
}

impl VirtualEnv {
    /// An environment for Python `version`.
    pub fn new(version: impl Into<String>) -> Self {
        VirtualEnv {
            version: version.into(),
            executable: None,
            dir: None,
            installs: Vec::new(),
        }
    }

    /// The interpreter to make it from (default `python{version}` from
    /// the `PATH`).
    pub fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// Where the environment goes (default: the workdir).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Installs a requirements (or lock) file into the environment.
    pub fn requirements(mut self, requirements: Requirements) -> Self {
        self.installs.push(requirements.into());
        self
    }

    /// Installs one package into the environment.
    pub fn package(mut self, package: Package) -> Self {
        self.installs.push(package.into());
        self
    }
}

/// Checks a Python version (`3`, `3.11`, `3.11.2`) and returns the
/// executable to use; `what` names the component in errors.
fn check(what: &str, version: &str, executable: Option<&str>) -> Result<String> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !numeric || parts.len() > 3 || parts[0] != "3" {
        return Err(Error::usage(format!(
            "{what}: invalid Python version `{version}` (`3`, `3.11` or `3.11.2`: \
             `python -m venv` needs Python 3)"
        )));
    }
    let executable = executable
        .map(str::to_string)
        .unwrap_or_else(|| format!("python{version}"));
    if executable.trim().is_empty() || executable.contains('\n') {
        return Err(Error::usage(format!(
            "{what}: invalid executable `{executable}`"
        )));
    }
    Ok(executable)
}

impl Component for VirtualEnv {
    fn label(&self) -> String {
        format!("VirtualEnv('{}')", self.version)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let executable = check("VirtualEnv", &self.version, self.executable.as_deref())?;
        let dir = ctx.map(self.dir.clone().unwrap_or_else(|| ctx.workdir().into()));
        ctx.add(Interpreter::new(
            self.version.clone(),
            executable,
            dir.clone(),
        ))?;
        for install in std::mem::take(&mut self.installs) {
            ctx.add(install.into_venv(&dir))?;
        }
        Ok(())
    }
}
