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
    pub home: PathBuf,
    sudoers: Mutex<Vec<PathBuf>>,
}

/// The name the brief and the remote tests use for a service user.
pub type ServiceUser = User;

impl User {
    /// A new user named `<prefix><random>` with a home, `/bin/sh`, and no
    /// password (the account is not locked, so sshd lets it log in with a
    /// key; sudo has no password it could accept).
    pub fn create(prefix: &str) -> User {
        let name = unique(prefix);
        assert!(name.len() <= 32, "user name {name} too long");
        run(
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
            sudoers: Mutex::new(Vec::new()),
        }
    }

    /// A sudoers drop-in letting this user run anything as `target`;
    /// with `nopasswd` false, sudo asks for a password (which the user
    /// does not have).
    pub fn allow_sudo(&self, target: &str, nopasswd: bool) {
        let path = PathBuf::from(format!("/etc/sudoers.d/batou-test-{}", self.name));
        let tag = if nopasswd { "NOPASSWD: " } else { "" };
        let rule = format!("{} ALL=({target}) {tag}ALL\n", self.name);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &rule).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o440)).unwrap();
        run("visudo", &["-c", "-q", "-f", tmp.to_str().unwrap()]);
        // sudo ignores files in sudoers.d whose name contains a dot, so the
        // temp file is inert until the rename.
        fs::rename(&tmp, &path).unwrap();
        self.sudoers.lock().unwrap().push(path);
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for path in self.sudoers.lock().unwrap().drain(..) {
            let _ = fs::remove_file(path);
        }
        run_quiet("userdel", &["-f", "-r", &self.name]);
    }
}
