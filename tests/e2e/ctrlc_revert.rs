//! Ctrl-C reverts the running root (issue #22, docs/transactions.md):
//! the first SIGINT stops the root at its next component boundary (the
//! running command is let finish), puts back what it changed, stat for
//! stat, skips the roots after it and exits 130 with the lock free;
//! `--no-revert` keeps the old way (the root finishes). Locally and over
//! real OpenSSH (the controller tells the agent).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::background::{assert_lock_free, temp_files, wait_until_no_agent};
use super::remote::{both_transports, private_dirs, ssh_project};
use super::support::{LOCAL, Project, native_agent_built};
use super::transactions::{V2, history_outcomes, snapshot};
use crate::remote_support::SshServer;

/// A deploy running in its own process group (as a shell runs a
/// foreground job), its output collected as it comes.
struct Job {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                return;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

impl Job {
    fn start(p: &Project, args: &[&str]) -> Job {
        use std::os::unix::process::CommandExt;
        native_agent_built();
        let mut child = p
            .command(args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start the deploy");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Job {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits until `ready` is true, failing if the deploy ends first.
    #[track_caller]
    fn wait_until(&mut self, what: &str, ready: impl Fn(&Job) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !ready(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the deploy ended ({status}) before {what}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout.lock().unwrap(),
                    self.stderr.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "never {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    fn wait_for_file(&mut self, path: &Path) {
        self.wait_until(&format!("{} appeared", path.display()), |_| path.exists());
    }

    /// Waits until stdout or stderr says `text`.
    #[track_caller]
    fn wait_for_text(&mut self, text: &str) {
        self.wait_until(&format!("the output said {text:?}"), |j| {
            j.stdout.lock().unwrap().contains(text) || j.stderr.lock().unwrap().contains(text)
        });
    }

    /// The terminal's Ctrl-C: SIGINT to the whole process group.
    fn ctrl_c(&self) {
        // SAFETY: kill(2) on the test's own child's process group.
        assert_eq!(
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGINT) },
            0
        );
    }

    /// Waits for the end; (exit code, stdout, stderr).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().expect("wait for the deploy");
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let out = |s: &Arc<Mutex<String>>| s.lock().unwrap().clone();
        (status.code(), out(&self.stdout), out(&self.stderr))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `transact` settings of version 2 whose command announces itself
/// with `started` and then waits for `go` (the test's cue, so that it
/// knows the root is busy when it presses Ctrl-C).
fn gated(started: &Path, go: &Path) -> String {
    format!(
        "{V2}command = touch {}; while [ ! -e {} ]; do sleep 0.05; done\n",
        started.display(),
        go.display()
    )
}

/// A local environment: `transact` (with `component` settings), then
/// `hello`; the deploy lock (and undo store) under the project.
fn local_env(p: &Project, component: &str) {
    p.write(
        "environments/local.cfg",
        &format!(
            "{LOCAL}deploy_lock = {}/lock/deploy.lock\n[hosts]\nlocalhost = transact, hello\n[component:transact]\n{component}",
            p.path().display()
        ),
    );
}

/// A local deploy's lock is gone at its end, or at least not held.
#[track_caller]
fn local_lock_free(p: &Project) {
    let lock = p.path().join("lock/deploy.lock");
    if lock.exists() {
        assert_lock_free(&lock);
    }
}

fn markers(p: &Project) -> (PathBuf, PathBuf) {
    (p.path().join("started"), p.path().join("go"))
}

#[test]
fn ctrl_c_reverts_the_running_local_root() {
    let p = Project::new();
    local_env(&p, "");
    p.run(&["deploy", "local"]).success();
    // Only `transact` is compared; `hello` deployed first is left as is.
    std::fs::remove_dir_all(p.path().join("work/hello")).unwrap();
    let before = snapshot(&p, "work/transact");
    let (started, go) = markers(&p);
    local_env(&p, &gated(&started, &go));

    let mut job = Job::start(&p, &["deploy", "local"]);
    job.wait_for_file(&started);
    assert_eq!(p.read("work/transact/files/f03.txt"), "v2 file 3\n");
    job.ctrl_c();
    job.wait_for_text(
        "Interrupted: stopping the running roots at their next component and reverting them",
    );
    std::fs::write(&go, "").unwrap();
    let (code, stdout, stderr) = job.finish();
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("↩️ localhost: Reverted component transact (52 paths restored)"),
        "{stdout}"
    );
    // The command ran to its end and is named as not undone.
    assert!(stdout.contains("  not reverted: touch "), "{stdout}");
    assert!(
        stderr.contains(
            "ERROR: interrupted (SIGINT); not deployed: localhost: transact, localhost: hello"
        ),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&p, "work/transact"),
        before,
        "the root is as it was"
    );
    p.assert_missing("work/hello");
    assert_eq!(temp_files(&p.path().join("work")), Vec::<PathBuf>::new());
    local_lock_free(&p);
    assert_eq!(
        history_outcomes(&p, "local", "localhost"),
        ["ok", "reverted"]
    );
    // The next deploy (version 2, ungated) converges.
    std::fs::write(&go, "").unwrap();
    p.run(&["deploy", "local"]).success();
    assert_eq!(p.read("work/transact/files/f03.txt"), "v2 file 3\n");
    p.assert_exists("work/hello/hello.txt");
}

#[test]
fn with_no_revert_ctrl_c_lets_the_local_root_finish() {
    let p = Project::new();
    local_env(&p, "");
    p.run(&["deploy", "local"]).success();
    std::fs::remove_dir_all(p.path().join("work/hello")).unwrap();
    let (started, go) = markers(&p);
    local_env(&p, &gated(&started, &go));

    let mut job = Job::start(&p, &["deploy", "--no-revert", "local"]);
    job.wait_for_file(&started);
    job.ctrl_c();
    job.wait_for_text("Interrupted: finishing the running components");
    std::fs::write(&go, "").unwrap();
    let (code, stdout, stderr) = job.finish();
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(!stdout.contains("Reverted component"), "{stdout}");
    assert!(
        stderr.contains("ERROR: interrupted (SIGINT); not deployed: localhost: hello"),
        "{stderr}"
    );
    // The root finished: version 2 stays.
    assert_eq!(p.read("work/transact/files/f03.txt"), "v2 file 3\n");
    p.assert_missing("work/hello");
    local_lock_free(&p);
}

/// A remote environment over `method`: `transact` (with `component`
/// settings), then `hello`, on host `target`.
fn remote_env(p: &Project, method: &str, dirs: &str, component: &str) {
    p.write(
        "environments/remote.cfg",
        &format!(
            "[environment]\nconnect_method = {method}\n{dirs}\n[host:target]\ncomponents = transact, hello\n\n[component:transact]\n{component}"
        ),
    );
}

/// A remote project deployed once over `method` (then without `hello`'s
/// work directory), set up so that its next deploy of `transact` stops
/// at the gate: the server (keep it alive), the project, the markers.
fn gated_remote(method: &str) -> (SshServer, Project, PathBuf, PathBuf) {
    let server = SshServer::start();
    let p = ssh_project(&server.ssh_config(), "");
    let dirs = private_dirs(&p);
    remote_env(&p, method, &dirs, "");
    p.run(&["deploy", "remote"]).success();
    std::fs::remove_dir_all(p.path().join("remote/target/work/hello")).unwrap();
    let (started, go) = markers(&p);
    remote_env(&p, method, &dirs, &gated(&started, &go));
    (server, p, started, go)
}

both_transports! {
    /// Over ssh the controller tells the agent: the running root stops at
    /// its next component and is reverted on the target, stat for stat;
    /// `hello` is not deployed; exit 130; the agent ends, the lock free.
    fn ctrl_c_reverts_the_running_remote_root(method: &str) {
        let (_server, p, started, go) = gated_remote(method);
        let before = snapshot(&p, "remote/target/work/transact");

        let mut job = Job::start(&p, &["deploy", "remote"]);
        job.wait_for_file(&started);
        job.ctrl_c();
        job.wait_for_text("stopping 1 running root(s) at their next component and reverting them");
        // The agent's answer: from here on its root cannot pass the gate
        // without seeing the interrupt.
        job.wait_for_text("interrupt received: the running root stops at its next component");
        std::fs::write(&go, "").unwrap();
        let (code, stdout, stderr) = job.finish();
        assert_eq!(code, Some(130), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("↩️ target: Reverted component transact (52 paths restored)"),
            "{stdout}"
        );
        assert!(stdout.contains("  not reverted: touch "), "{stdout}");
        assert!(
            stderr.contains("ERROR: interrupted (SIGINT); not deployed: target: transact, target: hello"),
            "{stderr}"
        );
        assert_eq!(snapshot(&p, "remote/target/work/transact"), before, "the root is as it was");
        assert!(!p.path().join("remote/target/work/hello").exists());
        assert_eq!(temp_files(&p.path().join("remote/target")), Vec::<PathBuf>::new());
        let lock = p.path().join("remote/lock/deploy.lock");
        wait_until_no_agent(&lock, Duration::from_secs(60));
        assert_lock_free(&lock);
        assert_eq!(history_outcomes(&p, "remote", "target"), ["ok", "reverted"]);
    }
}

both_transports! {
    /// `--no-revert` over ssh: the agent lets the root finish, as before.
    fn with_no_revert_ctrl_c_lets_the_remote_root_finish(method: &str) {
        let (_server, p, started, go) = gated_remote(method);

        let mut job = Job::start(&p, &["deploy", "--no-revert", "remote"]);
        job.wait_for_file(&started);
        job.ctrl_c();
        job.wait_for_text("waiting for 1 running component(s) to finish");
        std::fs::write(&go, "").unwrap();
        let (code, stdout, stderr) = job.finish();
        assert_eq!(code, Some(130), "{stdout}\n{stderr}");
        assert!(!stdout.contains("Reverted component"), "{stdout}");
        assert!(stderr.contains("not deployed: target: hello"), "{stderr}");
        assert_eq!(p.read("remote/target/work/transact/files/f03.txt"), "v2 file 3\n");
        assert!(!p.path().join("remote/target/work/hello").exists());
        let lock = p.path().join("remote/lock/deploy.lock");
        wait_until_no_agent(&lock, Duration::from_secs(60));
        assert_lock_free(&lock);
    }
}
