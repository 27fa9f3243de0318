//! Threads whose death someone must hear of. A thread that ends by a
//! panic ends silently: whoever waits for its work (a reply, a line, the
//! end of a stream) waits for ever. Every long-lived thread of the agent
//! and of a session is spawned here, with what to do if it panics.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

/// What a panic was given (`panic!("...")`'s message), or a placeholder
/// for a payload that is not text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Runs `work` on a thread named `name`; if it panics, `on_panic` runs on
/// that thread with the panic's message, so that those waiting for the
/// thread's work hear it will not come. Panics, as `std::thread::spawn`
/// does, if the system cannot start a thread.
pub(crate) fn spawn_watched<W, P>(name: &str, work: W, on_panic: P) -> JoinHandle<()>
where
    W: FnOnce() + Send + 'static,
    P: FnOnce(String) + Send + 'static,
{
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(work)) {
                on_panic(panic_message(&*payload));
            }
        });
    match spawned {
        Ok(handle) => handle,
        Err(e) => panic!("cannot start the {name} thread: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_panics_is_heard_of() {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = spawn_watched(
            "test",
            || panic!("broke at {}", 7),
            move |message| tx.send(message).unwrap(),
        );
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap(),
            "broke at 7"
        );
        assert!(handle.join().is_ok(), "the panic was caught");
    }

    #[test]
    fn panic_messages_of_every_kind() {
        let message = |f: fn()| panic_message(&*catch_unwind(f).unwrap_err());
        assert_eq!(message(|| panic!("plain")), "plain");
        assert_eq!(message(|| panic!("{}", 1 + 1)), "2");
        assert_eq!(
            message(|| std::panic::panic_any(7u8)),
            "(a panic without a message)"
        );
    }
}
