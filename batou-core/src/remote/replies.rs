//! The agent's replies: serialized by whoever sends one, written to the
//! controller by one thread that paces its flushes.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::protocol::Reply;
use super::watched::spawn_watched;

/// Sends replies; remembers when the controller went away.
///
/// Replies are serialized by the sender and written by one writer thread,
/// which writes whatever has queued up in one go: a burst of thousands of
/// events (one per component) leaves in a few large writes instead of one
/// write and one SSH packet each (see [`FLUSH_PACE`]).
#[derive(Clone)]
pub(super) struct Replies {
    queue: std::sync::mpsc::Sender<Line>,
    pub gone: Arc<AtomicBool>,
    writer: std::thread::Thread,
    /// Sees every reply: the deploy history counts what the agent did
    /// from what it tells the controller.
    pub recorder: Arc<crate::history::Recorder>,
}

/// A serialized reply; `urgent` unless it is an event.
struct Line {
    bytes: Vec<u8>,
    urgent: bool,
}

impl Replies {
    /// Starts the writer thread on `output`; it ends (having flushed
    /// everything) when the last `Replies` clone is dropped. Should it
    /// die instead, nothing more reaches the controller: `on_death` hears
    /// why, so that the agent can end.
    pub fn start(
        output: Box<dyn Write + Send>,
        on_death: impl FnOnce(String) + Send + 'static,
    ) -> (Replies, std::thread::JoinHandle<()>) {
        let (queue, lines) = std::sync::mpsc::channel::<Line>();
        let gone = Arc::new(AtomicBool::new(false));
        let handle = {
            let gone = gone.clone();
            let dead = gone.clone();
            spawn_watched(
                "replies",
                move || write_replies(output, lines, gone),
                move |message| {
                    dead.store(true, Ordering::SeqCst);
                    eprintln!("batou agent: the reply writer failed: {message}");
                    on_death(format!("the agent's reply writer failed: {message}"));
                },
            )
        };
        let writer = handle.thread().clone();
        (
            Replies {
                queue,
                gone,
                writer,
                recorder: Arc::default(),
            },
            handle,
        )
    }

    pub fn send(&self, reply: &Reply) {
        self.recorder.observe(reply);
        // Our own types always serialize; there is nothing to send if not.
        let Ok(mut bytes) = serde_json::to_vec(reply) else {
            return;
        };
        bytes.push(b'\n');
        // The controller waits for answers (and for heartbeats); events
        // only fill its screen and may wait for the next paced flush.
        let urgent = !matches!(reply, Reply::Event { .. });
        if self.queue.send(Line { bytes, urgent }).is_err() {
            self.gone.store(true, Ordering::SeqCst);
        } else if urgent {
            self.writer.unpark();
        }
    }
}

/// The shortest time between two flushes of a burst of events.
///
/// Each flush wakes sshd, ssh and the controller, one after the other:
/// flushing whenever the writer caught up meant a flush (and a round of
/// wake-ups on both machines) for every few of a burst's events. Paced,
/// a burst of thousands leaves in a few dozen writes; a lone reply (after
/// a quiet spell) and every answer the controller waits for go out at
/// once.
const FLUSH_PACE: Duration = Duration::from_millis(4);

/// The writer thread: coalesces queued lines, flushes when caught up and
/// at most once per [`FLUSH_PACE`] unless a line is urgent.
fn write_replies(
    output: Box<dyn Write + Send>,
    lines: std::sync::mpsc::Receiver<Line>,
    gone: Arc<AtomicBool>,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, output);
    let mut last_flush: Option<Instant> = None;
    while let Ok(first) = lines.recv() {
        let mut ok = out.write_all(&first.bytes).is_ok();
        let mut urgent = first.urgent;
        loop {
            while ok && let Ok(line) = lines.try_recv() {
                ok = out.write_all(&line.bytes).is_ok();
                urgent |= line.urgent;
            }
            let rest = last_flush.and_then(|t| FLUSH_PACE.checked_sub(t.elapsed()));
            match rest {
                // Parked (not waiting on the queue), the senders of events
                // queue without waking this thread; an urgent one wakes it.
                Some(rest) if ok && !urgent => std::thread::park_timeout(rest),
                _ => break,
            }
        }
        last_flush = Some(Instant::now());
        if !ok || out.flush().is_err() {
            gone.store(true, Ordering::SeqCst);
            // Keep draining so senders never block on a dead controller.
            while lines.recv().is_ok() {}
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What the writer wrote, and how many flushes it took.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.lock().unwrap().1 += 1;
            Ok(())
        }
    }

    #[test]
    fn a_burst_arrives_whole_in_order_and_flushed() {
        let out = Recorded::default();
        let (replies, writer) = Replies::start(Box::new(out.clone()), |_| {});
        let event = |i: usize| Reply::Event {
            id: i as u64,
            event: crate::event::Event::Log {
                host: "h".into(),
                component: Some("c".into()),
                message: format!("line {i}"),
            },
        };
        for i in 0..2000 {
            replies.send(&event(i));
        }
        replies.send(&Reply::Heartbeat);
        drop(replies);
        writer.join().unwrap();
        let (bytes, flushes) = out.0.lock().unwrap().clone();
        let lines: Vec<Reply> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2001);
        for (i, reply) in lines.iter().take(2000).enumerate() {
            assert!(
                matches!(reply, Reply::Event { id, .. } if *id == i as u64),
                "{i}: {reply:?}"
            );
        }
        assert!(matches!(lines[2000], Reply::Heartbeat));
        assert!(flushes >= 1, "written but never flushed");
    }
}
