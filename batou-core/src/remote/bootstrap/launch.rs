//! Starting the agent: the start command, the upload when the target
//! lacks the binary, and the gated variant that connects early.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::binary::AgentBinary;
use super::error::BootstrapError;
use super::payload::{Mode, build, full_mode};
use super::preamble::{Outcome, Preamble, ended_early, note, read_preamble};
use super::scripts::{START, UPLOAD, outer_command};
use super::store::Store;
use crate::transport::{Channel, Target, Transport, TransportError};

/// How to start the agent on one target.
pub struct AgentLaunch<'a> {
    /// How to reach the target.
    pub transport: &'a dyn Transport,
    /// The target (host name for messages, address, ssh config).
    pub target: &'a Target,
    /// What to run there.
    pub binary: &'a AgentBinary,
    /// Where binaries are cached on the target, for the user the agent
    /// runs as (`~` is that user's home). Default
    /// `~/.cache/batou/agents`.
    pub cache_dir: Option<String>,
    /// Run the agent as this user (via `sudo -n -u`) when the login user
    /// differs.
    pub service_user: Option<String>,
    /// `Some(true)`: always sudo (to the service user, else root);
    /// `Some(false)`: never; `None`: when the service user differs.
    pub require_sudo: Option<bool>,
    /// Arguments for the agent binary, e.g. `["agent"]`.
    pub agent_args: Vec<String>,
    /// How uploads may save bytes.
    pub upload: UploadOptions,
}

/// How uploads may save bytes: deltas against agents the host still has,
/// and how many agents a host's cache keeps.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// How many agents a host's cache keeps, the running one included
    /// (`agent_cache_keep`, default [`DEFAULT_KEEP`]); the controller's
    /// store keeps as many.
    pub keep: usize,
    /// The controller's copies of the agents it shipped (deltas are built
    /// against them); `None`: only full uploads.
    pub store: Option<PathBuf>,
}

/// Agents kept in a host's cache when the environment does not say.
pub const DEFAULT_KEEP: usize = 3;

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            keep: DEFAULT_KEEP,
            store: None,
        }
    }
}

/// A started agent.
pub struct Launched {
    /// Positioned at the start of the agent's own stdout (the protocol);
    /// its stderr is the agent's.
    pub channel: Channel,
    /// Whether the binary had to be uploaded first.
    pub uploaded: bool,
    /// Bytes of agent sent to the target (0 when its cache had it).
    pub sent_bytes: u64,
    /// Who the agent runs as.
    pub user: String,
}

/// Starts the agent, uploading the binary first when the target does not
/// have it (or has a copy whose hash does not match).
pub fn launch(l: &AgentLaunch<'_>) -> Result<Launched, BootstrapError> {
    launch_from(l, None)
}

/// Connects to the target and starts the bootstrap script gated: it does
/// nothing on the target until [`launch_gated`] lets it go, and nothing
/// at all if the channel is dropped (killed) instead. The SSH handshake
/// thus overlaps with whatever the controller does meanwhile.
pub fn connect_gated(l: &AgentLaunch<'_>) -> Result<Channel, TransportError> {
    l.transport
        .start(l.target, &outer_command(l, START, &l.agent_args, true))
}

/// Starts the agent on a channel from [`connect_gated`] (uploading the
/// binary first if the target lacks it), like [`launch`].
pub fn launch_gated(l: &AgentLaunch<'_>, mut channel: Channel) -> Result<Launched, BootstrapError> {
    let go = match channel.stdin.as_mut() {
        Some(stdin) => stdin.write_all(b"go\n").and_then(|_| stdin.flush()),
        None => Err(std::io::ErrorKind::BrokenPipe.into()),
    };
    if let Err(e) = go {
        // The connection failed meanwhile: say why, as a fresh start would.
        let (code, _, err) = channel.finish().unwrap_or((None, Vec::new(), Vec::new()));
        let err = String::from_utf8_lossy(&err);
        return Err(match l.transport.diagnose(l.target, code, &err) {
            Some(t) => t.into(),
            None => BootstrapError::Exited {
                host: l.target.host.clone(),
                code,
                stderr: format!("{e}; {}", err.trim()),
            },
        });
    }
    launch_from(l, Some(channel))
}

fn launch_from(
    l: &AgentLaunch<'_>,
    mut gated: Option<Channel>,
) -> Result<Launched, BootstrapError> {
    let mut uploaded = false;
    let mut sent = 0u64;
    loop {
        let outcome = match gated.take() {
            Some(channel) => read_preamble(l, channel)?,
            None => start(l)?,
        };
        match outcome {
            Outcome::Started(channel, pre) => {
                return Ok(Launched {
                    channel,
                    uploaded,
                    sent_bytes: sent,
                    user: pre.user.unwrap_or_default(),
                });
            }
            Outcome::Missing(_) if uploaded => {
                return Err(BootstrapError::Upload {
                    host: l.target.host.clone(),
                    message: "the uploaded binary is still missing from the cache after the upload"
                        .into(),
                });
            }
            Outcome::Missing(pre) => {
                ship(l, &pre, &mut sent)?;
                uploaded = true;
            }
        }
    }
}

/// Uploads the agent in the cheapest way the target allows: a delta
/// against an agent it has (if the controller kept that one), falling
/// back to a full upload when the delta fails on the target.
fn ship(l: &AgentLaunch<'_>, pre: &Preamble, sent: &mut u64) -> Result<(), BootstrapError> {
    let store = l.upload.store.as_deref().map(|dir| Store {
        dir,
        keep: l.upload.keep,
    });
    let full = full_mode(&pre.unpack);
    let base = store.as_ref().and_then(|s| {
        let others: Vec<String> = pre
            .have
            .iter()
            .filter(|h| **h != l.binary.hash)
            .cloned()
            .collect();
        s.base_among(&others)
    });
    if let Some(s) = &store {
        s.put(l.binary);
    }
    if let Some((hash, path)) = base {
        match upload(l, &Mode::Patch(hash), Some(&path), sent) {
            Ok(()) => return Ok(()),
            // The delta did not apply (corrupt, an old agent without
            // `agent-patch`, a mismatch): the whole binary instead.
            Err(BootstrapError::Upload { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    upload(l, &full, None, sent)
}

fn start(l: &AgentLaunch<'_>) -> Result<Outcome, BootstrapError> {
    let command = outer_command(l, START, &l.agent_args, false);
    let channel = l.transport.start(l.target, &command)?;
    read_preamble(l, channel)
}

/// Sends the binary as `mode` says through a second command (same sudo
/// decision) that unpacks it, verifies its hash on the target and only
/// then moves it into the cache. Adds the bytes written to `sent`.
fn upload(
    l: &AgentLaunch<'_>,
    mode: &Mode,
    base: Option<&std::path::Path>,
    sent: &mut u64,
) -> Result<(), BootstrapError> {
    let host = l.target.host.clone();
    let upload_err = |message: String| BootstrapError::Upload {
        host: host.clone(),
        message,
    };
    let mut payload: Box<dyn Read> = match mode {
        Mode::Raw => Box::new(
            std::fs::File::open(&l.binary.path)
                .map_err(|e| upload_err(format!("cannot read {}: {e}", l.binary.path.display())))?,
        ),
        _ => Box::new(SharedBytes(
            build(l.binary, mode, base).map_err(upload_err)?,
            0,
        )),
    };
    let [m, b] = mode.args();
    let args = [m, b, l.upload.keep.max(1).to_string()];
    let command = outer_command(l, UPLOAD, &args, false);
    let mut channel = l.transport.start(l.target, &command)?;
    // Drain stdout and stderr while sending, so a chatty target cannot
    // block the upload.
    let mut out_pipe = std::mem::replace(&mut channel.stdout, Box::new(std::io::empty()));
    let mut err_pipe = std::mem::replace(&mut channel.stderr, Box::new(std::io::empty()));
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let sent_now = match channel.stdin.take() {
        Some(stdin) => {
            let mut counting = Counting { inner: stdin, n: 0 };
            let r = std::io::copy(&mut payload, &mut counting).map(|_| ());
            *sent += counting.n;
            r
        }
        None => Ok(()),
    };
    let code = channel.control.wait();
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let out = String::from_utf8_lossy(&out);
    let err = String::from_utf8_lossy(&err);
    if out.lines().any(|l| l == "BATOU-UPLOADED") {
        return Ok(());
    }
    let code = code.ok().flatten();
    let mut pre = Preamble::default();
    for line in out.lines() {
        note(&mut pre, line);
    }
    match ended_early(l, &pre, code, &err) {
        BootstrapError::Exited { stderr, code, .. } => Err(upload_err(format!(
            "the upload command exited ({}){}{}",
            code.map_or("no exit status".to_string(), |c| format!("exit {c}")),
            if stderr.is_empty() { "" } else { ": " },
            match &sent_now {
                Err(e) if stderr.is_empty() => format!("sending failed: {e}"),
                _ => stderr,
            }
        ))),
        other => Err(other),
    }
}

/// Counts what is written through it (the bytes an upload puts on the
/// wire, before the transport's own framing and encryption).
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a payload that other hosts' uploads share.
struct SharedBytes(std::sync::Arc<Vec<u8>>, usize);

impl Read for SharedBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.0.get(self.1..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        Ok(n)
    }
}
