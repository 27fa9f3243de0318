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
    /// Journal lines not written yet: notes that undo nothing by
    /// themselves (a component being updated) go out with the next
    /// change's line, in the same write.
    unwritten: Vec<u8>,
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

mod copy;
mod kept;
mod restore;

use copy::{copy_tree, keep_file, mtime_parts};
use restore::undo;
pub use restore::{describe_recovered, recover};

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

/// The names in `dir`, sorted (records are named to sort in the order
/// they were made); no `dir` is none.
fn sorted_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
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
                unwritten: Vec::new(),
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
        // Only what changes the host must be on disk before the change:
        // a kill right after an `Updated` note loses nothing to undo.
        let urgent = !matches!(entry, Entry::Updated { .. });
        serde_json::to_writer(&mut inner.unwritten, &entry).map_err(std::io::Error::other)?;
        inner.unwritten.push(b'\n');
        if urgent {
            if let Some(journal) = inner.journal.as_mut() {
                // One write: a kill leaves its lines whole or absent (a
                // line cut short is dropped when read).
                journal.write_all(&inner.unwritten)?;
            }
            inner.unwritten.clear();
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
        // `seen` is the caller's lstat of this very path: what is kept
        // needs no second look.
        let kept = |saved: String| Entry::File {
            path: path_buf.clone(),
            saved,
            mode: seen.mode,
            uid: seen.uid,
            gid: seen.gid,
            mtime: mtime_parts(seen.modified),
        };
        let entry = match seen.kind {
            // The link itself kept as a hard link (the same inode comes
            // back); where that cannot be, its target.
            FileKind::Symlink => match fs::hard_link(real, self.dir.join(&saved)) {
                Ok(()) => kept(saved),
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
                keep_file(real, &self.dir.join(&saved))?;
                inner.bytes += seen.size;
                kept(saved)
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
