//! Several hosts on one machine: each its own network namespace joined to
//! ours by a veth pair on a private /30 in 10.213.0.0/16, with its own
//! sshd. Only those addresses and loopback are ever contacted.
//!
//! Subnets are allocated through lock files (one per third octet, holding
//! the owner's pid), so parallel tests and concurrent test runs on one
//! machine never collide; a lock whose process is gone is reclaimed along
//! with whatever namespace and link it left behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use batou_core::transport::Target;

use super::{RootFs, SshServer, run, run_quiet};

const LOCKS: &str = "/tmp/batou-test-netns";

/// One host in its own namespace.
pub struct NetnsHost {
    /// Its name in the ssh_config (`host0`, `host1`, ...).
    pub name: String,
    /// Its namespace (`ip netns exec NS ...`).
    pub ns: String,
    /// Its address (inside the namespace).
    pub ip: String,
    octet: u8,
    server: Option<SshServer>,
    /// The host's own root file system, when it is not this machine's
    /// (removed after the server and namespace are gone).
    rootfs: Option<RootFs>,
}

impl NetnsHost {
    /// Its sshd.
    pub fn server(&self) -> &SshServer {
        self.server.as_ref().expect("server runs until drop")
    }

    /// Restarts its sshd (see [`SshServer::restart`]).
    pub fn restart_sshd(&mut self) {
        self.server
            .as_mut()
            .expect("server runs until drop")
            .restart();
    }

    /// Takes its link down (the host becomes unreachable: packets are
    /// dropped, no connection is reset) or brings it back up, returning
    /// once its sshd answers again.
    pub fn set_link(&self, up: bool) {
        let inner = format!("bt{}n", self.octet);
        let state = if up { "up" } else { "down" };
        run(
            "ip",
            &[
                "netns", "exec", &self.ns, "ip", "link", "set", &inner, state,
            ],
        );
        if up {
            // Connections tried while it was down left a failed neighbour
            // entry here, which answers "No route to host" for a while.
            run_quiet(
                "ip",
                &["neigh", "flush", "dev", &format!("bt{}h", self.octet)],
            );
            self.wait_reachable();
        }
    }

    fn wait_reachable(&self) {
        use std::io::Read;
        let addr: std::net::SocketAddr = format!("{}:22", self.ip).parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut stream) =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} ({addr}) not reachable 30 s after its link came back up",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `n` namespaced hosts and one ssh_config reaching all of them.
pub struct NetnsHosts {
    pub hosts: Vec<NetnsHost>,
    dir: tempfile::TempDir,
    /// Extra `Host` entries: (host index, alias, login user).
    aliases: Vec<(usize, String, String)>,
}

impl NetnsHosts {
    /// Creates `n` hosts, each with an sshd on port 22 of its own address.
    pub fn create(n: usize) -> NetnsHosts {
        NetnsHosts::create_with_resolv_conf(n, None)
    }

    /// Like [`NetnsHosts::create`]; with `resolv_conf`, every host has
    /// that as its `/etc/resolv.conf` (`ip netns exec` mounts
    /// `/etc/netns/NS/resolv.conf` over it for the sshd, and so for
    /// everything run over ssh), e.g. `nameserver 127.0.0.1` for a DNS
    /// server the test starts inside the namespace.
    pub fn create_with_resolv_conf(n: usize, resolv_conf: Option<&str>) -> NetnsHosts {
        let dir = tempfile::Builder::new()
            .prefix("batou-netns-")
            .tempdir()
            .expect("temp dir");
        let mut hosts = Vec::new();
        for k in 0..n {
            hosts.push(NetnsHost::create(&format!("host{k}"), resolv_conf, None));
        }
        NetnsHosts::from_hosts(hosts, dir)
    }

    /// One host per root file system, each running that system's own
    /// sshd and everything its sessions start (its libc, users, sudo):
    /// e.g. a Debian 11 host from [`RootFs::bullseye`].
    pub fn create_rooted(roots: Vec<RootFs>) -> NetnsHosts {
        let dir = tempfile::Builder::new()
            .prefix("batou-netns-")
            .tempdir()
            .expect("temp dir");
        let hosts = roots
            .into_iter()
            .enumerate()
            .map(|(k, root)| NetnsHost::create(&format!("host{k}"), None, Some(root)))
            .collect();
        NetnsHosts::from_hosts(hosts, dir)
    }

    fn from_hosts(hosts: Vec<NetnsHost>, dir: tempfile::TempDir) -> NetnsHosts {
        let all = NetnsHosts {
            hosts,
            dir,
            aliases: Vec::new(),
        };
        all.write_config();
        all
    }

    /// The ssh_config with a `Host hostK` entry per host (user root).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// The known_hosts with every host's real key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    fn write_config(&self) {
        let mut config = String::new();
        let mut known = String::new();
        for h in &self.hosts {
            config.push_str(
                &h.server()
                    .config_block(&h.name, "root", &self.known_hosts()),
            );
            known.push_str(&h.server().known_hosts_line());
            known.push('\n');
        }
        for (k, alias, user) in &self.aliases {
            config.push_str(&self.hosts[*k].server().config_block(
                alias,
                user,
                &self.known_hosts(),
            ));
        }
        fs::write(self.ssh_config(), config).unwrap();
        fs::write(self.known_hosts(), known).unwrap();
    }

    /// Adds `Host alias` reaching host `k` as `user` (authorized there),
    /// e.g. a non-root login user for the sudo tests.
    pub fn add_alias(&mut self, k: usize, alias: &str, user: &str) {
        self.hosts[k].server().authorize(user);
        self.aliases.push((k, alias.to_string(), user.to_string()));
        self.write_config();
    }

    /// A target for `alias` through the combined ssh_config.
    pub fn target_for(&self, alias: &str) -> Target {
        Target {
            host: alias.to_string(),
            address: alias.to_string(),
            ssh_config: Some(self.ssh_config()),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// A target for host `k` through the combined ssh_config.
    pub fn target(&self, k: usize) -> Target {
        Target {
            host: self.hosts[k].name.clone(),
            address: self.hosts[k].name.clone(),
            ssh_config: Some(self.ssh_config()),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl NetnsHost {
    /// Its root file system, if it has its own.
    pub fn rootfs(&self) -> Option<&RootFs> {
        self.rootfs.as_ref()
    }

    fn create(name: &str, resolv_conf: Option<&str>, rootfs: Option<RootFs>) -> NetnsHost {
        let octet = claim_octet();
        let ns = format!("batou-t{octet}");
        let (outer, inner) = (format!("bt{octet}h"), format!("bt{octet}n"));
        let ip = format!("10.213.{octet}.2");
        // From here on, Drop cleans up whatever was made.
        let mut host = NetnsHost {
            name: name.to_string(),
            ns: ns.clone(),
            ip: ip.clone(),
            octet,
            server: None,
            rootfs,
        };
        run("ip", &["netns", "add", &ns]);
        run(
            "ip",
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ],
        );
        run("ip", &["link", "set", &inner, "netns", &ns]);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("10.213.{octet}.1/30"),
                "dev",
                &outer,
            ],
        );
        run("ip", &["link", "set", &outer, "up"]);
        run(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{ip}/30"),
                "dev",
                &inner,
            ],
        );
        run(
            "ip",
            &["netns", "exec", &ns, "ip", "link", "set", &inner, "up"],
        );
        run(
            "ip",
            &["netns", "exec", &ns, "ip", "link", "set", "lo", "up"],
        );
        if let Some(text) = resolv_conf {
            let dir = etc_netns(octet);
            fs::create_dir_all(&dir).expect("mkdir /etc/netns/NS");
            fs::write(dir.join("resolv.conf"), text).expect("write /etc/netns/NS/resolv.conf");
        }
        let root = host.rootfs.as_ref().map(|r| r.root.clone());
        let server = SshServer::spawn_in(Some(&ns), root.as_deref(), &ip, 22, "")
            .unwrap_or_else(|e| panic!("cannot start sshd in namespace {ns}: {e}"));
        host.server = Some(server);
        host
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        drop(self.server.take());
        teardown(self.octet);
        let _ = fs::remove_file(lock_path(self.octet));
    }
}

/// `/etc/netns/NS`: files `ip netns exec` mounts over `/etc` inside NS.
fn etc_netns(octet: u8) -> PathBuf {
    Path::new("/etc/netns").join(format!("batou-t{octet}"))
}

fn lock_path(octet: u8) -> PathBuf {
    Path::new(LOCKS).join(octet.to_string())
}

/// Kills what still runs in the namespace (only processes this test
/// started: sshd and its sessions), then removes the link and namespace.
fn teardown(octet: u8) {
    let ns = format!("batou-t{octet}");
    if let Ok(out) = std::process::Command::new("ip")
        .args(["netns", "pids", &ns])
        .output()
    {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            run_quiet("kill", &["-9", pid]);
        }
    }
    run_quiet("ip", &["link", "del", &format!("bt{octet}h")]);
    run_quiet("ip", &["netns", "del", &ns]);
    let _ = fs::remove_dir_all(etc_netns(octet));
}

/// Claims a free third octet for a /30 (and the namespace and link names
/// derived from it).
fn claim_octet() -> u8 {
    fs::create_dir_all(LOCKS).expect("lock directory for namespaces");
    let start = (std::process::id() as usize * 7) % 250;
    for i in 0..250usize {
        let octet = ((start + i) % 250 + 1) as u8;
        let path = lock_path(octet);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                // A crashed run may have left the names behind.
                teardown(octet);
                return octet;
            }
            Err(_) => {
                let owner = fs::read_to_string(&path).unwrap_or_default();
                let alive = owner
                    .trim()
                    .parse::<u32>()
                    .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                // An empty file may be a lock being written right now.
                if !alive && !owner.trim().is_empty() {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }
    panic!("no free 10.213.x.0/30 subnet for a test namespace (locks in {LOCKS})");
}
