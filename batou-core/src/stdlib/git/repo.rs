//! Running git for [`super::Git`]: inspecting the checkout, fetching and
//! checking out, always with argument vectors.

use super::{Git, State, Want};
use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandOutput, CommandSpec, FileKind};
use crate::stdlib::checksum::mask_url;

impl Git {
    /// Runs git in the checkout (or, with `in_target` false, in its parent).
    pub(super) fn git(
        &self,
        ctx: &Deploy<'_>,
        in_target: bool,
        args: &[&str],
    ) -> Result<CommandOutput> {
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
    pub(super) fn masked(&self, error: Error) -> Error {
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
    pub(super) fn git_maybe(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<Option<String>> {
        match self.git(ctx, true, args) {
            Ok(out) => Ok(Some(out.stdout.trim().to_string())),
            Err(Error::Command(e)) if matches!(e.kind, CommandErrorKind::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn inspect(&self, ctx: &Deploy<'_>) -> Result<State> {
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
    pub(super) fn wanted(&self, ctx: &Deploy<'_>, want: &Want) -> Result<(Option<String>, String)> {
        let spec = match want {
            Want::Branch(b) => self.remote_head(ctx, b)?,
            Want::Tag(t) => format!("refs/tags/{t}"),
            Want::Revision(r) => r.clone(),
        };
        let commit = format!("{spec}^{{commit}}");
        let present = self.git_maybe(ctx, &["rev-parse", "--verify", "--quiet", &commit])?;
        Ok((present, spec))
    }

    pub(super) fn remote_head(&self, ctx: &Deploy<'_>, branch: &str) -> Result<String> {
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
    pub(super) fn gitlinks(&self, ctx: &Deploy<'_>) -> Result<std::collections::BTreeSet<String>> {
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
    pub(super) fn unpushed(&self, ctx: &Deploy<'_>, head: Option<&str>) -> Result<Vec<String>> {
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

    pub(super) fn submodules_behind(&self, ctx: &Deploy<'_>) -> Result<bool> {
        if !self.submodules {
            return Ok(false);
        }
        let out = self.git(ctx, true, &["submodule", "status", "--recursive"])?;
        Ok(out.stdout.lines().any(|l| l.starts_with(['-', '+', 'U'])))
    }

    pub(super) fn refuse(&self, what: String) -> Error {
        let target = self.resolved.as_ref().map(|(t, _)| t.display().to_string());
        Error::msg(format!(
            "refusing to clobber {}: {what}; set `clobber` to throw this away",
            target.unwrap_or_default()
        ))
    }

    /// Makes sure the wanted commit is here, fetching only if it is not.
    pub(super) fn fetch_wanted(&self, ctx: &Deploy<'_>, want: &Want) -> Result<String> {
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

    /// Fetches if needed, checks out the wanted commit and the submodules.
    pub(super) fn check_out(&self, ctx: &Deploy<'_>, want: &Want) -> Result<()> {
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

/// `git status --porcelain -z` as lines a person reads.
pub(super) fn parse_status(out: &str) -> Vec<String> {
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

pub(super) fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.len() > 10 {
        format!("{}, … ({} in all)", items[..10].join(", "), items.len())
    } else {
        items.join(", ")
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
}
