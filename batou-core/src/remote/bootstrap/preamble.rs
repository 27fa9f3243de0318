//! Reading what the bootstrap script says before the agent takes over,
//! with a deadline, and turning an early end into a typed error.

use std::io::Read;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::binary::suggested_triple;
use super::error::BootstrapError;
use super::launch::AgentLaunch;
use crate::transport::{Channel, ChannelControl, TransportError};

/// Reads one line from `r` byte by byte, so nothing after it (the
/// agent's protocol) is consumed. `None` at EOF before any byte.
pub(super) fn read_line(r: &mut dyn Read) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => {
                return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
            }
            Ok(_) if byte[0] == b'\n' => {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What the bootstrap script said before handing over (or not).
#[derive(Default)]
pub(super) struct Preamble {
    pub(super) platform: Option<String>,
    pub(super) user: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) enum Outcome {
    Started(Channel, Preamble),
    Missing,
}

/// Reads what the START script says until the agent takes over (or the
/// binary is missing).
pub(super) fn read_preamble(
    l: &AgentLaunch<'_>,
    mut channel: Channel,
) -> Result<Outcome, BootstrapError> {
    // The script needs a connection, maybe sudo and one hash of the cached
    // binary; a target that stops answering meanwhile must not hang us.
    let limit = l.target.connect_timeout + PREAMBLE_GRACE;
    let (read, timed_out) = with_deadline(&mut channel, limit, |channel| -> std::io::Result<_> {
        let mut pre = Preamble::default();
        loop {
            match read_line(&mut *channel.stdout)? {
                Some(line) if line == "BATOU-START" || line == "BATOU-MISSING" => {
                    return Ok((Some(line), pre));
                }
                Some(line) => note(&mut pre, &line),
                None => return Ok((None, pre)),
            }
        }
    });
    let host = l.target.host.clone();
    if timed_out {
        channel.control.kill();
        return Err(TransportError::Io {
            host,
            message: format!(
                "the agent bootstrap did not answer within {} s",
                limit.as_secs()
            ),
        }
        .into());
    }
    let (last, pre) = match read {
        Ok(read) => read,
        Err(e) => {
            channel.control.kill();
            return Err(TransportError::Io {
                host,
                message: format!("reading from the agent bootstrap: {e}"),
            }
            .into());
        }
    };
    match last.as_deref() {
        Some("BATOU-START") => {
            if let Err(e) = check_platform(l, &pre) {
                channel.control.kill();
                return Err(e);
            }
            Ok(Outcome::Started(channel, pre))
        }
        Some(_) => {
            let _ = channel.finish();
            check_platform(l, &pre)?;
            Ok(Outcome::Missing)
        }
        None => {
            // The script ended without starting anything.
            let (code, _, err) = channel.finish().unwrap_or((None, Vec::new(), Vec::new()));
            Err(ended_early(l, &pre, code, &String::from_utf8_lossy(&err)))
        }
    }
}

/// How long the bootstrap script may take beyond the connect timeout.
const PREAMBLE_GRACE: Duration = Duration::from_secs(60);

/// Runs `f` on `channel`, killing the channel if `f` has not returned
/// within `limit` (so a blocked read ends). `(f's result, whether it
/// timed out)`.
fn with_deadline<R>(
    channel: &mut Channel,
    limit: Duration,
    f: impl FnOnce(&mut Channel) -> R,
) -> (R, bool) {
    let control: Arc<Mutex<Box<dyn ChannelControl>>> = Arc::new(Mutex::new(std::mem::replace(
        &mut channel.control,
        Box::new(Detached),
    )));
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let control = control.clone();
        std::thread::spawn(move || match finished.recv_timeout(limit) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                control.lock().unwrap_or_else(|p| p.into_inner()).kill();
                true
            }
            _ => false,
        })
    };
    let result = f(channel);
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    channel.control = match Arc::try_unwrap(control) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(_) => Box::new(Detached),
    };
    (result, timed_out)
}

/// Stands in for a channel's control while a watchdog holds it.
struct Detached;

impl ChannelControl for Detached {
    fn wait(&mut self) -> std::io::Result<Option<i32>> {
        Ok(None)
    }

    fn kill(&mut self) {}
}

pub(super) fn note(pre: &mut Preamble, line: &str) {
    if let Some(p) = line.strip_prefix("BATOU-PLATFORM ") {
        pre.platform = Some(p.trim().to_string());
    } else if let Some(u) = line.strip_prefix("BATOU-USER ") {
        pre.user = Some(u.trim().to_string());
    } else if let Some(e) = line.strip_prefix("BATOU-ERROR ") {
        pre.error = Some(e.trim().to_string());
    }
    // Anything else (a login banner from a shell profile) is ignored.
}

fn check_platform(l: &AgentLaunch<'_>, pre: &Preamble) -> Result<(), BootstrapError> {
    let Some(platform) = &pre.platform else {
        return Ok(());
    };
    let (os, arch) = platform.split_once(' ').unwrap_or((platform.as_str(), ""));
    if l.binary.runs_on(os, arch) {
        return Ok(());
    }
    Err(BootstrapError::Platform {
        host: l.target.host.clone(),
        remote: platform.clone(),
        local: format!("{} {}", l.binary.os, l.binary.arch),
        triple: suggested_triple(os, arch),
    })
}

/// Why a bootstrap command ended before `BATOU-START`/`BATOU-MISSING`.
pub(super) fn ended_early(
    l: &AgentLaunch<'_>,
    pre: &Preamble,
    code: Option<i32>,
    stderr: &str,
) -> BootstrapError {
    let host = l.target.host.clone();
    if let Err(e) = check_platform(l, pre) {
        return e;
    }
    if let Some(error) = &pre.error {
        if let Some(rest) = error.strip_prefix("cache ") {
            let (path, message) = rest.split_once(": ").unwrap_or((rest, ""));
            return BootstrapError::CacheDir {
                host,
                path: path.to_string(),
                message: message.to_string(),
            };
        }
        return BootstrapError::Upload {
            host,
            message: error.trim_start_matches("upload ").to_string(),
        };
    }
    // The platform line comes first; without it the script never ran, so
    // the transport itself failed.
    if pre.platform.is_none()
        && let Some(e) = l.transport.diagnose(l.target, code, stderr)
    {
        return e.into();
    }
    let sudo_user = l.service_user.clone().unwrap_or_else(|| "root".to_string());
    if stderr.contains("sorry, you must have a tty") {
        return BootstrapError::Sudo {
            host,
            user: sudo_user,
            message: "sudo is configured with `requiretty`; batou runs sudo without a terminal: set `Defaults:LOGIN_USER !requiretty`".into(),
        };
    }
    if stderr.contains("a password is required") || stderr.contains("a terminal is required") {
        return BootstrapError::SudoPassword {
            host,
            user: sudo_user,
        };
    }
    if let Some(line) = stderr.lines().find(|l| l.starts_with("sudo:")) {
        return BootstrapError::Sudo {
            host,
            user: sudo_user,
            message: line.trim_start_matches("sudo:").trim().to_string(),
        };
    }
    BootstrapError::Exited {
        host,
        code,
        stderr: stderr.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_bootstrap_is_killed_at_the_deadline() {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "echo BATOU-PLATFORM Linux x86_64; exec sleep 30"]);
        let mut channel = Channel::spawn(cmd, "h").unwrap();
        let started = std::time::Instant::now();
        let (lines, timed_out) = with_deadline(&mut channel, Duration::from_millis(300), |c| {
            let mut lines = Vec::new();
            while let Ok(Some(line)) = read_line(&mut *c.stdout) {
                lines.push(line);
            }
            lines
        });
        assert!(timed_out);
        assert_eq!(lines, ["BATOU-PLATFORM Linux x86_64"]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // The real control is back in place.
        assert_ne!(channel.control.wait().unwrap(), Some(0));

        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "echo BATOU-START"]);
        let mut channel = Channel::spawn(cmd, "h").unwrap();
        let (line, timed_out) = with_deadline(&mut channel, Duration::from_secs(30), |c| {
            read_line(&mut *c.stdout).unwrap()
        });
        assert!(!timed_out);
        assert_eq!(line.as_deref(), Some("BATOU-START"));
        assert_eq!(channel.control.wait().unwrap(), Some(0));
    }

    #[test]
    fn read_line_stops_at_the_newline() {
        let mut r: &[u8] = b"BATOU-START\n{\"x\":1}\n";
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("BATOU-START"));
        assert_eq!(r, b"{\"x\":1}\n");
    }
}
