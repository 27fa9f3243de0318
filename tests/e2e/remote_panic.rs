//! A component that panics on a remote target, for both SSH transports.
//! The agent runs each root on a thread of its own; a panic there used to
//! end the thread without a reply while the heartbeats went on, and the
//! controller waited for ever holding the target's deploy lock and the
//! project's `.batou-lock`. Now the root ends in an error naming host and
//! component, with the exit code a local deploy of the same component
//! has; a secret in the panic's message is masked; and the next deploy
//! finds both locks free and released cleanly.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use batou_core::secrets::{Provider, store};

use super::background::{Background, assert_lock_free, signal, wait_until_no_agent};
use super::remote::{both_transports, private_dirs};
use super::secrets::{age_member, identity};
use super::support::{LOCAL, Project};
use crate::remote_support::SshServer;

/// Far longer than a deploy of one component takes, and than the 15 s
/// heartbeat timeout; a deploy still running after this hangs.
const PATIENCE: Duration = Duration::from_secs(120);

/// A project deploying `panicking` (in `phase`) to the sshd, with the
/// panic's message a secret (`[panicking] message`).
fn project(server: &SshServer, method: &str, phase: &str, secret: &str) -> Project {
    let config = std::fs::read_to_string(server.ssh_config()).expect("the harness's ssh_config");
    let p = Project::new().file("ssh_config", &config);
    let env = format!(
        "[environment]\nconnect_method = {method}\n{}\n\
         [host:target]\ncomponents = panicking\n\n[component:panicking]\nphase = {phase}\n",
        private_dirs(&p)
    );
    p.write("environments/remote/environment.cfg", &env);
    let secrets = format!(
        "[batou]\nmembers = {}\n\n[panicking]\nmessage = {secret}\n",
        age_member()
    );
    store::write(
        &p.path().join("environments/remote/secrets.cfg.age"),
        Provider::Age,
        secrets.as_bytes(),
        &[age_member()],
        None,
        false,
        None,
    )
    .expect("encrypt the test secrets");
    p
}

/// How a deploy ended: exit code, stdout, stderr, and how long it took.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `deploy remote` and waits at most [`PATIENCE`]; a deploy still
/// running then is killed (with its agent) and the test fails.
fn deploy_within_patience(p: &Project, lock: &Path) -> Ended {
    let identity = identity();
    let child = p
        .command(
            &["deploy", "remote"],
            &[("BATOU_AGE_IDENTITIES", identity.as_str())],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
    let pid = child.id() as i32;
    // Output is read on a thread, so a full pipe cannot stall the deploy
    // while this thread keeps the time.
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => {
            let out = out.expect("wait for the deploy");
            Ended {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                took: started.elapsed(),
            }
        }
        Err(_) => {
            // Kills the agent the lock names (the controller is killed
            // just below).
            drop(Background {
                child: None,
                lock: lock.to_path_buf(),
            });
            signal(pid, libc::SIGKILL);
            let _ = rx.recv_timeout(Duration::from_secs(30));
            panic!(
                "the deploy with a panicking component still ran after {} s: it hangs",
                PATIENCE.as_secs()
            );
        }
    }
}

/// The exit code of a local deploy of the same component (no secret: a
/// local panic's message is the panic hook's to mask).
fn local_code(phase: &str) -> Option<i32> {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}\n[hosts]\nlocalhost = panicking\n\n[component:panicking]\nphase = {phase}\n"
        ),
    );
    p.run(&["deploy", "local"]).code
}

both_transports! {
    /// A panic in `verify` and in `update`: an error naming host and
    /// component, the local exit code, no secret shown, locks free.
    fn a_panicking_component_fails_its_root_and_frees_the_locks(method: &str) {
        let server = SshServer::start();
        for phase in ["verify", "update"] {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let secret = format!("panic-canary-{}-{nanos}", std::process::id());
            let p = project(&server, method, phase, &secret);
            let lock = p.path().join("remote/lock/deploy.lock");

            let ended = deploy_within_patience(&p, &lock);
            let context = format!(
                "{method}, panic in {phase}, after {:?}\nstdout:\n{}\nstderr:\n{}",
                ended.took, ended.stdout, ended.stderr
            );
            let expected = local_code(phase);
            assert!(expected.is_some_and(|c| c != 0), "a local deploy: {expected:?}");
            assert_eq!(ended.code, expected, "the local deploy's exit code; {context}");
            assert!(
                ended.stderr.contains(&format!("{phase} went wrong: ")),
                "the panic's message is shown; {context}"
            );
            assert!(ended.stderr.contains("panicked"), "{context}");
            assert!(
                ended.stderr.contains("(host: target, component: Panicking)"),
                "host and component are named; {context}"
            );
            assert!(
                !ended.stderr.contains("heartbeat") && !ended.stderr.contains("connection lost"),
                "reported as the panic, not as a lost host; {context}"
            );
            assert!(ended.stdout.contains("DEPLOYMENT FAILED"), "{context}");
            for text in [&ended.stdout, &ended.stderr] {
                assert!(!text.contains(&secret), "the secret leaks; {context}");
            }

            // Nobody holds either lock, and the agent ended cleanly: the
            // next deploy takes over no stale lock.
            wait_until_no_agent(&lock, Duration::from_secs(30));
            assert_lock_free(&lock);
            assert_lock_free(&p.path().join(".batou-lock"));
            p.write(
                "environments/remote/environment.cfg",
                &p.read("environments/remote/environment.cfg")
                    .replace(&format!("phase = {phase}"), "phase = none"),
            );
            let again = deploy_within_patience(&p, &lock);
            assert_eq!(
                again.code,
                Some(0),
                "the next deploy\nstdout:\n{}\nstderr:\n{}",
                again.stdout,
                again.stderr
            );
            assert!(!again.stdout.contains("did not end cleanly"), "{}", again.stdout);
        }
    }
}
