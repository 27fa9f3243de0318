//! Atomic writes: a reader of the target sees the old or the new content,
//! never part of it, and a process killed halfway leaves the target as it
//! was.
//!
//! A file that replaces another is written to a temp file in the same
//! directory and renamed over it. A file that is new is written to an
//! unnamed file (`O_TMPFILE`) and linked in once complete: one directory
//! entry instead of a temp name added, looked up and removed again, and
//! nothing to clean up after a kill (an unnamed file goes with its last
//! descriptor). File systems without `O_TMPFILE` take the first way.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::beneath::At;
use super::{FileKind, Host, HostError, Stat, batch, fail, leftovers, parent_dir};

impl Host {
    /// Writes the file at `path` atomically (see the module docs): a new
    /// file is linked in whole, an existing one replaced by a renamed temp
    /// file, each synced first. `mode` defaults to the existing file's
    /// mode, else 0644. In batched mode ([`Host::local_batched`]) the syncs
    /// wait for [`Host::sync`].
    pub fn write(&self, path: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), HostError> {
        let seen = self.stat(path)?;
        self.write_seen(path, contents, mode, seen.as_ref())
    }

    /// [`Host::write`] for a caller that has just looked at `path` with
    /// [`Host::stat`] and found `seen` (a component's `verify`), which
    /// saves looking again.
    ///
    /// Should `path` have changed since, the write is still atomic and
    /// replaces nothing it did not mean to: a file that appeared at a
    /// path seen empty is found and replaced the usual way.
    pub fn write_seen(
        &self,
        path: &Path,
        contents: &[u8],
        mode: Option<u32>,
        seen: Option<&Stat>,
    ) -> Result<(), HostError> {
        let dir = parent_dir(path);
        // Below the root, the directory is opened safely once and used
        // through `at` (see `Host::beneath`); `path` and `dir` name it.
        let at = self.entry(path).map_err(fail("write", path))?;
        self.note("write", path, &at.path, seen)?;
        if seen.is_none() {
            let new_mode = mode.unwrap_or(0o644);
            let sync = self.batch.is_none();
            if let Some(file) = create_unnamed(path, &at, contents, new_mode, sync)? {
                self.written(path, dir, file, None);
                return Ok(());
            }
            // Something appeared there meanwhile, or the file system has
            // no unnamed files: look again, then replace.
            let seen = self.stat(path)?;
            return self.replace(
                path,
                &at,
                contents,
                mode_of(mode, seen.as_ref()),
                seen.as_ref(),
            );
        }
        self.replace(path, &at, contents, mode_of(mode, seen), seen)
    }

    /// The temp file and rename way, for a target that may exist.
    fn replace(
        &self,
        path: &Path,
        at: &At,
        contents: &[u8],
        mode: u32,
        seen: Option<&Stat>,
    ) -> Result<(), HostError> {
        let dir = parent_dir(path);
        leftovers::sweep_once(dir, &at.dir);
        // The pid in the name lets a later run tell a stale temp file
        // (its writer was killed) from one being written right now.
        let mut tmp = tempfile::Builder::new()
            .prefix(&leftovers::own_prefix())
            .tempfile_in(&at.dir)
            .map_err(fail("create a temporary file in", dir))?;
        // Through the plain file: tempfile's own writer adds the temp
        // file's random name to every error, which only confuses.
        tmp.as_file_mut()
            .write_all(contents)
            .map_err(fail("write", path))?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(fail("chmod", path))?;
        if self.batch.is_none() {
            tmp.as_file().sync_all().map_err(fail("sync", path))?;
        }
        // Recording undo keeps the old file in the store (a hard link on
        // the same file system): the rename frees nothing, and holding it
        // would only cost an open and a close. (Kept as a copy, on another
        // file system, it is freed in the rename: rare, and still correct.)
        let held = self
            .batch
            .as_ref()
            .filter(|_| self.undo.is_none())
            .and_then(|_| seen.filter(|s| s.kind == FileKind::File))
            .and_then(|_| batch::Batch::hold(&at.path));
        let written = tmp
            .persist(&at.path)
            .map_err(|e| fail("replace", path)(e.error))?;
        self.written(path, dir, written, held);
        Ok(())
    }

    /// After `written` took its place at `path`: the batch records it, or
    /// (unbatched) the directory entry is made durable now.
    fn written(&self, path: &Path, dir: &Path, written: fs::File, held: Option<fs::File>) {
        match &self.batch {
            Some(batch) => batch.written(path, dir, written, held),
            None => {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
    }
}

/// The mode a write gives the file: the one asked for, else the existing
/// file's, else 0644.
fn mode_of(mode: Option<u32>, seen: Option<&Stat>) -> u32 {
    mode.or(seen.filter(|s| s.kind == FileKind::File).map(|s| s.mode))
        .unwrap_or(0o644)
}

/// Writes `contents` to an unnamed file in `dir` and links it in as
/// `path`, which must not exist; `sync`: durable before it is linked.
/// `None` when that cannot be done this way (no `O_TMPFILE` here, no
/// `/proc`, or something is at `path` now); nothing is left behind then.
#[cfg(target_os = "linux")]
fn create_unnamed(
    path: &Path,
    at: &At,
    contents: &[u8],
    mode: u32,
    sync: bool,
) -> Result<Option<fs::File>, HostError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // The file gets its mode as it is created when the umask leaves it
    // whole (0644 under the usual 022): one change of the inode less.
    let whole = umask().is_some_and(|umask| mode & (umask | 0o7000) == 0);
    // Any failure to open falls back to the temp file way, which reports
    // a missing or unwritable directory in its own words.
    let Ok(mut file) = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(if whole { mode } else { 0o600 })
        .open(&at.dir)
    else {
        return Ok(None);
    };
    file.write_all(contents).map_err(fail("write", path))?;
    if !whole {
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(fail("chmod", path))?;
    }
    if sync {
        file.sync_all().map_err(fail("sync", path))?;
    }
    // Linking by descriptor (`AT_EMPTY_PATH`) needs CAP_DAC_READ_SEARCH;
    // through /proc it needs nothing. It fails if `path` exists.
    let fd_path = format!("/proc/self/fd/{}\0", file.as_raw_fd());
    let Ok(target) =
        std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(at.path.as_os_str()))
    else {
        return Ok(None);
    };
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            fd_path.as_ptr().cast(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    Ok((linked == 0).then_some(file))
}

/// This process's umask, from `/proc` (reading it with `umask(2)` would
/// change it for a moment, under other threads creating files).
#[cfg(target_os = "linux")]
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

#[cfg(not(target_os = "linux"))]
fn create_unnamed(
    _path: &Path,
    _at: &At,
    _contents: &[u8],
    _mode: u32,
    _sync: bool,
) -> Result<Option<fs::File>, HostError> {
    Ok(None)
}
