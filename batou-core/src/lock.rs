//! The project lock: one deploy per project at a time (batou's
//! `.batou-lock`, a non-blocking exclusive `flock` holding the PID).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Held while a run is in progress; released on drop (and by the kernel
/// if the process dies).
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("could not acquire lock {}: another instance of batou is running in this project", .0.display())]
    Held(PathBuf),
    #[error("cannot open lock file {}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
}

impl ProjectLock {
    /// Takes `<project>/.batou-lock` without waiting.
    pub fn acquire(project_dir: &Path) -> Result<ProjectLock, LockError> {
        let path = project_dir.join(".batou-lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                LockError::Held(path)
            } else {
                LockError::Io(path, err)
            });
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(ProjectLock { _file: file, path })
    }
}
