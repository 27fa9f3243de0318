//! Ctrl-C (SIGINT) during a remote deploy: wind down instead of dying.
//!
//! Dying at once would cut every agent off in the middle of a component;
//! each would finish its root on its own, but nobody would hear how it
//! went. With [`install`], the first SIGINT only sets a flag: the
//! orchestrator starts nothing new, waits for the components already
//! running, shuts the agents down (releasing their deploy locks) and
//! reports what was not deployed. A second SIGINT ends the process at
//! once, as SIGINT normally does.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

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
        // The second one: die of SIGINT. Only async-signal-safe calls.
        // SAFETY: signal(2) and raise(3) are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
        return;
    }
    let note = b"\nInterrupted: finishing the running components (Ctrl-C again to stop at once)\n";
    // SAFETY: write(2) to stderr is async-signal-safe; the buffer is static.
    unsafe {
        libc::write(2, note.as_ptr().cast(), note.len());
    }
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
