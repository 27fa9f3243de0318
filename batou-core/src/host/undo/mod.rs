//! Undo records: how to put back what a root changed.
//!
//! Before each change a [`Host`] with an [`UndoLog`] makes, it notes how
//! to undo it: the old file kept as a hard link to its inode (no copy on
//! the same file system; a copy otherwise), a symlink's old target, old
//! mode and owner, or that nothing was there. The notes go to a journal
//! on disk as they are taken, so an agent killed halfway leaves what the
//! next deploy needs to restore ([`recover`]). Undoing replays them in
//! reverse order.
//!
//! The store lives beside the deploy lock, a 0700 directory with 0600
//! files: saved contents may be secrets. The journal is not synced: a
//! kill cannot lose it (the page cache survives), a power cut can.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{FileKind, Host, Stat};

/// How to undo one change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    /// Nothing was there: remove what is.
    Absent { path: PathBuf },
    /// A file was there; it is kept in the store as `saved`.
    File {
        path: PathBuf,
        saved: String,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: (i64, u32),
    },
    /// A symlink was there.
    Symlink {
        path: PathBuf,
        target: PathBuf,
        uid: u32,
        gid: u32,
    },
    /// A directory tree was there; kept in the store as `saved`.
    Tree {
        path: PathBuf,
        saved: String,
        /// Files of the tree kept as 0600 copies (not hard links: another
        /// file system), by path below it, with the mode to put back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        modes: Vec<(PathBuf, u32)>,
    },
    /// The mode of what `path` names (a last symlink followed) was this.
    Mode { path: PathBuf, mode: u32 },
    /// The owner of what is at `path` (not followed) was this.
    Owner { path: PathBuf, uid: u32, gid: u32 },
    /// The directory's mtime was this before an entry in it changed.
    DirTime { path: PathBuf, mtime: (i64, u32) },
    /// Something that cannot be undone happened (a command ran).
    NotReverted { what: String },
    /// This component (breadcrumbs) was updated: its revert handlers
    /// run when the root is undone.
    Updated { component: String },
}

/// What undoing a log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reverted {
    /// Paths put back, in the order they were restored.
    pub restored: Vec<String>,
    /// What could not be undone (commands run).
    pub not_reverted: Vec<String>,
    /// Restores that failed, each naming its path.
    pub errors: Vec<String>,
    /// Components (breadcrumbs) that were updated, in order: whose
    /// revert handlers run.
    pub updated: Vec<String>,
}

struct Inner {
    journal: Option<fs::File>,
    entries: Vec<Entry>,
    /// Paths whose state before the root is fully recorded: later
    /// changes need no record of their own.
    captured: HashSet<PathBuf>,
    /// Directories whose mtime is recorded.
    dirs: HashSet<PathBuf>,
    seq: u64,
    /// Commands count as side effects only while a component updates
    /// (verify's commands only look).
    updating: bool,
    /// The first failure to record; the change it was for is refused.
    broken: bool,
    /// Bytes of old content kept (what a kept record costs on disk).
    bytes: u64,
}

/// The undo record of one root, kept while it deploys.
pub struct UndoLog {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for UndoLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UndoLog").field("dir", &self.dir).finish()
    }
}

mod kept;

pub use kept::{
    Drift, Kept, KeptDeploy, KeptRoot, RootKey, discard_kept, finish_deploy, load_kept,
};

const JOURNAL: &str = "journal";
/// Records of roots that succeeded, being removed.
const TRASH: &str = "done";

/// Creates `dir` (and its parents) private to us.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Where the running roots' records are kept in `store`.
fn active(store: &Path) -> PathBuf {
    store.join("active")
}

impl UndoLog {
    /// Starts the record of root `name` (index `index`) in `store`.
    pub fn begin(store: &Path, index: usize, name: &str) -> std::io::Result<UndoLog> {
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let dir = active(store).join(format!("{}-{index}-{safe}", std::process::id()));
        private_dir(&active(store))?;
        let _ = fs::remove_dir_all(&dir);
        private_dir(&dir)?;
        let journal = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join(JOURNAL))?;
        Ok(UndoLog {
            dir,
            inner: Mutex::new(Inner {
                journal: Some(journal),
                entries: Vec::new(),
                captured: HashSet::new(),
                dirs: HashSet::new(),
                seq: 0,
                updating: false,
                broken: false,
                bytes: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a component's update (or a handler) runs now.
    pub fn set_updating(&self, updating: bool) {
        self.lock().updating = updating;
    }

    /// Notes `entry`: in the journal first, then in memory.
    fn push(&self, inner: &mut Inner, entry: Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if let Some(journal) = inner.journal.as_mut() {
            // One write: a kill leaves the line whole or absent.
            journal.write_all(&line)?;
        }
        inner.entries.push(entry);
        Ok(())
    }

    /// Records how to undo a change to `path` (reached as `real`), which
    /// the caller saw as `seen` (`None`: nothing there): one that replaces
    /// or removes what is there.
    pub(super) fn before(
        &self,
        path: &Path,
        real: &Path,
        seen: Option<&Stat>,
    ) -> std::io::Result<()> {
        self.guarded(path, |this, inner| {
            if let Some(dir) = path.parent()
                && !inner.dirs.contains(dir)
            {
                // The directory's mtime changes with its entries; put
                // back last, it reads as before.
                let real_dir = real.parent().unwrap_or(dir);
                if let Ok(m) = fs::metadata(real_dir) {
                    let mtime = (m.mtime(), m.mtime_nsec() as u32);
                    this.push(
                        inner,
                        Entry::DirTime {
                            path: dir.to_path_buf(),
                            mtime,
                        },
                    )?;
                }
                inner.dirs.insert(dir.to_path_buf());
            }
            this.record(inner, path, real, seen)
        })
    }

    /// Records the mode (`Some`) or owner (`None`) `path` had before a
    /// chmod or chown.
    pub(super) fn before_attrs(
        &self,
        path: &Path,
        mode: Option<u32>,
        owner: (u32, u32),
    ) -> std::io::Result<()> {
        let path_buf = path.to_path_buf();
        let entry = match mode {
            Some(mode) => Entry::Mode {
                path: path_buf,
                mode,
            },
            None => Entry::Owner {
                path: path_buf,
                uid: owner.0,
                gid: owner.1,
            },
        };
        self.guarded(path, |this, inner| this.push(inner, entry))
    }

    /// Runs `record` unless `path` is fully recorded already; a failure
    /// refuses this and every later change (it could not be undone).
    fn guarded(
        &self,
        path: &Path,
        record: impl FnOnce(&Self, &mut Inner) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut inner = self.lock();
        if inner.broken {
            return Err(std::io::Error::other(
                "the undo record could not be written",
            ));
        }
        if inner.captured.contains(path) {
            return Ok(());
        }
        let result = record(self, &mut inner);
        if result.is_err() {
            inner.broken = true;
        }
        result
    }

    fn record(
        &self,
        inner: &mut Inner,
        path: &Path,
        real: &Path,
        seen: Option<&Stat>,
    ) -> std::io::Result<()> {
        let path_buf = path.to_path_buf();
        let Some(seen) = seen else {
            self.push(
                inner,
                Entry::Absent {
                    path: path_buf.clone(),
                },
            )?;
            inner.captured.insert(path_buf);
            return Ok(());
        };
        inner.seq += 1;
        let saved = format!("{:06}", inner.seq);
        let entry = match seen.kind {
            // The link itself kept as a hard link (the same inode comes
            // back); where that cannot be, its target.
            FileKind::Symlink => match fs::hard_link(real, self.dir.join(&saved)) {
                Ok(()) => {
                    let meta = fs::symlink_metadata(real)?;
                    Entry::File {
                        path: path_buf.clone(),
                        saved,
                        mode: seen.mode,
                        uid: seen.uid,
                        gid: seen.gid,
                        mtime: (meta.mtime(), meta.mtime_nsec() as u32),
                    }
                }
                Err(_) => Entry::Symlink {
                    path: path_buf.clone(),
                    target: fs::read_link(real)?,
                    uid: seen.uid,
                    gid: seen.gid,
                },
            },
            FileKind::Directory => {
                let mut modes = Vec::new();
                inner.bytes += copy_tree(real, &self.dir.join(&saved), Some(&mut modes))?;
                Entry::Tree {
                    path: path_buf.clone(),
                    saved,
                    modes,
                }
            }
            FileKind::File | FileKind::Other => {
                let meta = fs::symlink_metadata(real)?;
                keep_file(real, &self.dir.join(&saved), &meta)?;
                inner.bytes += meta.len();
                Entry::File {
                    path: path_buf.clone(),
                    saved,
                    mode: seen.mode,
                    uid: seen.uid,
                    gid: seen.gid,
                    mtime: (meta.mtime(), meta.mtime_nsec() as u32),
                }
            }
        };
        self.push(inner, entry)?;
        inner.captured.insert(path_buf);
        Ok(())
    }

    /// Records that `what` ran and cannot be undone (only while updating).
    pub(super) fn side_effect(&self, what: String) {
        let mut inner = self.lock();
        if inner.updating {
            // Best effort: a lost line only shortens the list shown.
            let _ = self.push(&mut inner, Entry::NotReverted { what });
        }
    }

    /// Notes that `component` (breadcrumbs) is about to be updated, so
    /// its revert handlers run if the root is undone (best effort: a
    /// lost line only leaves a handler out).
    pub(super) fn updating_component(&self, component: &str) {
        let mut inner = self.lock();
        let _ = self.push(
            &mut inner,
            Entry::Updated {
                component: component.to_string(),
            },
        );
    }

    /// Whether anything was recorded that changed the host (a record of
    /// components updated without a change to undo is nothing).
    pub fn is_empty(&self) -> bool {
        self.lock()
            .entries
            .iter()
            .all(|e| matches!(e, Entry::Updated { .. } | Entry::NotReverted { .. }))
    }

    /// The root succeeded. With `keep` (host `host`, root `root`, reached
    /// through `through`), a record that changed something is moved to
    /// this deploy's pending records (see [`finish_deploy`]) with what
    /// each path looks like now, for `batou rollback`. Otherwise it is
    /// dropped: moved out of `active/` at once (so no later deploy
    /// restores it), and removed on a thread of its own: removing the old
    /// files' last links frees their blocks, which the deploy need not
    /// wait for. What an exit cuts short there, the next deploy removes.
    pub fn commit(&self, keep: Option<(&RootKey, &Host)>) -> std::io::Result<()> {
        let (entries, bytes) = {
            let mut inner = self.lock();
            inner.journal = None;
            (std::mem::take(&mut inner.entries), inner.bytes)
        };
        let changed = entries
            .iter()
            .any(|e| !matches!(e, Entry::Updated { .. } | Entry::NotReverted { .. }));
        if let Some((key, through)) = keep
            && changed
            && let Some(store) = self.dir.parent().and_then(Path::parent)
        {
            return kept::stage(&self.dir, store, key, &entries, bytes, through);
        }
        let Some(store) = self.dir.parent().and_then(Path::parent) else {
            return fs::remove_dir_all(&self.dir);
        };
        let trash = store.join(TRASH);
        private_dir(&trash)?;
        let name = self.dir.file_name().unwrap_or_default();
        let gone = trash.join(name);
        let _ = fs::remove_dir_all(&gone);
        match fs::rename(&self.dir, &gone) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        std::thread::spawn(move || {
            let _ = fs::remove_dir_all(&gone);
        });
        Ok(())
    }

    /// Undoes everything recorded, newest first, through `host` (which
    /// must record nothing itself), then drops the record.
    pub fn revert(&self, host: &Host) -> Reverted {
        let entries = {
            let mut inner = self.lock();
            inner.journal = None;
            std::mem::take(&mut inner.entries)
        };
        let reverted = undo(host, &self.dir, entries);
        if reverted.errors.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        reverted
    }
}

/// Keeps the file at `real` as `to`: a hard link, else a copy with the
/// same mode, owner and mtime.
fn keep_file(real: &Path, to: &Path, meta: &fs::Metadata) -> std::io::Result<()> {
    match fs::hard_link(real, to) {
        Ok(()) => Ok(()),
        Err(_) => copy_file(real, to, meta, true),
    }
}

fn copy_file(from: &Path, to: &Path, meta: &fs::Metadata, keep: bool) -> std::io::Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    let _ = std::os::unix::fs::fchown(&dst, Some(meta.uid()), Some(meta.gid()));
    // A kept file stays 0600 (it may be a secret); its mode is in the
    // record and put back with it. Copies back into place take theirs.
    if !keep {
        dst.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    let _ = dst.set_modified(mtime_of(meta.mtime(), meta.mtime_nsec() as u32));
    Ok(())
}

fn mtime_of(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Copies the tree `from` to `to`: files hard-linked when `link` and
/// possible, else copied; directories and symlinks made anew with the
/// same mode and owner.
/// Returns the bytes of the files it kept. `keep` (recording): files are
/// hard-linked where possible, else kept as 0600 copies, directories
/// 0700; the modes of both (by path below `from`) are added to it.
/// `None` (restoring): copies with their modes.
fn copy_tree(
    from: &Path,
    to: &Path,
    mut keep: Option<&mut Vec<(PathBuf, u32)>>,
) -> std::io::Result<u64> {
    copy_below(from, to, Path::new(""), &mut keep)
}

fn copy_below(
    from: &Path,
    to: &Path,
    rel: &Path,
    keep: &mut Option<&mut Vec<(PathBuf, u32)>>,
) -> std::io::Result<u64> {
    let meta = fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    let mut bytes = 0;
    if ft.is_dir() {
        fs::DirBuilder::new().mode(0o700).create(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            bytes += copy_below(&entry.path(), &to.join(&name), &rel.join(&name), keep)?;
        }
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
        match keep {
            // Kept 0700 in the store (what is below may be secret); its
            // mode comes back with the tree.
            Some(modes) => modes.push((rel.to_path_buf(), meta.mode() & 0o7777)),
            None => fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?,
        }
        let _ = fs::File::open(to)
            .and_then(|d| d.set_modified(mtime_of(meta.mtime(), meta.mtime_nsec() as u32)));
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    } else if let Some(modes) = keep {
        if fs::hard_link(from, to).is_err() {
            copy_file(from, to, &meta, true)?;
            modes.push((rel.to_path_buf(), meta.mode() & 0o7777));
        }
        bytes += meta.len();
    } else {
        copy_file(from, to, &meta, false)?;
        bytes += meta.len();
    }
    Ok(bytes)
}

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
fn undo(host: &Host, dir: &Path, entries: Vec<Entry>) -> Reverted {
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
                    let tmp = at
                        .dir
                        .join(format!("{}undo-link", super::leftovers::own_prefix()));
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
            let tmp = dir.join(format!("{}undo-file", super::leftovers::own_prefix()));
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
    let names = match fs::read_dir(&active) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<_> = names
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .collect();
    // Newest root last in the name order does not hold across pids; a
    // killed agent ran roots of one host, each on its own paths.
    names.sort();
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

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The undo store for a deploy lock at `lock` (its directory's `undo`).
pub fn store_for_lock(lock: &Path) -> PathBuf {
    lock.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("undo")
}
