//! `Symlink`: a symlink points where it should.

use std::path::PathBuf;

use super::content::check_not_a_tree;
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::Result;
use crate::host::FileKind;

/// A symlink at `link` pointing to `target` (both mapped like other paths).
/// A wrong link or a file in the way is replaced atomically; an empty
/// directory too, one holding anything only with
/// [`Symlink::replace_directory`].
///
/// ```
/// use batou_core::prelude::*;
/// let current = Symlink::new("current", "releases/2024-05-01");
/// ```
pub struct Symlink {
    link: PathBuf,
    target: PathBuf,
    mapped_link: PathBuf,
    mapped_target: PathBuf,
    replace_dir: bool,
}

impl Symlink {
    pub fn new(link: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        let (link, target) = (link.into(), target.into());
        Symlink {
            mapped_link: link.clone(),
            mapped_target: target.clone(),
            link,
            target,
            replace_dir: false,
        }
    }

    /// A directory at `link` is removed with everything in it.
    pub fn replace_directory(mut self) -> Self {
        self.replace_dir = true;
        self
    }
}

impl Component for Symlink {
    fn label(&self) -> String {
        format!("Symlink('{}')", self.link.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.mapped_link = ctx.map(&self.link);
        self.mapped_target = ctx.map(&self.target);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let current = ctx.host().read_link(&self.mapped_link)?;
        if current.is_none()
            && ctx
                .host()
                .stat(&self.mapped_link)?
                .is_some_and(|s| s.kind == FileKind::Directory)
        {
            check_not_a_tree(ctx, &self.mapped_link, self.replace_dir)?;
        }
        Ok(Verdict::update_if(
            current.as_ref() != Some(&self.mapped_target),
        ))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let host = ctx.host();
        // A rename cannot replace a directory; move it out of the way.
        if host
            .stat(&self.mapped_link)?
            .is_some_and(|s| s.kind == FileKind::Directory)
        {
            check_not_a_tree(ctx, &self.mapped_link, self.replace_dir)?;
            host.remove(&self.mapped_link)?;
        }
        host.symlink(&self.mapped_target, &self.mapped_link)?;
        Ok(())
    }
}
