//! The `ssh` transport: the system OpenSSH client, so `~/.ssh/config`,
//! ProxyJump, the agent and known_hosts work as they do for the user.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Channel, Target, Transport, TransportError};

/// Runs commands through `ssh` with `BatchMode=yes` (never prompts) and
/// keepalives, so a dead connection is noticed within seconds. Host-key
/// checking is whatever the user's ssh configuration says; we never turn it
/// off.
#[derive(Debug, Clone, Default)]
pub struct SshTransport {
    /// The ssh binary (default: `ssh` from `PATH`).
    pub program: Option<String>,
}

impl SshTransport {
    pub fn new() -> Self {
        Self::default()
    }

    /// The ssh command line for `command` on `target` (without running it).
    pub fn command(&self, target: &Target, command: &str) -> Command {
        let mut cmd = Command::new(self.program.as_deref().unwrap_or("ssh"));
        if let Some(config) = &target.ssh_config {
            cmd.arg("-F").arg(config);
        }
        // Host keys are always checked strictly, whatever the user's
        // ssh_config says (`accept-new` or `no` would trust a first or
        // changed key): an unknown host is refused, never learned.
        cmd.args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            // OpenSSH takes at most INT_MAX seconds (68 years: no limit).
            .arg(format!(
                "ConnectTimeout={}",
                target.connect_timeout.as_secs().clamp(1, i32::MAX as u64)
            ))
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .args(["-T", "-e", "none"])
            .arg("--")
            .arg(&target.address)
            .arg(command);
        cmd
    }
}

impl Transport for SshTransport {
    fn start(&self, target: &Target, command: &str) -> Result<Channel, TransportError> {
        Channel::spawn(self.command(target, command), &target.host)
    }

    /// ssh's own failures (exit 255) become host-key, auth or connect
    /// errors.
    fn diagnose(
        &self,
        target: &Target,
        exit_code: Option<i32>,
        stderr: &str,
    ) -> Option<TransportError> {
        (exit_code == Some(255)).then(|| classify_failure(&target.host, exit_code, stderr))
    }
}

/// The ssh config file batou uses for environment `env_name`:
/// `ssh_config_<env>` in the project directory, else `ssh_config`, else
/// none (then ssh reads the user's own `~/.ssh/config`), as batou 2 did.
pub fn ssh_config_for(project_dir: &Path, env_name: &str) -> Option<PathBuf> {
    [format!("ssh_config_{env_name}"), "ssh_config".to_string()]
        .into_iter()
        .map(|name| project_dir.join(name))
        .find(|path| path.is_file())
}

/// Turns a failed `ssh` run into a [`TransportError`] from what OpenSSH
/// printed: a refused or unknown host key is [`TransportError::HostKey`]
/// (with the fingerprint the server offered, when ssh printed it), a
/// rejected login [`TransportError::Auth`], and anything that kept the
/// connection from being made [`TransportError::Connect`].
///
/// ssh exits 255 for its own failures; any other exit code came from the
/// remote command, so that becomes [`TransportError::Io`] with its stderr.
///
/// ```
/// use batou_core::transport::{classify_failure, TransportError};
/// let e = classify_failure("web1", Some(255), "ssh: connect to host web1 port 22: Connection refused\n");
/// assert!(matches!(e, TransportError::Connect { .. }));
/// ```
pub fn classify_failure(host: &str, exit_code: Option<i32>, stderr: &str) -> TransportError {
    let host = host.to_string();
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    let first = |needles: &[&str]| {
        lines
            .iter()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(|l| l.to_string())
    };
    const HOST_KEY: &[&str] = &[
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "Host key verification failed",
        "No ED25519 host key is known",
        "No RSA host key is known",
        "No ECDSA host key is known",
        "host key is known for",
        "Host key for",
    ];
    if HOST_KEY.iter().any(|n| has(n)) {
        let changed = has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("has changed");
        let mut message = if changed {
            "the host key CHANGED since it was recorded in known_hosts; refusing to connect"
                .to_string()
        } else {
            "the host key is not in known_hosts (StrictHostKeyChecking); refusing to connect"
                .to_string()
        };
        if let Some(fp) = fingerprint_in(stderr) {
            message.push_str(&format!("; the server offered {fp}"));
        }
        if let Some(line) = first(&["Offending", "has changed and you have requested"]) {
            message.push_str(&format!(" ({line})"));
        }
        return TransportError::HostKey { host, message };
    }
    if let Some(line) = first(&[
        "Permission denied",
        "Too many authentication failures",
        "no mutual signature algorithm",
        "Authentication failed",
    ]) {
        return TransportError::Auth {
            host,
            message: line,
        };
    }
    if let Some(line) = first(&[
        "Connection refused",
        "Connection timed out",
        "Operation timed out",
        "Could not resolve hostname",
        "Name or service not known",
        "No route to host",
        "Network is unreachable",
        "Connection closed by",
        "Connection reset",
        "kex_exchange_identification",
        "banner exchange",
        "Unable to negotiate",
        "Bad configuration option",
        "Can't open user config file",
        "ProxyJump",
        "stdio forwarding failed",
    ]) {
        return TransportError::Connect {
            host,
            message: line,
        };
    }
    let text = if lines.is_empty() {
        "(no output on stderr)".to_string()
    } else {
        lines.join("\n")
    };
    if exit_code == Some(255) {
        TransportError::Connect {
            host,
            message: format!("ssh exited 255: {text}"),
        }
    } else {
        TransportError::Io {
            host,
            message: format!(
                "the command exited {}: {text}",
                exit_code.map_or("without a status".to_string(), |c| c.to_string())
            ),
        }
    }
}

/// The first `SHA256:<base64>` fingerprint in `text`.
fn fingerprint_in(text: &str) -> Option<String> {
    let start = text.find("SHA256:")?;
    let rest = &text[start + "SHA256:".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .unwrap_or(rest.len());
    (end > 0).then(|| format!("SHA256:{}", &rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openssh_failures() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            The fingerprint for the ED25519 key sent by the remote host is\n\
            SHA256:abcDEF+/123.\n\
            Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\n\
            Host key verification failed.\n";
        match classify_failure("web1", Some(255), changed) {
            TransportError::HostKey { host, message } => {
                assert_eq!(host, "web1");
                assert!(message.contains("CHANGED"), "{message}");
                assert!(message.contains("SHA256:abcDEF+/123"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let unknown = "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n";
        match classify_failure("web1", Some(255), unknown) {
            TransportError::HostKey { message, .. } => {
                assert!(message.contains("not in known_hosts"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_failure(
                "h",
                Some(255),
                "root@127.0.0.1: Permission denied (publickey).\n"
            ),
            TransportError::Auth { .. }
        ));
        for text in [
            "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            "ssh: connect to host 10.0.0.1 port 22: Connection timed out",
            "ssh: Could not resolve hostname nowhere: Name or service not known",
        ] {
            assert!(
                matches!(
                    classify_failure("h", Some(255), text),
                    TransportError::Connect { .. }
                ),
                "{text}"
            );
        }
        assert!(matches!(
            classify_failure("h", Some(255), "something odd"),
            TransportError::Connect { .. }
        ));
        assert!(matches!(
            classify_failure("h", Some(3), "boom"),
            TransportError::Io { .. }
        ));
    }

    #[test]
    fn ssh_config_lookup_prefers_the_environment_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ssh_config_for(dir.path(), "prod"), None);
        std::fs::write(dir.path().join("ssh_config"), "").unwrap();
        assert_eq!(
            ssh_config_for(dir.path(), "prod"),
            Some(dir.path().join("ssh_config"))
        );
        std::fs::write(dir.path().join("ssh_config_prod"), "").unwrap();
        assert_eq!(
            ssh_config_for(dir.path(), "prod"),
            Some(dir.path().join("ssh_config_prod"))
        );
        assert_eq!(
            ssh_config_for(dir.path(), "dev"),
            Some(dir.path().join("ssh_config"))
        );
    }
}
