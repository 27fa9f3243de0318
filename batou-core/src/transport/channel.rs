//! A running command on a target: its pipes and a way to stop it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use super::{Target, Transport, TransportError};

/// Waiting for and stopping the command behind a [`Channel`].
pub trait ChannelControl: Send {
    /// Waits for the command to end; its exit code, if the transport
    /// knows it.
    fn wait(&mut self) -> std::io::Result<Option<i32>>;
    /// Ends the command (and the connection) now.
    fn kill(&mut self);
}

/// A command started by a transport.
pub struct Channel {
    /// `None` once closed (the command sees EOF).
    pub stdin: Option<Box<dyn Write + Send>>,
    pub stdout: Box<dyn Read + Send>,
    pub stderr: Box<dyn Read + Send>,
    pub control: Box<dyn ChannelControl>,
}

impl Channel {
    /// A channel over a local child process (how process-based transports
    /// such as `ssh` or `docker exec` work).
    pub fn spawn(mut command: Command, host: &str) -> Result<Channel, TransportError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches
            // batou, which winds the deploy down through this channel,
            // not the transport, which would cut the agent off.
            .process_group(0);
        let mut child = command.spawn().map_err(|e| TransportError::Connect {
            host: host.to_string(),
            message: format!("cannot start {:?}: {e}", command.get_program()),
        })?;
        let io = |what: &str| TransportError::Io {
            host: host.to_string(),
            message: format!("no {what} pipe"),
        };
        let stdin = child.stdin.take().ok_or_else(|| io("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| io("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| io("stderr"))?;
        Ok(Channel {
            stdin: Some(Box::new(stdin)),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            control: Box::new(ChildControl(child)),
        })
    }

    /// Closes stdin, reads everything, waits: `(exit code, stdout, stderr)`.
    pub fn finish(mut self) -> std::io::Result<(Option<i32>, Vec<u8>, Vec<u8>)> {
        self.stdin = None;
        let mut err_pipe = self.stderr;
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            buf
        });
        let mut out = Vec::new();
        self.stdout.read_to_end(&mut out)?;
        let err = err_reader.join().unwrap_or_default();
        let code = self.control.wait()?;
        Ok((code, out, err))
    }
}

struct ChildControl(Child);

impl ChannelControl for ChildControl {
    fn wait(&mut self) -> std::io::Result<Option<i32>> {
        self.0.wait().map(|s| s.code())
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Quotes `s` for a POSIX shell.
///
/// ```
/// assert_eq!(batou_core::transport::quote("it's"), r"'it'\''s'");
/// assert_eq!(batou_core::transport::quote("plain-path_1.0/x"), "plain-path_1.0/x");
/// ```
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub(super) fn put_file_via_shell<T: Transport + ?Sized>(
    transport: &T,
    target: &Target,
    bytes: &[u8],
    path: &str,
    mode: u32,
) -> Result<(), TransportError> {
    let fail = |message: String| TransportError::PutFile {
        host: target.host.clone(),
        path: path.to_string(),
        message,
    };
    let p = quote(path);
    // A temp name in the same directory, so the final rename is atomic.
    let script = format!(
        "umask 077 && mkdir -p \"$(dirname {p})\" && t={p}.tmp.$$ && cat > \"$t\" && chmod {mode:o} \"$t\" && mv -f \"$t\" {p} || {{ rm -f \"$t\"; exit 1; }}"
    );
    let mut channel = transport.start(target, &script)?;
    // A write error usually means the transport died (e.g. ssh refused
    // the host key): look at how it ended before reporting the write.
    let sent = match channel.stdin.take() {
        Some(mut stdin) => stdin.write_all(bytes),
        None => Ok(()),
    };
    let (code, _, err) = channel.finish().map_err(|e| fail(e.to_string()))?;
    if let Err(e) = sent {
        return Err(transport
            .diagnose(target, code, &String::from_utf8_lossy(&err))
            .unwrap_or_else(|| fail(format!("sending the file: {e}"))));
    }
    if code != Some(0)
        && let Some(e) = transport.diagnose(target, code, &String::from_utf8_lossy(&err))
    {
        return Err(e);
    }
    if code != Some(0) {
        return Err(fail(format!(
            "exit {}: {}",
            code.map_or("unknown".into(), |c| c.to_string()),
            String::from_utf8_lossy(&err).trim()
        )));
    }
    Ok(())
}
