//! The I/O pump: one thread owns a session, runs it non-blocking and
//! moves bytes between the channel and in-memory pipes.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ssh2::{ErrorCode, Session};

use super::pipes::{PumpControl, PumpReader, PumpStdin};
use crate::remote::watched::panic_message;
use crate::transport::Channel;

/// Bytes buffered per output stream before the pump stops reading it (the
/// SSH window then makes the remote wait, as a full pipe would).
pub(super) const OUTPUT_CAP: usize = 8 << 20;
/// Bytes of stdin queued before `write` waits for the pump.
pub(super) const INPUT_CAP: usize = 1 << 20;
/// How long the pump sleeps in `poll` without news (keepalive cadence).
const POLL_MS: i32 = 1000;
/// libssh2's "would block".
const EAGAIN: i32 = -37;

/// The in-memory side of the pump: what the `Channel` handles and the pump
/// thread share.
#[derive(Default)]
pub(super) struct State {
    pub out: VecDeque<u8>,
    pub err: VecDeque<u8>,
    pub out_eof: bool,
    pub err_eof: bool,
    pub input: VecDeque<u8>,
    pub input_closed: bool,
    /// The command ended (exit status known or connection gone).
    pub done: bool,
    pub status: Option<i32>,
    pub failure: Option<String>,
    /// Every handle was dropped or `kill` was called.
    pub killed: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Writing a byte here wakes the pump from `poll`.
    wake: UnixStream,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (releasing `state`) until the pump or a handle changes it.
    pub fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(state).unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the command has ended.
    pub fn wait_done(&self) -> MutexGuard<'_, State> {
        let mut st = self.lock();
        while !st.done {
            st = self.wait(st);
        }
        st
    }

    /// Tells every waiting handle that the state changed.
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    pub fn wake_pump(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

/// Kills the pump when the last handle of a channel is dropped, so a
/// forgotten channel does not keep its session (and thread) alive.
pub(super) struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.lock().killed = true;
        self.0.notify();
        self.0.wake_pump();
    }
}

pub(super) struct Pump {
    session: Session,
    channel: ssh2::Channel,
    shared: Arc<Shared>,
    wake_rx: UnixStream,
    /// The session's TCP socket (the session owns the stream).
    socket: RawFd,
    eof_sent: bool,
    closing: bool,
}

impl Pump {
    /// Starts the pump thread for `channel`; the [`Channel`] to use it.
    pub fn spawn(
        session: Session,
        socket: RawFd,
        channel: ssh2::Channel,
        host: String,
    ) -> io::Result<Channel> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        let _ = wake_tx.set_nonblocking(true);
        let _ = wake_rx.set_nonblocking(true);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            wake: wake_tx,
        });
        let mut pump = Pump {
            session,
            channel,
            shared: shared.clone(),
            wake_rx,
            socket,
            eof_sent: false,
            closing: false,
        };
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ssh2 {host}"))
            .spawn(move || {
                // A panic in the pump must still end the channel: its
                // readers and writers wait for `done`.
                let result = catch_unwind(AssertUnwindSafe(|| pump.run())).unwrap_or_else(|p| {
                    Err(io::Error::other(format!(
                        "the ssh2 I/O thread panicked: {}",
                        panic_message(&*p)
                    )))
                });
                let mut st = thread_shared.lock();
                if let Err(e) = result {
                    st.failure = Some(format!("{host}: connection lost: {e}"));
                }
                st.done = true;
                st.out_eof = true;
                st.err_eof = true;
                drop(st);
                thread_shared.notify();
                // Dropping the pump disconnects the session.
            });
        if let Err(e) = spawned {
            let mut st = shared.lock();
            st.failure = Some(format!("cannot start the ssh2 I/O thread: {e}"));
            st.done = true;
            st.out_eof = true;
            st.err_eof = true;
        }
        let guard = Arc::new(Guard(shared.clone()));
        Ok(Channel {
            stdin: Some(Box::new(PumpStdin::new(shared.clone(), guard.clone()))),
            stdout: Box::new(PumpReader::new(shared.clone(), false, guard.clone())),
            stderr: Box::new(PumpReader::new(shared.clone(), true, guard.clone())),
            control: Box::new(PumpControl::new(shared, guard)),
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        let mut last_keepalive = Instant::now();
        loop {
            if self.shared.lock().killed {
                return Ok(());
            }
            let mut progressed = false;
            progressed |= self.pull(0, &mut buf)?;
            progressed |= self.pull(1, &mut buf)?;
            progressed |= self.push()?;

            let (out_eof, err_eof) = {
                let st = self.shared.lock();
                (st.out_eof, st.err_eof)
            };
            if out_eof && err_eof {
                // The command's output ended: collect its exit status.
                if !self.closing {
                    match self.channel.close() {
                        Ok(()) => self.closing = true,
                        Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                if self.closing {
                    match self.channel.wait_close() {
                        Ok(()) => {
                            // libssh2 reports 0 for a command killed by a
                            // signal; that must not look like success.
                            let signalled = self
                                .channel
                                .exit_signal()
                                .ok()
                                .and_then(|s| s.exit_signal)
                                .is_some();
                            let status = if signalled {
                                None
                            } else {
                                self.channel.exit_status().ok()
                            };
                            let mut st = self.shared.lock();
                            st.status = status;
                            // Whatever is still queued can never be sent.
                            st.input.clear();
                            return Ok(());
                        }
                        Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if last_keepalive.elapsed() >= Duration::from_secs(5) {
                last_keepalive = Instant::now();
                match self.session.keepalive_send() {
                    Ok(_) => {}
                    Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if !progressed {
                self.wait();
            }
        }
    }

    /// Moves available bytes of stream `id` (0 stdout, 1 stderr) into its
    /// pipe, unless the pipe is full.
    fn pull(&mut self, id: i32, buf: &mut [u8]) -> io::Result<bool> {
        {
            let st = self.shared.lock();
            let (pipe, eof) = if id == 0 {
                (&st.out, st.out_eof)
            } else {
                (&st.err, st.err_eof)
            };
            if eof || pipe.len() >= OUTPUT_CAP {
                return Ok(false);
            }
        }
        match self.channel.stream(id).read(buf) {
            Ok(0) => {
                if self.channel.eof() {
                    let mut st = self.shared.lock();
                    if id == 0 {
                        st.out_eof = true;
                    } else {
                        st.err_eof = true;
                    }
                    drop(st);
                    self.shared.notify();
                    return Ok(true);
                }
                Ok(false)
            }
            Ok(n) => {
                let mut st = self.shared.lock();
                let pipe = if id == 0 { &mut st.out } else { &mut st.err };
                pipe.extend(&buf[..n]);
                drop(st);
                self.shared.notify();
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends queued stdin, and EOF once stdin is closed and drained.
    fn push(&mut self) -> io::Result<bool> {
        if self.eof_sent {
            return Ok(false);
        }
        let (chunk, closed) = {
            let st = self.shared.lock();
            let (a, _) = st.input.as_slices();
            (a[..a.len().min(32 * 1024)].to_vec(), st.input_closed)
        };
        if !chunk.is_empty() {
            return match self.channel.write(&chunk) {
                Ok(n) => {
                    self.shared.lock().input.drain(..n);
                    self.shared.notify();
                    Ok(n > 0)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(e),
            };
        }
        if closed {
            match self.channel.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    return Ok(true);
                }
                Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// Sleeps until the socket is ready in the direction libssh2 is
    /// waiting for, a handle wakes us, or the keepalive is due.
    fn wait(&mut self) {
        let mut events = libc::POLLIN;
        if matches!(
            self.session.block_directions(),
            ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
        ) {
            events |= libc::POLLOUT;
        }
        let socket = self.socket;
        let mut fds = [
            libc::pollfd {
                fd: socket,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
        let mut drain = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut drain), Ok(n) if n > 0) {}
    }
}
