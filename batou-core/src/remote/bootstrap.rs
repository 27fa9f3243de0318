//! Starting the agent on a target: the controller's own executable,
//! uploaded once per content hash into a private cache directory on the
//! host and started through a transport, as the service user if there is
//! one.
//!
//! An unchanged deployment costs one transport command per host: a small
//! POSIX `sh` script that decides on sudo, reports the platform, checks the
//! cached binary (hashing it only when it may have changed, see `START`)
//! and `exec`s it. Only when the binary is missing
//! (or was tampered with) does a second command upload it, and a third
//! start it.
//!
//! The script talks to the controller in lines on stdout before the agent
//! takes over:
//!
//! ```text
//! BATOU-PLATFORM Linux x86_64     always first
//! BATOU-USER deploy               who the agent runs as
//! BATOU-START                     the agent's own stdout begins after this
//! BATOU-MISSING                   no (valid) cached binary: upload it
//! BATOU-ERROR cache <message>     the cache directory cannot be used
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::transport::{Channel, ChannelControl, Target, Transport, TransportError, quote};

/// The executable the agent runs from, and what it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    /// The file uploaded to the targets.
    pub path: PathBuf,
    /// sha256 of the file, lowercase hex.
    pub hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// The OS as `uname -s` prints it (`Linux`, `Darwin`, `FreeBSD`).
    pub os: String,
    /// The machine as `uname -m` prints it (`x86_64`, `aarch64`).
    pub arch: String,
}

impl AgentBinary {
    /// The running executable (the controller uploads itself). Hashed once
    /// per process.
    pub fn current() -> std::io::Result<AgentBinary> {
        static CURRENT: OnceLock<Mutex<Option<AgentBinary>>> = OnceLock::new();
        let cell = CURRENT.get_or_init(|| Mutex::new(None));
        let mut cached = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(binary) = cached.as_ref() {
            return Ok(binary.clone());
        }
        let path = std::env::current_exe()?;
        let binary = match super::self_hash::lookup(&path) {
            Some((hash, size)) => AgentBinary {
                path,
                hash,
                size,
                os: local_os().to_string(),
                arch: local_arch().to_string(),
            },
            None => {
                let binary = AgentBinary::from_path(&path, local_os(), local_arch())?;
                super::self_hash::store(&binary.path, &binary.hash);
                binary
            }
        };
        *cached = Some(binary.clone());
        Ok(binary)
    }

    /// A binary built for `os`/`arch` (as `uname -s`/`uname -m` print
    /// them), e.g. one cross-compiled for the targets.
    pub fn from_path(path: &Path, os: &str, arch: &str) -> std::io::Result<AgentBinary> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        let hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(AgentBinary {
            path: path.to_path_buf(),
            hash,
            size,
            os: os.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Whether a host whose `uname -s`/`uname -m` print `os`/`arch` can run
    /// this binary (`arm64` is `aarch64`, `amd64` is `x86_64`).
    pub fn runs_on(&self, os: &str, arch: &str) -> bool {
        self.os.eq_ignore_ascii_case(os)
            && normal_arch(&self.arch.to_lowercase()) == normal_arch(&arch.to_lowercase())
    }
}

fn normal_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

/// This machine's OS as `uname -s` prints it.
pub fn local_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        other => other,
    }
}

/// This machine's architecture as `uname -m` prints it on Linux.
pub fn local_arch() -> &'static str {
    std::env::consts::ARCH
}

/// The Rust target triple to suggest for a host printing `os`/`arch`.
fn suggested_triple(os: &str, arch: &str) -> String {
    let arch = normal_arch(arch);
    match os {
        "Linux" => format!("{arch}-unknown-linux-musl"),
        "Darwin" => format!("{arch}-apple-darwin"),
        "FreeBSD" => format!("{arch}-unknown-freebsd"),
        other => format!("{arch}-unknown-{}", other.to_lowercase()),
    }
}

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
}

/// A started agent.
pub struct Launched {
    /// Positioned at the start of the agent's own stdout (the protocol);
    /// its stderr is the agent's.
    pub channel: Channel,
    /// Whether the binary had to be uploaded first.
    pub uploaded: bool,
    /// Who the agent runs as.
    pub user: String,
}

/// Why the agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The transport could not reach the target (host key, auth, connect).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The target's OS/architecture cannot run the binary.
    #[error(
        "{host} runs {remote}, but the agent binary is built for {local}: build one for the host (e.g. `cargo build --release --target {triple}`) and set `agent_binary = PATH` in [environment] or [host:{host}]"
    )]
    Platform {
        host: String,
        remote: String,
        local: String,
        /// The suggested Rust target triple.
        triple: String,
    },
    /// `sudo -n` would have to ask for a password.
    #[error(
        "sudo on {host} asks for a password to run as {user}; batou needs passwordless sudo (NOPASSWD) for the login user"
    )]
    SudoPassword { host: String, user: String },
    /// sudo refused for another reason (no rule, unknown user, ...).
    #[error("{host}: sudo to {user} failed: {message}")]
    Sudo {
        host: String,
        user: String,
        message: String,
    },
    /// The cache directory cannot be created or is not safely ours.
    #[error("{host}: cannot use the agent cache {path}: {message}")]
    CacheDir {
        host: String,
        path: String,
        message: String,
    },
    /// Sending or verifying the binary failed.
    #[error("{host}: cannot upload the agent binary: {message}")]
    Upload { host: String, message: String },
    /// The bootstrap command ended before the agent started, for a reason
    /// none of the above explains.
    #[error("{host}: the agent bootstrap exited ({}) before the agent started: {stderr}", .code.map_or("no exit status".to_string(), |c| format!("exit {c}")))]
    Exited {
        host: String,
        code: Option<i32>,
        stderr: String,
    },
}

/// The cache directory used when the environment sets none.
pub const DEFAULT_CACHE_DIR: &str = "~/.cache/batou/agents";

/// Shell functions both inner scripts share, after the arguments (`$h`
/// hash, `$c` cache dir, `$u` the user we run as) are read. The cache is
/// created 0700 and must belong to the user we run as, since whoever can
/// write there can replace what we execute.
///
/// Every process started here costs a few milliseconds on each deploy, so
/// the scripts start as few as they can: `uname` and `find` (and `id`
/// once, in the outer script); everything else is shell builtins.
const PRELUDE: &str = r#"case $c in "~") c=$HOME ;; "~/"*) c=$HOME/${c#??} ;; esac
sum() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else sha256 -q "$1"; fi
}
if [ ! -d "$c" ]; then
  ( umask 077 && mkdir -p "$c" ) 2>/dev/null || { echo "BATOU-ERROR cache $c: cannot create it as $u"; exit 0; }
fi
if [ ! -O "$c" ]; then echo "BATOU-ERROR cache $c: owned by another user, not $u; refusing to use it"; exit 0; fi
if [ -n "$(find "$c" -prune \( -perm -020 -o -perm -002 \) -print)" ]; then echo "BATOU-ERROR cache $c: writable by other users; refusing to use it"; exit 0; fi
f=$c/batou-agent-$h
"#;

/// Runs the cached binary if it is there and intact (a tampered one is
/// removed, never executed).
///
/// Hashing a binary of several megabytes costs more than the rest of the
/// script, so it is hashed only when it may have changed since it was
/// verified: the upload verifies it and then renames it into the cache,
/// which leaves the directory at least as new as the file. Writing to the
/// file afterwards (corruption, tampering in place) makes the file newer
/// than the directory, and then it is hashed again (`-nt` compares
/// modification times; dash and bash to the nanosecond). Putting another
/// file in its place needs write access to this private directory, which
/// only its owner — the user the agent runs as — and root have.
const START: &str = r#"if [ -f "$f" ] && [ -x "$f" ]; then
  ok=
  if [ ! "$f" -nt "$c" ]; then ok=1
  elif [ "$(sum "$f")" = "$h" ]; then ok=1; touch "$c" 2>/dev/null
  fi
  if [ -n "$ok" ]; then echo BATOU-START; BATOU_AGENT_HASH=$h; export BATOU_AGENT_HASH; exec "$f" "$@"; fi
  rm -f "$f"
fi
echo BATOU-MISSING
"#;

/// Receives the binary on stdin, verifies it and moves it into place.
///
/// An upload killed before its `mv` (the connection's shell killed, the
/// host rebooted) leaves its temp file; the cache belongs to this user
/// alone, so a temp file whose shell (`.tmp.<pid>`) is gone is stale and
/// removed first.
const UPLOAD: &str = r#"umask 077
for s in "$c"/.batou-agent-*.tmp.*; do [ -f "$s" ] && ! kill -0 "${s##*.}" 2>/dev/null && rm -f "$s"; done
t=$c/.batou-agent-$h.tmp.$$
if ! cat > "$t"; then rm -f "$t"; echo "BATOU-ERROR upload cannot write $t"; exit 1; fi
s=$(sum "$t")
if [ "$s" != "$h" ]; then rm -f "$t"; echo "BATOU-ERROR upload checksum mismatch on the target: got $s"; exit 1; fi
chmod 700 "$t" && mv -f "$t" "$f" || { rm -f "$t"; echo "BATOU-ERROR upload cannot move it to $f"; exit 1; }
echo BATOU-UPLOADED
"#;

/// The command run as the login user: it decides on sudo and runs
/// `inner` (which starts with the platform and user lines) as the agent's
/// user.
fn outer_command(l: &AgentLaunch<'_>, inner: &str, args: &[String], gated: bool) -> String {
    let binary = l.binary;
    let inner = format!(
        "h=$1; c=$2; u=${{3:-$(id -un)}}; shift 3\np=$(uname -sm)\necho \"BATOU-PLATFORM $p\"\necho \"BATOU-USER $u\"\n{check}{PRELUDE}{inner}",
        // The script stops itself on a platform mismatch, so nothing that
        // cannot run here is ever uploaded or executed.
        check = platform_check(binary),
    );
    let mode = match l.require_sudo {
        Some(true) => "yes",
        Some(false) => "no",
        None => "auto",
    };
    let user = l.service_user.clone().unwrap_or_default();
    let head = format!(
        "{} {}",
        quote(&binary.hash),
        quote(l.cache_dir.as_deref().unwrap_or(DEFAULT_CACHE_DIR))
    );
    let rest = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    // Without sudo the agent runs as the login user, whom `id` names
    // here once; through sudo the inner script asks `id` itself.
    // A gated script waits for a line `go` before doing anything on the
    // target, so the connection can be made while the controller still
    // configures; end of input (configuration failed) ends it untouched.
    let gate = if gated {
        "read -r batou_go || exit 0\n[ \"$batou_go\" = go ] || exit 0\n"
    } else {
        ""
    };
    format!(
        r#"{gate}inner={inner}
su={user}
mode={mode}
me=$(id -un)
use_sudo=no
if [ "$mode" = yes ]; then use_sudo=yes; [ -n "$su" ] || su=root
elif [ "$mode" = auto ] && [ -n "$su" ] && [ "$me" != "$su" ]; then use_sudo=yes; fi
if [ "$use_sudo" = yes ]; then exec sudo -n -u "$su" -H sh -c "$inner" batou-bootstrap {head} '' {rest}
else exec sh -c "$inner" batou-bootstrap {head} "$me" {rest}; fi
"#,
        inner = quote(&inner),
        user = quote(&user),
    )
}

fn platform_check(binary: &AgentBinary) -> String {
    // Accept the spellings `runs_on` accepts; the controller decides.
    let lower = binary.arch.to_lowercase();
    let arch = normal_arch(&lower);
    let alt = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    // Compared ignoring case, as `runs_on` compares them, with glob
    // character classes rather than a `tr` process.
    format!(
        "case $p in {os}\\ {arch}|{os}\\ {alt}) ;; *) exit 0 ;; esac\n",
        os = any_case(&binary.os),
        arch = any_case(arch),
        alt = any_case(alt),
    )
}

/// A `case` pattern matching `text` in any letter case: `[lL][iI]...`;
/// anything but letters, digits, `_`, `.` and `-` is escaped.
fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// Reads one line from `r` byte by byte, so nothing after it (the
/// agent's protocol) is consumed. `None` at EOF before any byte.
fn read_line(r: &mut dyn Read) -> std::io::Result<Option<String>> {
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
struct Preamble {
    platform: Option<String>,
    user: Option<String>,
    error: Option<String>,
}

enum Outcome {
    Started(Channel, Preamble),
    Missing,
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
                    user: pre.user.unwrap_or_default(),
                });
            }
            Outcome::Missing if uploaded => {
                return Err(BootstrapError::Upload {
                    host: l.target.host.clone(),
                    message: "the uploaded binary is still missing from the cache after the upload"
                        .into(),
                });
            }
            Outcome::Missing => {
                upload(l)?;
                uploaded = true;
            }
        }
    }
}

fn start(l: &AgentLaunch<'_>) -> Result<Outcome, BootstrapError> {
    let command = outer_command(l, START, &l.agent_args, false);
    let channel = l.transport.start(l.target, &command)?;
    read_preamble(l, channel)
}

/// Reads what the START script says until the agent takes over (or the
/// binary is missing).
fn read_preamble(l: &AgentLaunch<'_>, mut channel: Channel) -> Result<Outcome, BootstrapError> {
    // The script needs a connection, maybe sudo and one hash of the cached
    // binary; a target that stops answering meanwhile must not hang us.
    // Saturating: a connect timeout of u64::MAX seconds means no limit.
    let limit = l.target.connect_timeout.saturating_add(PREAMBLE_GRACE);
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

fn note(pre: &mut Preamble, line: &str) {
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
fn ended_early(
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

/// Sends the binary through a second command (same sudo decision) that
/// verifies its hash on the target before moving it into the cache.
fn upload(l: &AgentLaunch<'_>) -> Result<(), BootstrapError> {
    let host = l.target.host.clone();
    let upload_err = |message: String| BootstrapError::Upload {
        host: host.clone(),
        message,
    };
    let mut file = std::fs::File::open(&l.binary.path)
        .map_err(|e| upload_err(format!("cannot read {}: {e}", l.binary.path.display())))?;
    let command = outer_command(l, UPLOAD, &[], false);
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
    let sent = match channel.stdin.take() {
        Some(mut stdin) => std::io::copy(&mut file, &mut stdin).map(|_| ()),
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
            match &sent {
                Err(e) if stderr.is_empty() => format!("sending failed: {e}"),
                _ => stderr,
            }
        ))),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_compare_like_uname_prints_them() {
        let b = AgentBinary {
            path: PathBuf::from("/x"),
            hash: String::new(),
            size: 0,
            os: "Linux".into(),
            arch: "x86_64".into(),
        };
        assert!(b.runs_on("Linux", "x86_64"));
        assert!(b.runs_on("Linux", "amd64"));
        assert!(!b.runs_on("Linux", "aarch64"));
        assert!(!b.runs_on("Darwin", "x86_64"));
        assert_eq!(
            suggested_triple("Linux", "aarch64"),
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(suggested_triple("Darwin", "arm64"), "aarch64-apple-darwin");
    }

    #[test]
    fn the_script_checks_the_platform_like_runs_on() {
        let binary = |os: &str, arch: &str| AgentBinary {
            path: PathBuf::from("/x"),
            hash: String::new(),
            size: 0,
            os: os.into(),
            arch: arch.into(),
        };
        for (b, uname, expected) in [
            (binary("Linux", "x86_64"), "Linux x86_64", true),
            (binary("linux", "x86_64"), "Linux x86_64", true),
            (binary("Linux", "x86_64"), "FreeBSD amd64", false),
            (binary("FreeBSD", "x86_64"), "FreeBSD amd64", true),
            (binary("Darwin", "aarch64"), "Darwin arm64", true),
            (binary("Linux", "riscv128"), "Linux x86_64", false),
        ] {
            let script = format!("p='{uname}'\n{}echo runs", platform_check(&b));
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let (os, arch) = uname.split_once(' ').unwrap();
            assert_eq!(b.runs_on(os, arch), expected, "{b:?} on {uname}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim() == "runs",
                expected,
                "script for {b:?} on {uname}"
            );
        }
    }

    #[test]
    fn hashes_like_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"abc").unwrap();
        let b = AgentBinary::from_path(&path, "Linux", "x86_64").unwrap();
        assert_eq!(
            b.hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b.size, 3);
    }

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
    fn an_upload_removes_the_temp_files_of_killed_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let stale = c.join(format!(".batou-agent-old.tmp.{dead}"));
        let live = c.join(format!(".batou-agent-old.tmp.{}", std::process::id()));
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&live, b"being written").unwrap();
        // sha256("abc")
        let h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let script = format!(
            "c='{}'; h={h}; f=$c/batou-agent-$h\nsum() {{ sha256sum \"$1\" | cut -d' ' -f1; }}\n{UPLOAD}",
            c.display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"abc").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "BATOU-UPLOADED"
        );
        assert!(!stale.exists(), "the killed upload's temp file is gone");
        assert!(live.exists(), "a running upload's temp file stays");
        assert_eq!(
            std::fs::read(c.join(format!("batou-agent-{h}"))).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn read_line_stops_at_the_newline() {
        let mut r: &[u8] = b"BATOU-START\n{\"x\":1}\n";
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("BATOU-START"));
        assert_eq!(r, b"{\"x\":1}\n");
    }
}
