//! `ScanHost` against a real sshd the test starts on 127.0.0.1 with host
//! keys it makes (ssh-keygen), scanned by the real ssh-keyscan; a changed
//! host key is a restart of that sshd with a new key.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use super::fixture::run;
use super::*;
use crate::stdlib::ScanHost;

/// An sshd on 127.0.0.1 that only offers its host keys (nobody may log
/// in), stopped on drop.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "/usr/sbin/sshd is missing: install openssh-server (./test does)"
        );
        let dir = dir.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut sshd = Sshd {
            dir,
            port,
            child: None,
        };
        sshd.new_keys();
        sshd.spawn();
        sshd
    }

    /// Makes new host keys (ed25519 and ecdsa).
    fn new_keys(&self) {
        for t in ["ed25519", "ecdsa"] {
            let key = self.dir.join(format!("host_{t}"));
            let _ = std::fs::remove_file(&key);
            let _ = std::fs::remove_file(key.with_extension("pub"));
            run(
                &self.dir,
                "ssh-keygen",
                &["-q", "-t", t, "-N", "", "-f", key.to_str().unwrap()],
            );
        }
    }

    /// The public key of type `t` (`ed25519`), as `TYPE KEY`.
    fn public(&self, t: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(format!("host_{t}.pub"))).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&mut self) {
        let d = self.dir.display();
        std::fs::write(
            self.dir.join("sshd_config"),
            format!(
                "Port {}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nHostKey {d}/host_ecdsa\n\
                 PidFile {d}/sshd.pid\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication no\nAllowUsers nobody-at-all\n",
                self.port
            ),
        )
        .unwrap();
        let child = Proc::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"))
            .stderr(std::fs::File::create(self.dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on 127.0.0.1:{}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts with new host keys, on the same port.
    fn rekey(&mut self) {
        self.stop();
        self.new_keys();
        self.spawn();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

static PORT: AtomicU16 = AtomicU16::new(0);

#[test]
fn scanned_keys_are_added_once_kept_and_replaced_when_the_host_key_changed() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            ScanHost::new("127.0.0.1")
                .port(PORT.load(Ordering::SeqCst))
                .known_hosts("ssh/known_hosts")
                .timeout(Duration::from_secs(5)),
        )?;
        Ok(())
    });
    let dir = s.prepare();
    let mut sshd = Sshd::start(&dir);
    PORT.store(sshd.port, Ordering::SeqCst);
    let name = format!("[127.0.0.1]:{}", sshd.port);
    let file = s.path("ssh/known_hosts");
    let expected = |sshd: &Sshd, other: &str| {
        let mut lines = [
            format!("{name} {}", sshd.public("ecdsa")),
            format!("{name} {}", sshd.public("ed25519")),
        ];
        lines.sort();
        format!("{other}{}\n", lines.join("\n"))
    };

    // Predicting writes nothing.
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!file.exists());

    // Added, in a directory made 0700.
    s.deploy();
    assert_eq!(s.read("ssh/known_hosts"), expected(&sshd, ""));
    assert_eq!(mode_of(&s.path("ssh")), 0o700);

    // ssh itself accepts the file for this host.
    let out = Proc::new("ssh-keygen")
        .args(["-F", &name, "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen -F finds no key of {name}");

    // Nothing changed: nothing written.
    let before = identity(&file);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&file), before);

    // Drift: other hosts' lines are kept, a duplicate and a stale key of
    // this host are removed.
    let other = "# other hosts\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther\n";
    let current = s.read("ssh/known_hosts");
    std::fs::write(
        &file,
        format!("{other}{current}{current}{name} ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQStale\n"),
    )
    .unwrap();
    s.deploy();
    assert_eq!(s.read("ssh/known_hosts"), expected(&sshd, other));

    // The host's keys changed: the old ones are replaced.
    let old = s.read("ssh/known_hosts");
    sshd.rekey();
    let (_, events) = s.predict();
    assert_eq!(s.read("ssh/known_hosts"), old, "predict wrote");
    assert!(format!("{events:?}").contains("2 key(s) of"), "{events:#?}");
    s.deploy();
    let new = s.read("ssh/known_hosts");
    assert_ne!(new, old);
    assert_eq!(new, expected(&sshd, other));
    assert_eq!(s.deploy().0.changed, 0);

    // The host is down: its keys are kept, with a warning.
    sshd.stop();
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0);
    assert_eq!(s.read("ssh/known_hosts"), new);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Warning { message, .. } if message.contains("did not answer ssh-keyscan"))),
        "{events:#?}"
    );
}

static DOWN: AtomicU16 = AtomicU16::new(0);

#[test]
fn a_host_that_does_not_answer_and_has_no_keys_yet_is_an_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            ScanHost::new("127.0.0.1")
                .port(DOWN.load(Ordering::SeqCst))
                .known_hosts("known_hosts")
                .timeout(Duration::from_secs(2)),
        )?;
        Ok(())
    });
    // A port nothing listens on: bound, not listening.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    DOWN.store(port, Ordering::SeqCst);
    let (result, _) = s.run(false);
    let error = result.expect_err("nothing answers").to_string();
    assert!(
        error.contains(&format!("cannot scan the SSH keys of [127.0.0.1]:{port}")),
        "{error}"
    );
    assert!(!s.path("known_hosts").exists());
}

#[test]
fn bad_scanhost_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| ctx.add(ScanHost::new("a b")).map(drop),
            "ScanHost('a b'): invalid host name `a b`",
        ),
        (
            |_, ctx| ctx.add(ScanHost::new("-oProxyCommand=x")).map(drop),
            "invalid host name `-oProxyCommand=x`",
        ),
        (
            |_, ctx| ctx.add(ScanHost::new("h").key_types(["dss"])).map(drop),
            "unknown key type `dss`",
        ),
        (
            |_, ctx| ctx.add(ScanHost::new("h").port(0)).map(drop),
            "port 0",
        ),
    ]);
}
