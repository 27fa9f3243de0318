//! Where `batou secrets edit` keeps the cleartext while an editor has it,
//! and how it runs the editor so that the cleartext never outlives the
//! command.
//!
//! The editor needs a file, so the cleartext is written to one, but only
//! inside a private area: `batou-secrets-<uid>` in `$XDG_RUNTIME_DIR` (a
//! per-user tmpfs, gone at logout) or else the temp directory, a `0700`
//! directory that must belong to the user and that nobody else may write
//! to, and in it a `0700` directory per edit named after the process,
//! holding a `0600` file.
//!
//! The cleartext goes away with the edit on every way out:
//!
//! * normally, and on errors and panics, when the [`Scratch`] is dropped;
//! * on SIGHUP (the terminal closed) and SIGTERM: while the editor runs,
//!   [`run_editor`] passes the signal on to it, waits for it to end and
//!   says which signal came, so the caller can save what the editor had
//!   saved (or tell the user it is discarded) before removing it; outside
//!   the editor the signal is noted for the caller the same way;
//! * SIGINT and SIGQUIT (Ctrl-C and Ctrl-\ reach both batou and the
//!   editor, which share the terminal's foreground group) are the
//!   editor's to handle while it runs and do not stop batou;
//! * when batou itself is killed (SIGKILL, a crash, a power cut) nothing
//!   can run: the next batou run [`sweep`]s the directories of edits
//!   whose process is gone.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use super::SecretsError;

/// The directory of one edit, removed (with the cleartext) on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new private directory for one edit, in the user's area (created
    /// `0700` if missing; refused if it is not the user's alone).
    pub fn create() -> Result<Scratch, SecretsError> {
        Scratch::create_in(&base())
    }

    /// [`Scratch::create`] with the area in `base`.
    pub fn create_in(base: &Path) -> Result<Scratch, SecretsError> {
        let area = area(base)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(&area)
            .map_err(|source| SecretsError::Write { file: area, source })?;
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` to a new `0600` file `name` in the directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, SecretsError> {
        use std::io::Write;
        let path = self.dir.path().join(name);
        let err = |source| SecretsError::Write {
            file: path.clone(),
            source,
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        Ok(path)
    }
}

/// Where the user's area is: `$XDG_RUNTIME_DIR`, else the temp directory.
fn base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// The user's area for edits in `base`; made `0700` if missing.
fn area(base: &Path) -> Result<PathBuf, SecretsError> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let area = base.join(format!("batou-secrets-{uid}"));
    match fs::DirBuilder::new().mode(0o700).create(&area) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(SecretsError::Write { file: area, source }),
    }
    let meta = fs::symlink_metadata(&area).map_err(|source| SecretsError::Read {
        file: area.clone(),
        source,
    })?;
    let why = if !meta.is_dir() {
        Some("it is not a directory (a symlink?)")
    } else if meta.uid() != uid {
        Some("it belongs to another user")
    } else if meta.mode() & 0o077 != 0 {
        Some("others may read or write it (it must be 0700)")
    } else {
        None
    };
    match why {
        Some(why) => Err(SecretsError::UnsafeScratch {
            dir: area,
            why: why.into(),
        }),
        None => Ok(area),
    }
}

/// Removes what edits whose batou is gone (killed, crashed) left in the
/// user's area; returns the directories removed. Best effort: an area
/// that cannot be read is left alone. Cheap when there is no area.
pub fn sweep() -> Vec<PathBuf> {
    sweep_in(&base())
}

/// [`sweep`] of the area in `base`.
pub fn sweep_in(base: &Path) -> Vec<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if fs::symlink_metadata(base.join(format!("batou-secrets-{uid}"))).is_err() {
        return Vec::new();
    }
    let Ok(area) = area(base) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(&area) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name: OsString = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
            .filter(|p| *p > 0);
        let Some(pid) = pid else { continue };
        if process_exists(pid) {
            continue;
        }
        let path = entry.path();
        if fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The editor's pid while it runs (0 otherwise), for the handler.
static EDITOR: AtomicI32 = AtomicI32::new(0);
/// The SIGHUP or SIGTERM that came during the edit (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    let editor = EDITOR.load(Ordering::SeqCst);
    if matches!(sig, libc::SIGINT | libc::SIGQUIT) && editor != 0 {
        // The editor has the terminal: Ctrl-C is its business.
        return;
    }
    SIGNAL.store(sig, Ordering::SeqCst);
    if editor != 0 && sig != libc::SIGINT && sig != libc::SIGQUIT {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(editor, sig);
        }
    }
}

const HANDLED: [libc::c_int; 4] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];

/// While it lives, SIGHUP, SIGTERM, SIGINT and SIGQUIT are noted instead
/// of ending the process (see the module docs); dropping it puts the
/// previous handlers back.
pub struct Signals {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Signals {
    pub fn catch() -> Signals {
        SIGNAL.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in HANDLED {
            // SAFETY: sigaction(2) with a zeroed, then filled struct; the
            // handler only touches atomics and calls kill(2).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                action.sa_flags = libc::SA_RESTART;
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        Signals { previous }
    }

    /// The signal that asked batou to stop, if one came (SIGINT and
    /// SIGQUIT only count outside the editor).
    pub fn received(&self) -> Option<i32> {
        match SIGNAL.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restores the action saved by `catch`.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}

/// How the editor ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorEnd {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Killed(i32),
}

/// Runs `editor` (a shell word list, as `$EDITOR`) on `file` and waits
/// for it, under `signals` (see [`Signals`]): a SIGHUP or SIGTERM is
/// passed on to the editor, and [`Signals::received`] says it came.
pub fn run_editor(
    editor: &str,
    file: &Path,
    _signals: &Signals,
) -> Result<EditorEnd, SecretsError> {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file)
        .spawn()
        .map_err(|source| SecretsError::Spawn {
            program: editor.to_string(),
            source,
        })?;
    EDITOR.store(child.id() as i32, Ordering::SeqCst);
    let status = child.wait();
    EDITOR.store(0, Ordering::SeqCst);
    let status = status.map_err(|source| SecretsError::Spawn {
        program: editor.to_string(),
        source,
    })?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => EditorEnd::Exited(code),
        (None, signal) => EditorEnd::Killed(signal.unwrap_or(0)),
    })
}

/// The name of a signal, for messages.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_private_and_goes_away() {
        let base = tempfile::tempdir().unwrap();
        let scratch = Scratch::create_in(base.path()).unwrap();
        let dir = scratch.path().to_path_buf();
        let file = scratch.write("secrets.cfg", b"[x]\npw = clear\n").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(dir.parent().unwrap()), 0o700);
        assert_eq!(mode(&file), 0o600);
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn sweep_removes_what_dead_edits_left_and_nothing_else() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let base = tempfile::tempdir().unwrap();
        assert!(sweep_in(base.path()).is_empty(), "no area, nothing to do");
        let area = area(base.path()).unwrap();
        let stale = area.join(format!("{dead}-left"));
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join("secrets.cfg"), "pw = clear\n").unwrap();
        let live = Scratch::create_in(base.path()).unwrap();
        let removed = sweep_in(base.path());
        assert!(removed.contains(&stale), "{removed:?}");
        assert!(!stale.exists());
        assert!(live.path().exists());
    }

    #[test]
    fn an_area_others_can_reach_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let area = area(base.path()).unwrap();
        fs::set_permissions(&area, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Scratch::create_in(base.path()).err().unwrap();
        assert!(err.to_string().contains("must be 0700"), "{err}");
        fs::remove_dir(&area).unwrap();
        std::os::unix::fs::symlink(base.path(), &area).unwrap();
        let err = Scratch::create_in(base.path()).err().unwrap();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
