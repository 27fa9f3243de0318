//! The agent protocol: one JSON object per line on the agent's stdin
//! (requests) and stdout (replies). Versioned; both sides check the version
//! and the binary hash in the first exchange.
//!
//! A session: the controller sends `hello` and `configure` at once (one
//! round trip), the agent answers `hello` and `configured`; then `deploy`
//! requests (several may run at once, each with its own id) answered by a
//! stream of `event`s and one `deployed` or `failed`; `heartbeat`s flow
//! from the agent every few seconds so a dead connection is noticed;
//! after the last root, `finish` lets each agent remove the externals that
//! left the environment (answered like a deploy); `shutdown` ends it.
//!
//! Version 2 added routed events: `deploy` carries `inputs` (events routed
//! to the root, watched roots that changed), `deployed` the routing keys
//! the root `published`, and the `finish` request. An agent that ignored
//! them would silently drop events, hence the new version.
//!
//! Version 4 added registered commands (`batou run`): `configure` may ask
//! the agent not to take the deploy lock (`lock: false`), and a `run`
//! request (a command's name and arguments) is answered by `ran` (its JSON
//! value) or `failed`. An older agent would take a `run` for a bad line
//! and end, hence the new version.
//!
//! Version 5 added `deploy` to `configure`: the deploy's identity, which
//! the agent writes to the host's deploy history (an agent that ignored it
//! would deploy unrecorded).
//!
//! Version 6 ships templates and static files as data (`crate::assets`):
//! `hello` carries the asset manifest and its hash, the agent answers
//! with the blobs its cache lacks (`missing_assets`), the controller sends
//! them in one `assets` request (the agent holds back everything after
//! `hello` until they arrived and were verified), and `configured` names
//! the hash of the set the agent loaded. An older agent would configure
//! without the templates, hence the new version.
//! Version 7 added `rollback` (`batou rollback`): after a `configure`
//! with the lock and the deploy's identity, the agent puts back the
//! kept record of the host's last deploy and answers `ran` with a
//! [`crate::deploy::rollback::RollbackReport`]. An older agent would end
//! on the unknown request.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::error::{ConfigError, DeployError, Origin};
use crate::event::Event;

/// Bumped on every incompatible change.
pub const PROTOCOL_VERSION: u32 = 8;

/// Who holds a target's deploy lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The controller's host name.
    pub controller: String,
    /// The user running the controller.
    pub user: String,
    /// The controller's process id.
    pub pid: u32,
    /// When the deploy started, seconds since the Unix epoch.
    pub started: u64,
    /// The agent process holding the lock on the target.
    pub agent_pid: u32,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} (pid {}), started {} (agent pid {})",
            self.user,
            self.controller,
            self.pid,
            format_epoch(self.started),
            self.agent_pid
        )
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_epoch(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate
    // for one line of output.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// An error as it crosses the wire: what the CLI needs to render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    pub message: String,
    pub origin: Option<Origin>,
    pub host: Option<String>,
    pub component: Option<String>,
    pub hint: Option<String>,
    /// The component panicked: a bug in its code (or batou's), reported
    /// as an internal error, as the same panic in a local deploy is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panicked: bool,
}

impl From<&ConfigError> for WireError {
    fn from(e: &ConfigError) -> Self {
        WireError {
            message: e.to_string(),
            origin: e.origin().cloned(),
            host: e.host().map(str::to_string),
            component: e.component().map(str::to_string),
            hint: e.hint(),
            panicked: false,
        }
    }
}

/// A failed root (or finish) as the agent reports it: the failing
/// component's breadcrumbs and host, no file location.
impl From<DeployError> for WireError {
    fn from(e: DeployError) -> Self {
        WireError {
            message: e.source.to_string(),
            origin: None,
            host: Some(e.host),
            component: Some(e.component),
            hint: None,
            panicked: false,
        }
    }
}

/// Controller → agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        protocol: u32,
        /// The hash of the binary the controller meant to start.
        binary_hash: String,
        controller: Holder,
        /// Take the deploy lock even if a live agent holds it (that agent
        /// is terminated).
        break_lock: bool,
        /// The asset set the agent configures with: key → sha256.
        #[serde(default)]
        assets: crate::assets::Manifest,
        /// The manifest's own hash (`Manifest::hash`).
        #[serde(default)]
        assets_hash: String,
    },
    /// The blobs the agent's `hello` said it lacks, each checked against
    /// its hash on arrival.
    Assets {
        blobs: Vec<crate::assets::Blob>,
    },
    Configure {
        /// The environment as the controller loaded it, overrides (and
        /// decrypted secrets) included; it lives only in memory here.
        environment: Box<Environment>,
        /// The host this agent deploys.
        host: String,
        /// `-p/--platform`.
        platform: Option<String>,
        /// Whole-file secrets and what to mask (overrides from secrets are
        /// already in `environment`).
        #[serde(default)]
        secrets: crate::secrets::WireSecrets,
        /// Take the target's deploy lock (every deploy does; `batou run`
        /// only with `--lock`).
        #[serde(default = "take_lock")]
        lock: bool,
        /// The deploy to record in the host's history (`None`: a
        /// prediction, which is not recorded). Boxed: requests wait in
        /// the agent's queue, and this would make every one larger.
        #[serde(default)]
        deploy: Option<Box<crate::history::DeployMeta>>,
    },
    /// Run the registered command `command` with `args` for this host,
    /// after a successful `configure`; answered by `ran` or `failed`
    /// under `id`.
    Run {
        id: u64,
        command: String,
        #[serde(default)]
        args: Vec<String>,
    },
    Deploy {
        id: u64,
        /// The root's index in the environment's root list (hosts in
        /// order, then components in order) — the same on both sides.
        root: usize,
        /// Its name, to catch a mismatch.
        name: String,
        predict: bool,
        /// Routed events and watched roots' changes for this root.
        #[serde(default)]
        inputs: crate::handlers::RootInputs,
        /// Only the events a transcript shows: `component_finished` of
        /// an unchanged component that was not slow stays here (a no-op
        /// deploy of thousands of files then sends a handful of lines,
        /// not one per component). The `--json` stream asks for all.
        #[serde(default)]
        quiet: bool,
        /// Show the root's long diffs whole (`--full-diff`).
        #[serde(default)]
        full_diff: bool,
    },
    /// Put back the kept record of the host's last deploy (`batou
    /// rollback`), after a `configure` that took the lock; answered by
    /// `ran` (a `RollbackReport`) or `failed` under `id`.
    Rollback {
        id: u64,
        /// `-P`: say what would be restored, change nothing.
        predict: bool,
        /// Go on even though paths changed since the deploy.
        force: bool,
    },
    /// Every root is done: remove the externals that left the environment
    /// (or, predicting, say which would be removed). Answered with events
    /// and `deployed`/`failed` under `id`.
    Finish {
        id: u64,
        predict: bool,
    },
    Shutdown,
    /// The operator pressed Ctrl-C: the running roots stop before their
    /// next component and are reverted (with revert off, they finish).
    /// No answer beyond the roots' own.
    Interrupt,
    /// The controller is still there; sent every [`super::agent::HEARTBEAT`]
    /// (see [`super::agent::CONTROLLER_SILENCE`]). No answer.
    Alive,
}

/// Agent → controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        protocol: u32,
        binary_hash: String,
        hostname: String,
        user: String,
        pid: u32,
        /// The sha256 of each asset blob the agent lacks (or whose cached
        /// copy was damaged): the controller sends them in `assets`.
        #[serde(default)]
        missing_assets: Vec<String>,
    },
    /// Another deploy runs on this target.
    LockHeld {
        holder: Holder,
    },
    Configured {
        errors: Vec<WireError>,
        /// `(host, name)` of every root, in root order.
        roots: Vec<(String, String)>,
        /// Things the operator should know (e.g. a stale deploy lock).
        #[serde(default)]
        warnings: Vec<String>,
        /// The manifest hash of the assets the agent configured with,
        /// computed from their content.
        #[serde(default)]
        assets_hash: String,
    },
    Event {
        id: u64,
        event: Event,
    },
    Deployed {
        id: u64,
        changed: usize,
        seconds: f64,
        /// Routing keys the root published.
        #[serde(default)]
        published: Vec<String>,
    },
    Failed {
        id: u64,
        error: WireError,
    },
    /// A `run` request's answer: the command's value.
    Ran {
        id: u64,
        value: serde_json::Value,
        seconds: f64,
    },
    Heartbeat,
    /// The agent cannot go on (bad request, protocol mismatch, ...).
    Fatal {
        message: String,
    },
}

/// A `configure` without `lock` takes it, as every deploy does.
fn take_lock() -> bool {
    true
}

/// Writes one message as one line and flushes.
pub fn write_line<T: Serialize>(out: &mut dyn Write, message: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// The longest request line an agent accepts: a `configure` carries the
/// whole environment and every whole-file secret.
pub const MAX_REQUEST_LINE: usize = 256 << 20;

/// The longest reply line the controller accepts from an agent (an event
/// with a large diff fits many times over); a longer one is a protocol
/// violation, so a hostile or broken agent cannot exhaust the
/// controller's memory with one endless line.
pub const MAX_REPLY_LINE: usize = 64 << 20;

/// One line read by [`read_bounded_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum BoundedLine {
    /// A complete line (without its `\n`; a last line without one counts).
    Line(Vec<u8>),
    /// The line grew past the limit; the rest of it was not read.
    TooLong,
    /// End of input before any byte.
    End,
}

/// Reads up to and including the next `\n`, keeping at most `max` bytes
/// in memory.
pub fn read_bounded_line(input: &mut dyn BufRead, max: usize) -> std::io::Result<BoundedLine> {
    let mut line = Vec::new();
    loop {
        let (used, done) = {
            let buf = match input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(if line.is_empty() {
                    BoundedLine::End
                } else {
                    BoundedLine::Line(line)
                });
            }
            match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    (i + 1, true)
                }
                None => {
                    line.extend_from_slice(buf);
                    (buf.len(), false)
                }
            }
        };
        input.consume(used);
        if line.len() > max {
            return Ok(BoundedLine::TooLong);
        }
        if done {
            return Ok(BoundedLine::Line(line));
        }
    }
}

/// Decodes one protocol line (blank lines are the caller's business).
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(text)
        .map_err(|e| format!("{e}: {}", text.trim().chars().take(200).collect::<String>()))
}

/// Reads one request; `Ok(None)` at end of input.
pub fn read_line<T: for<'de> Deserialize<'de>>(
    input: &mut dyn BufRead,
) -> std::io::Result<Option<T>> {
    let bad = |message: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad protocol line: {message}"),
        )
    };
    loop {
        match read_bounded_line(input, MAX_REQUEST_LINE)? {
            BoundedLine::End => return Ok(None),
            BoundedLine::TooLong => {
                return Err(bad(format!("longer than {} MiB", MAX_REQUEST_LINE >> 20)));
            }
            BoundedLine::Line(line) if line.trim_ascii().is_empty() => continue,
            BoundedLine::Line(line) => return decode(&line).map(Some).map_err(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_formatting() {
        assert_eq!(format_epoch(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_epoch(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }

    #[test]
    fn messages_without_the_event_fields_still_parse() {
        // What a deploy without events sends: the new fields are optional.
        let request: Request = serde_json::from_str(
            r#"{"type":"deploy","id":1,"root":0,"name":"app","predict":false}"#,
        )
        .unwrap();
        assert!(matches!(request, Request::Deploy { inputs, .. } if inputs.is_empty()));
        let reply: Reply =
            serde_json::from_str(r#"{"type":"deployed","id":1,"changed":0,"seconds":0.1}"#)
                .unwrap();
        assert!(matches!(reply, Reply::Deployed { published, .. } if published.is_empty()));
    }

    #[test]
    fn run_defaults_to_no_args_and_ran_round_trips() {
        let run: Request =
            serde_json::from_str(r#"{"type":"run","id":4,"command":"facts"}"#).unwrap();
        assert!(
            matches!(run, Request::Run { id: 4, ref command, ref args } if command == "facts" && args.is_empty())
        );
        let mut buf = Vec::new();
        write_line(
            &mut buf,
            &Reply::Ran {
                id: 4,
                value: serde_json::json!({"arch": "x86_64"}),
                seconds: 0.25,
            },
        )
        .unwrap();
        let back: Reply = read_line(&mut std::io::Cursor::new(buf)).unwrap().unwrap();
        assert!(matches!(back, Reply::Ran { id: 4, value, .. } if value["arch"] == "x86_64"));
    }

    #[test]
    fn a_deploy_request_without_quiet_asks_for_every_event() {
        let request: Request = serde_json::from_str(
            r#"{"type":"deploy","id":1,"root":0,"name":"files","predict":false}"#,
        )
        .unwrap();
        assert!(matches!(request, Request::Deploy { quiet: false, .. }));
    }

    #[test]
    fn messages_round_trip_one_per_line() {
        let mut buf = Vec::new();
        write_line(&mut buf, &Reply::Heartbeat).unwrap();
        write_line(
            &mut buf,
            &Reply::Deployed {
                id: 3,
                changed: 2,
                seconds: 0.5,
                published: vec!["backend.changed".into()],
            },
        )
        .unwrap();
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 2);
        let mut input = std::io::Cursor::new(buf);
        assert!(matches!(
            read_line::<Reply>(&mut input).unwrap(),
            Some(Reply::Heartbeat)
        ));
        assert!(matches!(
            read_line::<Reply>(&mut input).unwrap(),
            Some(Reply::Deployed {
                id: 3,
                changed: 2,
                ..
            })
        ));
        assert!(read_line::<Reply>(&mut input).unwrap().is_none());
    }

    #[test]
    fn lines_longer_than_the_limit_are_cut_off_not_buffered() {
        let mut input = std::io::BufReader::with_capacity(
            7,
            std::io::Cursor::new(b"short\n0123456789abcdef\nlast".to_vec()),
        );
        let mut read = || read_bounded_line(&mut input, 10).unwrap();
        assert_eq!(read(), BoundedLine::Line(b"short".to_vec()));
        assert_eq!(read(), BoundedLine::TooLong);
    }

    #[test]
    fn a_last_line_without_newline_counts_and_then_the_end() {
        let mut input = std::io::Cursor::new(b"a\n\nb".to_vec());
        let mut read = || read_bounded_line(&mut input, 10).unwrap();
        assert_eq!(read(), BoundedLine::Line(b"a".to_vec()));
        assert_eq!(read(), BoundedLine::Line(Vec::new()));
        assert_eq!(read(), BoundedLine::Line(b"b".to_vec()));
        assert_eq!(read(), BoundedLine::End);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_protocol_error() {
        let mut input = std::io::Cursor::new(b"\xff\xfe{}\n".to_vec());
        let e = read_line::<Reply>(&mut input).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
