//! Putting a record back: newest change first, each path through the
//! host's safe lookups; and the records a killed deploy left behind.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::copy::{copy_file, copy_tree, mtime_of};
use super::{Entry, Host, JOURNAL, Reverted, TRASH, active, alive, kept, sorted_names};

/// Removes whatever is at `real`; nothing there is fine.
fn clear(real: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(real) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(real),
        Ok(_) => fs::remove_file(real),
    }
}

/// Undoes `entries` (newest last) of the record in `dir`.
pub(super) fn undo(host: &Host, dir: &Path, entries: Vec<Entry>) -> Reverted {
    let mut out = Reverted::default();
    let mut restored = HashSet::new();
    for entry in entries.into_iter().rev() {
        // Directories removed by the step before must not be reached
        // through what the host still holds open.
        host.forget();
        let (path, result) = match entry {
            Entry::NotReverted { what } => {
                out.not_reverted.insert(0, what);
                continue;
            }
            Entry::Updated { component } => {
                out.updated.insert(0, component);
                continue;
            }
            Entry::Absent { path } => {
                let r = match host.entry(&path) {
                    Ok(at) => clear(&at.path),
                    // Its directory is gone already: so is it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                };
                (path, r)
            }
            Entry::DirTime { path, mtime } => {
                // Best effort, and not worth a line of its own.
                if let Ok(d) = host.target(&path).and_then(|at| fs::File::open(&at.path)) {
                    let _ = d.set_modified(mtime_of(mtime.0, mtime.1));
                }
                continue;
            }
            Entry::Mode { path, mode } => {
                let r = host
                    .target(&path)
                    .and_then(|at| fs::set_permissions(&at.path, fs::Permissions::from_mode(mode)));
                (path, r)
            }
            Entry::Owner { path, uid, gid } => {
                let r = host
                    .entry(&path)
                    .and_then(|at| std::os::unix::fs::lchown(&at.path, Some(uid), Some(gid)));
                (path, r)
            }
            Entry::Symlink {
                path,
                target,
                uid,
                gid,
            } => {
                let r = host.entry(&path).and_then(|at| {
                    let tmp = at.dir.join(format!(
                        "{}undo-link",
                        super::super::leftovers::own_prefix()
                    ));
                    let _ = fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(&target, &tmp)?;
                    let _ = std::os::unix::fs::lchown(&tmp, Some(uid), Some(gid));
                    replace_with(&tmp, &at.path)
                });
                (path, r)
            }
            Entry::File {
                path,
                saved,
                mode,
                uid,
                gid,
                mtime,
            } => {
                let from = dir.join(&saved);
                let r = host.entry(&path).and_then(|at| {
                    put_back(&from, &at.path, &at.dir)?;
                    std::os::unix::fs::lchown(&at.path, Some(uid), Some(gid))?;
                    if fs::symlink_metadata(&at.path)?.file_type().is_symlink() {
                        // A kept link is the old inode: nothing else to set.
                        return Ok(());
                    }
                    fs::set_permissions(&at.path, fs::Permissions::from_mode(mode))?;
                    let _ = fs::File::open(&at.path)
                        .and_then(|f| f.set_modified(mtime_of(mtime.0, mtime.1)));
                    Ok(())
                });
                (path, r)
            }
            Entry::Tree { path, saved, modes } => {
                let from = dir.join(&saved);
                let r = host.entry(&path).and_then(|at| {
                    clear(&at.path)?;
                    match fs::rename(&from, &at.path) {
                        Ok(()) => {}
                        Err(_) => {
                            copy_tree(&from, &at.path, None)?;
                        }
                    }
                    // Copies kept 0600, directories kept 0700: their own
                    // modes back.
                    for (rel, mode) in &modes {
                        fs::set_permissions(at.path.join(rel), fs::Permissions::from_mode(*mode))?;
                    }
                    Ok(())
                });
                (path, r)
            }
        };
        match result {
            Ok(()) => {
                if restored.insert(path.clone()) {
                    out.restored.push(path.display().to_string());
                }
            }
            Err(e) => out
                .errors
                .push(format!("cannot restore {}: {e}", path.display())),
        }
    }
    out
}

/// Moves `tmp` over `real`, whatever `real` is now (a directory there is
/// removed first: rename cannot replace one with a file).
fn replace_with(tmp: &Path, real: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(real).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(real)?;
    }
    fs::rename(tmp, real).inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

/// Puts the kept file `from` back at `real` (in directory `dir`): renamed
/// when on the same file system, else copied beside it and renamed.
fn put_back(from: &Path, real: &Path, dir: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(real).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(real)?;
    }
    match fs::rename(from, real) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let tmp = dir.join(format!(
                "{}undo-file",
                super::super::leftovers::own_prefix()
            ));
            let _ = fs::remove_file(&tmp);
            copy_file(from, &tmp, &fs::metadata(from)?, false)?;
            replace_with(&tmp, real)
        }
        Err(e) => Err(e),
    }
}

/// Restores the records left in `store` by deploys that were killed
/// before their roots ended (an agent SIGKILLed, a crash), then drops
/// them. A record of a process still running is left alone (a local
/// deploy takes no lock). One [`Reverted`] per record restored.
/// `locked`: the caller holds the deploy lock, so no record is in use.
pub fn recover(store: &Path, host: &Host, locked: bool) -> std::io::Result<Vec<Reverted>> {
    // Records of roots that succeeded, left by an exit that came before
    // their removal finished (a local deploy ends right after its last
    // root). Only finished records are there: removing one that another
    // run is removing too is harmless.
    let _ = fs::remove_dir_all(store.join(TRASH));
    kept::drop_stale_pending(store, locked)?;
    let active = active(store);
    // Newest root last in the name order does not hold across pids; a
    // killed agent ran roots of one host, each on its own paths.
    let names = sorted_names(&active)?;
    let mut out = Vec::new();
    for name in names.into_iter().rev() {
        let pid: Option<i32> = name.split('-').next().and_then(|p| p.parse().ok());
        if !locked
            && let Some(pid) = pid
            && pid as u32 != std::process::id()
            && alive(pid)
        {
            continue;
        }
        let dir = active.join(&name);
        let text = fs::read_to_string(dir.join(JOURNAL)).unwrap_or_default();
        // A line cut short by the kill is the last one, for a change
        // that did not happen yet.
        let entries: Vec<Entry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let reverted = undo(host, &dir, entries);
        // Tried twice now (the failed root's own revert, this one): what
        // still fails is reported, and the record goes.
        fs::remove_dir_all(&dir)?;
        out.push(reverted);
    }
    Ok(out)
}

/// The warning that says what [`recover`] restored.
pub fn describe_recovered(r: &Reverted) -> String {
    let mut text = format!(
        "the previous deploy was killed while deploying a root; reverted it first ({} paths restored",
        r.restored.len()
    );
    if !r.restored.is_empty() {
        text.push_str(": ");
        text.push_str(&r.restored.join(", "));
    }
    text.push(')');
    if !r.not_reverted.is_empty() {
        text.push_str("; not reverted: ");
        text.push_str(&r.not_reverted.join(", "));
    }
    if !r.errors.is_empty() {
        text.push_str("; ");
        text.push_str(&r.errors.join("; "));
    }
    text
}
