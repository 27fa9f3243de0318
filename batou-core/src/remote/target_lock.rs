//! The deploy lock on a target: one deploy per host at a time.
//!
//! A `flock` on a file that names its holder. The kernel drops the lock when
//! the agent dies, so a crashed deploy never blocks the next one; an agent
//! that hangs keeps it, and `--break-lock` ends that agent and takes over.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::protocol::Holder;

/// A held lock; released when dropped or when the process ends.
#[derive(Debug)]
pub struct TargetLock {
    file: File,
    /// The holder record found in the file when the lock was free: a
    /// deploy that ended without releasing it (crashed, killed).
    pub stale: Option<Holder>,
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        // A clean end leaves an empty record; a record found later means
        // the deploy that wrote it did not end cleanly.
        let _ = self.file.set_len(0);
    }
}

/// The result of trying to take the lock.
#[derive(Debug)]
pub enum Acquired {
    Locked(TargetLock),
    /// Somebody else deploys; `None` if the lock file did not say who.
    Held(Option<Holder>),
}

fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Takes the lock at `path` for `holder`. With `break_lock`, a live holder
/// is terminated (SIGTERM, then SIGKILL) first.
///
/// The lock file is written to while the agent runs (often as root), so it
/// must be ours: its directory is created private (0700), a directory
/// that other users may write to (without the sticky bit) or that belongs
/// to another user is refused, the file itself is never followed through a
/// symlink, and a file owned by another user is refused.
pub fn acquire(path: &Path, holder: &Holder, break_lock: bool) -> std::io::Result<Acquired> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        check_lock_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                unsafe_lock(path, "it is a symlink")
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(unsafe_lock(path, "it is not a regular file"));
    }
    if meta.uid() != effective_uid() {
        return Err(unsafe_lock(
            path,
            &format!("it belongs to uid {}, not to us", meta.uid()),
        ));
    }
    let mut stale = None;
    if try_flock(&file)? {
        stale = read_holder(&mut file);
    } else {
        let current = read_holder(&mut file);
        if !break_lock {
            return Ok(Acquired::Held(current));
        }
        if let Some(h) = &current {
            terminate(h.agent_pid, &file)?;
        }
        if !wait_for_lock(&file, Duration::from_secs(5))? {
            return Ok(Acquired::Held(current));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    Ok(Acquired::Locked(TargetLock { file, stale }))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

fn unsafe_lock(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("refusing to use {} as a lock file: {why}", path.display()),
    )
}

/// Whoever can write to the lock's directory could swap the lock file for
/// a link to something we would then overwrite.
fn check_lock_dir(dir: &Path) -> std::io::Result<()> {
    crate::host::check_dir(dir, "the deploy lock")
}

fn terminate(pid: u32, file: &File) -> std::io::Result<()> {
    let Ok(pid) = i32::try_from(pid) else {
        return Ok(());
    };
    if pid <= 1 || pid == std::process::id() as i32 {
        return Ok(());
    }
    // SAFETY: kill(2) with a pid read from our own lock file; no memory.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    if wait_for_lock(file, Duration::from_secs(3))? {
        // Got it already; wait_for_lock keeps it.
        return Ok(());
    }
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    Ok(())
}

fn wait_for_lock(file: &File, patience: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + patience;
    loop {
        if try_flock(file)? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32) -> Holder {
        Holder {
            controller: "laptop".into(),
            user: "alice".into(),
            pid: 42,
            started: 1_700_000_000,
            agent_pid: pid,
        }
    }

    #[test]
    fn second_taker_sees_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/deploy.lock");
        let first = match acquire(&path, &holder(std::process::id()), false).unwrap() {
            Acquired::Locked(l) => l,
            Acquired::Held(_) => panic!("first taker must get the lock"),
        };
        match acquire(&path, &holder(1), false).unwrap() {
            Acquired::Held(Some(h)) => assert_eq!(h, holder(std::process::id())),
            other => panic!("expected the first holder, got {other:?}"),
        }
        drop(first);
        assert!(matches!(
            acquire(&path, &holder(1), false).unwrap(),
            Acquired::Locked(_)
        ));
    }

    #[test]
    fn the_lock_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/deploy.lock");
        let _lock = acquire(&path, &holder(1), false).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = dir.path().join("deploy.lock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = acquire(&path, &holder(1), false).unwrap_err();
        assert!(e.to_string().contains("it is a symlink"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    #[test]
    fn a_lock_directory_others_may_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = acquire(&open.join("deploy.lock"), &holder(1), false).unwrap_err();
        assert!(e.to_string().contains("other users may write to it"), "{e}");
        assert!(!open.join("deploy.lock").exists());
        // The sticky bit (as on /tmp) makes it safe enough: others cannot
        // replace our file there.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(matches!(
            acquire(&open.join("deploy.lock"), &holder(1), false).unwrap(),
            Acquired::Locked(_)
        ));
    }

    #[test]
    fn a_lock_file_or_directory_of_another_user_is_refused() {
        if effective_uid() != 0 {
            panic!("this test needs root (to give files away); the test suite runs as root in CI");
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = acquire(&theirs.join("deploy.lock"), &holder(1), false).unwrap_err();
        assert!(e.to_string().contains("belongs to uid 65534"), "{e}");
        let path = dir.path().join("deploy.lock");
        std::fs::write(&path, "").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let e = acquire(&path, &holder(1), false).unwrap_err();
        assert!(e.to_string().contains("belongs to uid 65534"), "{e}");
    }

    #[test]
    fn a_lock_file_without_a_live_holder_is_stale_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.lock");
        std::fs::write(&path, serde_json::to_string(&holder(999_999)).unwrap()).unwrap();
        match acquire(&path, &holder(1), false).unwrap() {
            Acquired::Locked(lock) => assert_eq!(lock.stale, Some(holder(999_999))),
            other => panic!("a stale lock is taken, got {other:?}"),
        }
    }

    #[test]
    fn a_cleanly_released_lock_is_not_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.lock");
        let first = acquire(&path, &holder(7), false).unwrap();
        drop(first);
        match acquire(&path, &holder(8), false).unwrap() {
            Acquired::Locked(lock) => assert_eq!(lock.stale, None),
            other => panic!("expected the lock, got {other:?}"),
        }
    }

    #[test]
    fn break_lock_terminates_a_hung_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.lock");
        // A separate process holds the lock and hangs, as a stuck agent would.
        // `-o`: the lock belongs to flock itself, not to `sleep`, so ending
        // the holder releases it.
        let mut child = std::process::Command::new("flock")
            .arg("-o")
            .arg(&path)
            .args(["sleep", "60"])
            .spawn()
            .expect("flock(1) from util-linux is needed for this test");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let probe = File::open(&path);
            if let Ok(f) = probe
                && !try_flock(&f).unwrap()
            {
                break;
            }
            assert!(Instant::now() < deadline, "flock(1) did not take the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        // flock(1) holds it; the holder record names that process.
        std::fs::write(&path, serde_json::to_string(&holder(child.id())).unwrap()).unwrap();
        assert!(matches!(
            acquire(&path, &holder(1), false).unwrap(),
            Acquired::Held(Some(_))
        ));
        assert!(matches!(
            acquire(&path, &holder(1), true).unwrap(),
            Acquired::Locked(_)
        ));
        let status = child.wait().unwrap();
        assert!(!status.success(), "the hung holder was terminated");
    }
}
