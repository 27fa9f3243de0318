//! Where and as whom the `ssh2` transport connects: what `ssh -G` says
//! for the target (the user's and the project's ssh configuration), or
//! OpenSSH's defaults without an ssh client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::remote::whoami;
use crate::transport::Target;
use crate::vfs::expand_home;

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
            None => (whoami::current_user(), target.address.clone()),
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

/// `$HOME`, or `/` without one (as OpenSSH falls back to the root).
fn home() -> PathBuf {
    whoami::home().unwrap_or_else(|| PathBuf::from("/"))
}

fn expand_tilde(p: &str) -> PathBuf {
    expand_home(Path::new(p), Some(&home()))
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
}
