//! A real OpenSSH server for one test: `/usr/sbin/sshd -D -e` with its own
//! host key, client key, authorized keys and an ssh_config that a test
//! project uses as its `ssh_config` (strict host-key checking against a
//! known_hosts file holding the server's real key).

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use batou_core::transport::Target;

use super::run;

/// The sshd binary (Debian's openssh-server puts it in /usr/sbin).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Starts the root file system's own sshd (`$1` the root, `$2` its
/// config as seen inside).
const CHROOTED: &str = r#"mount -t proc proc "$1/proc" || exit 125
exec chroot "$1" /usr/sbin/sshd -D -e -f "$2""#;

/// A running sshd; killed on drop.
pub struct SshServer {
    dir: tempfile::TempDir,
    child: Child,
    /// The address it listens on.
    pub ip: String,
    pub port: u16,
    /// The network namespace it runs in, if any.
    pub netns: Option<String>,
    /// The root file system it runs in (`chroot`), if not this machine's.
    pub root: Option<PathBuf>,
    /// `ssh-ed25519 AAAA...` of the server's host key.
    host_pub: String,
    /// `Host` entries of its ssh_config: (alias, login user).
    aliases: Mutex<Vec<(String, String)>>,
    /// How it was started, to start it again.
    argv: Vec<std::ffi::OsString>,
}

impl SshServer {
    /// An sshd on 127.0.0.1 on a free port, reachable as host `target`
    /// (user root) through [`SshServer::ssh_config`].
    pub fn start() -> SshServer {
        SshServer::start_with("")
    }

    /// Like [`SshServer::start`], with `extra` lines appended to
    /// sshd_config (e.g. `SetEnv TMPDIR=/some/dir` for every session).
    pub fn start_with(extra: &str) -> SshServer {
        let mut last = String::new();
        // A free port can be taken between probing and sshd's bind: retry.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port on 127.0.0.1")
                .port();
            match SshServer::spawn_with(None, "127.0.0.1", port, extra) {
                Ok(server) => return server,
                Err(e) => last = e,
            }
        }
        panic!("cannot start sshd on 127.0.0.1: {last}");
    }

    /// Starts sshd on `ip:port`, inside `netns` when given. `Err` with
    /// sshd's log when it exits before accepting connections.
    pub fn spawn(netns: Option<&str>, ip: &str, port: u16) -> Result<SshServer, String> {
        SshServer::spawn_with(netns, ip, port, "")
    }

    /// [`SshServer::spawn`] with `extra` sshd_config lines.
    pub fn spawn_with(
        netns: Option<&str>,
        ip: &str,
        port: u16,
        extra: &str,
    ) -> Result<SshServer, String> {
        SshServer::spawn_in(netns, None, ip, port, extra)
    }

    /// [`SshServer::spawn_with`], running the sshd of the root file
    /// system `root` inside it (`chroot`, with its own /proc in a mount
    /// namespace of its own): its sessions see that system's libc, users
    /// and sudo. The server's files live in a directory inside `root`.
    pub fn spawn_in(
        netns: Option<&str>,
        root: Option<&Path>,
        ip: &str,
        port: u16,
        extra: &str,
    ) -> Result<SshServer, String> {
        let sshd = root.map_or(PathBuf::from(SSHD), |r| {
            r.join(SSHD.trim_start_matches('/'))
        });
        assert!(
            sshd.exists(),
            "{} is missing: the remote tests need openssh-server (see ./test)",
            sshd.display()
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix("batou-sshd-");
        let dir = match root {
            Some(r) => builder.tempdir_in(r),
            None => builder.tempdir(),
        }
        .expect("temp dir for sshd");
        // sshd reads authorized keys as the login user: let every user
        // traverse the directory (private keys stay 0600).
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let run_sshd = root.map_or(PathBuf::from("/run/sshd"), |r| r.join("run/sshd"));
        fs::create_dir_all(run_sshd).expect("mkdir /run/sshd");
        let d = dir.path();
        // The directory as the sshd sees it.
        let inside = match root {
            Some(r) => Path::new("/").join(d.strip_prefix(r).expect("inside the root")),
            None => d.to_path_buf(),
        };
        keygen(&d.join("host_ed25519"));
        keygen(&d.join("client_ed25519"));
        fs::create_dir(d.join("authorized")).unwrap();
        fs::set_permissions(d.join("authorized"), fs::Permissions::from_mode(0o755)).unwrap();
        let config = format!(
            "Port {port}\n\
             ListenAddress {ip}\n\
             HostKey {d}/host_ed25519\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized/%u\n\
             StrictModes no\n\
             UsePAM no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\n\
             MaxStartups 100:30:200\n\
             MaxSessions 100\n\
             Subsystem sftp internal-sftp\n\
             LogLevel VERBOSE\n{extra}",
            d = inside.display()
        );
        fs::write(d.join("sshd_config"), config).unwrap();
        let log = fs::File::create(d.join("sshd.log")).unwrap();
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(ns) = netns {
            argv.extend(["ip", "netns", "exec", ns].map(Into::into));
        }
        match root {
            // /proc is mounted in a mount namespace that ends with the
            // sshd and its sessions, never on this machine's tree.
            Some(r) => {
                argv.extend(
                    ["unshare", "--mount", "--propagation", "private", "--"]
                        .into_iter()
                        .chain(["/bin/sh", "-c", CHROOTED, "batou-sshd"])
                        .map(Into::into),
                );
                argv.push(r.into());
                argv.push(inside.join("sshd_config").into());
            }
            None => {
                argv.extend([SSHD, "-D", "-e", "-f"].map(Into::into));
                argv.push(d.join("sshd_config").into());
            }
        }
        let child = start_sshd(&argv, log);
        let host_pub = fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
        let host_pub = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let mut server = SshServer {
            dir,
            child,
            ip: ip.to_string(),
            port,
            netns: netns.map(str::to_string),
            root: root.map(Path::to_path_buf),
            host_pub,
            aliases: Mutex::new(Vec::new()),
            argv,
        };
        server.wait_ready()?;
        fs::write(server.known_hosts(), server.known_hosts_line() + "\n").unwrap();
        server.add_alias("target", "root");
        Ok(server)
    }

    /// Stops the server (SIGKILL, as a power cut would) and starts it
    /// again with the same keys and configuration, as after a reboot;
    /// returns once it accepts connections.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("sshd.log"))
            .unwrap();
        self.child = start_sshd(&self.argv, log);
        if let Err(e) = self.wait_ready() {
            panic!("sshd did not come back after a restart: {e}");
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let addr: SocketAddr = format!("{}:{}", self.ip, self.port).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("sshd exited ({status}):\n{}", self.log()));
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "sshd did not accept on {addr} within 15 s:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What sshd logged so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join("sshd.log")).unwrap_or_default()
    }

    /// The client's private key (authorized for every user passed to
    /// [`SshServer::authorize`]).
    pub fn client_key(&self) -> PathBuf {
        self.dir().join("client_ed25519")
    }

    /// The ssh_config with a `Host` entry per alias.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir().join("ssh_config")
    }

    /// The known_hosts file the ssh_config points at.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir().join("known_hosts")
    }

    /// The known_hosts entry for this server's real key.
    pub fn known_hosts_line(&self) -> String {
        format!("{} {}", self.known_hosts_name(), self.host_pub)
    }

    fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.ip.clone()
        } else {
            format!("[{}]:{}", self.ip, self.port)
        }
    }

    /// The fingerprint of the real host key, `SHA256:...`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.dir().join("host_ed25519.pub"))
    }

    /// An ssh_config `Host` block reaching this server as `alias`.
    pub fn config_block(&self, alias: &str, user: &str, known_hosts: &Path) -> String {
        format!(
            "Host {alias}\n  HostName {}\n  Port {}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            self.ip,
            self.port,
            self.client_key().display(),
            known_hosts.display()
        )
    }

    /// Lets `user` log in with the client key and adds `Host alias`.
    pub fn add_alias(&self, alias: &str, user: &str) {
        self.authorize(user);
        let mut aliases = self.aliases.lock().unwrap();
        aliases.retain(|(a, _)| a != alias);
        aliases.push((alias.to_string(), user.to_string()));
        let text: String = aliases
            .iter()
            .map(|(a, u)| self.config_block(a, u, &self.known_hosts()))
            .collect();
        fs::write(self.ssh_config(), text).unwrap();
    }

    /// Authorizes the client key for `user`.
    pub fn authorize(&self, user: &str) {
        let public = fs::read_to_string(self.dir().join("client_ed25519.pub")).unwrap();
        let path = self.dir().join("authorized").join(user);
        fs::write(&path, public).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// A target for `alias` through this server's ssh_config.
    pub fn target(&self, alias: &str) -> Target {
        Target {
            host: alias.to_string(),
            address: alias.to_string(),
            ssh_config: Some(self.ssh_config()),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Rewrites known_hosts so it records ANOTHER key for this server (as
    /// if the server's key had changed); returns that key's fingerprint.
    pub fn break_host_key(&self) -> String {
        let other = self.dir().join("other_ed25519");
        if !other.exists() {
            keygen(&other);
        }
        let public = fs::read_to_string(other.with_extension("pub"))
            .unwrap_or_else(|_| fs::read_to_string(format!("{}.pub", other.display())).unwrap());
        let public = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        fs::write(
            self.known_hosts(),
            format!("{} {public}\n", self.known_hosts_name()),
        )
        .unwrap();
        fingerprint(Path::new(&format!("{}.pub", other.display())))
    }

    /// Puts the real key back into known_hosts.
    pub fn restore_host_key(&self) {
        fs::write(self.known_hosts(), self.known_hosts_line() + "\n").unwrap();
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sshd(argv: &[std::ffi::OsString], log: fs::File) -> Child {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"))
}

/// `ssh-keygen -t ed25519` without a passphrase.
pub fn keygen(path: &Path) {
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "batou-test",
            "-f",
            path.to_str().unwrap(),
        ],
    );
}

/// `SHA256:...` of a public key file.
pub fn fingerprint(public: &Path) -> String {
    let out = run(
        "ssh-keygen",
        &["-l", "-E", "sha256", "-f", public.to_str().unwrap()],
    );
    out.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .to_string()
}
