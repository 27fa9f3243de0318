//! `ScanHost`: a host's SSH keys in a known_hosts file (batou_ext's
//! `ssh.ScanHost`), kept current: batou_ext appended `ssh-keyscan`'s
//! output whenever the host name was not yet somewhere in the file
//! (duplicates when it was only in a comment, and a changed key never
//! replaced); here every deploy scans, and the file changes only when the
//! host's keys there differ from what it offers.

use std::path::PathBuf;
use std::time::Duration;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;

/// Key types `ssh-keyscan -t` knows.
const KEY_TYPES: &[&str] = &["rsa", "ecdsa", "ed25519", "ecdsa-sk", "ed25519-sk", "dsa"];

/// Adds the SSH host keys of `hostname` (scanned with `ssh-keyscan` on
/// the target) to a known_hosts file, `~/.ssh/known_hosts` of the
/// deploying user unless [`ScanHost::known_hosts`] says otherwise.
///
/// Idempotent: a key already there is left where it is, a duplicate line
/// of it is removed, a key the host no longer offers (a changed host key)
/// is removed, and a missing one is appended; other lines (other hosts,
/// comments, `@cert-authority` / `@revoked` lines, hashed names) are kept
/// as they are. A line naming several hosts loses only this host's name
/// when its key is stale. The file is replaced atomically. A missing
/// parent directory is made with mode 0700.
///
/// A host that does not answer the scan is an error, unless the file
/// already has keys for it: then they are kept, with a warning.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::ScanHost;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Backup;
///
/// impl Component for Backup {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(ScanHost::new("backup.example.com"))?;
///         ctx.add(ScanHost::new("git.example.com").port(2222).key_types(["ed25519"]))?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ScanHost {
    hostname: String,
    port: u16,
    known_hosts: PathBuf,
    key_types: Vec<String>,
    timeout: Duration,
    keyscan: String,
    /// The file's new content, found by verify.
    wanted: Option<(String, usize, usize)>,
}

impl ScanHost {
    /// The keys of `hostname` (a name or an address) on port 22.
    pub fn new(hostname: impl Into<String>) -> Self {
        ScanHost {
            hostname: hostname.into(),
            port: 22,
            known_hosts: PathBuf::from("~/.ssh/known_hosts"),
            key_types: Vec::new(),
            timeout: Duration::from_secs(10),
            keyscan: "ssh-keyscan".into(),
            wanted: None,
        }
    }

    /// The SSH port (default 22); known_hosts names the host
    /// `[hostname]:port` then, as ssh looks it up.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The known_hosts file (default `~/.ssh/known_hosts`; relative: in
    /// the workdir).
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = path.into();
        self
    }

    /// Only these key types (`ed25519`, `rsa`, `ecdsa`, ...; default:
    /// whatever ssh-keyscan asks for).
    pub fn key_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.key_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// How long the scan may wait for the host (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The ssh-keyscan executable (default `ssh-keyscan` from `PATH`).
    pub fn keyscan(mut self, path: impl Into<String>) -> Self {
        self.keyscan = path.into();
        self
    }

    /// The name known_hosts gives the host.
    fn pattern(&self) -> String {
        if self.port == 22 {
            self.hostname.clone()
        } else {
            format!("[{}]:{}", self.hostname, self.port)
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::usage(format!("{}: {why}", self.label())));
        let h = &self.hostname;
        if h.is_empty()
            || h.starts_with('-')
            || h.contains(|c: char| c.is_whitespace() || c.is_control() || ",[]*?!#|".contains(c))
        {
            return bad(format!(
                "invalid host name `{h}` (a name or an address, without spaces, `,`, brackets or patterns)"
            ));
        }
        if self.port == 0 {
            return bad("port 0".into());
        }
        for t in &self.key_types {
            if !KEY_TYPES.contains(&t.as_str()) {
                return bad(format!(
                    "unknown key type `{t}` (one of {})",
                    KEY_TYPES.join(", ")
                ));
            }
        }
        if self.timeout < Duration::from_secs(1) {
            return bad(
                "the timeout is under one second (ssh-keyscan counts whole seconds)".into(),
            );
        }
        Ok(())
    }

    /// The host's keys, `(type, key)`, sorted; empty when it did not
    /// answer (with ssh-keyscan's words).
    fn scan(&self, ctx: &Deploy<'_>) -> Result<std::result::Result<Vec<(String, String)>, String>> {
        let port = self.port.to_string();
        let secs = self.timeout.as_secs().to_string();
        let types = self.key_types.join(",");
        let mut argv = vec![self.keyscan.as_str(), "-p", &port, "-T", &secs];
        if !types.is_empty() {
            argv.extend(["-t", &types]);
        }
        argv.extend(["--", &self.hostname]);
        // ssh-keyscan waits up to -T per step; the command a little longer.
        let spec = CommandSpec::argv(argv).timeout(self.timeout * 3 + Duration::from_secs(5));
        let out = match ctx.run(&spec) {
            Ok(out) => out,
            Err(Error::Command(e)) => match e.kind {
                crate::host::CommandErrorKind::Spawn(io) => {
                    return Err(Error::msg(format!(
                        "cannot run {} (is openssh-client installed?): {io}",
                        self.keyscan
                    )));
                }
                kind => return Ok(Err(kind.to_string())),
            },
            Err(e) => return Err(e),
        };
        let pattern = self.pattern();
        let mut keys: Vec<(String, String)> = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                match (f.next(), f.next(), f.next()) {
                    (Some(name), Some(t), Some(k)) if name == pattern => {
                        Some((t.to_string(), k.to_string()))
                    }
                    _ => None,
                }
            })
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            let said = out.stderr.trim();
            return Ok(Err(if said.is_empty() {
                "no keys offered".into()
            } else {
                said.to_string()
            }));
        }
        Ok(Ok(keys))
    }
}

/// What [`merge`] did: the new text, keys added, entries removed.
type Merged = (String, usize, usize);

/// The file with `pattern`'s entries made `keys`: present ones kept in
/// place, duplicates and stale ones removed (only the name, from a line
/// naming several hosts), missing ones appended.
fn merge(current: &str, pattern: &str, keys: &[(String, String)]) -> Merged {
    let mut seen: Vec<&(String, String)> = Vec::new();
    let mut out = String::new();
    let mut removed = 0;
    for line in current.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let plain = fields.len() >= 3 && !fields[0].starts_with(['#', '@']);
        let names: Vec<&str> = if plain {
            fields[0].split(',').collect()
        } else {
            Vec::new()
        };
        if !names.contains(&pattern) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let key = keys.iter().find(|(t, k)| t == fields[1] && k == fields[2]);
        match key {
            Some(k) if !seen.contains(&k) => {
                seen.push(k);
                out.push_str(line);
                out.push('\n');
            }
            _ => {
                removed += 1;
                let others: Vec<&str> = names.iter().copied().filter(|n| *n != pattern).collect();
                if !others.is_empty() {
                    let rest = line.split_once(char::is_whitespace).map_or("", |(_, r)| r);
                    out.push_str(&others.join(","));
                    out.push(' ');
                    out.push_str(rest.trim_start());
                    out.push('\n');
                }
            }
        }
    }
    let mut added = 0;
    for key in keys {
        if !seen.contains(&key) {
            added += 1;
            out.push_str(&format!("{pattern} {} {}\n", key.0, key.1));
        }
    }
    (out, added, removed)
}

impl Component for ScanHost {
    fn label(&self) -> String {
        format!("ScanHost('{}')", self.pattern())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.check()?;
        self.known_hosts = ctx.map(&self.known_hosts);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let current = match ctx.host().read(&self.known_hosts) {
            Ok(bytes) => bytes.map(|b| String::from_utf8_lossy(&b).into_owned()),
            Err(e) => {
                return Err(Error::msg(format!(
                    "cannot read {}: {e}",
                    self.known_hosts.display()
                )));
            }
        };
        let pattern = self.pattern();
        let has_entries = current.as_deref().is_some_and(|text| {
            text.lines().any(|l| {
                l.split_whitespace().next().is_some_and(|n| {
                    !n.starts_with(['#', '@']) && n.split(',').any(|n| n == pattern)
                })
            })
        });
        let keys = match self.scan(ctx)? {
            Ok(keys) => keys,
            Err(why) if has_entries => {
                ctx.warn(format!(
                    "{pattern} did not answer ssh-keyscan ({why}); its keys in {} are kept",
                    self.known_hosts.display()
                ));
                return Ok(Verdict::UpToDate);
            }
            Err(why) => {
                return Err(Error::msg(format!(
                    "cannot scan the SSH keys of {pattern}: {why}"
                )));
            }
        };
        let current = current.unwrap_or_default();
        let merged = merge(&current, &pattern, &keys);
        let needed = merged.0 != current;
        if needed {
            ctx.log(format!(
                "{}: {} key(s) of {pattern} to add, {} to remove",
                self.known_hosts.display(),
                merged.1,
                merged.2
            ));
        }
        self.wanted = Some(merged);
        Ok(Verdict::update_if(needed))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let Some((text, _, _)) = &self.wanted else {
            return Ok(());
        };
        let fail = |e: crate::host::HostError| {
            Error::msg(format!("cannot write {}: {e}", self.known_hosts.display()))
        };
        if let Some(dir) = self.known_hosts.parent()
            && ctx.host().stat(dir).map_err(fail)?.is_none()
        {
            ctx.host().mkdir(dir, true).map_err(fail)?;
            ctx.host().chmod(dir, 0o700).map_err(fail)?;
        }
        ctx.host()
            .write(&self.known_hosts, text.as_bytes(), None)
            .map_err(fail)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, k)| (t.to_string(), k.to_string()))
            .collect()
    }

    #[test]
    fn merging_keeps_present_keys_in_place_and_removes_stale_and_duplicate_ones() {
        let k = keys(&[("ssh-ed25519", "NEW"), ("ssh-rsa", "RSA")]);
        let current = "# comment naming h\n\
                       other ssh-ed25519 O\n\
                       h ssh-rsa RSA\n\
                       h ssh-ed25519 OLD\n\
                       h,10.0.0.1 ssh-ed25519 OLD2 c\n\
                       h ssh-rsa RSA\n\
                       @revoked h ssh-rsa X\n\
                       |1|abc=|def= ssh-rsa H\n";
        let (text, added, removed) = merge(current, "h", &k);
        assert_eq!(
            text,
            "# comment naming h\n\
             other ssh-ed25519 O\n\
             h ssh-rsa RSA\n\
             10.0.0.1 ssh-ed25519 OLD2 c\n\
             @revoked h ssh-rsa X\n\
             |1|abc=|def= ssh-rsa H\n\
             h ssh-ed25519 NEW\n"
        );
        assert_eq!((added, removed), (1, 3));
        // Merging again changes nothing.
        assert_eq!(merge(&text, "h", &k), (text.clone(), 0, 0));
        // A port's pattern is its own name.
        let (text, added, _) = merge(&text, "[h]:2222", &k);
        assert_eq!(added, 2);
        assert!(
            text.ends_with("[h]:2222 ssh-ed25519 NEW\n[h]:2222 ssh-rsa RSA\n"),
            "{text}"
        );
    }
}
