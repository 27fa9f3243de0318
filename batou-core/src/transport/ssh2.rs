//! The `ssh2` transport: a native libssh2 session per command.
//!
//! Settings come from `ssh -G` when an OpenSSH client is installed (so the
//! user's `~/.ssh/config` and the project's `ssh_config` apply as far as a
//! native client can follow them), else from defaults. Host keys are
//! checked strictly against the known_hosts files before anything else is
//! sent: an unknown or changed key is refused.
//!
//! libssh2 sessions are not thread-safe and reading one stream of a channel
//! while the other fills up deadlocks (ssh2-rs#22), so every session is
//! owned by one I/O pump thread that runs it non-blocking and moves bytes
//! between the channel and in-memory pipes, which the returned [`Channel`]'s
//! stdin/stdout/stderr read and write.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use ssh2::{CheckResult, ErrorCode, HashType, KnownHostFileKind, MethodType, Session};

use super::{Channel, ChannelControl, Target, Transport, TransportError};

/// Bytes buffered per output stream before the pump stops reading it (the
/// SSH window then makes the remote wait, as a full pipe would).
const OUTPUT_CAP: usize = 8 << 20;
/// Bytes of stdin queued before `write` waits for the pump.
const INPUT_CAP: usize = 1 << 20;
/// How long the pump sleeps in `poll` without news (keepalive cadence).
const POLL_MS: i32 = 1000;
/// libssh2's "would block".
const EAGAIN: i32 = -37;

/// Runs commands over a native libssh2 session.
#[derive(Debug, Clone, Default)]
pub struct Ssh2Transport {
    /// The OpenSSH client used for `ssh -G` (default: `ssh` from `PATH`;
    /// without one, defaults apply).
    pub ssh_program: Option<String>,
}

impl Ssh2Transport {
    /// The transport with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connection settings for `target` (what `ssh -G` says, or
    /// defaults when there is no ssh client).
    pub fn settings(&self, target: &Target) -> Result<Settings, TransportError> {
        let mut cmd = Command::new(self.ssh_program.as_deref().unwrap_or("ssh"));
        if let Some(config) = &target.ssh_config {
            cmd.arg("-F").arg(config);
        }
        cmd.arg("-G").arg("--").arg(&target.address);
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(Settings::from_ssh_g(
                &String::from_utf8_lossy(&out.stdout),
                target,
            )),
            Ok(out) => Err(TransportError::Connect {
                host: target.host.clone(),
                message: format!(
                    "`ssh -G {}` failed: {}",
                    target.address,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Settings::defaults(target)),
            Err(e) => Err(TransportError::Connect {
                host: target.host.clone(),
                message: format!("cannot run `ssh -G`: {e}"),
            }),
        }
    }
}

/// Resolved connection settings for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// What to connect to (`HostName`, else the address itself).
    pub hostname: String,
    /// TCP port (`Port`, default 22).
    pub port: u16,
    /// Login user (`User`, default `$USER`).
    pub user: String,
    /// Private key files to try, in order (missing ones are skipped).
    pub identity_files: Vec<PathBuf>,
    /// Only agent keys that match an identity file (`IdentitiesOnly`).
    pub identities_only: bool,
    /// The known_hosts files to check (`UserKnownHostsFile`).
    pub known_hosts: Vec<PathBuf>,
    /// The name the host key is recorded under (`HostKeyAlias`, else the
    /// host name).
    pub host_key_alias: Option<String>,
    /// TCP connect and handshake limit (the target's, or `ConnectTimeout`
    /// if shorter).
    pub connect_timeout: Duration,
    /// `ProxyJump`/`ProxyCommand`, which this transport cannot follow.
    pub proxy: Option<String>,
}

impl Settings {
    /// Defaults like OpenSSH's, for a machine without an ssh client.
    pub fn defaults(target: &Target) -> Settings {
        let home = home();
        let (user, hostname) = match target.address.split_once('@') {
            Some((u, h)) => (u.to_string(), h.to_string()),
            None => (current_user(), target.address.clone()),
        };
        Settings {
            hostname,
            port: 22,
            user,
            identity_files: ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|n| home.join(".ssh").join(n))
                .collect(),
            identities_only: false,
            known_hosts: vec![
                home.join(".ssh/known_hosts"),
                home.join(".ssh/known_hosts2"),
            ],
            host_key_alias: None,
            connect_timeout: target.connect_timeout,
            proxy: None,
        }
    }

    /// Settings from the output of `ssh -G` (lowercase `key value` lines).
    pub fn from_ssh_g(text: &str, target: &Target) -> Settings {
        let mut s = Settings::defaults(target);
        s.identity_files.clear();
        s.known_hosts.clear();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            let value = value.trim();
            match key {
                "hostname" => s.hostname = value.to_string(),
                "port" => s.port = value.parse().unwrap_or(22),
                "user" => s.user = value.to_string(),
                "identityfile" => s.identity_files.push(expand_tilde(value)),
                "identitiesonly" => s.identities_only = value == "yes",
                "userknownhostsfile" => s
                    .known_hosts
                    .extend(value.split_whitespace().map(expand_tilde)),
                "hostkeyalias" => s.host_key_alias = Some(value.to_string()),
                "proxyjump" | "proxycommand" if value != "none" => {
                    s.proxy = Some(format!("{key} {value}"))
                }
                "connecttimeout" => {
                    if let Ok(secs) = value.parse::<u64>() {
                        s.connect_timeout = s.connect_timeout.min(Duration::from_secs(secs));
                    }
                }
                _ => {}
            }
        }
        if s.known_hosts.is_empty() {
            s.known_hosts = Settings::defaults(target).known_hosts;
        }
        s
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}

fn expand_tilde(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if p == "~" => home(),
        None => PathBuf::from(p),
    }
}

/// `SHA256:<base64, no padding>`, the way OpenSSH prints fingerprints.
fn fingerprint(session: &Session) -> String {
    match session.host_key_hash(HashType::Sha256) {
        Some(hash) => format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
        ),
        None => "(no fingerprint)".to_string(),
    }
}

/// The host-key algorithms recorded for `names` in the known_hosts files,
/// so the handshake asks for a key type we can actually check (libssh2
/// would otherwise pick its own preference and find "no key" for it).
fn recorded_key_types(files: &[PathBuf], names: &[String]) -> Vec<&'static str> {
    let mut types = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(hosts) = fields.next() else { continue };
            if hosts.starts_with('#') || hosts.starts_with('@') {
                continue;
            }
            if !hosts.split(',').any(|h| names.iter().any(|n| n == h)) {
                continue;
            }
            let algos: &[&'static str] = match fields.next().unwrap_or("") {
                "ssh-ed25519" => &["ssh-ed25519"],
                "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
                "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
                "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
                "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
                _ => &[],
            };
            for a in algos {
                if !types.contains(a) {
                    types.push(*a);
                }
            }
        }
    }
    types
}

/// Whether a private key file is protected by a passphrase (which this
/// transport cannot ask for).
fn is_encrypted_key(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    // New OpenSSH format: "openssh-key-v1\0", then the cipher name as an
    // SSH string; "none" means unencrypted.
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return false;
    };
    let magic = b"openssh-key-v1\0";
    if !bytes.starts_with(magic) || bytes.len() < magic.len() + 4 {
        return false;
    }
    let at = magic.len();
    let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    bytes
        .get(at + 4..at + 4 + len)
        .is_some_and(|cipher| cipher != b"none")
}

/// The public key blob of `<private>.pub`, if there is one.
fn public_blob(private: &Path) -> Option<Vec<u8>> {
    let mut pub_path = private.as_os_str().to_owned();
    pub_path.push(".pub");
    let text = std::fs::read_to_string(pub_path).ok()?;
    let b64 = text.split_whitespace().nth(1)?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl Transport for Ssh2Transport {
    fn start(&self, target: &Target, command: &str) -> Result<Channel, TransportError> {
        let settings = self.settings(target)?;
        let (session, socket) = connect(target, &settings)?;
        let host = target.host.clone();
        let io_err = |what: &str, e: ssh2::Error| TransportError::Io {
            host: host.clone(),
            message: format!("{what}: {e}"),
        };
        let mut channel = session
            .channel_session()
            .map_err(|e| io_err("opening a session channel", e))?;
        channel
            .exec(command)
            .map_err(|e| io_err("starting the command", e))?;
        session.set_blocking(false);
        Ok(Pump::spawn(session, socket, channel, host))
    }
}

/// TCP connect, handshake, strict host-key check, authentication.
fn connect(target: &Target, s: &Settings) -> Result<(Session, RawFd), TransportError> {
    let host = &target.host;
    let connect_err = |message: String| TransportError::Connect {
        host: host.clone(),
        message,
    };
    if let Some(proxy) = &s.proxy {
        // Connecting directly would bypass the jump host the user's
        // configuration requires.
        return Err(connect_err(format!(
            "the ssh configuration says `{proxy}`, which the ssh2 transport cannot follow; use connect_method = ssh for this host"
        )));
    }
    let addrs: Vec<_> = (s.hostname.as_str(), s.port)
        .to_socket_addrs()
        .map_err(|e| connect_err(format!("cannot resolve {}: {e}", s.hostname)))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, s.connect_timeout) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        connect_err(format!(
            "cannot connect to {} port {}: {}",
            s.hostname,
            s.port,
            last.unwrap_or_else(|| "no address".into())
        ))
    })?;
    // Without TCP_NODELAY every small protocol message waits for Nagle.
    let _ = tcp.set_nodelay(true);
    dead_peer_detection(&tcp);
    let mut session = Session::new().map_err(|e| connect_err(e.to_string()))?;
    let socket = tcp.as_raw_fd();
    session.set_tcp_stream(tcp);
    session.set_timeout(s.connect_timeout.as_millis().min(u32::MAX as u128) as u32);

    // As OpenSSH: a HostKeyAlias is recorded without the port.
    let (key_name, key_port) = match &s.host_key_alias {
        Some(alias) => (alias.clone(), 22),
        None => (s.hostname.clone(), s.port),
    };
    let names = if key_port == 22 {
        vec![key_name.clone()]
    } else {
        vec![format!("[{key_name}]:{key_port}")]
    };
    let types = recorded_key_types(&s.known_hosts, &names);
    if !types.is_empty() {
        // Ignored if libssh2 supports none of them: the check below still
        // refuses the key.
        let _ = session.method_pref(MethodType::HostKey, &types.join(","));
    }
    session
        .handshake()
        .map_err(|e| connect_err(format!("SSH handshake with {}:{}: {e}", s.hostname, s.port)))?;

    check_host_key(host, &session, s, &key_name, key_port)?;
    authenticate(host, &session, s)?;
    // Blocking calls from here on (opening the channel) must not hang on a
    // dead peer either; the pump runs non-blocking.
    session.set_keepalive(false, 5);
    Ok((session, socket))
}

/// Makes the kernel give up on a peer that stopped answering within about
/// 20 s (as `ServerAliveInterval=5`/`ServerAliveCountMax=3` does for the
/// `ssh` transport): TCP keepalive probes when idle, and a limit on how
/// long sent data may stay unacknowledged (the pump's SSH keepalives make
/// sure there is some).
fn dead_peer_detection(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let fd = tcp.as_raw_fd();
        let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
            // SAFETY: a valid socket and a pointer to a c_int of the given size.
            unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    &value as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        };
        set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 10);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
        set(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 20_000);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

fn check_host_key(
    host: &str,
    session: &Session,
    s: &Settings,
    key_name: &str,
    key_port: u16,
) -> Result<(), TransportError> {
    let refuse = |message: String| TransportError::HostKey {
        host: host.to_string(),
        message,
    };
    let fp = fingerprint(session);
    let (key, kind) = session
        .host_key()
        .ok_or_else(|| refuse("the server sent no host key".into()))?;
    let mut known = session
        .known_hosts()
        .map_err(|e| refuse(format!("cannot read known_hosts: {e}")))?;
    let mut read = Vec::new();
    for file in &s.known_hosts {
        if file.is_file() && known.read_file(file, KnownHostFileKind::OpenSSH).is_ok() {
            read.push(file.display().to_string());
        }
    }
    let files = if read.is_empty() {
        "no known_hosts file exists".to_string()
    } else {
        format!("checked {}", read.join(", "))
    };
    let at = if key_port == 22 {
        key_name.to_string()
    } else {
        format!("[{key_name}]:{key_port}")
    };
    match known.check_port(key_name, key_port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(refuse(format!(
            "the host key of {at} CHANGED: the server offered {kind:?} key {fp}, which is not the key recorded in known_hosts ({files}); refusing to connect"
        ))),
        CheckResult::NotFound => Err(refuse(format!(
            "no host key for {at} is known ({files}); the server offered {kind:?} key {fp}; add it to known_hosts (e.g. connect once with `ssh`) after checking the fingerprint"
        ))),
        CheckResult::Failure => Err(refuse(format!(
            "cannot check the host key {fp} of {at} ({files})"
        ))),
    }
}

fn authenticate(host: &str, session: &Session, s: &Settings) -> Result<(), TransportError> {
    let mut tried = Vec::new();
    let wanted: Vec<Vec<u8>> = s
        .identity_files
        .iter()
        .filter_map(|p| public_blob(p))
        .collect();
    if std::env::var_os("SSH_AUTH_SOCK").is_some()
        && let Ok(mut agent) = session.agent()
        && agent.connect().is_ok()
    {
        if agent.list_identities().is_ok() {
            for id in agent.identities().unwrap_or_default() {
                if s.identities_only && !wanted.iter().any(|w| w.as_slice() == id.blob()) {
                    continue;
                }
                if agent.userauth(&s.user, &id).is_ok() && session.authenticated() {
                    return Ok(());
                }
                tried.push(format!("agent key {}", id.comment()));
            }
        }
        let _ = agent.disconnect();
    }
    let mut encrypted = Vec::new();
    for file in &s.identity_files {
        if !file.is_file() {
            continue;
        }
        if is_encrypted_key(file) {
            encrypted.push(file.display().to_string());
            continue;
        }
        let mut pub_path = file.as_os_str().to_owned();
        pub_path.push(".pub");
        let pub_path = PathBuf::from(pub_path);
        let public = pub_path.is_file().then_some(pub_path.as_path());
        if session
            .userauth_pubkey_file(&s.user, public, file, None)
            .is_ok()
            && session.authenticated()
        {
            return Ok(());
        }
        tried.push(file.display().to_string());
    }
    let mut message = format!("no key was accepted for {}@{}", s.user, s.hostname);
    if tried.is_empty() {
        message.push_str(" (no agent key and no key file to try)");
    } else {
        message.push_str(&format!(" (tried: {})", tried.join(", ")));
    }
    if !encrypted.is_empty() {
        message.push_str(&format!(
            "; passphrase-protected keys were skipped because the ssh2 transport cannot ask for a passphrase: {} (load them into ssh-agent with `ssh-add`, or use connect_method = ssh)",
            encrypted.join(", ")
        ));
    }
    Err(TransportError::Auth {
        host: host.to_string(),
        message,
    })
}

/// The in-memory side of the pump: what the `Channel` handles and the pump
/// thread share.
struct State {
    out: VecDeque<u8>,
    err: VecDeque<u8>,
    out_eof: bool,
    err_eof: bool,
    input: VecDeque<u8>,
    input_closed: bool,
    /// The command ended (exit status known or connection gone).
    done: bool,
    status: Option<i32>,
    failure: Option<String>,
    /// Every handle was dropped or `kill` was called.
    killed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Writing a byte here wakes the pump from `poll`.
    wake: UnixStream,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake_pump(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

/// Kills the pump when the last handle of a channel is dropped, so a
/// forgotten channel does not keep its session (and thread) alive.
struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.lock().killed = true;
        self.0.changed.notify_all();
        self.0.wake_pump();
    }
}

struct Pump {
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
    fn spawn(session: Session, socket: RawFd, channel: ssh2::Channel, host: String) -> Channel {
        let (wake_tx, wake_rx) = UnixStream::pair().expect("socketpair for the ssh2 pump");
        let _ = wake_tx.set_nonblocking(true);
        let _ = wake_rx.set_nonblocking(true);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                out: VecDeque::new(),
                err: VecDeque::new(),
                out_eof: false,
                err_eof: false,
                input: VecDeque::new(),
                input_closed: false,
                done: false,
                status: None,
                failure: None,
                killed: false,
            }),
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
                let result = pump.run();
                let mut st = thread_shared.lock();
                if let Err(e) = result {
                    st.failure = Some(format!("{host}: connection lost: {e}"));
                }
                st.done = true;
                st.out_eof = true;
                st.err_eof = true;
                drop(st);
                thread_shared.changed.notify_all();
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
        Channel {
            stdin: Some(Box::new(PumpStdin {
                shared: shared.clone(),
                _guard: guard.clone(),
            })),
            stdout: Box::new(PumpReader {
                shared: shared.clone(),
                stderr: false,
                _guard: guard.clone(),
            }),
            stderr: Box::new(PumpReader {
                shared: shared.clone(),
                stderr: true,
                _guard: guard.clone(),
            }),
            control: Box::new(PumpControl {
                shared,
                _guard: guard,
            }),
        }
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
                    self.shared.changed.notify_all();
                    return Ok(true);
                }
                Ok(false)
            }
            Ok(n) => {
                let mut st = self.shared.lock();
                let pipe = if id == 0 { &mut st.out } else { &mut st.err };
                pipe.extend(&buf[..n]);
                drop(st);
                self.shared.changed.notify_all();
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
                    self.shared.changed.notify_all();
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

struct PumpStdin {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
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
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
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

struct PumpReader {
    shared: Arc<Shared>,
    stderr: bool,
    _guard: Arc<Guard>,
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
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

struct PumpControl {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
}

impl ChannelControl for PumpControl {
    fn wait(&mut self) -> io::Result<Option<i32>> {
        let mut st = self.shared.lock();
        while !st.done {
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
        match &st.failure {
            Some(f) if !st.killed => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, f.clone()))
            }
            _ => Ok(st.status),
        }
    }

    fn kill(&mut self) {
        self.shared.lock().killed = true;
        self.shared.changed.notify_all();
        self.shared.wake_pump();
        let mut st = self.shared.lock();
        while !st.done {
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            host: "web1".into(),
            address: "web1".into(),
            ssh_config: None,
            connect_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn settings_from_ssh_g() {
        let text = "host web1\nhostname 10.0.0.5\nport 2222\nuser deploy\n\
            identityfile ~/.ssh/id_ed25519\nidentityfile /keys/extra\n\
            identitiesonly yes\nuserknownhostsfile ~/.ssh/known_hosts /etc/kh\n\
            connecttimeout 7\nproxyjump none\n";
        let s = Settings::from_ssh_g(text, &target());
        assert_eq!(s.hostname, "10.0.0.5");
        assert_eq!(s.port, 2222);
        assert_eq!(s.user, "deploy");
        assert_eq!(
            s.identity_files,
            [home().join(".ssh/id_ed25519"), PathBuf::from("/keys/extra")]
        );
        assert!(s.identities_only);
        assert_eq!(
            s.known_hosts,
            [home().join(".ssh/known_hosts"), PathBuf::from("/etc/kh")]
        );
        assert_eq!(s.connect_timeout, Duration::from_secs(7));
        assert_eq!(s.proxy, None);
        let s = Settings::from_ssh_g("proxyjump bastion\nconnecttimeout none\n", &target());
        assert_eq!(s.proxy.as_deref(), Some("proxyjump bastion"));
        assert_eq!(s.connect_timeout, Duration::from_secs(30));
    }

    #[test]
    fn recognises_passphrase_protected_keys() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        let locked = dir.path().join("locked");
        for (path, pass) in [(&plain, ""), (&locked, "pw")] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", pass, "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen (openssh-client) is needed for this test");
            assert!(status.success());
        }
        assert!(!is_encrypted_key(&plain));
        assert!(is_encrypted_key(&locked));
        assert!(public_blob(&plain).is_some_and(|b| !b.is_empty()));
    }

    #[test]
    fn records_key_types_of_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(
            &kh,
            "[h]:2222 ssh-ed25519 AAAA\nother ecdsa-sha2-nistp256 AAAA\nh,[h]:2222 ssh-rsa AAAA\n",
        )
        .unwrap();
        assert_eq!(
            recorded_key_types(&[kh], &["[h]:2222".to_string()]),
            ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        );
    }
}
