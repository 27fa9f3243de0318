//! `Git`: a git checkout at a branch, tag or revision (batou's `git.Clone`).

mod repo;

use std::path::PathBuf;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::stdlib::checksum::mask_url;
use repo::list;

/// Which commit the checkout should be at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// The branch's current head at the remote (asked on every verify);
    /// checked out as that local branch.
    Branch(String),
    /// A tag, checked out detached.
    Tag(String),
    /// A commit (or anything `git rev-parse` understands), detached.
    Revision(String),
}

/// Clones `url` into `target` and keeps it at exactly one of `branch`,
/// `tag` or `revision`, with submodules (on by default, as batou).
///
/// Runs the `git` binary on the target with argument vectors (no shell),
/// `GIT_TERMINAL_PROMPT=0` and `LC_ALL=C`. `verify` only reads: the
/// remote's branch head comes from `git ls-remote`, and nothing is fetched
/// unless the wanted commit is missing locally. A checkout with
/// uncommitted changes or untracked files (ignored files do not count), or
/// a target that is something else, is an error listing what would be
/// lost, unless `clobber` is set.
///
/// ```
/// use batou_core::stdlib::Git;
/// let app = Git::new("https://git.example.org/app.git")
///     .target("src/app")
///     .tag("v1.4.2")
///     .submodules(false);
/// ```
pub struct Git {
    url: String,
    target: Option<PathBuf>,
    branch: Option<String>,
    tag: Option<String>,
    revision: Option<String>,
    submodules: bool,
    clobber: bool,
    config: Vec<(String, String)>,
    resolved: Option<(PathBuf, Want)>,
}

/// What is at the target now.
enum State {
    /// Nothing, or an empty directory: clone.
    Missing,
    /// Something that is not a clone of `url` (why).
    Foreign(String),
    Clone {
        /// `git status` lines: what a reset would lose.
        dirty: Vec<String>,
        head: Option<String>,
        branch: Option<String>,
    },
}

impl Git {
    pub fn new(url: impl Into<String>) -> Self {
        Git {
            url: url.into(),
            target: None,
            branch: None,
            tag: None,
            revision: None,
            submodules: true,
            clobber: false,
            config: Vec::new(),
            resolved: None,
        }
    }

    /// Where the checkout goes (default: the repository's name from the
    /// URL, without `.git`, in the workdir).
    pub fn target(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target = Some(dir.into());
        self
    }

    pub fn branch(mut self, name: impl Into<String>) -> Self {
        self.branch = Some(name.into());
        self
    }

    pub fn tag(mut self, name: impl Into<String>) -> Self {
        self.tag = Some(name.into());
        self
    }

    pub fn revision(mut self, rev: impl Into<String>) -> Self {
        self.revision = Some(rev.into());
        self
    }

    /// Check out submodules recursively (default: yes).
    pub fn submodules(mut self, on: bool) -> Self {
        self.submodules = on;
        self
    }

    /// Throw away local changes, untracked files, or whatever else is at
    /// the target, instead of refusing.
    pub fn clobber(mut self, on: bool) -> Self {
        self.clobber = on;
        self
    }

    /// A `git -c key=value` for every git command, e.g.
    /// `protocol.file.allow=always` for submodules on local paths.
    pub fn git_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    fn resolved(&self) -> Result<(PathBuf, Want)> {
        self.resolved
            .clone()
            .ok_or_else(|| Error::msg("Git used before configure"))
    }
}

/// Default target: `https://h/org/app.git` → `app`.
fn repo_name(url: &str) -> Option<String> {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default();
    let name = last.strip_suffix(".git").unwrap_or(last);
    (!name.is_empty()).then(|| name.to_string())
}

impl Component for Git {
    fn label(&self) -> String {
        format!("Git('{}')", mask_url(&self.url))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let shown = mask_url(&self.url);
        if self.url.is_empty() {
            return Err(Error::usage("Git: `url` is required"));
        }
        let want = match (&self.branch, &self.tag, &self.revision) {
            (Some(b), None, None) => Want::Branch(b.clone()),
            (None, Some(t), None) => Want::Tag(t.clone()),
            (None, None, Some(r)) => Want::Revision(r.clone()),
            _ => {
                return Err(Error::usage(format!(
                    "Git {shown}: set exactly one of `branch`, `tag` or `revision`"
                )));
            }
        };
        let name = match &want {
            Want::Branch(n) | Want::Tag(n) | Want::Revision(n) => n,
        };
        // Passed as arguments, so a leading `-` would read as an option.
        if name.is_empty() || name.starts_with('-') || name.contains(['\0', ' ', '\n']) {
            return Err(Error::usage(format!(
                "Git {shown}: {name:?} is not a valid branch, tag or revision name"
            )));
        }
        let target = match &self.target {
            Some(t) => t.clone(),
            None => PathBuf::from(repo_name(&self.url).ok_or_else(|| {
                Error::usage(format!(
                    "Git {shown}: cannot derive a target directory from the URL; set `target`"
                ))
            })?),
        };
        self.resolved = Some((ctx.map(&target), want));
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let (target, want) = self.resolved()?;
        let shown = mask_url(&self.url);
        match self.inspect(ctx)? {
            State::Missing => {
                ctx.log(format!("clone {shown} into {}", target.display()));
                Ok(Verdict::NeedsUpdate)
            }
            State::Foreign(why) if self.clobber => {
                ctx.warn(format!(
                    "{} {why}; it will be replaced by a clone of {shown}",
                    target.display()
                ));
                Ok(Verdict::NeedsUpdate)
            }
            State::Foreign(why) => Err(self.refuse(format!("it {why}"))),
            State::Clone { dirty, .. } if !dirty.is_empty() && !self.clobber => Err(self.refuse(
                format!("local changes would be lost: {}", list(dirty.into_iter())),
            )),
            State::Clone {
                dirty,
                head,
                branch,
            } => {
                if !dirty.is_empty() {
                    ctx.warn(format!(
                        "throwing away local changes: {}",
                        list(dirty.into_iter())
                    ));
                    return Ok(Verdict::NeedsUpdate);
                }
                let (present, spec) = self.wanted(ctx, &want)?;
                let Some(sha) = present else {
                    ctx.log(format!("fetch {spec} from {shown}"));
                    return Ok(Verdict::NeedsUpdate);
                };
                let on_branch = match &want {
                    Want::Branch(b) => branch.as_deref() == Some(b.as_str()),
                    _ => branch.is_none(),
                };
                if head.as_deref() != Some(sha.as_str()) || !on_branch {
                    let unpushed = self.unpushed(ctx, head.as_deref())?;
                    if !unpushed.is_empty() {
                        if !self.clobber {
                            return Err(self.refuse(format!(
                                "local commits would be lost: {}",
                                list(unpushed.into_iter())
                            )));
                        }
                        ctx.warn(format!(
                            "leaving local commits behind: {}",
                            list(unpushed.into_iter())
                        ));
                    }
                    ctx.log(format!("check out {sha} ({})", describe(&want)));
                    return Ok(Verdict::NeedsUpdate);
                }
                if self.submodules_behind(ctx)? {
                    ctx.log("update submodules");
                    return Ok(Verdict::NeedsUpdate);
                }
                Ok(Verdict::UpToDate)
            }
        }
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let (target, want) = self.resolved()?;
        match self.inspect(ctx)? {
            State::Clone { dirty, .. } => {
                if !dirty.is_empty() {
                    if !self.clobber {
                        return Err(self.refuse(format!(
                            "local changes would be lost: {}",
                            list(dirty.into_iter())
                        )));
                    }
                    self.git(ctx, true, &["reset", "--hard", "--quiet"])?;
                    self.git(ctx, true, &["clean", "-d", "--force", "--force", "--quiet"])?;
                    if self.submodules {
                        // Fixed words, no user input: `foreach` runs them
                        // through a shell.
                        self.git(
                            ctx,
                            true,
                            &[
                                "submodule",
                                "--quiet",
                                "foreach",
                                "--recursive",
                                "git reset --hard --quiet && git clean -d --force --force --quiet",
                            ],
                        )?;
                    }
                }
            }
            state => {
                // An empty directory may be a mount point someone made:
                // after a failed clone it is emptied, not removed.
                let existed = ctx.host().stat(&target)?.is_some();
                if let State::Foreign(why) = state {
                    if !self.clobber {
                        return Err(self.refuse(format!("it {why}")));
                    }
                    ctx.host().remove(&target)?;
                }
                if let Some(parent) = target.parent() {
                    ctx.host().mkdir(parent, true)?;
                }
                let dest = target.to_string_lossy().into_owned();
                self.git(
                    ctx,
                    false,
                    &["clone", "--quiet", "--no-checkout", "--", &self.url, &dest],
                )?;
                // A clone that never got checked out would look like a
                // checkout with every file deleted; we made it, so it goes.
                return self.check_out(ctx, &want).inspect_err(|_| {
                    let host = ctx.host();
                    if !existed {
                        let _ = host.remove(&target);
                    } else if let Ok(Some(names)) = host.read_dir(&target) {
                        for name in names {
                            let _ = host.remove(&target.join(name));
                        }
                    }
                });
            }
        }
        self.check_out(ctx, &want)
    }
}

fn describe(want: &Want) -> String {
    match want {
        Want::Branch(b) => format!("branch {b}"),
        Want::Tag(t) => format!("tag {t}"),
        Want::Revision(r) => format!("revision {r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_become_targets() {
        assert_eq!(repo_name("https://h/org/app.git").as_deref(), Some("app"));
        assert_eq!(repo_name("git@h:org/app.git").as_deref(), Some("app"));
        assert_eq!(repo_name("/srv/repos/lib/").as_deref(), Some("lib"));
        assert_eq!(repo_name("https://h/").as_deref(), Some("h"));
    }
}
