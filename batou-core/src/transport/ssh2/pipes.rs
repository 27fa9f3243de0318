//! The [`Channel`](crate::transport::Channel) side of the pump: stdin,
//! stdout, stderr and the control, each a handle on the pump's state.
//! The last handle dropped stops the pump ([`Guard`]).

use std::io::{self, Read, Write};
use std::sync::Arc;

use super::pump::{Guard, INPUT_CAP, OUTPUT_CAP, Shared};
use crate::transport::ChannelControl;

/// The command's stdin: bytes queued for the pump to send.
pub(super) struct PumpStdin {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
}

impl PumpStdin {
    pub fn new(shared: Arc<Shared>, guard: Arc<Guard>) -> Self {
        PumpStdin {
            shared,
            _guard: guard,
        }
    }
}

impl Write for PumpStdin {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut st = self.shared.lock();
        loop {
            if st.done || st.killed {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    st.failure
                        .clone()
                        .unwrap_or_else(|| "the remote command has ended".into()),
                ));
            }
            if st.input.len() < INPUT_CAP {
                break;
            }
            st = self.shared.wait(st);
        }
        let n = data.len().min(INPUT_CAP - st.input.len());
        st.input.extend(&data[..n]);
        drop(st);
        self.shared.wake_pump();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PumpStdin {
    fn drop(&mut self) {
        self.shared.lock().input_closed = true;
        self.shared.wake_pump();
    }
}

/// The command's stdout or stderr, as the pump received it.
pub(super) struct PumpReader {
    shared: Arc<Shared>,
    stderr: bool,
    _guard: Arc<Guard>,
}

impl PumpReader {
    pub fn new(shared: Arc<Shared>, stderr: bool, guard: Arc<Guard>) -> Self {
        PumpReader {
            shared,
            stderr,
            _guard: guard,
        }
    }
}

impl Read for PumpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.shared.lock();
        loop {
            let state = &mut *st;
            let (pipe, eof) = if self.stderr {
                (&mut state.err, state.err_eof)
            } else {
                (&mut state.out, state.out_eof)
            };
            if !pipe.is_empty() {
                let was_full = pipe.len() >= OUTPUT_CAP;
                let n = buf.len().min(pipe.len());
                for (dst, src) in buf.iter_mut().zip(pipe.drain(..n)) {
                    *dst = src;
                }
                drop(st);
                if was_full {
                    self.shared.wake_pump();
                }
                return Ok(n);
            }
            if eof {
                return match (&st.failure, st.killed) {
                    (Some(f), false) => {
                        Err(io::Error::new(io::ErrorKind::ConnectionAborted, f.clone()))
                    }
                    _ => Ok(0),
                };
            }
            st = self.shared.wait(st);
        }
    }
}

/// Waits for or stops the command.
pub(super) struct PumpControl {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
}

impl PumpControl {
    pub fn new(shared: Arc<Shared>, guard: Arc<Guard>) -> Self {
        PumpControl {
            shared,
            _guard: guard,
        }
    }
}

impl ChannelControl for PumpControl {
    fn wait(&mut self) -> io::Result<Option<i32>> {
        let st = self.shared.wait_done();
        match &st.failure {
            Some(f) if !st.killed => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, f.clone()))
            }
            _ => Ok(st.status),
        }
    }

    fn kill(&mut self) {
        self.shared.lock().killed = true;
        self.shared.notify();
        self.shared.wake_pump();
        drop(self.shared.wait_done());
    }
}
