//! The kept record of the last deploy, for `batou rollback`.
//!
//! A root that succeeds moves its undo record to this deploy's pending
//! records (`pending/PID/SEQ-ROOT/`), with a fingerprint of every path it
//! changed as the root left it. When the deploy ends, [`finish_deploy`]
//! makes the pending records the host's kept record (`last/`), replacing
//! the one before — unless they are larger than the environment's bound:
//! then no record is kept at all (a partial one could not put the host
//! back). A deploy that changed nothing leaves the kept record alone:
//! what it describes is still how the host is.
//!
//! A rollback ([`load_kept`]) compares every path with its fingerprint
//! ([`KeptDeploy::drift`]), restores the roots newest first and consumes
//! the record ([`KeptDeploy::consume`]). Same privacy as the rest of the
//! store: 0700 directories, 0600 files.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Entry, Host, JOURNAL, Reverted, TRASH, private_dir, undo};

/// This deploy's records of roots that succeeded.
const PENDING: &str = "pending";
/// The kept record of the last deploy that changed something.
const LAST: &str = "last";
/// Each kept root's host, name, size and fingerprints.
const META: &str = "meta.json";

/// Which root a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKey {
    pub host: String,
    pub root: String,
}

/// What a path looked like when its root finished: enough to tell that
/// someone changed it since (a hand edit changes the inode, size, mtime
/// or at least the ctime, which only the kernel sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Print {
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    target: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    key: RootKey,
    /// Bytes of old content kept.
    bytes: u64,
    /// Each changed path and its fingerprint (`None`: nothing there).
    after: Vec<(PathBuf, Option<Print>)>,
}

/// What is at `path` (reached through `host`) now.
fn print(host: &Host, path: &Path) -> std::io::Result<Option<Print>> {
    let at = match host.entry(path) {
        Ok(at) => at,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = match fs::symlink_metadata(&at.path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        'f'
    } else {
        'o'
    };
    // A directory's size and times change with its entries, which other
    // paths of the record account for.
    let dir = kind == 'd';
    Ok(Some(Print {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        ino: meta.ino(),
        size: if dir { 0 } else { meta.size() },
        mtime: if dir {
            (0, 0)
        } else {
            (meta.mtime(), meta.mtime_nsec())
        },
        ctime: if dir {
            (0, 0)
        } else {
            (meta.ctime(), meta.ctime_nsec())
        },
        target: if kind == 'l' {
            fs::read_link(&at.path).ok()
        } else {
            None
        },
    }))
}

/// The paths a record changed, each once, in the order first changed.
fn changed_paths(entries: &[Entry]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in entries {
        let path = match e {
            Entry::Absent { path }
            | Entry::File { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::Tree { path, .. }
            | Entry::Mode { path, .. }
            | Entry::Owner { path, .. } => path,
            Entry::DirTime { .. } | Entry::NotReverted { .. } | Entry::Updated { .. } => continue,
        };
        if seen.insert(path.clone()) {
            out.push(path.clone());
        }
    }
    out
}

fn pending(store: &Path) -> PathBuf {
    store.join(PENDING).join(std::process::id().to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(bytes)
}

/// Moves the finished record in `dir` (of root `key`, `entries`, `bytes`
/// kept) to this process's pending records, fingerprinting its paths
/// through `host`. Numbered in the order roots finish: a rollback goes
/// the other way.
pub(super) fn stage(
    dir: &Path,
    store: &Path,
    key: &RootKey,
    entries: &[Entry],
    bytes: u64,
    host: &Host,
) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut after = Vec::new();
    for path in changed_paths(entries) {
        let state = print(host, &path)?;
        after.push((path, state));
    }
    // A kept old file that is now only in the store (its path holds the
    // new version) becomes 0600: it may be an old secret, kept until the
    // next deploy. Its mode is in the record and put back with it.
    for e in entries {
        // Kept with no access for others already: nothing to look at.
        if let Entry::File { saved, mode, .. } = e
            && mode & 0o077 != 0
        {
            let kept = dir.join(saved);
            if let Ok(m) = fs::symlink_metadata(&kept)
                && m.file_type().is_file()
                && m.nlink() == 1
                && m.mode() & 0o7777 != 0o600
            {
                fs::set_permissions(&kept, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            }
        }
    }
    let meta = Meta {
        key: key.clone(),
        bytes,
        after,
    };
    let text = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
    write_private(&dir.join(META), &text)?;
    let pending = pending(store);
    private_dir(&pending)?;
    let seq = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    fs::rename(dir, pending.join(format!("{seq:06}-{name}")))
}

/// What [`finish_deploy`] did with this deploy's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The deploy changed nothing: the kept record (if any) stays.
    Unchanged,
    /// This deploy's record is kept: `roots` roots, `bytes` of old
    /// content.
    Kept { roots: usize, bytes: u64 },
    /// Over the bound: no record is kept (not this one, not the one
    /// before).
    TooLarge { bytes: u64, limit: u64 },
}

impl Kept {
    /// The warning a deploy shows for a record over the bound.
    pub fn warning(&self) -> Option<String> {
        let Kept::TooLarge { bytes, limit } = self else {
            return None;
        };
        if *limit == 0 {
            return Some(
                "rollback_limit = 0: no undo record is kept, so batou rollback cannot undo this deploy"
                    .into(),
            );
        }
        Some(format!(
            "this deploy's undo record holds {} of old content, over rollback_limit = {} MiB: no record is kept, so batou rollback cannot undo this deploy",
            mib(*bytes),
            limit >> 20
        ))
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// Removes `dir` out of the way: renamed into the trash at once, deleted
/// on a thread of its own (freeing the old files' blocks need not hold
/// up the deploy; what an exit cuts short, the next deploy removes).
fn drop_dir(store: &Path, dir: &Path, label: &str) -> std::io::Result<()> {
    if fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    let trash = store.join(TRASH);
    private_dir(&trash)?;
    let gone = trash.join(format!("{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&gone);
    fs::rename(dir, &gone)?;
    std::thread::spawn(move || {
        let _ = fs::remove_dir_all(&gone);
    });
    Ok(())
}

/// The deploy of this process ended: its pending records become the
/// kept record when they hold at most `limit` bytes of old content
/// (`0`: keep none).
pub fn finish_deploy(store: &Path, limit: u64) -> std::io::Result<Kept> {
    let pending = pending(store);
    let roots = read_roots(&pending)?;
    if roots.is_empty() {
        let _ = fs::remove_dir(&pending);
        return Ok(Kept::Unchanged);
    }
    let bytes: u64 = roots.iter().map(|(_, m)| m.bytes).sum();
    drop_dir(store, &store.join(LAST), "last")?;
    if bytes > limit || limit == 0 {
        drop_dir(store, &pending, "pending")?;
        return Ok(Kept::TooLarge { bytes, limit });
    }
    fs::rename(&pending, store.join(LAST))?;
    Ok(Kept::Kept {
        roots: roots.len(),
        bytes,
    })
}

/// The root records in `dir`, in the order they finished.
fn read_roots(dir: &Path) -> std::io::Result<Vec<(PathBuf, Meta)>> {
    let mut out = Vec::new();
    for name in super::sorted_names(dir)? {
        let root = dir.join(&name);
        let text = fs::read(root.join(META))?;
        let meta: Meta = serde_json::from_slice(&text)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", root.join(META).display())))?;
        out.push((root, meta));
    }
    Ok(out)
}

/// Records of deploys that ended without [`finish_deploy`] (an agent
/// killed after some roots) are dropped: their roots stay deployed, and
/// the kept record goes too, since it no longer describes the host. A
/// record of a process still running is left alone unless `locked`.
pub(super) fn drop_stale_pending(store: &Path, locked: bool) -> std::io::Result<()> {
    let dir = store.join(PENDING);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid: Option<i32> = name.parse().ok();
        if !locked
            && let Some(pid) = pid
            && pid as u32 != std::process::id()
            && super::alive(pid)
        {
            continue;
        }
        let path = entry.path();
        if read_roots(&path).is_ok_and(|r| !r.is_empty()) {
            drop_dir(store, &store.join(LAST), "last")?;
        }
        fs::remove_dir_all(&path)?;
    }
    Ok(())
}

/// Drops the kept record (a rollback consumed it, or it is given up).
pub fn discard_kept(store: &Path) -> std::io::Result<()> {
    drop_dir(store, &store.join(LAST), "last")
}

/// One root of the kept record.
#[derive(Debug)]
pub struct KeptRoot {
    pub key: RootKey,
    dir: PathBuf,
    meta: Meta,
}

impl KeptRoot {
    /// The paths this root changed.
    pub fn paths(&self) -> Vec<String> {
        self.meta
            .after
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect()
    }

    /// What the deploy did that cannot be undone, and the components it
    /// updated (for `-P`: read, not restored).
    pub fn described(&self) -> std::io::Result<(Vec<String>, Vec<String>)> {
        let mut not_reverted = Vec::new();
        let mut updated = Vec::new();
        for e in self.entries()? {
            match e {
                Entry::NotReverted { what } => not_reverted.push(what),
                Entry::Updated { component } => updated.push(component),
                _ => {}
            }
        }
        Ok((not_reverted, updated))
    }

    fn entries(&self) -> std::io::Result<Vec<Entry>> {
        let text = fs::read_to_string(self.dir.join(JOURNAL))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Puts back what the root changed (newest change first) through
    /// `host`, which must record nothing itself. `updated` in the result
    /// names the components whose revert handlers are due.
    pub fn restore(&self, host: &Host) -> std::io::Result<Reverted> {
        Ok(undo(host, &self.dir, self.entries()?))
    }
}

/// A path changed since the deploy that the kept record would undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub path: String,
    /// What is different, e.g. `content or times changed`.
    pub how: String,
}

/// The kept record of a host's last deploy.
#[derive(Debug)]
pub struct KeptDeploy {
    store: PathBuf,
    /// In the order they finished.
    pub roots: Vec<KeptRoot>,
}

/// The kept record in `store`; `None` when there is nothing to undo.
pub fn load_kept(store: &Path) -> std::io::Result<Option<KeptDeploy>> {
    let roots = read_roots(&store.join(LAST))?;
    if roots.is_empty() {
        return Ok(None);
    }
    Ok(Some(KeptDeploy {
        store: store.to_path_buf(),
        roots: roots
            .into_iter()
            .map(|(dir, meta)| KeptRoot {
                key: meta.key.clone(),
                dir,
                meta,
            })
            .collect(),
    }))
}

impl KeptDeploy {
    /// Every path whose state differs from how the deploy left it (the
    /// last root that changed a path says how).
    pub fn drift(&self, host: &Host) -> Vec<Drift> {
        let mut expected: BTreeMap<&Path, &Option<Print>> = BTreeMap::new();
        for root in &self.roots {
            for (path, state) in &root.meta.after {
                expected.insert(path, state);
            }
        }
        let mut out = Vec::new();
        for (path, want) in expected {
            let now = match print(host, path) {
                Ok(now) => now,
                Err(e) => {
                    out.push(Drift {
                        path: path.display().to_string(),
                        how: format!("cannot be read: {e}"),
                    });
                    continue;
                }
            };
            if let Some(how) = difference(want.as_ref(), now.as_ref()) {
                out.push(Drift {
                    path: path.display().to_string(),
                    how,
                });
            }
        }
        out
    }

    /// The rollback is done: the record goes (a second rollback has
    /// nothing to undo).
    pub fn consume(self) -> std::io::Result<()> {
        discard_kept(&self.store)
    }
}

/// How `now` differs from `want`, in words; `None`: it does not.
fn difference(want: Option<&Print>, now: Option<&Print>) -> Option<String> {
    let (want, now) = match (want, now) {
        (None, None) => return None,
        (Some(_), None) => return Some("removed".into()),
        (None, Some(_)) => return Some("created".into()),
        (Some(w), Some(n)) => (w, n),
    };
    if want == now {
        return None;
    }
    Some(if want.kind != now.kind {
        "replaced by another kind of file".into()
    } else if want.target != now.target {
        "points elsewhere".into()
    } else if want.mode != now.mode {
        format!("mode {:04o}, not {:04o}", now.mode, want.mode)
    } else if (want.uid, want.gid) != (now.uid, now.gid) {
        "owner changed".into()
    } else {
        "content changed".into()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::UndoLog;
    use super::*;

    /// Writes `content` to `file` as root `app` of host `h`, in a record
    /// of `store` that is then committed with `keep`.
    fn deploy(store: &Path, file: &Path, content: &str) {
        let log = Arc::new(UndoLog::begin(store, 0, "app").unwrap());
        let plain = Host::local();
        plain
            .with_undo(log.clone())
            .write(file, content.as_bytes(), Some(0o640))
            .unwrap();
        let key = RootKey {
            host: "h".into(),
            root: "app".into(),
        };
        log.commit(Some((&key, &plain))).unwrap();
    }

    #[test]
    fn the_last_deploy_is_kept_checked_for_drift_restored_and_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("undo");
        let file = dir.path().join("app.conf");
        std::fs::write(&file, "old\n").unwrap();
        deploy(&store, &file, "new\n");
        assert_eq!(
            finish_deploy(&store, 1 << 20).unwrap(),
            Kept::Kept { roots: 1, bytes: 4 }
        );
        // A deploy that changes nothing keeps the record.
        assert_eq!(finish_deploy(&store, 1 << 20).unwrap(), Kept::Unchanged);
        let kept = load_kept(&store).unwrap().expect("a kept record");
        assert_eq!(kept.drift(&Host::local()), Vec::new());

        std::fs::write(&file, "edited\n").unwrap();
        let drift = kept.drift(&Host::local());
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(drift[0].path, file.display().to_string());

        let reverted = kept.roots[0].restore(&Host::local()).unwrap();
        assert_eq!(reverted.errors, Vec::<String>::new());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "old\n");
        kept.consume().unwrap();
        assert!(load_kept(&store).unwrap().is_none(), "consumed");
    }

    #[test]
    fn a_record_over_the_limit_is_not_kept_and_drops_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("undo");
        let file = dir.path().join("app.conf");
        std::fs::write(&file, "old\n").unwrap();
        deploy(&store, &file, "new\n");
        finish_deploy(&store, 1 << 20).unwrap();
        deploy(&store, &file, "newer and longer\n");
        assert_eq!(
            finish_deploy(&store, 3).unwrap(),
            Kept::TooLarge { bytes: 4, limit: 3 }
        );
        assert!(load_kept(&store).unwrap().is_none());
    }
}
