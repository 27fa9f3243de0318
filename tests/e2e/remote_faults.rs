//! Faults in the middle of a deploy over real OpenSSH, for both SSH
//! transports: the connection dropped while a large file is written, the
//! agent killed mid-write, the target's disk full, a command that hangs
//! past its timeout, the controller interrupted with SIGINT. (A host that
//! becomes unreachable halfway through a multi-host deploy is in
//! `remote_unreachable.rs`.)
//!
//! Every scenario ends with the same checks ([`Faulty::assert_aftermath`]):
//! no target file is torn (each is wholly the old or the new version), no
//! temp file is left behind (or the next deploy removes it), the deploy
//! lock is free, and the next deploy converges to the full desired state.
//! A new kind of per-host state (records, caches) gets its check there.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use batou_tests::fixtures::payload_bytes;

use super::background::{
    Background, assert_lock_free, children, signal, temp_files, wait_until_no_agent,
};
use super::remote::{both_transports, private_dirs, ssh_project};
use super::support::{Outcome, Project};
use crate::remote_support::{SshServer, run, run_quiet};

/// A large enough file that writing it takes a while: the faults strike
/// while its temp file exists. That is only while its bytes go into the
/// page cache (its sync waits for the end of the root, after the
/// rename), some 100 ms on this size; at 96 MB a loaded machine
/// sometimes let the whole write pass between two looks for the temp file.
const BIG_MB: u64 = 256;

/// One project deploying the `payload` component to an sshd on loopback.
pub(super) struct Faulty {
    pub server: SshServer,
    pub p: Project,
    pub method: String,
    pub dirs: String,
}

impl Faulty {
    pub fn new(method: &str) -> Faulty {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        let dirs = private_dirs(&p);
        Faulty {
            server,
            p,
            method: method.to_string(),
            dirs,
        }
    }

    /// Writes the environment: `payload` with `fill` × `size_mb` MiB and
    /// `command`, plus `settings` in `[environment]`.
    pub fn env(&self, fill: &str, size_mb: u64, command: &str, settings: &str) {
        self.p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {}\n{}{settings}\n\
                 [host:target]\ncomponents = payload\n\n\
                 [component:payload]\nfill = {fill}\nsize_mb = {size_mb}\ncommand = {command}\n",
                self.method, self.dirs
            ),
        );
    }

    pub fn deploy(&self) -> Outcome {
        self.p.run(&["deploy", "remote"])
    }

    pub fn background(&self) -> Background {
        Background::start(&self.p, &["deploy", "remote"], self.lock())
    }

    pub fn lock(&self) -> PathBuf {
        self.p.path().join("remote/lock/deploy.lock")
    }

    pub fn target_dir(&self) -> PathBuf {
        self.p.path().join("remote/target")
    }

    pub fn workdir(&self) -> PathBuf {
        self.target_dir().join("work/payload")
    }

    /// Deploys `fill` (× `size_mb`) and checks every file is exactly it.
    #[track_caller]
    pub fn deploy_version(&self, fill: &str, size_mb: u64) -> Outcome {
        self.env(fill, size_mb, "", "");
        let out = self.deploy().success();
        self.assert_version(fill, size_mb);
        out
    }

    /// Both files are exactly version `fill`.
    #[track_caller]
    pub fn assert_version(&self, fill: &str, size_mb: u64) {
        assert_eq!(
            self.version_of_big(&[(fill, size_mb)]),
            fill,
            "big.bin is {fill}"
        );
        let small = std::fs::read_to_string(self.workdir().join("small.txt")).unwrap();
        assert_eq!(small, format!("{fill}\n"));
    }

    /// Which of `versions` big.bin wholly is; panics on a torn file.
    #[track_caller]
    pub fn version_of_big(&self, versions: &[(&str, u64)]) -> String {
        let path = self.workdir().join("big.bin");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        versions
            .iter()
            .find(|(fill, mb)| bytes == payload_bytes(fill, *mb))
            .map(|(fill, _)| fill.to_string())
            .unwrap_or_else(|| {
                panic!(
                    "{} is torn: {} bytes, none of {versions:?}",
                    path.display(),
                    bytes.len()
                )
            })
    }

    /// The temp files of atomic writes under the target directory.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        temp_files(&self.target_dir())
    }

    /// Waits until a temp file appears in the payload's workdir (a write
    /// is under way), failing if the deploy ends first.
    #[track_caller]
    pub fn wait_for_write(&self, running: &mut Background) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if !temp_files(&self.workdir()).is_empty() {
                return;
            }
            if let Ok(Some(_)) = running.child.as_mut().unwrap().try_wait() {
                let (code, out, err) = running.finish();
                panic!("the deploy ended ({code:?}) before it wrote:\n{out}\n{err}");
            }
            assert!(Instant::now() < deadline, "no write began");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Deploys `old` (of `BIG_MB`), then starts deploying `new` and
    /// waits until its big file is being written: the moment to strike.
    pub fn writing_new_over_old(&self) -> Background {
        self.deploy_version("old", BIG_MB);
        self.env("new", BIG_MB, "", "");
        let mut running = self.background();
        self.wait_for_write(&mut running);
        running
    }

    /// After a fault: every file is wholly one of `versions`, no agent
    /// still runs, and the deploy lock is free (released, or stale).
    #[track_caller]
    pub fn assert_aftermath(&self, versions: &[(&str, u64)]) {
        wait_until_no_agent(&self.lock(), Duration::from_secs(60));
        self.version_of_big(versions);
        let small = std::fs::read_to_string(self.workdir().join("small.txt")).unwrap();
        assert!(
            versions.iter().any(|(f, _)| small == format!("{f}\n")),
            "small.txt is {small:?}"
        );
        assert_lock_free(&self.lock());
    }

    /// The next deploy of `fill` converges: success, every file exact, no
    /// temp file left anywhere under the target; the one after changes
    /// nothing.
    #[track_caller]
    pub fn assert_converges(&self, fill: &str, size_mb: u64) -> Outcome {
        self.env(fill, size_mb, "", "");
        let out = self.deploy().success();
        self.assert_version(fill, size_mb);
        assert_eq!(self.temp_files(), Vec::<PathBuf>::new(), "temp files left");
        // A root killed or failed earlier was restored and its undo
        // record dropped (docs/transactions.md).
        let records: Vec<_> = std::fs::read_dir(self.p.path().join("remote/lock/undo/active"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(records, Vec::<PathBuf>::new(), "undo records left");
        self.deploy()
            .success()
            .stdout_contains("Nothing changed.")
            .stdout_lacks("did not end cleanly");
        assert_lock_free(&self.lock());
        out
    }
}

both_transports! {
    /// The agent is SIGKILLed while it writes a large file: the controller
    /// names the host and the lost connection (exit 4); the old file is
    /// intact; the temp file the kill left is removed by the next deploy,
    /// which recognises the stale lock and converges.
    fn the_agent_killed_while_writing_leaves_the_old_file_and_the_next_deploy_cleans_up(method: &str) {
        let f = Faulty::new(method);
        let mut running = f.writing_new_over_old();
        let agent = running.agent_pid();
        assert_eq!(signal(agent, libc::SIGKILL), 0);
        let (stdout, _) = running.finish_connection_lost("target");
        assert!(stdout.contains("DEPLOYMENT FAILED"), "{stdout}");
        f.assert_aftermath(&[("old", BIG_MB)]);
        assert_eq!(
            temp_files(&f.workdir()).len(),
            1,
            "the kill struck mid-write, leaving its temp file"
        );

        let out = f.assert_converges("new", BIG_MB);
        assert!(
            out.stdout.contains("did not end cleanly; its stale lock was taken over"),
            "{}",
            out.stdout
        );
    }
}

both_transports! {
    /// The connection drops (the sshd serving it is killed) while the
    /// agent writes a large file: the controller names the host (exit 4);
    /// the agent finishes the file it was writing (never a torn one),
    /// ends and releases the lock; the next deploy converges.
    fn the_connection_dropped_while_writing_tears_no_file(method: &str) {
        let f = Faulty::new(method);
        let mut running = f.writing_new_over_old();
        let listener: u32 = std::fs::read_to_string(f.server.dir().join("sshd.pid"))
            .expect("sshd.pid")
            .trim()
            .parse()
            .unwrap();
        let sessions = children(listener);
        assert!(!sessions.is_empty(), "sshd serves the deploy");
        for pid in sessions {
            signal(pid as i32, libc::SIGKILL);
        }
        let (code, stdout, stderr) = running.finish();
        assert_eq!(code, Some(4), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains("ERROR: target: connection lost"), "{stderr}");
        f.assert_aftermath(&[("old", BIG_MB), ("new", BIG_MB)]);
        assert_eq!(f.temp_files(), Vec::<PathBuf>::new());
        f.assert_converges("new", BIG_MB);
    }
}

/// A tmpfs of `size` mounted at `dir` for one test; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        run_quiet("umount", &["-l", self.dir.to_str().unwrap()]);
    }
}

both_transports! {
    /// The target directory is a small tmpfs that a new version does not
    /// fit on: the error names the host, the component and the full disk
    /// (exit 1); the old files and the free space are as before; once
    /// there is room, the next deploy converges.
    fn a_full_disk_keeps_the_old_file_and_the_next_deploy_converges(method: &str) {
        let f = Faulty::new(method);
        let _fs = Tmpfs::mount(&f.target_dir(), "24m");
        f.deploy_version("old", 4);
        // Ballast: 12 MiB of the 24 taken by something else.
        let ballast = f.target_dir().join("ballast");
        std::fs::write(&ballast, vec![0u8; 12 << 20]).unwrap();
        f.env("new", 10, "", "");
        let out = f.deploy().code(1);
        assert!(
            out.stderr.contains("target") && out.stderr.contains("payload"),
            "names host and component:\n{}",
            out.stderr
        );
        let big = f.workdir().join("big.bin");
        assert!(
            out.stderr.contains(&format!(
                "ERROR: cannot write {}: No space left on device (os error 28)\n",
                big.display()
            )),
            "names the file and the full disk:\n{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("(host: target, component: Payload > File('big.bin') > Content('big.bin'))"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.contains("DEPLOYMENT FAILED"), "{}", out.stdout);
        f.assert_aftermath(&[("old", 4)]);
        assert_eq!(f.temp_files(), Vec::<PathBuf>::new(), "no temp file fills the disk");

        std::fs::remove_file(&ballast).unwrap();
        f.assert_converges("new", 10);
    }
}

both_transports! {
    /// A command that hangs is killed at the environment's
    /// `command_timeout` (with its children): the error names host,
    /// component and the timeout (exit 1); files written before it are
    /// put back whole (the root is reverted); the next deploy converges.
    fn a_command_hanging_past_its_timeout_is_killed_and_named(method: &str) {
        let f = Faulty::new(method);
        f.deploy_version("old", 1);
        // A unique argument finds the hanging process (and its child).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let marker = format!("{}.{:03}", 500 + std::process::id() % 400, nanos % 1000);
        f.env("new", 1, &format!("sh -c 'sleep {marker}'; echo never"), "command_timeout = 2\n");
        let started = Instant::now();
        let out = f.deploy().code(1);
        assert!(started.elapsed() < Duration::from_secs(120));
        assert!(
            out.stderr.contains("target") && out.stderr.contains("Hook"),
            "names host and component:\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!(
                "ERROR: sh -c 'sleep {marker}'; echo never: timed out after 2s\n  (host: target, component: Payload > Hook)"
            )),
            "{}",
            out.stderr
        );
        let survivors: Vec<_> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            })
            .map(|e| e.file_name())
            .collect();
        assert!(survivors.is_empty(), "the hanging command survived: {survivors:?}");
        // The root failed, so what it wrote before the command was put
        // back (docs/transactions.md): the old version, whole.
        assert!(
            out.stdout.contains("↩️ target: Reverted component payload"),
            "{}",
            out.stdout
        );
        f.assert_aftermath(&[("old", 1)]);
        f.assert_converges("newer", 1);
    }
}

impl Faulty {
    /// `sleeper` (sleeping `seconds`) and then `payload` of `fill`.
    fn sleeper_then_payload(&self, seconds: u64, fill: &str) {
        self.p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {}\n{}\n\
                 [host:target]\ncomponents = sleeper, payload\n\n\
                 [component:sleeper]\nseconds = {seconds}\n\n\
                 [component:payload]\nfill = {fill}\nsize_mb = 1\n",
                self.method, self.dirs
            ),
        );
    }

    /// The deploy in its own process group, as a shell runs a foreground
    /// job: a terminal's Ctrl-C goes to the whole group.
    fn background_job(&self, args: &[&str]) -> Background {
        let child = self
            .p
            .command(args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start the deploy");
        Background {
            child: Some(child),
            lock: self.lock(),
        }
    }

    fn sleeper_file(&self, name: &str) -> PathBuf {
        self.target_dir().join("work/sleeper").join(name)
    }
}

/// Ctrl-C at a terminal: SIGINT to the deploy's whole process group.
fn ctrl_c(job: &Background) {
    assert_eq!(signal(-(job.pid() as i32), libc::SIGINT), 0);
}

both_transports! {
    /// Ctrl-C while a component runs, with `--no-revert` (with revert
    /// the root is put back, see `ctrlc_revert.rs`): the controller lets
    /// it finish, starts nothing new, shuts the agent down (releasing the
    /// lock) and names what was not deployed (exit 130); the next deploy
    /// converges.
    fn ctrl_c_finishes_the_running_component_and_names_the_rest(method: &str) {
        let f = Faulty::new(method);
        f.deploy_version("old", 1);
        f.sleeper_then_payload(3, "new");
        let mut job = f.background_job(&["deploy", "--no-revert", "remote"]);
        job.wait_for(&f.sleeper_file("started"));
        ctrl_c(&job);
        let (code, stdout, stderr) = job.finish();
        assert_eq!(code, Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(
            stderr.contains("ERROR: interrupted (SIGINT); not deployed: target: payload"),
            "{stderr}"
        );
        assert!(
            stdout.contains("interrupted: starting nothing new, waiting for 1 running component(s) to finish"),
            "{stdout}"
        );
        assert!(stdout.contains("DEPLOYMENT FAILED"), "{stdout}");
        assert_eq!(
            std::fs::read_to_string(f.sleeper_file("done")).unwrap(),
            "slept\n",
            "the running component finished"
        );
        f.assert_aftermath(&[("old", 1)]);
        let out = f.assert_converges("new", 1);
        assert!(!out.stdout.contains("did not end cleanly"), "{}", out.stdout);
    }
}

both_transports! {
    /// Ctrl-C twice stops the controller at once; the agent still
    /// finishes the component it runs, then ends and frees the lock; the
    /// next deploy converges.
    fn ctrl_c_twice_stops_at_once_and_the_next_deploy_converges(method: &str) {
        let f = Faulty::new(method);
        f.deploy_version("old", 1);
        f.sleeper_then_payload(3, "new");
        let mut job = f.background_job(&["deploy", "remote"]);
        job.wait_for(&f.sleeper_file("started"));
        ctrl_c(&job);
        std::thread::sleep(Duration::from_millis(200));
        ctrl_c(&job);
        let child = job.child.take().unwrap();
        let out = child.wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGINT),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        f.assert_aftermath(&[("old", 1)]);
        assert_eq!(
            std::fs::read_to_string(f.sleeper_file("done")).unwrap(),
            "slept\n",
            "the agent finished the running component"
        );
        f.assert_converges("new", 1);
    }
}
