//! batou's verify helpers (reference §3.9), for custom components'
//! `verify`. batou raises `UpdateNeeded` from `assert_*` helpers; here they
//! answer a question and `verify` turns the answer into a [`super::Verdict`]:
//!
//! ```
//! use batou_core::prelude::*;
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Build;
//!
//! impl Component for Build {
//!     fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
//!         let current = ctx.file_is_current("bin/app", ["src/main.c", "Makefile"])?
//!             && ctx.cmd_succeeds("bin/app --version")?
//!             && ctx.no_subcomponent_changes();
//!         Ok(Verdict::update_if(!current))
//!     }
//!
//!     fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
//!         ctx.cmd("make")?;
//!         Ok(())
//!     }
//! }
//! ```

use std::path::Path;
use std::time::SystemTime;

use super::Deploy;
use crate::error::Result;
use crate::host::{CommandErrorKind, CommandSpec};

impl Deploy<'_> {
    /// When `path` (mapped like other paths; a symlink itself, not its
    /// target) was last modified; `None` if nothing is there. batou's
    /// `File.last_updated()`.
    pub fn last_updated(&self, path: impl AsRef<Path>) -> Result<Option<SystemTime>> {
        let path = self.map(path);
        Ok(self.host().stat(&path)?.map(|s| s.modified))
    }

    /// batou's `assert_file_is_current`: `false` when `reference` is
    /// missing or older than any of the `requirements` that exist.
    pub fn file_is_current<P: AsRef<Path>>(
        &self,
        reference: impl AsRef<Path>,
        requirements: impl IntoIterator<Item = P>,
    ) -> Result<bool> {
        let Some(reference) = self.last_updated(reference)? else {
            return Ok(false);
        };
        for requirement in requirements {
            if self
                .last_updated(requirement)?
                .is_some_and(|changed| changed > reference)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// batou's `assert_cmd`: whether a shell command (run in the workdir)
    /// exits 0. A command that fails or is killed means "no"; one that
    /// cannot start or times out is an error, as it says nothing about
    /// the state of the target.
    pub fn cmd_succeeds(&self, line: &str) -> Result<bool> {
        match self.run(&CommandSpec::shell(line).cwd(self.workdir())) {
            Ok(_) => Ok(true),
            Err(crate::error::Error::Command(e))
                if matches!(
                    e.kind,
                    CommandErrorKind::Failed { .. } | CommandErrorKind::Signal { .. }
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// batou's `assert_no_subcomponent_changes`: `true` when no direct
    /// sub-component changed (or, predicting, would). The same as
    /// `!`[`Deploy::any_sub_changed`], named as batou's users know it.
    pub fn no_subcomponent_changes(&self) -> bool {
        !self.any_sub_changed()
    }
}
