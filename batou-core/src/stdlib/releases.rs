//! `Releases`: the classic release layout — `releases/<id>/` built by
//! sub-components, a `current` symlink switched to it once all of them
//! succeeded, the last few releases kept.

use std::path::{Path, PathBuf};

use super::{Directory, Symlink};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// What builds a release: called during configure with the release's
/// directory, it adds the sub-components that fill it.
type Build = Box<dyn FnMut(&mut Configure<'_>, &Path) -> Result<()> + Send>;

/// `base/releases/<id>/`, built by what [`Releases::build`] adds, then
/// `base/current` pointing at it, then all but the newest `keep`
/// releases removed (never the current one). `base` defaults to the
/// workdir, `keep` to 5.
///
/// The switch comes last: while a sub-component fails, `current` still
/// points at the previous release. If the root fails after the switch
/// (a later component of it), the root's revert (docs/transactions.md)
/// points `current` back like any other symlink it changed.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Releases;
/// let app = Releases::new("2024-05-01").keep(3).build(|ctx, dir| {
///     ctx.add(File::new(dir.join("app.conf")).content("port = 8080\n"))?;
///     Ok(())
/// });
/// ```
pub struct Releases {
    id: String,
    base: PathBuf,
    keep: usize,
    build: Option<Build>,
}

impl Releases {
    pub fn new(id: impl Into<String>) -> Self {
        Releases {
            id: id.into(),
            base: PathBuf::new(),
            keep: 5,
            build: None,
        }
    }

    /// Where `releases/` and `current` live (mapped like other paths;
    /// default: the workdir).
    pub fn base(mut self, base: impl Into<PathBuf>) -> Self {
        self.base = base.into();
        self
    }

    /// How many releases to keep, the current one included (at least 1).
    pub fn keep(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    /// What fills a release directory (given as its argument).
    pub fn build(
        mut self,
        build: impl FnMut(&mut Configure<'_>, &Path) -> Result<()> + Send + 'static,
    ) -> Self {
        self.build = Some(Box::new(build));
        self
    }
}

impl Component for Releases {
    fn label(&self) -> String {
        format!("Releases('{}')", self.id)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        if self.id.is_empty() || self.id.contains('/') || self.id == "." || self.id == ".." {
            return Err(Error::usage(format!(
                "a release id is one path component, not `{}`",
                self.id
            )));
        }
        let base = ctx.map(&self.base);
        let releases = base.join("releases");
        let dir = releases.join(&self.id);
        ctx.add(Directory::new(&releases).leading(true))?;
        ctx.add(Directory::new(&dir))?;
        if let Some(build) = self.build.as_mut() {
            build(ctx, &dir)?;
        }
        ctx.add(Symlink::new(base.join("current"), &dir).replace_directory())?;
        ctx.add(Prune {
            releases,
            current: self.id.clone(),
            keep: self.keep,
        })?;
        Ok(())
    }
}

/// Removes all but the newest `keep` releases (by name order, which is
/// time order for the usual dated or numbered ids), never `current`.
struct Prune {
    releases: PathBuf,
    current: String,
    keep: usize,
}

impl Prune {
    fn stale(&self, ctx: &Deploy<'_>) -> Result<Vec<PathBuf>> {
        let names = ctx.host().read_dir(&self.releases)?.unwrap_or_default();
        let mut names: Vec<String> = names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| !n.starts_with('.') && *n != self.current)
            .collect();
        names.sort();
        let others = self.keep - 1;
        let drop = names.len().saturating_sub(others);
        Ok(names[..drop]
            .iter()
            .map(|n| self.releases.join(n))
            .collect())
    }
}

impl Component for Prune {
    fn label(&self) -> String {
        format!("Prune(keep={})", self.keep)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::update_if(!self.stale(ctx)?.is_empty()))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        for old in self.stale(ctx)? {
            ctx.host().remove(&old)?;
        }
        Ok(())
    }
}
