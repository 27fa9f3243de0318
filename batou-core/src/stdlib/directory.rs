//! `Directory`: a directory exists, optionally synced from a source.

use std::path::PathBuf;

use super::mode::ModeSpec;
use super::sync::{self, Step};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::Result;
use crate::host::FileKind;

/// A directory at `path` (relative paths are under the workdir). Whatever
/// else is in the way (a file, a symlink) is replaced.
///
/// With [`Directory::source`] its content is synced from another directory
/// on the target (batou's `SyncDirectory`, without rsync): missing or
/// changed files are copied atomically, unchanged ones left alone. Files
/// that are not in the source stay, unless [`Directory::purge`] is set.
///
/// ```
/// use batou_core::prelude::*;
/// let logs = Directory::new("logs").leading(true).mode(0o750);
/// let htdocs = Directory::new("htdocs").source("/usr/share/app/htdocs").purge(true);
/// ```
pub struct Directory {
    path: PathBuf,
    target: PathBuf,
    leading: bool,
    mode: Option<ModeSpec>,
    bits: Option<u32>,
    source: Option<PathBuf>,
    mapped_source: PathBuf,
    purge: bool,
    steps: Vec<Step>,
}

impl Directory {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Directory {
            target: path.clone(),
            path,
            leading: false,
            mode: None,
            bits: None,
            source: None,
            mapped_source: PathBuf::new(),
            purge: false,
            steps: Vec::new(),
        }
    }

    /// Create missing parents too.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    /// Permission bits (`0o750`, `"750"`, `"rwxr-x---"`), checked and
    /// fixed on every deploy.
    pub fn mode(mut self, mode: impl Into<ModeSpec>) -> Self {
        self.mode = Some(mode.into());
        self
    }

    /// Sync the content from this directory on the target (mapped like
    /// other paths).
    pub fn source(mut self, source: impl Into<PathBuf>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// With a source: remove what is not in the source.
    pub fn purge(mut self, purge: bool) -> Self {
        self.purge = purge;
        self
    }
}

impl Component for Directory {
    fn label(&self) -> String {
        format!("Directory('{}')", self.path.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.target = ctx.map(&self.path);
        self.bits = self.mode.as_ref().map(ModeSpec::resolve).transpose()?;
        if let Some(source) = &self.source {
            self.mapped_source = ctx.map(source);
        } else if self.purge {
            return Err(crate::error::Error::usage(
                "purge needs a source: Directory::new(..).source(dir).purge(true)",
            ));
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let missing = match ctx.host().stat(&self.target)? {
            Some(s) if s.kind == FileKind::Directory => {
                if self.bits.is_some_and(|m| m != s.mode) {
                    return self.plan(ctx).map(|_| Verdict::NeedsUpdate);
                }
                false
            }
            _ => true,
        };
        let steps = self.plan(ctx)?;
        Ok(Verdict::update_if(missing || steps > 0))
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
        if let Some(mode) = self.bits {
            host.chmod(&self.target, mode)?;
        }
        sync::apply(host, &self.steps)
    }
}

impl Directory {
    /// Plans the sync (if any) and logs its steps; returns their number.
    fn plan(&mut self, ctx: &mut Deploy<'_>) -> Result<usize> {
        if self.source.is_none() {
            return Ok(0);
        }
        // Anything but a directory there is replaced by an empty one first.
        let present = ctx
            .host()
            .stat(&self.target)?
            .is_some_and(|s| s.kind == FileKind::Directory);
        let steps = sync::plan(
            ctx.host(),
            &self.mapped_source,
            &self.target,
            present,
            self.purge,
        )?;
        for step in &steps {
            ctx.log(step.to_string());
        }
        self.steps = steps;
        Ok(self.steps.len())
    }
}
