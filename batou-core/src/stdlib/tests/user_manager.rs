//! A real systemd user manager (`systemd --user`) for the unit tests, run
//! as a throwaway user with its own home and `XDG_RUNTIME_DIR` in a temp
//! dir.
//!
//! PID 1 here need not be systemd, and a system manager cannot run at all
//! unless it is PID 1 ("Can't run system mode unless PID 1"). A user
//! manager can, with two arrangements made by the launcher script:
//!
//! * its own mount namespace with a tmpfs on `/run/systemd` holding an
//!   empty `system/` directory: systemd only starts a user instance on a
//!   system "booted with systemd", which it tells by that directory. The
//!   namespace keeps the rest of the machine from seeing it.
//! * its own, delegated cgroups (in the `name=systemd` v1 hierarchy and
//!   the unified one, or in a pure cgroup2 tree): a manager moves every
//!   process of the cgroup it starts in into its `init.scope`, so started
//!   in the root cgroup it would take over every process on the machine.
//!
//! `systemctl --user` outside the namespace still reaches the manager
//! through `$XDG_RUNTIME_DIR/systemd/private`. Because it sees no booted
//! system, `systemctl enable` / `is-enabled` work on the files directly,
//! relative to `HOME`, which `SystemdUnit` sets for another user's units.
//!
//! Dropping the guard stops the manager (its services with it), removes
//! the cgroups, the user (a throwaway [`Account`]) and the temp dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::accounts::Account;

/// A running `systemd --user` of a fresh user.
pub(crate) struct UserManager {
    pub user: String,
    pub home: PathBuf,
    pub runtime_dir: PathBuf,
    cgroups: Vec<PathBuf>,
    child: Option<Child>,
    _dir: tempfile::TempDir,
    log: PathBuf,
    /// Removes the user once the manager is gone (fields drop after
    /// `Drop::drop`).
    _account: Account,
}

fn sh(line: &str) -> std::process::Output {
    Command::new("sh").args(["-c", line]).output().unwrap()
}

fn check(line: &str) {
    let out = sh(line);
    assert!(
        out.status.success(),
        "`{line}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cgroup directories a manager gets one of each: the v1
/// `name=systemd` and the unified hierarchy, or the pure cgroup2 tree.
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("systemd").is_dir() {
        let mut roots = vec![base.join("systemd")];
        if base.join("unified/cgroup.procs").exists() {
            roots.push(base.join("unified"));
        }
        roots
    } else if base.join("cgroup.controllers").exists() {
        vec![base.to_path_buf()]
    } else {
        panic!("no systemd-usable cgroup hierarchy under /sys/fs/cgroup");
    }
}

impl UserManager {
    /// Starts the manager and waits until `systemctl --user` reaches it.
    pub fn start() -> Self {
        let account = Account::reserve("btsd");
        let user = account.name.clone();
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let runtime_dir = dir.path().join("run");
        let log = dir.path().join("manager.log");
        // The temp dir is 0700 root; the user must be able to reach its home.
        check(&format!("chmod 755 {}", dir.path().display()));
        check(&format!(
            "useradd -M -d {home} -s /bin/sh {user} && mkdir -p {home} {run} && \
             chmod 700 {run} && chown {user}: {home} {run}",
            home = home.display(),
            run = runtime_dir.display()
        ));
        let cgroups: Vec<PathBuf> = cgroup_roots()
            .into_iter()
            .map(|r| r.join(format!("batou-test-{user}")))
            .collect();
        let mut manager = UserManager {
            user: user.clone(),
            home: home.clone(),
            runtime_dir: runtime_dir.clone(),
            cgroups: cgroups.clone(),
            child: None,
            _dir: dir,
            log: log.clone(),
            _account: account,
        };
        let cg = cgroups
            .iter()
            .map(|c| format!("'{}'", c.display()))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "set -e\n\
             for cg in {cg}; do mkdir \"$cg\"; chown -R {user}: \"$cg\"; echo $$ > \"$cg/cgroup.procs\"; done\n\
             mkdir -p /run/systemd\n\
             mount -t tmpfs tmpfs /run/systemd\n\
             mkdir /run/systemd/system\n\
             exec setpriv --reuid={user} --regid={user} --init-groups \
               env -i HOME={home} XDG_RUNTIME_DIR={run} PATH=/usr/local/bin:/usr/bin:/bin \
               SYSTEMD_LOG_TARGET=console /lib/systemd/systemd --user\n",
            home = home.display(),
            run = runtime_dir.display(),
        );
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("unshare (util-linux) starts");
        manager.child = Some(child);
        manager.wait_ready();
        manager
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.systemctl(&["show", "-p", "Version"]).status.success() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "systemd --user did not come up ({exited:?}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `systemctl --user ARGS` as the manager's user.
    pub fn systemctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("runuser")
            .args(["-u", &self.user, "--", "env"])
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display()))
            .arg(format!("HOME={}", self.home.display()))
            .args(["systemctl", "--user"])
            .args(args)
            .output()
            .unwrap()
    }

    /// A property of a unit (`systemctl show -p NAME --value`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        let out = self.systemctl(&["show", "-p", name, "--value", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn is_active(&self, unit: &str) -> bool {
        self.property(unit, "ActiveState") == "active"
    }

    /// `MainPID` of a service (0 when not running).
    pub fn main_pid(&self, unit: &str) -> u32 {
        self.property(unit, "MainPID").parse().unwrap_or(0)
    }

    pub fn is_enabled(&self, unit: &str) -> String {
        let out = self.systemctl(&["is-enabled", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The user units directory.
    pub fn unit_dir(&self) -> PathBuf {
        self.home.join(".config/systemd/user")
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the user manager stops its units and exits.
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Anything left in the manager's cgroups is killed, then the
        // (empty) cgroups are removed, deepest first.
        for cg in &self.cgroups {
            if !cg.exists() {
                continue;
            }
            sh(&format!(
                "find '{0}' -name cgroup.procs -exec cat {{}} + | xargs -r kill -9 2>/dev/null; \
                 sleep 0.2; find '{0}' -depth -type d -exec rmdir {{}} \\; 2>/dev/null",
                cg.display()
            ));
        }
    }
}
