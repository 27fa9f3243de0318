//! `Purge`: nothing matches a glob pattern.

use std::path::PathBuf;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// Removes everything matching a glob pattern (`*`, `?`, `[...]`, `**`);
/// the pattern is mapped like a path (relative → workdir). As in Python's
/// glob, `*` does not match names starting with a dot. A matching
/// directory goes with its whole tree; a matching symlink is removed
/// itself, never what it points to, even when that is a directory.
///
/// ```
/// use batou_core::stdlib::Purge;
/// let old_releases = Purge::new("releases/2023-*");
/// ```
pub struct Purge {
    pattern: String,
    mapped: String,
    matches: Vec<PathBuf>,
}

impl Purge {
    pub fn new(pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        Purge {
            mapped: pattern.clone(),
            pattern,
            matches: Vec::new(),
        }
    }

    fn find(&self) -> Result<Vec<PathBuf>> {
        // As Python's glob (batou): `*` does not match a leading dot.
        let options = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        let paths = glob::glob_with(&self.mapped, options)
            .map_err(|e| Error::usage(format!("bad pattern `{}`: {e}", self.pattern)))?;
        let mut found = Vec::new();
        for path in paths {
            found.push(path.map_err(|e| Error::Message(e.to_string()))?);
        }
        // Parents before children: once a tree is gone, its matching
        // children need no removal (and `Host::remove` takes "gone" as done).
        found.sort();
        found.dedup();
        Ok(found)
    }
}

impl Component for Purge {
    fn label(&self) -> String {
        format!("Purge('{}')", self.pattern)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        if self.pattern.trim().is_empty() {
            return Err(Error::usage("Purge needs a pattern"));
        }
        self.mapped = ctx.map(&self.pattern).to_string_lossy().into_owned();
        // Reject a bad pattern now, not half-way through the deploy.
        glob::Pattern::new(&self.mapped)
            .map_err(|e| Error::usage(format!("bad pattern `{}`: {e}", self.pattern)))?;
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.matches = self.find()?;
        for path in &self.matches {
            ctx.log(format!("remove {}", path.display()));
        }
        Ok(Verdict::update_if(!self.matches.is_empty()))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        for path in &self.matches {
            // lstat-based: a symlink is removed as a file.
            ctx.host().remove(path)?;
        }
        Ok(())
    }
}
