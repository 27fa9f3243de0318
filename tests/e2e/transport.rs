//! The `ssh` and `ssh2` transports and the agent bootstrap against a real
//! OpenSSH sshd (on 127.0.0.1, and in network namespaces), with real users
//! and sudo.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use batou_core::Registry;
use batou_core::remote::bootstrap::{
    AgentBinary, AgentLaunch, BootstrapError, Launched, launch, local_arch, local_os,
};
use batou_core::transport::{Channel, Target, Transport, TransportError};

use super::refusal::{assert_cache_dir_refused, start_refused};
use crate::remote_support::{NetnsHosts, SshServer, User, unique};

/// Both SSH transports, as the registry hands them out.
pub(super) fn transports() -> Vec<(&'static str, Arc<dyn Transport>)> {
    let registry = Registry::new();
    ["ssh", "ssh2"]
        .into_iter()
        .map(|name| {
            let t = registry
                .transport_for(name)
                .unwrap_or_else(|| panic!("transport {name} is not registered"));
            (name, t)
        })
        .collect()
}

/// Runs `command` with `stdin`; `(exit code, stdout, stderr)`.
pub(super) fn run(
    t: &dyn Transport,
    target: &Target,
    command: &str,
    stdin: &[u8],
) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let mut channel = t.start(target, command).expect("start");
    let mut input = channel.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let result = channel.finish().expect("finish");
    writer.join().unwrap();
    result
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails the test instead of hanging it when `f` does not finish in time.
fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?} (deadlock?)"))
}

#[test]
fn both_transports_run_commands_with_output_and_exit_codes() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let (code, out, err) = run(
            &*t,
            &target,
            "echo hello; echo oops >&2; id -un; exit 3",
            b"",
        );
        assert_eq!(code, Some(3), "{name}: exit code; stderr {}", text(&err));
        assert_eq!(text(&out), "hello\nroot\n", "{name}: stdout");
        assert_eq!(text(&err), "oops\n", "{name}: stderr");
        let (code, out, _) = run(&*t, &target, "true", b"");
        assert_eq!((code, out.len()), (Some(0), 0), "{name}: true");
    }
}

#[test]
fn stdin_round_trips_through_cat() {
    let server = SshServer::start();
    let target = server.target("target");
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (name, t) in transports() {
        let (code, out, err) = run(&*t, &target, "cat", &data);
        assert_eq!(code, Some(0), "{name}: {}", text(&err));
        assert!(
            out == data,
            "{name}: cat returned {} bytes, sent {}",
            out.len(),
            data.len()
        );
    }
}

#[test]
fn a_stderr_flood_while_stdin_is_written_does_not_deadlock() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let target = target.clone();
        within(
            &format!("{name}: 5 MB stderr flood with 5 MB stdin"),
            Duration::from_secs(120),
            move || {
                let input: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
                let mut channel: Channel = t
                    .start(&target, "yes x | head -c 5000000 >&2; cat")
                    .expect("start");
                let mut stdout = std::mem::replace(&mut channel.stdout, Box::new(std::io::empty()));
                let mut stderr = std::mem::replace(&mut channel.stderr, Box::new(std::io::empty()));
                let out = std::thread::spawn(move || {
                    let mut v = Vec::new();
                    stdout.read_to_end(&mut v).map(|_| v)
                });
                let err = std::thread::spawn(move || {
                    let mut v = Vec::new();
                    stderr.read_to_end(&mut v).map(|_| v)
                });
                let mut stdin = channel.stdin.take().unwrap();
                stdin.write_all(&input).expect("writing stdin");
                drop(stdin);
                let out = out.join().unwrap().expect("stdout");
                let err = err.join().unwrap().expect("stderr");
                assert_eq!(channel.control.wait().unwrap(), Some(0), "{name}: exit");
                assert_eq!(err.len(), 5_000_000, "{name}: stderr length");
                assert!(
                    err.iter().all(|&b| b == b'x' || b == b'\n'),
                    "{name}: stderr content"
                );
                assert!(
                    out == input,
                    "{name}: stdout is stdin ({} of {} bytes)",
                    out.len(),
                    input.len()
                );
            },
        );
    }
}

#[test]
fn put_file_is_atomic_and_correct() {
    let server = SshServer::start();
    let target = server.target("target");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/file.bin");
    let a: Vec<u8> = vec![b'a'; 2_000_000];
    let b: Vec<u8> = vec![b'b'; 2_000_000];
    for (name, t) in transports() {
        t.put_file(&target, &a, path.to_str().unwrap(), 0o640)
            .expect("first put");
        assert!(std::fs::read(&path).unwrap() == a, "{name}: content");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640,
            "{name}: mode"
        );
        // A reader polling the file meanwhile must only ever see a whole
        // version, never a mix or a truncated file.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (stop, path, a, b) = (stop.clone(), path.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = std::fs::read(&path).expect("the file always exists");
                    assert!(
                        now == a || now == b,
                        "saw a partial file of {} bytes",
                        now.len()
                    );
                    seen += 1;
                }
                seen
            })
        };
        for round in 0..4 {
            let content = if round % 2 == 0 { &b } else { &a };
            t.put_file(&target, content, path.to_str().unwrap(), 0o600)
                .expect("put");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = reader
            .join()
            .unwrap_or_else(|_| panic!("{name}: the reader saw a partial file"));
        assert!(seen > 0, "{name}: the reader never ran");
        assert!(std::fs::read(&path).unwrap() == a, "{name}: last content");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "file.bin")
            .collect();
        assert!(
            leftovers.is_empty(),
            "{name}: temp files left: {leftovers:?}"
        );
    }
}

fn assert_host_key_error(name: &str, e: &TransportError, host: &str, fingerprint: &str) {
    match e {
        TransportError::HostKey { host: h, message } => {
            assert_eq!(h, host, "{name}: host named");
            assert!(
                message.contains(fingerprint),
                "{name}: {message:?} should name {fingerprint}"
            );
        }
        other => panic!("{name}: expected a host-key error, got {other:?}"),
    }
}

#[test]
fn a_changed_host_key_is_refused_and_nothing_runs() {
    let server = SshServer::start();
    let target = server.target("target");
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    let real = server.fingerprint();
    let recorded = server.break_host_key();
    assert_ne!(real, recorded);
    for (name, t) in transports() {
        let command = format!("touch {}", marker.display());
        // put_file diagnoses the failure itself ...
        let e = t
            .put_file(&target, b"x", marker.to_str().unwrap(), 0o600)
            .expect_err("put_file through a changed host key");
        assert_host_key_error(name, &e, "target", &real);
        // ... and so does the bootstrap.
        let binary = agent_script(marker_dir.path());
        let e = launch(&AgentLaunch {
            transport: &*t,
            target: &target,
            binary: &binary,
            cache_dir: Some(marker_dir.path().join("cache").display().to_string()),
            service_user: None,
            require_sudo: None,
            agent_args: vec![],
            upload: Default::default(),
        })
        .err()
        .unwrap_or_else(|| panic!("{name}: launched through a changed host key"));
        match e {
            BootstrapError::Transport(e) => assert_host_key_error(name, &e, "target", &real),
            other => panic!("{name}: {other}"),
        }
        // A plain start: for ssh2 it fails at once, for ssh the process
        // ends with ssh's own error.
        let e = start_refused(&*t, &target, &command)
            .unwrap_or_else(|ran| panic!("{name}: no diagnosis for {ran}"));
        assert_host_key_error(name, &e, "target", &real);
        assert!(
            !marker.exists(),
            "{name}: a command ran despite the changed host key"
        );
        assert!(
            !marker_dir.path().join("cache").exists(),
            "{name}: the bootstrap ran"
        );
    }
    // An unknown host (empty known_hosts) is refused as well.
    std::fs::write(server.known_hosts(), "").unwrap();
    for (name, t) in transports() {
        let command = format!("touch {}", marker.display());
        let e = start_refused(&*t, &target, &command)
            .unwrap_or_else(|ran| panic!("{name}: not refused: {ran}"));
        assert_host_key_error(name, &e, "target", if name == "ssh2" { &real } else { "" });
        assert!(!marker.exists(), "{name}: a command ran on an unknown host");
    }
    // With the real key back, the same command runs.
    server.restore_host_key();
    for (name, t) in transports() {
        let (code, _, err) = run(&*t, &target, &format!("touch {}", marker.display()), b"");
        assert_eq!(code, Some(0), "{name}: {}", text(&err));
    }
    assert!(marker.exists());
}

/// A tiny "agent": says `BATOU-START` (as a real agent does), who it
/// runs as and with which arguments, then echoes its stdin. A unique comment gives it a hash of its own.
pub(super) fn agent_script(dir: &Path) -> AgentBinary {
    let path = dir.join(unique("agent-"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n# {}\necho BATOU-START\necho \"agent-user $(id -un) args $*\"\nexec cat\n",
            unique("nonce-")
        ),
    )
    .unwrap();
    AgentBinary::from_path(&path, local_os(), local_arch()).unwrap()
}

/// Reads the agent's greeting, echoes a line through it and waits for it.
pub(super) fn talk_to_agent(name: &str, mut launched: Launched) -> String {
    let mut stdout = BufReader::new(std::mem::replace(
        &mut launched.channel.stdout,
        Box::new(std::io::empty()),
    ));
    let mut greeting = String::new();
    stdout.read_line(&mut greeting).expect("agent greeting");
    let mut stdin = launched.channel.stdin.take().unwrap();
    stdin.write_all(b"ping\n").unwrap();
    drop(stdin);
    let mut echo = String::new();
    stdout.read_line(&mut echo).unwrap();
    assert_eq!(echo, "ping\n", "{name}: the agent echoes its stdin");
    assert_eq!(
        launched.channel.control.wait().unwrap(),
        Some(0),
        "{name}: agent exit"
    );
    greeting.trim_end().to_string()
}

/// The agent `launched` runs as root with batou's arguments and echoes.
#[track_caller]
fn assert_root_agent(name: &str, launched: Launched) {
    assert_eq!(
        talk_to_agent(name, launched),
        "agent-user root args agent --flag=a b",
        "{name}"
    );
}

pub(super) fn launch_as(
    t: &dyn Transport,
    target: &Target,
    binary: &AgentBinary,
    cache: Option<&Path>,
    service_user: Option<&str>,
) -> Result<Launched, BootstrapError> {
    launch(&AgentLaunch {
        transport: t,
        target,
        binary,
        cache_dir: cache.map(|c| c.display().to_string()),
        service_user: service_user.map(str::to_string),
        require_sudo: None,
        agent_args: vec!["agent".into(), "--flag=a b".into()],
        upload: Default::default(),
    })
}

fn sha256_of(path: &Path) -> String {
    AgentBinary::from_path(path, "Linux", "x").unwrap().hash
}

#[test]
fn bootstrap_uploads_once_then_starts_from_the_cache() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let binary = agent_script(dir.path());
        let first = launch_as(&*t, &target, &binary, Some(&cache), None).unwrap();
        assert!(first.uploaded, "{name}: the first launch uploads");
        assert_eq!(first.user, "root", "{name}");
        assert_root_agent(name, first);
        let cached = cache.join(format!("batou-agent-{}", binary.hash));
        let meta = std::fs::metadata(&cached).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            0o700,
            "{name}: cached binary mode"
        );
        assert_eq!(sha256_of(&cached), binary.hash, "{name}: cached content");
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o700,
            "{name}: cache dir mode"
        );
        let entries = std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(entries, 1, "{name}: only the binary is in the cache");

        let second = launch_as(&*t, &target, &binary, Some(&cache), None).unwrap();
        assert!(!second.uploaded, "{name}: the second launch uses the cache");
        assert_root_agent(name, second);
    }
}

#[test]
fn a_tampered_cached_binary_is_replaced_not_executed() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let binary = agent_script(dir.path());
        talk_to_agent(
            name,
            launch_as(&*t, &target, &binary, Some(&cache), None).unwrap(),
        );
        let cached = cache.join(format!("batou-agent-{}", binary.hash));
        let marker = dir.path().join("tampered-ran");
        std::fs::write(&cached, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&cached, std::fs::Permissions::from_mode(0o700)).unwrap();

        let again = launch_as(&*t, &target, &binary, Some(&cache), None).unwrap();
        assert!(again.uploaded, "{name}: the tampered binary is replaced");
        assert_root_agent(name, again);
        assert!(!marker.exists(), "{name}: the tampered binary was executed");
        assert_eq!(
            sha256_of(&cached),
            binary.hash,
            "{name}: the cache holds the real binary again"
        );
    }
}

#[test]
fn a_binary_for_another_platform_is_refused_with_how_to_fix_it() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let script = agent_script(dir.path());
        let binary = AgentBinary::from_path(&script.path, "Linux", "riscv128").unwrap();
        let e = launch_as(&*t, &target, &binary, Some(&cache), None)
            .err()
            .unwrap_or_else(|| panic!("{name}: a riscv128 binary was started"));
        match &e {
            BootstrapError::Platform {
                host,
                remote,
                local,
                ..
            } => {
                assert_eq!(host, "target");
                assert_eq!(
                    remote,
                    &format!("{} {}", local_os(), local_arch()),
                    "{name}"
                );
                assert_eq!(local, "Linux riscv128", "{name}");
            }
            other => panic!("{name}: expected a platform error, got {other}"),
        }
        let message = e.to_string();
        for needle in [
            "agent_binary",
            "cargo build --release --target",
            "riscv128",
            "[host:target]",
        ] {
            assert!(
                message.contains(needle),
                "{name}: {message:?} lacks {needle:?}"
            );
        }
        assert!(
            !cache.join(format!("batou-agent-{}", binary.hash)).exists(),
            "{name}: a binary for another platform was uploaded"
        );
    }
}

#[test]
fn a_cache_dir_owned_by_someone_else_is_refused() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        assert_cache_dir_refused(
            name,
            &*t,
            &target,
            |cache| std::os::unix::fs::chown(cache, Some(65534), Some(65534)).unwrap(),
            "owned by another user",
            "used a cache owned by another user",
        );
    }
}

#[test]
fn sudo_runs_the_agent_as_the_service_user() {
    let server = SshServer::start();
    let service = User::create("batou-svc-");
    let login = User::create("batou-lg-");
    login.allow_sudo(&service.name, true);
    server.add_alias("login", &login.name);
    let target = server.target("login");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let binary = agent_script(dir.path());
        // Default cache dir: in the service user's home.
        let launched = launch_as(&*t, &target, &binary, None, Some(&service.name)).unwrap();
        assert!(launched.uploaded, "{name}");
        assert_eq!(launched.user, service.name, "{name}: Launched.user");
        assert_eq!(
            talk_to_agent(name, launched),
            format!("agent-user {} args agent --flag=a b", service.name),
            "{name}"
        );
        let cached = service
            .home
            .join(".cache/batou/agents")
            .join(format!("batou-agent-{}", binary.hash));
        let meta = std::fs::metadata(&cached)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", cached.display()));
        let uid = users_uid(&service.name);
        assert_eq!(
            meta.uid(),
            uid,
            "{name}: the cached binary belongs to the service user"
        );
        let again = launch_as(&*t, &target, &binary, None, Some(&service.name)).unwrap();
        assert!(!again.uploaded, "{name}: cached for the service user");
        talk_to_agent(name, again);

        // The login user itself as service user: no sudo.
        let own = launch_as(&*t, &target, &binary, None, Some(&login.name)).unwrap();
        assert_eq!(own.user, login.name, "{name}");
        talk_to_agent(name, own);
        // require_sudo = false: never sudo, even for another service user.
        let never = launch(&AgentLaunch {
            transport: &*t,
            target: &target,
            binary: &binary,
            cache_dir: None,
            service_user: Some(service.name.clone()),
            require_sudo: Some(false),
            agent_args: vec![],
            upload: Default::default(),
        })
        .unwrap();
        assert_eq!(never.user, login.name, "{name}: require_sudo=false");
        talk_to_agent(name, never);
    }
}

fn users_uid(name: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn sudo_that_asks_for_a_password_fails_fast_and_says_so() {
    let server = SshServer::start();
    let service = User::create("batou-svc-");
    let login = User::create("batou-pw-");
    // A rule, but without NOPASSWD: sudo would prompt.
    login.allow_sudo(&service.name, false);
    server.add_alias("pw", &login.name);
    // A long connect timeout, so "fast" is clearly not "timed out" even
    // on a loaded machine.
    let mut target = server.target("pw");
    target.connect_timeout = Duration::from_secs(60);
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let binary = agent_script(dir.path());
        let started = Instant::now();
        let e = launch_as(&*t, &target, &binary, None, Some(&service.name))
            .err()
            .unwrap_or_else(|| panic!("{name}: sudo did not ask for a password"));
        let took = started.elapsed();
        match &e {
            BootstrapError::SudoPassword { host, user } => {
                assert_eq!(host, "pw", "{name}");
                assert_eq!(user, &service.name, "{name}");
            }
            other => panic!("{name}: expected SudoPassword, got {other}"),
        }
        assert!(e.to_string().contains("NOPASSWD"), "{name}: {e}");
        assert!(
            took < Duration::from_secs(10),
            "{name}: took {took:?} (connect timeout is 60 s)"
        );
    }
}

#[test]
fn the_real_binary_starts_through_the_bootstrap() {
    let server = SshServer::start();
    let target = server.target("target");
    let binary = AgentBinary::from_path(
        Path::new(env!("CARGO_BIN_EXE_batou-test")),
        local_os(),
        local_arch(),
    )
    .unwrap();
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache: PathBuf = dir.path().join("cache");
        let mut launched = launch(&AgentLaunch {
            transport: &*t,
            target: &target,
            binary: &binary,
            cache_dir: Some(cache.display().to_string()),
            service_user: None,
            require_sudo: None,
            agent_args: vec!["--version".into()],
            upload: Default::default(),
        })
        .unwrap();
        assert!(launched.uploaded, "{name}");
        let mut out = String::new();
        launched.channel.stdout.read_to_string(&mut out).unwrap();
        assert_eq!(launched.channel.control.wait().unwrap(), Some(0), "{name}");
        assert!(
            out.contains(env!("CARGO_PKG_VERSION")),
            "{name}: --version printed {out:?}"
        );
        assert!(
            !out.contains("BATOU-"),
            "{name}: bootstrap lines leaked into the agent's stdout"
        );
    }
}

#[test]
fn hosts_in_network_namespaces_each_answer_on_their_own_address() {
    let mut hosts = NetnsHosts::create(3);
    // A non-root login on the second host, with sudo to a service user.
    let service = User::create("batou-svc-");
    let login = User::create("batou-lg-");
    login.allow_sudo(&service.name, true);
    hosts.add_alias(1, "login1", &login.name);
    for (name, t) in transports() {
        for (k, host) in hosts.hosts.iter().enumerate() {
            let target = hosts.target(k);
            let (code, out, err) = run(&*t, &target, "ip -o -4 addr show", b"");
            assert_eq!(code, Some(0), "{name} {}: {}", host.name, text(&err));
            let out = text(&out);
            assert!(
                out.contains(&format!("{}/30", host.ip)),
                "{name} {}: {out}",
                host.name
            );
            for other in hosts.hosts.iter().filter(|o| o.ip != host.ip) {
                assert!(
                    !out.contains(&other.ip),
                    "{name} {}: sees {}",
                    host.name,
                    other.ip
                );
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = agent_script(dir.path());
    for (name, t) in transports() {
        let target = hosts.target_for("login1");
        let (code, out, err) = run(&*t, &target, "id -un; ip -o -4 addr show", b"");
        assert_eq!(code, Some(0), "{name}: {}", text(&err));
        let out = text(&out);
        assert!(
            out.starts_with(&format!("{}\n", login.name)),
            "{name}: {out}"
        );
        assert!(out.contains(&hosts.hosts[1].ip), "{name}: {out}");
        let launched = launch_as(&*t, &target, &binary, None, Some(&service.name)).unwrap();
        assert_eq!(launched.user, service.name, "{name}");
        talk_to_agent(name, launched);
    }
}

#[test]
fn auth_and_connect_failures_are_classified() {
    let server = SshServer::start();
    // A user whose authorized_keys does not exist on the server.
    let mut config = std::fs::read_to_string(server.ssh_config()).unwrap();
    config.push_str(&server.config_block("stranger", "batou-no-such-key", &server.known_hosts()));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    config.push_str(&format!(
        "Host closed\n  HostName 127.0.0.1\n  Port {closed_port}\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
        server.client_key().display(),
        server.known_hosts().display()
    ));
    std::fs::write(server.ssh_config(), config).unwrap();
    let outcome = |t: &dyn Transport, target: &Target| -> TransportError {
        match t.start(target, "true") {
            Err(e) => e,
            Ok(channel) => {
                let (code, _, err) = channel.finish().unwrap();
                t.diagnose(target, code, &text(&err))
                    .unwrap_or_else(|| panic!("no diagnosis for exit {code:?}: {}", text(&err)))
            }
        }
    };
    for (name, t) in transports() {
        let e = outcome(&*t, &server.target("stranger"));
        assert!(
            matches!(&e, TransportError::Auth { host, .. } if host == "stranger"),
            "{name}: {e:?}"
        );
        let e = outcome(&*t, &server.target("closed"));
        assert!(
            matches!(&e, TransportError::Connect { host, message } if host == "closed" && message.contains("refused")),
            "{name}: {e:?}"
        );
    }
}

#[test]
fn ssh2_says_why_a_passphrase_protected_key_is_not_used() {
    let server = SshServer::start();
    let key = server.dir().join("locked_ed25519");
    crate::remote_support::run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "secret passphrase",
            "-f",
            key.to_str().unwrap(),
        ],
    );
    let config = server
        .config_block("locked", "root", &server.known_hosts())
        .replace(
            &server.client_key().display().to_string(),
            &key.display().to_string(),
        );
    std::fs::write(server.ssh_config(), config).unwrap();
    let t = Registry::new().transport_for("ssh2").unwrap();
    match t.start(&server.target("locked"), "true") {
        Err(TransportError::Auth { host, message }) => {
            assert_eq!(host, "locked");
            assert!(message.contains("passphrase"), "{message}");
            assert!(message.contains(key.to_str().unwrap()), "{message}");
        }
        Err(other) => panic!("expected an auth error, got {other:?}"),
        Ok(_) => panic!("logged in with a passphrase-protected key nobody unlocked"),
    }
}

#[test]
fn kill_ends_a_running_command_at_once() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let mut channel = t.start(&target, "echo $$; exec sleep 30").unwrap();
        let mut line = String::new();
        BufReader::new(&mut channel.stdout)
            .read_line(&mut line)
            .unwrap();
        let sleeper = line.trim().to_string();
        assert!(sleeper.parse::<u32>().is_ok(), "{name}: {line:?}");
        let started = Instant::now();
        within(
            &format!("{name}: kill"),
            Duration::from_secs(10),
            move || {
                channel.control.kill();
                let _ = channel.control.wait();
            },
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: kill took {:?}",
            started.elapsed()
        );
        // Without a pty, sshd does not signal the command when the
        // connection goes: end the sleeper this test started.
        crate::remote_support::run_quiet("kill", &[&sleeper]);
    }
}

#[test]
fn a_connection_killed_midway_is_reported_not_hung() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        // The command reports its own pid and its parent's: the sshd
        // process serving this session.
        let mut channel = t.start(&target, "echo $PPID $$; exec sleep 31").unwrap();
        let mut line = String::new();
        BufReader::new(&mut channel.stdout)
            .read_line(&mut line)
            .unwrap();
        let pids: Vec<u32> = line
            .split_whitespace()
            .map(|p| p.parse().unwrap_or_else(|_| panic!("{name}: {line:?}")))
            .collect();
        let (session, sleeper) = (pids[0], pids[1]);
        // Kill the sshd process of this session (and with it the TCP
        // connection), as a network failure would.
        crate::remote_support::run("kill", &["-9", &session.to_string()]);
        let outcome = within(
            &format!("{name}: noticing the dead connection"),
            Duration::from_secs(20),
            move || {
                let mut rest = Vec::new();
                let read = channel.stdout.read_to_end(&mut rest);
                let status = channel.control.wait();
                (read.is_err(), status.map_err(|e| e.to_string()))
            },
        );
        crate::remote_support::run_quiet("kill", &[&sleeper.to_string()]);
        match outcome {
            (_, Err(_)) | (_, Ok(None)) | (_, Ok(Some(255))) | (true, _) => {}
            other => panic!("{name}: a killed connection looked like a clean exit: {other:?}"),
        }
    }
}

#[test]
fn ssh2_refuses_to_bypass_a_proxy_jump() {
    let server = SshServer::start();
    let config = server
        .config_block("jumped", "root", &server.known_hosts())
        .replace(
            "Host jumped\n",
            "Host jumped\n  ProxyJump bastion.invalid\n",
        );
    std::fs::write(server.ssh_config(), config).unwrap();
    let t = Registry::new().transport_for("ssh2").unwrap();
    match t.start(&server.target("jumped"), "true") {
        Err(TransportError::Connect { host, message }) => {
            assert_eq!(host, "jumped");
            assert!(message.contains("proxyjump bastion.invalid"), "{message}");
            assert!(message.contains("connect_method = ssh"), "{message}");
        }
        Err(other) => panic!("expected a connect error, got {other:?}"),
        Ok(_) => panic!("connected directly, bypassing the ProxyJump"),
    }
}

#[test]
fn a_command_killed_by_a_signal_is_not_success() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let (code, _, err) = run(&*t, &target, "kill -9 $$", b"");
        // ssh reports 255; ssh2 knows no code.
        assert!(
            code != Some(0) && code.is_none_or(|c| c == 255),
            "{name}: a signalled command exited {code:?}: {}",
            text(&err)
        );
    }
}

#[test]
fn agents_start_on_several_namespaced_hosts_at_once() {
    let hosts = NetnsHosts::create(3);
    let dir = tempfile::tempdir().unwrap();
    let binary = agent_script(dir.path());
    for (name, t) in transports() {
        let cache = dir.path().join(format!("cache-{name}"));
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..hosts.hosts.len())
                .map(|k| {
                    let (t, target, binary) = (t.clone(), hosts.target(k), &binary);
                    // Each host gets its own cache dir: they share this
                    // machine's file system.
                    let cache = cache.join(k.to_string());
                    scope.spawn(move || {
                        let launched = launch_as(&*t, &target, binary, Some(&cache), None)
                            .unwrap_or_else(|e| panic!("{name} host{k}: {e}"));
                        assert!(launched.uploaded, "{name} host{k}");
                        talk_to_agent(name, launched)
                    })
                })
                .collect();
            for run in runs {
                assert_eq!(
                    run.join().unwrap(),
                    "agent-user root args agent --flag=a b",
                    "{name}"
                );
            }
        });
    }
}

#[test]
fn a_host_key_alias_is_honoured_by_both_transports() {
    let server = SshServer::start();
    let known = server.dir().join("known_hosts_alias");
    let key = server.known_hosts_line();
    let key = key.split_once(' ').unwrap().1;
    std::fs::write(&known, format!("aliased-key {key}\n")).unwrap();
    let config = server.config_block("aliased", "root", &known).replace(
        "Host aliased\n",
        "Host aliased\n  HostKeyAlias aliased-key\n",
    );
    std::fs::write(server.ssh_config(), config).unwrap();
    for (name, t) in transports() {
        let (code, out, err) = run(&*t, &server.target("aliased"), "echo via alias", b"");
        assert_eq!(code, Some(0), "{name}: {}", text(&err));
        assert_eq!(text(&out), "via alias\n", "{name}");
    }
}
