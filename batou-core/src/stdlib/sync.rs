//! Syncing a directory from a source directory on the target (what batou's
//! `SyncDirectory` does with rsync, without needing rsync): files are
//! compared by content (rsync `-c`), symlinks copied as links (`-l`), a
//! copied file gets the source file's mode; unchanged files are left alone.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::host::{FileKind, Host};

/// One step to bring the destination in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Mkdir(PathBuf),
    /// Copy a file's bytes (atomically) with the source's mode.
    Copy {
        from: PathBuf,
        to: PathBuf,
        mode: u32,
    },
    Link {
        target: PathBuf,
        at: PathBuf,
    },
    /// Something in the way, or (with purge) not in the source.
    Remove(PathBuf),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Mkdir(p) => write!(f, "create {}/", p.display()),
            Step::Copy { to, .. } => write!(f, "copy {}", to.display()),
            Step::Link { at, target } => write!(f, "link {} -> {}", at.display(), target.display()),
            Step::Remove(p) => write!(f, "remove {}", p.display()),
        }
    }
}

/// The steps that make `dst` match `src` (below the directory itself).
/// `dst_present`: whether `dst` is a directory now (else it is taken as
/// empty, as it will be once created).
pub(crate) fn plan(
    host: &Host,
    src: &Path,
    dst: &Path,
    dst_present: bool,
    purge: bool,
) -> Result<Vec<Step>> {
    match host.stat(src)? {
        Some(s) if s.kind == FileKind::Directory => {}
        _ => {
            return Err(Error::usage(format!(
                "the source directory {} does not exist",
                src.display()
            )));
        }
    }
    let mut steps = Vec::new();
    walk(host, src, dst, dst_present, purge, &mut steps)?;
    Ok(steps)
}

fn walk(
    host: &Host,
    src: &Path,
    dst: &Path,
    present: bool,
    purge: bool,
    steps: &mut Vec<Step>,
) -> Result<()> {
    let names = host.read_dir(src)?.unwrap_or_default();
    for name in &names {
        let (from, to) = (src.join(name), dst.join(name));
        let Some(source) = host.stat(&from)? else {
            continue; // vanished while we looked
        };
        let there = if present { host.stat(&to)? } else { None };
        let kind_there = there.as_ref().map(|s| s.kind);
        match source.kind {
            FileKind::Directory => {
                let is_dir = kind_there == Some(FileKind::Directory);
                if !is_dir {
                    if there.is_some() {
                        steps.push(Step::Remove(to.clone()));
                    }
                    steps.push(Step::Mkdir(to.clone()));
                }
                walk(host, &from, &to, is_dir, purge, steps)?;
            }
            FileKind::File => {
                let same =
                    kind_there == Some(FileKind::File) && host.read(&from)? == host.read(&to)?;
                if !same {
                    if there.is_some() && kind_there != Some(FileKind::File) {
                        steps.push(Step::Remove(to.clone()));
                    }
                    steps.push(Step::Copy {
                        from,
                        to,
                        mode: source.mode,
                    });
                }
            }
            FileKind::Symlink => {
                let target = host.read_link(&from)?.unwrap_or_default();
                let current = if present { host.read_link(&to)? } else { None };
                if current.as_ref() != Some(&target) {
                    if kind_there == Some(FileKind::Directory) {
                        steps.push(Step::Remove(to.clone()));
                    }
                    steps.push(Step::Link { target, at: to });
                }
            }
            // Sockets, fifos, devices: not synced (rsync skips them too
            // without -D).
            FileKind::Other => {}
        }
    }
    if purge && present {
        for name in host.read_dir(dst)?.unwrap_or_default() {
            if !names.contains(&name) {
                steps.push(Step::Remove(dst.join(name)));
            }
        }
    }
    Ok(())
}

/// Carries out `steps` in order.
pub(crate) fn apply(host: &Host, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            Step::Mkdir(p) => host.mkdir(p, false)?,
            Step::Copy { from, to, mode } => {
                let bytes = host.read(from)?.ok_or_else(|| {
                    Error::Message(format!("{} vanished while syncing", from.display()))
                })?;
                host.write(to, &bytes, Some(*mode))?;
            }
            Step::Link { target, at } => host.symlink(target, at)?,
            Step::Remove(p) => host.remove(p)?,
        }
    }
    Ok(())
}
