//! The controller's end of one agent connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::remote::agent::HEARTBEAT;
use crate::remote::protocol::{self, BoundedLine, Reply, Request};
use crate::remote::watched::spawn_watched;
use crate::transport::{Channel, ChannelControl};

/// What the reader threads report to the orchestrator.
pub(crate) enum Incoming {
    Reply(usize, Reply),
    /// The agent's output ended; `stderr` holds what it last said there.
    Closed {
        session: usize,
        stderr: String,
    },
    /// A line that is not protocol.
    Garbled {
        session: usize,
        message: String,
    },
    /// A thread of this session died: what the agent says (or what it
    /// is sent) is no longer heard.
    Broken {
        session: usize,
        message: String,
    },
}

/// The reader threads' end of the [`Inbox`].
pub(crate) type Outbox = Sender<Vec<Incoming>>;

/// What the reader threads sent, one message at a time.
///
/// A reader sends every reply it has whole in its buffer at once, so a
/// burst of events costs the orchestrator one wake-up per read from the
/// connection, not one per event.
pub(crate) struct Inbox {
    batches: Receiver<Vec<Incoming>>,
    pending: RefCell<VecDeque<Incoming>>,
}

impl Inbox {
    pub fn new() -> (Outbox, Inbox) {
        let (tx, batches) = std::sync::mpsc::channel();
        let inbox = Inbox {
            batches,
            pending: RefCell::default(),
        };
        (tx, inbox)
    }

    /// The next message; waits up to `timeout` for one.
    pub fn next(&self, timeout: Duration) -> Result<Incoming, RecvTimeoutError> {
        let mut pending = self.pending.borrow_mut();
        if let Some(m) = pending.pop_front() {
            return Ok(m);
        }
        let batch = self.batches.recv_timeout(timeout)?;
        pending.extend(batch);
        // An empty batch is never sent; treat one as a timeout all the same.
        pending.pop_front().ok_or(RecvTimeoutError::Timeout)
    }
}

/// The agent's input; `None` once the session is closed.
type Writer = Mutex<Option<Box<dyn Write + Send>>>;

/// Keeps the last bytes of the agent's stderr, for error messages.
const STDERR_TAIL: usize = 16 * 1024;

pub(crate) struct Session {
    pub index: usize,
    pub host: String,
    pub user: String,
    pub uploaded: bool,
    /// Bytes of agent uploaded before it started.
    pub sent_bytes: u64,
    /// The sha256 of the agent binary started there (its greeting must
    /// name it).
    pub binary_hash: String,
    /// The asset set announced in `hello` (its blobs are sent when the
    /// agent lacks them; `configured` must name its hash).
    pub assets: Arc<crate::assets::project::Shipment>,
    /// Asset blobs sent, and the bytes of their `assets` line.
    pub assets_sent: std::sync::atomic::AtomicUsize,
    pub asset_bytes: std::sync::atomic::AtomicU64,
    writer: Arc<Writer>,
    control: Arc<Mutex<Box<dyn ChannelControl>>>,
    last_seen: Arc<Mutex<Instant>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// Takes over a started agent: reader threads forward its replies to
    /// `incoming`.
    pub fn new(
        index: usize,
        host: &str,
        user: String,
        uploaded: bool,
        channel: Channel,
        incoming: Outbox,
    ) -> Session {
        let Channel {
            stdin,
            stdout,
            stderr,
            control,
        } = channel;
        let last_seen = Arc::new(Mutex::new(Instant::now()));
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        // Each thread's death is reported: the orchestrator would
        // otherwise wait for replies that can no longer arrive.
        let broken = |what: &'static str| {
            let incoming = incoming.clone();
            move |message: String| {
                let _ = incoming.send(vec![Incoming::Broken {
                    session: index,
                    message: format!(
                        "the controller's {what} of this connection failed: {message}"
                    ),
                }]);
            }
        };
        let (stderr_died, reader_died, keep_alive_died) = (
            broken("stderr reader"),
            broken("reader"),
            broken("keep-alive"),
        );
        {
            let tail = stderr_tail.clone();
            spawn_watched(
                "agent stderr",
                move || drain_stderr(stderr, tail),
                stderr_died,
            );
        }
        {
            let last_seen = last_seen.clone();
            let tail = stderr_tail.clone();
            spawn_watched(
                "agent replies",
                move || read_replies(index, stdout, incoming, last_seen, tail),
                reader_died,
            );
        }
        let writer = Arc::new(Mutex::new(stdin));
        {
            let writer = Arc::downgrade(&writer);
            spawn_watched("keep-alive", move || keep_alive(&writer), keep_alive_died);
        }
        Session {
            index,
            host: host.to_string(),
            user,
            uploaded,
            sent_bytes: 0,
            binary_hash: String::new(),
            assets: Default::default(),
            assets_sent: Default::default(),
            asset_bytes: Default::default(),
            writer,
            control: Arc::new(Mutex::new(control)),
            last_seen,
            stderr: stderr_tail,
        }
    }

    pub fn send(&self, request: &Request) -> std::io::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match writer.as_mut() {
            Some(w) => protocol::write_line(&mut **w, request),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "session closed",
            )),
        }
    }

    /// Sends the asset blobs with these hashes (what the agent's `hello`
    /// said it lacks); `Err`: one is not in the announced set, or the
    /// line could not be sent.
    pub fn send_assets(&self, missing: &[String]) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        let blobs = self.assets.blobs(missing)?;
        let count = blobs.len();
        let request = Request::Assets { blobs };
        let bytes = serde_json::to_vec(&request).map_or(0, |l| l.len() as u64 + 1);
        self.send(&request)
            .map_err(|e| format!("cannot send the assets: {e}"))?;
        self.assets_sent.fetch_add(count, Ordering::Relaxed);
        self.asset_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// How long since the agent last said anything.
    pub fn silence(&self) -> Duration {
        self.last_seen
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        String::from_utf8_lossy(&tail).trim().to_string()
    }

    /// Ends the session: asks the agent to stop, closes its input, and
    /// kills it if it has not exited within `grace`.
    pub fn close(&self, grace: Duration) {
        let _ = self.send(&Request::Shutdown);
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let control = self.control.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = control.lock().unwrap_or_else(|p| p.into_inner());
            let _ = c.wait();
            let _ = done_tx.send(());
        });
        if done_rx.recv_timeout(grace).is_err() {
            self.kill();
        }
    }

    /// Drops the connection at once.
    pub fn kill(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        // The waiting thread may hold the control lock; killing must not
        // wait for it, so try and fall back to a short retry loop.
        for _ in 0..50 {
            if let Ok(mut c) = self.control.try_lock() {
                c.kill();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Tells the agent every [`HEARTBEAT`] that the controller is still there
/// (see [`crate::remote::agent::CONTROLLER_SILENCE`]), until the session is closed
/// or gone. A beat is skipped while another request is being written.
fn keep_alive(writer: &std::sync::Weak<Writer>) {
    loop {
        std::thread::sleep(HEARTBEAT);
        let Some(writer) = writer.upgrade() else {
            return;
        };
        let Ok(mut guard) = writer.try_lock() else {
            continue;
        };
        let Some(w) = guard.as_mut() else {
            return;
        };
        if protocol::write_line(&mut **w, &Request::Alive).is_err() {
            return;
        }
    }
}

fn read_replies(
    index: usize,
    stdout: Box<dyn Read + Send>,
    incoming: Outbox,
    last_seen: Arc<Mutex<Instant>>,
    tail: Arc<Mutex<Vec<u8>>>,
) {
    // Room for a paced burst of the agent's events (see
    // `replies::FLUSH_PACE`) in one read.
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut batch = Vec::new();
    loop {
        let line = match protocol::read_bounded_line(&mut reader, protocol::MAX_REPLY_LINE) {
            Ok(BoundedLine::Line(line)) => line,
            Ok(BoundedLine::End) | Err(_) => break,
            Ok(BoundedLine::TooLong) => {
                // Reading on would mean buffering the rest of an endless
                // line; the orchestrator drops the connection.
                batch.push(Incoming::Garbled {
                    session: index,
                    message: format!("a line longer than {} MiB", protocol::MAX_REPLY_LINE >> 20),
                });
                break;
            }
        };
        if let Ok(mut t) = last_seen.lock() {
            *t = Instant::now();
        }
        if !line.trim_ascii().is_empty() {
            batch.push(match protocol::decode::<Reply>(&line) {
                Ok(reply) => Incoming::Reply(index, reply),
                Err(message) => Incoming::Garbled {
                    session: index,
                    message,
                },
            });
        }
        // Send before the next read could wait for the agent.
        if !reader.buffer().contains(&b'\n')
            && !batch.is_empty()
            && incoming.send(std::mem::take(&mut batch)).is_err()
        {
            return;
        }
    }
    // Give the stderr reader a moment to collect the last words.
    std::thread::sleep(Duration::from_millis(50));
    let stderr = tail
        .lock()
        .map(|t| String::from_utf8_lossy(&t).trim().to_string())
        .unwrap_or_default();
    batch.push(Incoming::Closed {
        session: index,
        stderr,
    });
    let _ = incoming.send(batch);
}

fn drain_stderr(mut stderr: Box<dyn Read + Send>, tail: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut t) = tail.lock() {
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_TAIL {
                        let cut = t.len() - STDERR_TAIL;
                        t.drain(..cut);
                    }
                }
            }
        }
    }
}
