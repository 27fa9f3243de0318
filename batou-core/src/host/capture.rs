//! Waiting for a command and collecting its output.
//!
//! A command is done when its own process exits, not when every process
//! that inherited its stdout and stderr has closed them: a command that
//! starts a daemon (`app --daemon`, `nohup x &`) returns as soon as the
//! shell does. What the command wrote before it exited is all in the
//! pipes then (a write to a pipe is complete before the writer goes on),
//! so it is read to the end of what is there, without waiting for more.
//!
//! What the children it leaves behind write later is read and dropped on
//! a thread of its own until they close the pipes, so they never block
//! on a full pipe or die of `SIGPIPE` while this process runs. They are
//! not killed (unless the command times out: then its whole process group
//! is). A daemon should still send its output somewhere of its own: once
//! this process ends, nobody reads the pipes any more.
//!
//! One thread waits for the process and both pipes with `poll(2)`; the
//! process's exit is a `pidfd` becoming readable (Linux 5.3 and later;
//! elsewhere `poll` wakes at short intervals to look).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// What a command printed, and how it ended.
pub(super) struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The deadline passed with the command still running (it is not
/// killed here).
pub(super) struct TimedOut;

/// One of the command's output pipes, while it is open.
struct Pipe {
    file: Option<File>,
    bytes: Vec<u8>,
}

impl Pipe {
    fn new(fd: Option<OwnedFd>) -> Pipe {
        let file = fd.map(File::from).filter(|f| set_nonblocking(f, true));
        Pipe {
            file,
            bytes: Vec::new(),
        }
    }

    /// Reads what is there now; closes the pipe at its end.
    fn read_available(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut buf = [0u8; 64 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => {
                    self.file = None;
                    return;
                }
                Ok(n) => self.bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.file = None;
                    return;
                }
            }
        }
    }

    /// Hands a pipe that children still hold open to a thread that reads
    /// and drops their output until they close it (see the module docs).
    fn release(&mut self) {
        let Some(mut file) = self.file.take() else {
            return;
        };
        set_nonblocking(&file, false);
        let spawned = std::thread::Builder::new()
            .name("batou-orphan-output".into())
            .spawn(move || std::io::copy(&mut file, &mut std::io::sink()));
        // Without a thread the pipe closes here; a child writing to it
        // then gets EPIPE, as it would once this process ended.
        drop(spawned);
    }
}

/// Waits until `child` exits (reading its stdout and stderr meanwhile) or
/// `deadline` passes.
pub(super) fn wait(child: &mut Child, deadline: Option<Instant>) -> Result<Captured, TimedOut> {
    let mut pipes = [
        Pipe::new(child.stdout.take().map(OwnedFd::from)),
        Pipe::new(child.stderr.take().map(OwnedFd::from)),
    ];
    let exit = pidfd(child);
    // Without a pidfd, `poll` wakes at these intervals to look.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        for pipe in &pipes {
            if let Some(f) = &pipe.file {
                fds.push(pollfd(f.as_raw_fd()));
            }
        }
        if let Some(fd) = &exit {
            fds.push(pollfd(fd.as_raw_fd()));
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wake = match (&exit, remaining) {
            (Some(_), None) => None,
            (Some(_), Some(r)) => Some(r),
            (None, r) => Some(r.map_or(pause, |r| r.min(pause))),
        };
        let timeout_ms = wake.map_or(-1, |w| {
            // Round up, so a wake-up is never early and spinning.
            let ms = w.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as libc::c_int
        });
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if ready < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // poll itself failed (never for valid descriptors): fall back
            // to waiting without reading, which is what std would do.
            std::thread::sleep(pause);
        }
        for pipe in &mut pipes {
            pipe.read_available();
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            // Someone else reaped it (cannot happen: we own the child).
            Err(_) => return Err(TimedOut),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TimedOut);
        }
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    // Everything the command wrote is in the pipes now.
    for pipe in &mut pipes {
        pipe.read_available();
        pipe.release();
    }
    let [stdout, stderr] = pipes.map(|p| p.bytes);
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}

fn pollfd(fd: libc::c_int) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn set_nonblocking(file: &File, on: bool) -> bool {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return false;
        }
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        libc::fcntl(fd, libc::F_SETFL, flags) == 0
    }
}

/// A descriptor that becomes readable when `child` exits.
#[cfg(target_os = "linux")]
fn pidfd(child: &Child) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) on our own, not yet reaped child; the
    // descriptor it returns is owned by the OwnedFd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd(_child: &Child) -> Option<OwnedFd> {
    None
}
