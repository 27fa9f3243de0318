//! Ctrl-C (SIGINT) during a deploy: wind down instead of dying.
//!
//! Dying at once would cut every agent off in the middle of a component;
//! each would finish its root on its own, but nobody would hear how it
//! went. Locally, the command a component runs (in a process group of its
//! own, so the terminal's Ctrl-C does not reach it) would be left behind.
//! With [`install`], the first SIGINT only sets a flag: the orchestrator
//! (or the local deploy) starts nothing new, waits for the components
//! already running, shuts the agents down (releasing their deploy locks)
//! and reports what was not deployed. With revert on ([`install_reverting`]),
//! a running root stops too, before its next component, and is reverted
//! like any failed root (see `deploy::Run::node`; remote agents are told
//! by a `interrupt` request). A second SIGINT kills the commands
//! this process runs (their whole process groups) and ends the process at
//! once, as SIGINT normally does.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether the first SIGINT reverts the running roots (what it says).
static REVERTS: AtomicBool = AtomicBool::new(false);

/// Process groups of the commands running now (0: a free slot). A fixed
/// array, because the signal handler may not allocate or lock.
static RUNNING: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// While it lives, a second SIGINT kills the process group it names.
#[derive(Debug)]
pub struct RunningCommand {
    slot: Option<usize>,
}

/// Registers the process group `pgid` of a command that is starting (see
/// [`RunningCommand`]). With more than 64 at once, the rest are not
/// tracked.
pub fn running_command(pgid: i32) -> RunningCommand {
    let slot = RUNNING.iter().position(|s| {
        s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    RunningCommand { slot }
}

impl Drop for RunningCommand {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            RUNNING[slot].store(0, Ordering::SeqCst);
        }
    }
}

/// Whether an interrupt was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Requests an interrupt, as a SIGINT does (for tests and embedders).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // The second one: stop the running commands, then die of SIGINT.
        // Only async-signal-safe calls.
        for slot in &RUNNING {
            let pgid = slot.load(Ordering::SeqCst);
            if pgid > 0 {
                // SAFETY: kill(2) is async-signal-safe.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
        // SAFETY: signal(2) and raise(3) are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
        return;
    }
    let note: &[u8] = if REVERTS.load(Ordering::SeqCst) {
        b"\nInterrupted: stopping the running roots at their next component and reverting them (Ctrl-C again to stop at once)\n"
    } else {
        b"\nInterrupted: finishing the running components (Ctrl-C again to stop at once)\n"
    };
    // SAFETY: write(2) to stderr is async-signal-safe; the buffer is static.
    unsafe {
        libc::write(2, note.as_ptr().cast(), note.len());
    }
}

/// Like [`install`]; `reverts`: the running roots are stopped and
/// reverted (revert is on), which the first SIGINT's note says.
pub fn install_reverting(reverts: bool) {
    REVERTS.store(reverts, Ordering::SeqCst);
    install();
}

/// Makes SIGINT request a graceful stop (see the module docs).
pub fn install() {
    let handler = on_sigint as extern "C" fn(libc::c_int);
    // SAFETY: installs a handler that only touches an atomic and calls
    // async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}
