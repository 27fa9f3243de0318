//! `AppEnv`: an application's locked environment (batou's `AppEnv`, after
//! the appenv tool), built beside the one in use and switched to with one
//! symlink.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::install::{Install, installing};
use super::venv::identify;
use super::{Requirements, check};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandSpec, FileKind};

/// The workdir's entries that point into `.appenv/current`.
const LINKS: &[&str] = &["bin", "lib", "pyvenv.cfg"];

/// An application's environment from a lock file (`pip install --no-deps
/// -r LOCK`, then `pip check`), in `.appenv/<hash>` of its directory
/// (default: the workdir): the hash covers the lock file, pip's settings
/// and the interpreter. A new lock file (or interpreter) builds a new
/// environment next to the old one, marks it ready, then switches
/// `.appenv/current` to it with one atomic symlink replacement; `bin`,
/// `lib` and `pyvenv.cfg` in the directory point through `current`. Other
/// environments are removed after the switch. A failed build leaves the
/// running application on the old environment.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::{AppEnv, Requirements};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct App;
///
/// impl Component for App {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(AppEnv::new("3.11").lock(
///             Requirements::new("requirements.lock")
///                 .content("flask==3.0.3\nwerkzeug==3.0.3\n")
///                 .index_url("https://pypi.example.org/simple"),
///         ))?;
///         Ok(())
///     }
/// }
/// ```
pub struct AppEnv {
    version: String,
    executable: Option<String>,
    dir: Option<PathBuf>,
    lock: Option<Install>,
    /// Configured: the executable and the directory.
    at: Option<(String, PathBuf)>,
    plan: Option<Plan>,
}

struct Plan {
    hash: String,
    build: bool,
}

impl AppEnv {
    /// An environment for Python `version` (`3`, `3.11`, `3.11.2`).
    pub fn new(version: impl Into<String>) -> Self {
        AppEnv {
            version: version.into(),
            executable: None,
            dir: None,
            lock: None,
            at: None,
            plan: None,
        }
    }

    /// The lock file (required), with pip's settings; installed with
    /// `--no-deps`.
    pub fn lock(mut self, lock: Requirements) -> Self {
        self.lock = Some(Install::from(lock).locked());
        self
    }

    /// The interpreter (default `python{version}` from the `PATH`).
    pub fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// The directory holding `.appenv` and the links (default: the
    /// workdir).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    fn configured(&self) -> Result<(&Install, &str, &Path)> {
        match (&self.lock, &self.at) {
            (Some(lock), Some((exe, dir))) => Ok((lock, exe, dir)),
            _ => Err(Error::msg("AppEnv: deployed without configure")),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Component for AppEnv {
    fn label(&self) -> String {
        format!("AppEnv('{}')", self.version)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let executable = check("AppEnv", &self.version, self.executable.as_deref())?;
        let Some(lock) = self.lock.as_mut() else {
            return Err(Error::usage(
                "AppEnv: a lock file is required: .lock(Requirements::new(\"requirements.lock\"))",
            ));
        };
        lock.configure_file(ctx)?;
        let dir = ctx.map(self.dir.clone().unwrap_or_else(|| ctx.workdir().into()));
        self.at = Some((executable, dir));
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.plan = None;
        let (lock, exe, dir) = self.configured()?;
        let python = identify(ctx, "AppEnv", exe, &self.version)?;
        let text = lock.text(ctx)?;
        let (args, env) = lock.args(ctx);
        let mut h = Sha256::new();
        for part in [python.path.as_str(), python.release.as_str(), text.as_str()]
            .into_iter()
            .chain(installing(&args))
        {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
        for (k, v) in &env {
            h.update(format!("{k}={v}\0").as_bytes());
        }
        let hash = hex(&h.finalize())[..16].to_string();
        let base = dir.join(".appenv");
        let ready = ctx
            .host()
            .stat(&base.join(&hash).join("appenv.ready"))?
            .is_some();
        let current = ctx.host().read_link(&base.join("current"))? == Some(PathBuf::from(&hash));
        let mut linked = true;
        for name in LINKS {
            let link = dir.join(name);
            if let Some(s) = ctx.host().stat(&link)?
                && s.kind == FileKind::Directory
            {
                return Err(Error::usage(format!(
                    "AppEnv: {} is a directory; it would be a link into .appenv/current \
                     (remove it, e.g. a VirtualEnv made there before)",
                    link.display()
                )));
            }
            let want = Path::new(".appenv/current").join(name);
            linked &= ctx.host().read_link(&link)? == Some(want);
        }
        let others = ctx
            .host()
            .read_dir(&base)?
            .unwrap_or_default()
            .into_iter()
            .any(|n| n != *hash && n != "current");
        let verdict = Verdict::update_if(!ready || !current || !linked || others);
        self.plan = Some(Plan {
            hash,
            build: !ready,
        });
        Ok(verdict)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let Some(plan) = self.plan.take() else {
            return Err(Error::msg("AppEnv: update without verify"));
        };
        let (lock, exe, dir) = self.configured()?;
        let base = dir.join(".appenv");
        let env_dir = base.join(&plan.hash);
        if plan.build {
            // Half-built by an earlier deploy: not marked ready, so not
            // in use; start over.
            ctx.host().remove(&env_dir)?;
            ctx.host().mkdir(&base, true)?;
            let path = env_dir.display().to_string();
            ctx.run(&CommandSpec::argv([exe, "-m", "venv", path.as_str()]))
                .map_err(|e| Error::msg(format!("cannot create the environment {path}: {e}")))?;
            let (args, env) = lock.args(ctx);
            let pip = env_dir.join("bin/python").display().to_string();
            let mut install = CommandSpec::argv(
                [pip.as_str(), "-m", "pip", "install"]
                    .into_iter()
                    .map(String::from)
                    .chain(args),
            )
            .cwd(dir);
            for (k, v) in env {
                install = install.env(k, v);
            }
            ctx.run(&install)?;
            ctx.run(&CommandSpec::argv([
                pip.as_str(),
                "-m",
                "pip",
                "check",
                "--disable-pip-version-check",
            ]))?;
            ctx.host()
                .write(&env_dir.join("appenv.ready"), b"", Some(0o644))?;
        }
        ctx.host()
            .symlink(Path::new(&plan.hash), &base.join("current"))?;
        for name in LINKS {
            ctx.host()
                .symlink(&Path::new(".appenv/current").join(name), &dir.join(name))?;
        }
        for name in ctx.host().read_dir(&base)?.unwrap_or_default() {
            if name != *plan.hash && name != "current" {
                ctx.host().remove(&base.join(&name))?;
            }
        }
        Ok(())
    }
}
