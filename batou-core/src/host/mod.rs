//! The handle through which `verify` and `update` act on the target.
//!
//! Components never touch the file system or spawn processes directly; they
//! go through [`Host`], so every stdlib component runs the same on the
//! controller (local deploys, tests on temp dirs) and inside the agent on a
//! remote host. Writes are atomic: a reader of a deployed file sees the old
//! or the new content, never a half-written one.

mod batch;
mod beneath;
mod capture;
mod command;
pub mod leftovers;
mod stream;
mod trust;
pub mod undo;
mod users;
mod write;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub use command::{CommandError, CommandErrorKind, CommandOutput, CommandSpec};
pub use stream::StagedFile;
pub use trust::check_dir;
pub use users::UserRecord;

/// A failed file-system operation on the target.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {source}", .path.display())]
pub struct HostError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn fail<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HostError + 'a {
    move |source| HostError {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What kind of thing is at a path (symlinks are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// The result of `lstat`.
#[derive(Debug, Clone)]
pub struct Stat {
    pub kind: FileKind,
    /// Permission bits only (`S_IMODE`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub modified: SystemTime,
}

/// Operations on the machine being deployed.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// `Some` in batched mode: files written and not yet synced.
    batch: Option<Arc<batch::Batch>>,
    /// The deployment's own directory, below which no foreign symlink is
    /// followed (see [`Host::beneath`]).
    beneath: Option<Arc<beneath::Beneath>>,
    /// `Some` while a root deploys with revert on: how to undo each
    /// change is recorded before it is made (see [`undo`]).
    undo: Option<Arc<undo::UndoLog>>,
}

impl Host {
    /// The machine this process runs on; every [`Host::write`] is durable
    /// when it returns.
    pub fn local() -> Self {
        Host::default()
    }

    /// Below `root` (a target's `target_directory`, a local project),
    /// paths are reached without following a symlink that belongs to
    /// another user than the deploying one or root: every operation opens
    /// its way from `root` one component at a time and acts through what
    /// it opened, so a directory swapped for a symlink meanwhile changes
    /// nothing. Such a symlink is an error naming it. Paths elsewhere are
    /// used as they are.
    pub fn beneath(mut self, root: impl AsRef<Path>) -> Self {
        self.beneath = Some(Arc::new(beneath::Beneath::new(root.as_ref())));
        self
    }

    /// This host, recording how to undo each change in `log` first.
    pub fn with_undo(&self, log: Arc<undo::UndoLog>) -> Self {
        Host {
            undo: Some(log),
            ..self.clone()
        }
    }

    /// Marks whether a component's update (or a handler) runs: only then
    /// is a command a side effect to list as not reverted.
    pub fn set_updating(&self, updating: bool) {
        if let Some(log) = &self.undo {
            log.set_updating(updating);
        }
    }

    /// Notes that `component` (breadcrumbs) is about to be updated: if
    /// its root is undone, its revert handlers run.
    pub fn note_update(&self, component: &str) {
        if let Some(log) = &self.undo {
            log.updating_component(component);
        }
    }

    /// This host, recording nothing (to undo, or to act outside a root).
    pub fn without_undo(&self) -> Self {
        Host {
            undo: None,
            ..self.clone()
        }
    }

    /// Before a change that replaces or removes what is at `path`
    /// (reached as `real`, seen as `seen`): its undo noted, if recording.
    fn note(
        &self,
        op: &'static str,
        path: &Path,
        real: &Path,
        seen: Option<&Stat>,
    ) -> Result<(), HostError> {
        match &self.undo {
            Some(log) => log
                .before(path, real, seen)
                .map_err(|e| undo_failed(op, path, e)),
            None => Ok(()),
        }
    }

    /// Where an operation on the entry `path` acts (the entry itself not
    /// followed; see [`Host::beneath`]).
    fn entry(&self, path: &Path) -> std::io::Result<beneath::At> {
        match &self.beneath {
            Some(b) => b.entry(path),
            None => Ok(beneath::At::plain(path)),
        }
    }

    /// Where an operation on what `path` names acts (a last symlink
    /// followed when it is the deploying user's or root's).
    fn target(&self, path: &Path) -> std::io::Result<beneath::At> {
        match &self.beneath {
            Some(b) => b.target(path),
            None => Ok(beneath::At::plain(path)),
        }
    }

    /// The file at `path` opened for reading: through its directory and
    /// not following a last symlink where that is anchored (the rare
    /// symlink there is then looked at by [`Host::target`]'s rule).
    fn open_file(&self, path: &Path) -> std::io::Result<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let at = self.entry(path)?;
        if !at.anchored() {
            return fs::File::open(&at.path);
        }
        match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&at.path)
        {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                fs::File::open(&self.target(path)?.path)
            }
            other => other,
        }
    }

    /// See [`beneath::Beneath::forget`].
    fn forget(&self) {
        if let Some(b) = &self.beneath {
            b.forget();
        }
    }

    /// The machine this process runs on, with durability batched: a write
    /// is still atomic (readers see the old or the new content), but the
    /// `fsync` of the file and of its directory waits for [`Host::sync`],
    /// which the deploy calls when a root is done. One sync for a whole
    /// root instead of two per file is what makes writing a thousand files
    /// cost milliseconds rather than a second (the file system commits its
    /// journal once, not a thousand times).
    ///
    /// The price: a power cut before the sync can leave a file of that
    /// root empty: a new one anywhere, a replaced one where the file
    /// system does not order a rename after the data (xfs; ext4 keeps old
    /// or new with its default `auto_da_alloc`).
    /// A kill or a dropped connection cannot: the page cache survives
    /// them. Renaming only after syncing would make a root's files appear
    /// at its end, but a later component of the same root may read them.
    pub fn local_batched() -> Self {
        Host {
            batch: Some(Arc::default()),
            beneath: None,
            undo: None,
        }
    }

    /// Makes every write since the last sync durable (batched mode; a
    /// no-op otherwise): each file, then each directory that got a new
    /// entry, is synced. A file replaced again meanwhile is synced once.
    pub fn sync(&self) -> Result<(), HostError> {
        match &self.batch {
            Some(batch) => batch.sync(),
            None => Ok(()),
        }
    }

    /// The file's bytes, or `None` if nothing is there.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        // As `fs::read`: one stat for the size, then reads (File's own
        // read_to_end would also ask for the position, per file).
        let read = |f: fs::File| {
            let size = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
            let mut bytes = Vec::with_capacity(size + 1);
            std::io::Read::read_to_end(&mut std::io::Read::take(&f, u64::MAX), &mut bytes)
                .map(|_| bytes)
        };
        match self.open_file(path).and_then(read) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail("read", path)(e)),
        }
    }

    /// `lstat`, or `None` if nothing is there.
    pub fn stat(&self, path: &Path) -> Result<Option<Stat>, HostError> {
        match self
            .entry(path)
            .and_then(|at| fs::symlink_metadata(&at.path))
        {
            Ok(m) => {
                let ft = m.file_type();
                let kind = if ft.is_symlink() {
                    FileKind::Symlink
                } else if ft.is_dir() {
                    FileKind::Directory
                } else if ft.is_file() {
                    FileKind::File
                } else {
                    FileKind::Other
                };
                Ok(Some(Stat {
                    kind,
                    mode: m.permissions().mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                    size: m.len(),
                    modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail("stat", path)(e)),
        }
    }

    /// Creates a directory; with `leading`, its missing parents too.
    pub fn mkdir(&self, path: &Path, leading: bool) -> Result<(), HostError> {
        self.forget();
        if self.undo.is_some() {
            // Each directory that will be made, outermost first.
            let mut missing = Vec::new();
            let mut at = Some(path);
            while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
                if self.stat(p)?.is_some() {
                    break;
                }
                missing.push(p);
                at = if leading { p.parent() } else { None };
            }
            for p in missing.into_iter().rev() {
                self.note("create directory", p, p, None)?;
            }
            // What those looks opened is not what the creation below may
            // rely on.
            self.forget();
        }
        if leading
            && let Some(b) = &self.beneath
            && b.create_dirs(path)
                .map_err(fail("create directory", path))?
        {
            return Ok(());
        }
        let at = self.entry(path).map_err(fail("create directory", path))?;
        let result = if leading {
            fs::create_dir_all(&at.path)
        } else {
            fs::create_dir(&at.path)
        };
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.path.is_dir() => Ok(()),
            other => other.map_err(fail("create directory", path)),
        }
    }

    /// Makes `link` a symlink pointing at `target`, replacing whatever
    /// symlink or file is there atomically (new link + rename).
    pub fn symlink(&self, target: &Path, link: &Path) -> Result<(), HostError> {
        self.forget();
        if self.undo.is_some() {
            let seen = self.stat(link)?;
            let at = self.entry(link).map_err(fail("create symlink", link))?;
            self.note("create symlink", link, &at.path, seen.as_ref())?;
        }
        let at = self.entry(link).map_err(fail("create symlink", link))?;
        let name = link
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        leftovers::sweep_once(parent_dir(link), &at.dir);
        let tmp = at.dir.join(format!("{}{name}", leftovers::own_prefix()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(fail("create symlink", link))?;
        fs::rename(&tmp, &at.path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            fail("replace", link)(e)
        })
    }

    /// Where a symlink points, or `None` if `path` is not a symlink.
    pub fn read_link(&self, path: &Path) -> Result<Option<PathBuf>, HostError> {
        match self.entry(path).and_then(|at| fs::read_link(&at.path)) {
            Ok(p) => Ok(Some(p)),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::InvalidInput =>
            {
                Ok(None)
            }
            Err(e) => Err(fail("read link", path)(e)),
        }
    }

    pub fn chmod(&self, path: &Path, mode: u32) -> Result<(), HostError> {
        if let Some(log) = &self.undo {
            let old = self
                .target(path)
                .and_then(|at| fs::metadata(&at.path))
                .map_err(fail("chmod", path))?;
            log.before_attrs(path, Some(old.permissions().mode() & 0o7777), (0, 0))
                .map_err(|e| undo_failed("chmod", path, e))?;
        }
        self.target(path)
            .and_then(|at| fs::set_permissions(&at.path, fs::Permissions::from_mode(mode)))
            .map_err(fail("chmod", path))
    }

    /// Changes owner and/or group without following symlinks.
    pub fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<(), HostError> {
        if let Some(log) = &self.undo {
            let old = self
                .entry(path)
                .and_then(|at| fs::symlink_metadata(&at.path))
                .map_err(fail("chown", path))?;
            log.before_attrs(path, None, (old.uid(), old.gid()))
                .map_err(|e| undo_failed("chown", path, e))?;
        }
        self.entry(path)
            .and_then(|at| std::os::unix::fs::lchown(&at.path, uid, gid))
            .map_err(fail("chown", path))
    }

    /// The uid for a user name (or a numeric id given as text).
    pub fn user_id(&self, name: &str) -> Result<Option<u32>, HostError> {
        users::user_id(name).map_err(fail("look up user", Path::new(name)))
    }

    /// The gid for a group name (or a numeric id given as text).
    pub fn group_id(&self, name: &str) -> Result<Option<u32>, HostError> {
        users::group_id(name).map_err(fail("look up group", Path::new(name)))
    }

    /// The passwd entry of the user `name` (not a numeric id), or `None`.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, HostError> {
        users::user_record(name).map_err(fail("look up user", Path::new(name)))
    }

    /// The effective uid of this process (the deploying user).
    pub fn current_uid(&self) -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// The names in a directory, sorted; `None` if nothing is there.
    pub fn read_dir(&self, path: &Path) -> Result<Option<Vec<std::ffi::OsString>>, HostError> {
        let at = match self.target(path) {
            Ok(at) => at,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail("list", path)(e)),
        };
        let entries = match fs::read_dir(&at.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail("list", path)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            names.push(entry.map_err(fail("list", path))?.file_name());
        }
        names.sort();
        Ok(Some(names))
    }

    /// Removes whatever is at `path` (file, symlink or directory tree).
    /// Nothing there is fine.
    pub fn remove(&self, path: &Path) -> Result<(), HostError> {
        self.forget();
        let at = match self.entry(path) {
            Ok(at) => at,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fail("remove", path)(e)),
        };
        let seen = self.stat(path)?;
        if seen.is_some() {
            self.note("remove", path, &at.path, seen.as_ref())?;
        }
        match seen {
            None => Ok(()),
            // std's remove_dir_all does not follow symlinks inside.
            Some(s) if s.kind == FileKind::Directory => {
                fs::remove_dir_all(&at.path).map_err(fail("remove", path))
            }
            Some(_) => fs::remove_file(&at.path).map_err(fail("remove", path)),
        }
    }

    /// Runs a command to completion (see [`CommandSpec`]).
    pub fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        // A command may move any directory.
        self.forget();
        if let Some(log) = &self.undo {
            log.side_effect(spec.display());
        }
        // A working directory below the root is entered the same safe way.
        if let (Some(_), Some(cwd)) = (&self.beneath, spec.cwd_dir()) {
            let at = self.target(cwd).map_err(|e| CommandError {
                command: spec.display(),
                kind: if e.kind() == std::io::ErrorKind::NotFound {
                    CommandErrorKind::NoWorkingDirectory(cwd.to_path_buf())
                } else {
                    CommandErrorKind::Spawn(e)
                },
            })?;
            // Errors name the directory as the component gave it, not
            // the descriptor path it was reached by.
            return command::run(&spec.clone().cwd(&at.path)).map_err(|mut e| {
                if let CommandErrorKind::NoWorkingDirectory(dir) = &mut e.kind {
                    *dir = cwd.to_path_buf();
                }
                e
            });
        }
        command::run(spec)
    }
}

/// A change refused because how to undo it could not be recorded.
fn undo_failed(op: &'static str, path: &Path, e: std::io::Error) -> HostError {
    HostError {
        op,
        path: path.to_path_buf(),
        source: std::io::Error::new(e.kind(), format!("cannot record how to undo it: {e}")),
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests;
