//! Throwaway Unix users (a service user, a second login user) and sudoers
//! drop-ins for them; all removed on drop. Needs root, as the tests run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{run, run_quiet, unique};

/// A user created with `useradd -m`; `userdel -r` on drop.
pub struct User {
    pub name: String,
    /// Its home as its system sees it.
    pub home: PathBuf,
    /// The root file system it exists in, if not this machine's.
    root: Option<PathBuf>,
    sudoers: Mutex<Vec<PathBuf>>,
}

/// The name the brief and the remote tests use for a service user.
pub type ServiceUser = User;

impl User {
    /// A new user named `<prefix><random>` with a home, `/bin/sh`, and no
    /// password (the account is not locked, so sshd lets it log in with a
    /// key; sudo has no password it could accept).
    pub fn create(prefix: &str) -> User {
        User::create_in(None, prefix)
    }

    /// [`User::create`] in the root file system `root` (its own
    /// `useradd`, passwd and home), when given.
    pub fn create_in(root: Option<&std::path::Path>, prefix: &str) -> User {
        let name = unique(prefix);
        assert!(name.len() <= 32, "user name {name} too long");
        run_in(
            root,
            "useradd",
            &[
                "-m",
                "-s",
                "/bin/sh",
                "-p",
                "*",
                "-d",
                &format!("/home/{name}"),
                &name,
            ],
        );
        User {
            home: PathBuf::from(format!("/home/{name}")),
            name,
            root: root.map(|r| r.to_path_buf()),
            sudoers: Mutex::new(Vec::new()),
        }
    }

    /// `path` (absolute, as this user's system sees it) on this machine.
    pub fn host_path(&self, path: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(path.trim_start_matches('/')),
            None => PathBuf::from(path),
        }
    }

    /// A sudoers drop-in letting this user run anything as `target`;
    /// with `nopasswd` false, sudo asks for a password (which the user
    /// does not have).
    pub fn allow_sudo(&self, target: &str, nopasswd: bool) {
        let inside = format!("/etc/sudoers.d/batou-test-{}", self.name);
        let path = self.host_path(&inside);
        let tag = if nopasswd { "NOPASSWD: " } else { "" };
        let rule = format!("{} ALL=({target}) {tag}ALL\n", self.name);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &rule).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o440)).unwrap();
        run_in(
            self.root.as_deref(),
            "visudo",
            &["-c", "-q", "-f", &format!("{inside}.tmp")],
        );
        // sudo ignores files in sudoers.d whose name contains a dot, so the
        // temp file is inert until the rename.
        fs::rename(&tmp, &path).unwrap();
        self.sudoers.lock().unwrap().push(path);
    }

    /// The user's installed crontab (`crontab -l -u`); empty when it has
    /// none.
    pub fn crontab(&self) -> String {
        let out = std::process::Command::new("crontab")
            .args(["-u", &self.name, "-l"])
            .output()
            .expect("crontab(1) runs (./test installs cron)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for path in self.sudoers.lock().unwrap().drain(..) {
            let _ = fs::remove_file(path);
        }
        match &self.root {
            // Removed with its root file system.
            Some(_) => {}
            None => {
                // userdel leaves a crontab behind in the spool.
                run_quiet("crontab", &["-u", &self.name, "-r"]);
                run_quiet("userdel", &["-f", "-r", &self.name]);
            }
        }
    }
}

/// Runs `program` on this machine, or inside `root` with `chroot`.
fn run_in(root: Option<&std::path::Path>, program: &str, args: &[&str]) -> String {
    match root {
        Some(r) => {
            let mut all = vec![r.to_str().expect("UTF-8 root"), program];
            all.extend_from_slice(args);
            run("chroot", &all)
        }
        None => run(program, args),
    }
}
