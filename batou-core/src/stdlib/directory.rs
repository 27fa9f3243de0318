//! `Directory`: a directory exists.

use std::path::PathBuf;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::Result;
use crate::host::FileKind;

/// A directory at `path` (relative paths are under the workdir). Whatever
/// else is in the way (a file, a symlink) is replaced.
///
/// ```
/// use batou_core::prelude::*;
/// let logs = Directory::new("logs").leading(true).mode(0o750);
/// ```
pub struct Directory {
    path: PathBuf,
    target: PathBuf,
    leading: bool,
    mode: Option<u32>,
}

impl Directory {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Directory {
            target: path.clone(),
            path,
            leading: false,
            mode: None,
        }
    }

    /// Create missing parents too.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    /// Permission bits, checked and fixed on every deploy.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
}

impl Component for Directory {
    fn label(&self) -> String {
        format!("Directory('{}')", self.path.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.target = ctx.map(&self.path);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(match ctx.host().stat(&self.target)? {
            Some(s) if s.kind == FileKind::Directory => {
                Verdict::update_if(self.mode.is_some_and(|m| m != s.mode))
            }
            _ => Verdict::NeedsUpdate,
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let host = ctx.host();
        match host.stat(&self.target)? {
            Some(s) if s.kind == FileKind::Directory => {}
            Some(_) => {
                host.remove(&self.target)?;
                host.mkdir(&self.target, self.leading)?;
            }
            None => host.mkdir(&self.target, self.leading)?,
        }
        if let Some(mode) = self.mode {
            host.chmod(&self.target, mode)?;
        }
        Ok(())
    }
}
