//! `Git`: a git checkout at a branch, tag or revision (batou's `git.Clone`).

use std::path::PathBuf;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandOutput, CommandSpec, FileKind};
use crate::stdlib::checksum::mask_url;

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

    /// Runs git in the checkout (or, with `in_target` false, in its parent).
    fn git(&self, ctx: &Deploy<'_>, in_target: bool, args: &[&str]) -> Result<CommandOutput> {
        let (target, _) = self.resolved()?;
        let mut argv = vec!["git".to_string()];
        for (k, v) in &self.config {
            argv.push("-c".into());
            argv.push(format!("{k}={v}"));
        }
        if in_target {
            argv.push("-C".into());
            argv.push(target.to_string_lossy().into_owned());
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        let spec = CommandSpec::argv(argv)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        ctx.run(&spec).map_err(|e| self.masked(e))
    }

    /// The error with the URL's password masked (`git clone` shows the
    /// URL in its command line and may echo it).
    fn masked(&self, error: Error) -> Error {
        let shown = mask_url(&self.url);
        let Error::Command(mut e) = error else {
            return error;
        };
        if shown != self.url {
            let mask = |text: &mut String| *text = text.replace(&self.url, &shown);
            mask(&mut e.command);
            if let CommandErrorKind::Failed { stdout, stderr, .. }
            | CommandErrorKind::Signal { stdout, stderr, .. } = &mut e.kind
            {
                mask(stdout);
                mask(stderr);
            }
        }
        Error::Command(e)
    }

    /// The output of a git command that may fail (e.g. `rev-parse
    /// --verify --quiet`): `None` if it did.
    fn git_maybe(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<Option<String>> {
        match self.git(ctx, true, args) {
            Ok(out) => Ok(Some(out.stdout.trim().to_string())),
            Err(Error::Command(e)) if matches!(e.kind, CommandErrorKind::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn inspect(&self, ctx: &Deploy<'_>) -> Result<State> {
        let (target, _) = self.resolved()?;
        match ctx.host().stat(&target)? {
            None => return Ok(State::Missing),
            Some(s) if s.kind != FileKind::Directory => {
                return Ok(State::Foreign("is not a directory".into()));
            }
            Some(_) => {}
        }
        let names = ctx.host().read_dir(&target)?.unwrap_or_default();
        if names.is_empty() {
            return Ok(State::Missing);
        }
        if !names.iter().any(|n| n == ".git") {
            return Ok(State::Foreign(format!(
                "is not a git checkout (it holds {})",
                list(names.iter().map(|n| n.to_string_lossy().into_owned()))
            )));
        }
        match self.git_maybe(ctx, &["remote", "get-url", "origin"])? {
            Some(origin) if origin == self.url => {}
            Some(origin) => {
                return Ok(State::Foreign(format!(
                    "is a checkout of {} instead",
                    mask_url(&origin)
                )));
            }
            None => return Ok(State::Foreign("is a git checkout without origin".into())),
        }
        let status = self.git(
            ctx,
            true,
            &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
        )?;
        Ok(State::Clone {
            dirty: parse_status(&status.stdout),
            head: self.git_maybe(ctx, &["rev-parse", "--verify", "--quiet", "HEAD"])?,
            branch: self.git_maybe(ctx, &["symbolic-ref", "--quiet", "--short", "HEAD"])?,
        })
    }

    /// The wanted commit if it is present locally (`None`: fetch needed).
    /// For a branch, the remote is asked for its head.
    fn wanted(&self, ctx: &Deploy<'_>, want: &Want) -> Result<(Option<String>, String)> {
        let spec = match want {
            Want::Branch(b) => self.remote_head(ctx, b)?,
            Want::Tag(t) => format!("refs/tags/{t}"),
            Want::Revision(r) => r.clone(),
        };
        let commit = format!("{spec}^{{commit}}");
        let present = self.git_maybe(ctx, &["rev-parse", "--verify", "--quiet", &commit])?;
        Ok((present, spec))
    }

    fn remote_head(&self, ctx: &Deploy<'_>, branch: &str) -> Result<String> {
        let refname = format!("refs/heads/{branch}");
        let out = self.git(ctx, true, &["ls-remote", "origin", &refname])?;
        out.stdout
            .lines()
            .find_map(|l| {
                let (sha, name) = l.split_once('\t')?;
                (name == refname).then(|| sha.to_string())
            })
            .ok_or_else(|| {
                Error::msg(format!(
                    "branch {branch:?} does not exist in {}",
                    mask_url(&self.url)
                ))
            })
    }

    /// Paths of the submodules (gitlinks) in the index.
    fn gitlinks(&self, ctx: &Deploy<'_>) -> Result<std::collections::BTreeSet<String>> {
        let out = self.git(ctx, true, &["ls-files", "--stage"])?;
        Ok(out
            .stdout
            .lines()
            .filter(|l| l.starts_with("160000 "))
            .filter_map(|l| l.split_once('\t').map(|(_, path)| path.to_string()))
            .collect())
    }

    /// Commits at HEAD that no remote branch or tag has (batou warns of
    /// outgoing commits; moving HEAD away would strand them).
    fn unpushed(&self, ctx: &Deploy<'_>, head: Option<&str>) -> Result<Vec<String>> {
        let Some(head) = head else {
            return Ok(Vec::new());
        };
        let out = self.git(
            ctx,
            true,
            &[
                "rev-list",
                "--oneline",
                head,
                "--not",
                "--remotes",
                "--tags",
            ],
        )?;
        Ok(out
            .stdout
            .lines()
            .map(|l| format!("unpushed commit: {l}"))
            .collect())
    }

    fn submodules_behind(&self, ctx: &Deploy<'_>) -> Result<bool> {
        if !self.submodules {
            return Ok(false);
        }
        let out = self.git(ctx, true, &["submodule", "status", "--recursive"])?;
        Ok(out.stdout.lines().any(|l| l.starts_with(['-', '+', 'U'])))
    }

    fn refuse(&self, what: String) -> Error {
        let target = self.resolved.as_ref().map(|(t, _)| t.display().to_string());
        Error::msg(format!(
            "refusing to clobber {}: {what}; set `clobber` to throw this away",
            target.unwrap_or_default()
        ))
    }

    /// Makes sure the wanted commit is here, fetching only if it is not.
    fn fetch_wanted(&self, ctx: &Deploy<'_>, want: &Want) -> Result<String> {
        let (present, spec) = self.wanted(ctx, want)?;
        if let Some(sha) = present {
            return Ok(sha);
        }
        match want {
            Want::Branch(b) => {
                let refspec = format!("+refs/heads/{b}:refs/remotes/origin/{b}");
                self.git(ctx, true, &["fetch", "--quiet", "origin", &refspec])?;
            }
            Want::Tag(t) => {
                let refspec = format!("+refs/tags/{t}:refs/tags/{t}");
                self.git(ctx, true, &["fetch", "--quiet", "origin", &refspec])
                    .map_err(|e| {
                        Error::msg(format!(
                            "tag {t:?} cannot be fetched from {}: {e}",
                            mask_url(&self.url)
                        ))
                    })?;
            }
            Want::Revision(r) => {
                self.git(ctx, true, &["fetch", "--quiet", "--tags", "origin"])?;
                if self.wanted(ctx, want)?.0.is_none() {
                    // A commit no branch or tag reaches; servers may allow it.
                    let _ = self.git(ctx, true, &["fetch", "--quiet", "origin", r]);
                }
            }
        }
        self.wanted(ctx, want)?
            .0
            .ok_or_else(|| Error::msg(format!("{spec} is not in {}", mask_url(&self.url))))
    }
}

/// `git status --porcelain -z` as lines a person reads.
fn parse_status(out: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut entries = out.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (code, path) = entry.split_at(entry.len().min(3));
        let code = code.trim();
        let what = match code {
            "??" => "untracked",
            c if c.contains('D') => "deleted",
            c if c.starts_with('R') => {
                entries.next(); // the rename's source
                "renamed"
            }
            c if c.contains('A') => "added",
            _ => "modified",
        };
        lines.push(format!("{what}: {path}"));
    }
    lines
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.len() > 10 {
        format!("{}, … ({} in all)", items[..10].join(", "), items.len())
    } else {
        items.join(", ")
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
                }
            }
            state => {
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
                    let _ = ctx.host().remove(&target);
                });
            }
        }
        self.check_out(ctx, &want)
    }
}

impl Git {
    /// Fetches if needed, checks out the wanted commit and the submodules.
    fn check_out(&self, ctx: &Deploy<'_>, want: &Want) -> Result<()> {
        let sha = self.fetch_wanted(ctx, want)?;
        let submodules_before = self.gitlinks(ctx)?;
        match want {
            Want::Branch(b) => {
                self.git(
                    ctx,
                    true,
                    &["checkout", "--quiet", "--force", "-B", b, &sha],
                )?;
                let tracking = format!("refs/remotes/origin/{b}");
                self.git(ctx, true, &["update-ref", &tracking, &sha])?;
                let upstream = format!("origin/{b}");
                self.git(
                    ctx,
                    true,
                    &["branch", "--quiet", "--set-upstream-to", &upstream, b],
                )?;
            }
            _ => {
                self.git(
                    ctx,
                    true,
                    &["checkout", "--quiet", "--force", "--detach", &sha],
                )?;
            }
        }
        // git leaves the work trees of submodules the new commit does not
        // have; they would read as untracked files (local changes) next
        // time. The clean check before made sure nothing in them is lost.
        let (target, _) = self.resolved()?;
        let submodules_now = self.gitlinks(ctx)?;
        for gone in submodules_before.difference(&submodules_now) {
            let tracked = self.git(ctx, true, &["ls-files", "--", gone])?;
            if tracked.stdout.trim().is_empty() {
                ctx.host().remove(&target.join(gone))?;
            }
        }
        if self.submodules {
            self.git(ctx, true, &["submodule", "--quiet", "sync", "--recursive"])?;
            self.git(
                ctx,
                true,
                &[
                    "submodule",
                    "--quiet",
                    "update",
                    "--init",
                    "--recursive",
                    "--force",
                ],
            )?;
        }
        Ok(())
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
    fn status_lines_name_what_would_be_lost() {
        let out = " M a.txt\0?? new file\0R  b\0old b\0 D gone\0";
        assert_eq!(
            parse_status(out),
            [
                "modified: a.txt",
                "untracked: new file",
                "renamed: b",
                "deleted: gone"
            ]
        );
    }

    #[test]
    fn repository_names_become_targets() {
        assert_eq!(repo_name("https://h/org/app.git").as_deref(), Some("app"));
        assert_eq!(repo_name("git@h:org/app.git").as_deref(), Some("app"));
        assert_eq!(repo_name("/srv/repos/lib/").as_deref(), Some("lib"));
        assert_eq!(repo_name("https://h/").as_deref(), Some("h"));
    }
}
