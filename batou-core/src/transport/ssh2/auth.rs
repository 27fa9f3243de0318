//! Logging in: the ssh-agent's keys, then the identity files; keys with
//! a passphrase are skipped (nothing can ask for it) and named.

use std::path::{Path, PathBuf};

use base64::Engine;
use ssh2::Session;

use super::settings::Settings;
use crate::transport::TransportError;

pub(super) fn authenticate(
    host: &str,
    session: &Session,
    s: &Settings,
) -> Result<(), TransportError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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
}
