//! Temp files of atomic writes that a killed process left behind.
//!
//! [`super::Host::write`] replaces a file by writing `.batou-tmp-<pid>-…`
//! next to it and renaming that over it (a new file is written unnamed and
//! leaves nothing behind), and [`super::Host::symlink`] does the same with
//! a temp link. A process killed between the two (SIGKILL, power loss,
//! the agent's host rebooting) leaves the temp file: the target itself is
//! intact, but the directory holds a stray copy — possibly of a secret.
//! Before a process first writes into a directory it removes the temp
//! files there whose writer is gone, so the next deploy that touches the
//! directory cleans up after a crashed one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The start of every temp file name.
pub const PREFIX: &str = ".batou-tmp-";

/// The prefix of this process's temp files: `.batou-tmp-<pid>-`.
pub fn own_prefix() -> &'static str {
    // Once per process: it is asked for every file written.
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWN.get_or_init(|| format!("{PREFIX}{}-", std::process::id()))
}

/// Directories already swept by this process (once is enough: later
/// leftovers could only come from processes that die while we run).
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Removes the stale temp files in `dir`, once per process and directory;
/// `at` is where `dir` is reached (itself, or through an open directory,
/// see `Host::beneath`).
pub fn sweep_once(dir: &Path, at: &Path) {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if !swept
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_path_buf())
        {
            return;
        }
    }
    sweep(at);
}

/// Removes every `.batou-tmp-<pid>-…` in `dir` whose process no longer
/// runs; returns what it removed. Best effort: a directory that cannot be
/// read, or a file that cannot be removed, is left as it is.
pub fn sweep(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = writer_pid(&name.to_string_lossy()) else {
            continue;
        };
        if process_exists(pid) {
            continue;
        }
        let path = entry.path();
        // Only files and symlinks are ever written this way.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// The pid in a temp file name `.batou-tmp-<pid>-…`.
fn writer_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok().filter(|p| *p > 0)
}

/// Whether a process `pid` exists (one of another user counts: we cannot
/// signal it, but it may be writing).
fn process_exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that is certainly not running: a child that has been reaped.
    fn dead_pid() -> i32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        pid
    }

    #[test]
    fn temp_files_of_dead_writers_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let stale = dir.path().join(format!("{PREFIX}{dead}-abc123"));
        let stale_link = dir.path().join(format!("{PREFIX}{dead}-link"));
        let live = dir.path().join(format!("{}xyz", own_prefix()));
        let unrelated = dir.path().join(".batou-tmp-nopid");
        let target = dir.path().join("app.conf");
        for f in [&stale, &live, &unrelated, &target] {
            std::fs::write(f, "x").unwrap();
        }
        std::os::unix::fs::symlink("nowhere", &stale_link).unwrap();
        let mut removed = sweep(dir.path());
        removed.sort();
        let mut expected = vec![stale.clone(), stale_link.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(live.exists() && unrelated.exists() && target.exists());
    }

    #[test]
    fn names_without_a_pid_are_not_temp_files() {
        assert_eq!(writer_pid(".batou-tmp-123-x"), Some(123));
        assert_eq!(writer_pid(".batou-tmp-abc-x"), None);
        assert_eq!(writer_pid(".batou-tmp-0-x"), None);
        assert_eq!(writer_pid("batou-tmp-1-x"), None);
    }
}
