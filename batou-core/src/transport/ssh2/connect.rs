//! Opening a libssh2 session: TCP (with dead-peer detection), the
//! handshake, and the strict host-key check against known_hosts before
//! anything else is sent.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use base64::Engine;
use ssh2::{CheckResult, HashType, KnownHostFileKind, MethodType, Session};

use super::auth::authenticate;
use super::settings::Settings;
use crate::transport::{Target, TransportError};

/// TCP connect, handshake, strict host-key check, authentication.
pub(super) fn connect(target: &Target, s: &Settings) -> Result<(Session, RawFd), TransportError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
