//! The environment itself: which interpreter it was made from, made
//! again when that is not the wanted one.

use std::path::PathBuf;

use crate::component::{Component, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;

/// Prints the resolved interpreter and its release: what an environment
/// is made from. In an environment `sys._base_executable` is the
/// interpreter it was made from.
const PROBE: &str = "import os, sys\n\
    exe = getattr(sys, '_base_executable', None) or sys.executable\n\
    print(os.path.realpath(exe))\n\
    print('%d.%d.%d' % sys.version_info[:3])\n";

/// What the environment is: `bin/`, `lib/`, ... (batou removed the same).
const PARTS: &[&str] = &["bin", "lib", "lib64", "include", "pyvenv.cfg"];

/// An interpreter: its resolved path and release (`3.11.2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub path: String,
    pub release: String,
}

/// The interpreter `executable` on the target, which must be Python
/// `version`; `what` names the component in errors.
pub(super) fn identify(
    ctx: &Deploy<'_>,
    what: &str,
    executable: &str,
    version: &str,
) -> Result<Identity> {
    let Some(found) = Interpreter::probe(ctx, executable)? else {
        return Err(Error::usage(format!(
            "{what}: cannot run the interpreter `{executable}`: install Python {version} on \
             this host or give .executable(..)"
        )));
    };
    let matches = found.release == version || found.release.starts_with(&format!("{version}."));
    if !matches {
        return Err(Error::usage(format!(
            "{what}: `{executable}` is Python {}, not {version}",
            found.release
        )));
    }
    Ok(found)
}

/// Makes (and remakes) the environment of a [`super::VirtualEnv`].
pub(super) struct Interpreter {
    version: String,
    executable: String,
    dir: PathBuf,
    wanted: Option<Identity>,
}

impl Interpreter {
    pub fn new(version: String, executable: String, dir: PathBuf) -> Self {
        Interpreter {
            version,
            executable,
            dir,
            wanted: None,
        }
    }

    pub(super) fn probe(ctx: &Deploy<'_>, python: &str) -> Result<Option<Identity>> {
        let out = match ctx.run(&CommandSpec::argv([python, "-c", PROBE])) {
            Ok(out) => out.stdout,
            Err(Error::Command(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = out.lines();
        Ok(match (lines.next(), lines.next()) {
            (Some(path), Some(release)) => Some(Identity {
                path: path.to_string(),
                release: release.to_string(),
            }),
            _ => None,
        })
    }
}

impl Component for Interpreter {
    fn label(&self) -> String {
        format!("Python('{}')", self.executable)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let wanted = identify(ctx, "VirtualEnv", &self.executable, &self.version)?;
        let python = self.dir.join("bin/python");
        let have = if ctx.host().stat(&python)?.is_some() {
            Self::probe(ctx, &python.display().to_string())?
        } else {
            None
        };
        let verdict = match &have {
            Some(have) if *have == wanted => Verdict::UpToDate,
            Some(have) => {
                ctx.log(format!(
                    "made from {} ({}); recreating it from {} ({})",
                    have.path, have.release, wanted.path, wanted.release
                ));
                Verdict::NeedsUpdate
            }
            None => {
                if ctx.host().stat(&self.dir.join("pyvenv.cfg"))?.is_some() {
                    ctx.log("the environment is broken (its python does not run); recreating it");
                }
                Verdict::NeedsUpdate
            }
        };
        self.wanted = Some(wanted);
        Ok(verdict)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        for part in PARTS {
            let path = self.dir.join(part);
            if ctx.host().stat(&path)?.is_some() {
                ctx.host().remove(&path)?;
            }
        }
        let dir = self.dir.display().to_string();
        ctx.run(&CommandSpec::argv([
            self.executable.as_str(),
            "-m",
            "venv",
            dir.as_str(),
        ]))
        .map_err(|e| Error::msg(format!("cannot create the environment {dir}: {e}")))?;
        // Made, but not by the wanted interpreter (a `python` wrapper
        // that picks another one): a loop of recreations otherwise.
        let made = Self::probe(ctx, &self.dir.join("bin/python").display().to_string())?;
        if made != self.wanted {
            return Err(Error::msg(format!(
                "the environment {dir} made with `{} -m venv` runs {:?}, not {:?}",
                self.executable, made, self.wanted
            )));
        }
        Ok(())
    }
}
