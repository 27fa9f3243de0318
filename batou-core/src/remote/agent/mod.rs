//! The agent: the deployment binary running on a target (`batou agent`),
//! serving one controller over stdin/stdout.
//!
//! It configures the whole model itself — with the target's DNS, as batou
//! does — and deploys the roots the controller asks for, several at once
//! when asked, streaming events back. Heartbeats flow every
//! [`HEARTBEAT`], so the controller notices a dead connection quickly.

mod root;
mod state;
#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::remote::whoami::{current_user, hostname};

use super::protocol::{self, Reply, Request};
use super::replies::Replies;
use super::watched::{panic_message, spawn_watched};
use crate::component::Registry;
use state::{Flow, State};

/// How often the agent says it is alive, and the controller too.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// After this long without a line from the controller (which says it is
/// alive every [`HEARTBEAT`]), the agent takes it for gone, as at the end
/// of its input: the roots already running finish, nothing new starts,
/// and the agent ends, releasing the target's lock. Without it, an agent
/// whose controller's network vanished (no reset, no end of input) held
/// the lock until TCP gave the connection up, minutes later. The
/// controller gives up on a silent agent after as long.
pub const CONTROLLER_SILENCE: Duration = Duration::from_secs(15);

/// Serves one controller until `shutdown`, the end of input or
/// [`CONTROLLER_SILENCE`]; returns the process exit code.
pub fn serve(
    registry: &Registry,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
) -> i32 {
    serve_with_silence(registry, input, output, CONTROLLER_SILENCE)
}

/// [`serve`], taking the controller for gone after `silence`.
pub fn serve_with_silence(
    registry: &Registry,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
    silence: Duration,
) -> i32 {
    let (inbound, inbox) = std::sync::mpsc::channel();
    let heard = Arc::new(Mutex::new(Instant::now()));
    read_requests(
        Box::new(Hearing {
            input,
            heard: heard.clone(),
        }),
        inbound.clone(),
    );
    let (replies, writer) = {
        let inbound = inbound.clone();
        Replies::start(output, move |message| {
            let _ = inbound.send(Inbound::Broken(message));
        })
    };
    let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let heartbeat = {
        let replies = replies.clone();
        let stop = stop.clone();
        let inbound = inbound.clone();
        spawn_watched(
            "heartbeat",
            move || {
                let (stopped, wake) = &*stop;
                let mut stopped = stopped.lock().unwrap_or_else(|p| p.into_inner());
                // Woken at once by the end of the session, so shutting down
                // never waits for the next beat.
                while !*stopped && !replies.gone.load(Ordering::SeqCst) {
                    let (guard, timeout) = wake
                        .wait_timeout(stopped, HEARTBEAT)
                        .unwrap_or_else(|p| p.into_inner());
                    stopped = guard;
                    if timeout.timed_out() && !*stopped {
                        replies.send(&Reply::Heartbeat);
                    }
                }
            },
            move |message| {
                let _ = inbound.send(Inbound::Broken(format!(
                    "the agent's heartbeat failed: {message}"
                )));
            },
        )
    };
    // Only the threads hold senders now: when they are all gone, so is
    // the input.
    drop(inbound);
    let mut state = State::new(registry, replies.clone());
    let mut silent = false;
    // Silence is no byte from the controller, not no whole line: a long
    // request (the environment of 100,000 hosts) arriving slowly on a
    // busy machine is not silence.
    let poll = silence.min(Duration::from_millis(250));
    let code = loop {
        let request = match inbox.recv_timeout(poll) {
            Ok(Inbound::Request(r)) => r,
            Err(RecvTimeoutError::Timeout)
                if heard.lock().unwrap_or_else(|p| p.into_inner()).elapsed() < silence =>
            {
                continue;
            }
            // The controller is gone: nobody would hear about what we do.
            Ok(Inbound::End) | Err(RecvTimeoutError::Disconnected) => break 0,
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "batou agent: no word from the controller for {}s; ending once the running roots are done",
                    silence.as_secs()
                );
                silent = true;
                break 0;
            }
            Ok(Inbound::Broken(message)) => {
                replies.send(&Reply::Fatal { message });
                break 2;
            }
        };
        // A panic while handling a request (a component's `configure`, the
        // removal of stale externals) ends the agent with a reply, never
        // silently.
        match catch_unwind(AssertUnwindSafe(|| state.handle(request))) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit(code)) => break code,
            Err(payload) => {
                let message = format!(
                    "the agent panicked: {}",
                    state.masker().redact(&panic_message(&*payload))
                );
                eprintln!("batou agent: {message}");
                replies.send(&Reply::Fatal { message });
                break 70;
            }
        }
    };
    state.join_workers();
    // A deploy that ended without `finish` (a root failed): what its
    // succeeded roots changed is what a rollback undoes. Heard by nobody
    // if over the bound; the next deploy's output says nothing either,
    // and `batou rollback` then finds nothing to undo.
    state.keep_undo_record(&Discard);
    // Every root is done: the deploy's record gets its outcome (while the
    // deploy lock is still held).
    if let Err(e) = replies.recorder.close() {
        eprintln!("batou agent: {e}");
    }
    {
        let (stopped, wake) = &*stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
    }
    let _ = heartbeat.join();
    state.forget_model();
    // The last senders go; the writer flushes what is queued and ends —
    // unless the controller fell silent: then the connection may be dead
    // with the writer stuck in a write that never returns.
    drop(state);
    drop(replies);
    if !silent {
        let _ = writer.join();
    }
    code
}

/// Events nobody hears (the controller may be gone).
struct Discard;

impl crate::event::EventSink for Discard {
    fn emit(&self, _event: crate::event::Event) {}
}

/// What the agent's main loop hears.
enum Inbound {
    Request(Request),
    /// The controller's input ended.
    End,
    /// The agent cannot go on: a request it cannot read, or one of its
    /// threads died. Reported to the controller as `fatal`.
    Broken(String),
}

/// The controller's input, noting when it last brought bytes.
struct Hearing {
    input: Box<dyn BufRead + Send>,
    heard: Arc<Mutex<Instant>>,
}

impl std::io::Read for Hearing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        if n > 0 {
            *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        Ok(n)
    }
}

impl BufRead for Hearing {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let buf = self.input.fill_buf()?;
        if !buf.is_empty() {
            *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        Ok(buf)
    }

    fn consume(&mut self, amount: usize) {
        self.input.consume(amount);
    }
}

/// Reads what the controller sends on a thread of its own, so that the
/// agent can tell silence from a slow line.
fn read_requests(mut input: Box<dyn BufRead + Send>, inbound: Sender<Inbound>) {
    let on_panic = {
        let inbound = inbound.clone();
        move |message: String| {
            let _ = inbound.send(Inbound::Broken(format!(
                "the agent's request reader failed: {message}"
            )));
        }
    };
    spawn_watched(
        "requests",
        move || {
            loop {
                let (next, more) = match protocol::read_line::<Request>(&mut *input) {
                    Ok(Some(r)) => (Inbound::Request(r), true),
                    Ok(None) => (Inbound::End, false),
                    Err(e) => (Inbound::Broken(e.to_string()), false),
                };
                if inbound.send(next).is_err() || !more {
                    return;
                }
            }
        },
        on_panic,
    );
}
