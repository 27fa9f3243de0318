//! A deploy running in the background, and what the tests that strike
//! it look at: the agent its target's deploy lock names, signals, child
//! processes, temp files of atomic writes, whether the lock is free.
//! Shared by `remote_faults`, `remote_interrupt`, `remote_unreachable`
//! and `agent`.

use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::support::{Project, native_agent_built};

/// A deploy running in the background; on drop (also when a test fails)
/// the controller is killed, and so is the agent named in `lock` if it
/// still runs (the connection's end does not stop a busy agent).
pub(super) struct Background {
    pub child: Option<Child>,
    pub lock: PathBuf,
}

impl Background {
    pub fn start(p: &Project, args: &[&str], lock: PathBuf) -> Background {
        native_agent_built();
        let child = p
            .command(args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the background deploy");
        Background {
            child: Some(child),
            lock,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits until `path` exists, failing if the deploy ends first.
    #[track_caller]
    pub fn wait_for(&mut self, path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let child = self.child.as_mut().expect("running");
        while !path.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                let out = self.child.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "the background deploy ended ({status}) before {} appeared\nstdout:\n{}\nstderr:\n{}",
                    path.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The agent pid the deploy lock names.
    #[track_caller]
    pub fn agent_pid(&self) -> i32 {
        agent_pid_in(&self.lock)
            .unwrap_or_else(|| panic!("the deploy lock {} names no agent_pid", self.lock.display()))
    }

    /// Waits for the controller to end with exit 4, naming `host`'s lost
    /// connection; (stdout, stderr).
    #[track_caller]
    pub fn finish_connection_lost(&mut self, host: &str) -> (String, String) {
        let (code, stdout, stderr) = self.finish();
        assert_eq!(code, Some(4), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(
            stderr.contains(&format!("ERROR: {host}: connection lost during the deploy")),
            "{stderr}"
        );
        (stdout, stderr)
    }

    /// Waits for the controller to end; (exit code, stdout, stderr).
    pub fn finish(&mut self) -> (Option<i32>, String, String) {
        let child = self.child.take().expect("running");
        let out = child.wait_with_output().expect("wait for the deploy");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = agent_pid_in(&self.lock)
            && is_agent(pid)
        {
            signal(pid, libc::SIGKILL);
        }
    }
}

/// `agent_pid` from a deploy lock's JSON.
pub(super) fn agent_pid_in(lock: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(lock).ok()?;
    let holder: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    holder["agent_pid"].as_i64().map(|p| p as i32)
}

/// Whether `pid` runs (a zombie waiting for its parent does not).
pub(super) fn is_running(pid: i32) -> bool {
    // The state follows the parenthesised command name.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Whether `pid` is a live (not zombie) batou agent.
pub(super) fn is_agent(pid: i32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    is_running(pid) && String::from_utf8_lossy(&cmdline).contains("batou-agent-")
}

/// kill(2).
pub(super) fn signal(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill(2) takes plain integers and touches no memory.
    unsafe { libc::kill(pid, sig) }
}

/// The temp files of atomic writes (`.batou-tmp…`) under `dir`.
pub(super) fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".batou-tmp"))
        })
        .collect()
}

/// No temp file of an atomic write is left anywhere under `dir`.
#[track_caller]
pub(super) fn no_half_written_files(dir: &Path) {
    let leftovers = temp_files(dir);
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
}

/// Waits (at most `patience`) until the agent named in `lock` has ended
/// and released the lock (an exiting process loses its command line
/// before its files are closed, so both are awaited).
#[track_caller]
pub(super) fn wait_until_no_agent(lock: &Path, patience: Duration) {
    if let Err(agent) = no_agent_within(lock, patience) {
        panic!("the agent {agent:?} still runs or holds {}", lock.display());
    }
}

/// Waits up to `patience` for no agent to run or hold `lock`; the agent
/// still there if not.
pub(super) fn no_agent_within(lock: &Path, patience: Duration) -> Result<(), Option<i32>> {
    let deadline = Instant::now() + patience;
    loop {
        let agent = agent_pid_in(lock).filter(|pid| is_agent(*pid));
        if agent.is_none() && lock_is_free(lock) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(agent);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether flock on `path` succeeds (a missing file is free too).
fn lock_is_free(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return true;
    };
    // SAFETY: flock on a descriptor we own; closing it releases the lock.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Nobody holds the deploy lock at `path` (flock succeeds).
#[track_caller]
pub(super) fn assert_lock_free(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: flock on a descriptor we own; closing it releases the lock.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "the deploy lock {} is still held", path.display());
}

/// The direct children of `pid` (of all its threads).
pub(super) fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    for task in tasks {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    out
}

/// The command name of `pid`.
pub(super) fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Every path under `dir`, recursively.
pub(super) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}
