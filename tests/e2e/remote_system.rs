//! System components through the remote agent: a `User`, a `File` owned
//! by it and its `CronTab`, deployed as root over real OpenSSH to a host
//! in its own network namespace (which shares this machine's `/etc/passwd`
//! and cron spool, so the test checks them directly and removes the user
//! afterwards).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use super::remote::{file_identities, private_dirs, ssh_project, summary_line, uid_of};
use crate::remote_support::{NetnsHosts, run_quiet, unique};

/// Removes the user the deploy creates (its crontab, home and group with
/// it), also when the test fails half-way.
struct CreatedUser(String);

impl CreatedUser {
    fn exists(&self) -> bool {
        Command::new("getent")
            .args(["passwd", &self.0])
            .output()
            .unwrap()
            .status
            .success()
    }

    fn crontab(&self) -> String {
        let out = Command::new("crontab")
            .args(["-u", &self.0, "-l"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn home(&self) -> PathBuf {
        PathBuf::from(format!("/home/{}", self.0))
    }
}

impl Drop for CreatedUser {
    fn drop(&mut self) {
        run_quiet("crontab", &["-u", &self.0, "-r"]);
        run_quiet("userdel", &["-f", "-r", &self.0]);
        run_quiet("groupdel", &[&self.0]);
    }
}

#[test]
fn a_user_its_file_and_its_crontab_deploy_as_root_over_ssh_then_change_nothing() {
    let hosts = NetnsHosts::create(1);
    let user = CreatedUser(unique("bt-sys"));
    assert!(!user.exists(), "{} exists before the test", user.0);
    let p = ssh_project(&hosts.ssh_config(), "");
    let job = "/usr/bin/true batou-remote-system-test";
    p.write(
        "environments/system.cfg",
        &format!(
            "[environment]\nconnect_method = ssh\n{}\n\
             [host:host0]\ncomponents = serviceaccount\n\n\
             [component:serviceaccount]\nuser = {}\njob = {job}\n",
            private_dirs(&p),
            user.0
        ),
    );

    // Predicting: the user does not exist yet; nothing is created.
    p.run(&["deploy", "-P", "system"])
        .success()
        .stdout_contains(&format!("host0: ServiceAccount > User('{}')", user.0));
    assert!(!user.exists(), "predict created the user");
    assert_eq!(user.crontab(), "");

    let out = p.run(&["deploy", "system"]).success().stdout_in_order(&[
        &format!("host0: ServiceAccount > User('{}')", user.0),
        &format!(
            "host0: ServiceAccount > File('{}/app.conf')",
            user.home().display()
        ),
        "host0: ServiceAccount > CronTab",
    ]);
    assert!(
        summary_line(&out, "host0").ends_with(" (as root)"),
        "{}",
        out.stdout
    );
    assert!(user.exists());
    let uid = uid_of(&user.0);
    assert_ne!(uid, 0);
    let conf = user.home().join("app.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("user = {}\n", user.0)
    );
    let meta = std::fs::metadata(&conf).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid_of(&user.0)));
    assert_eq!(std::fs::metadata(user.home()).unwrap().uid(), uid);
    let crontab = user.crontab();
    assert!(
        crontab.lines().any(|l| l == format!("@daily {job}")),
        "{crontab}"
    );

    // The second deploy changes nothing: no user, file or crontab touched.
    let before = file_identities(&user.home());
    let again = p
        .run(&["deploy", "system"])
        .success()
        .stdout_contains("Nothing changed.")
        .stdout_lacks("Uploaded agent");
    assert!(
        summary_line(&again, "host0").ends_with(", changed=0 (as root)"),
        "{}",
        again.stdout
    );
    assert_eq!(file_identities(&user.home()), before);
    assert_eq!(user.crontab(), crontab);

    // Drift on the target is repaired: the crontab removed by hand.
    run_quiet("crontab", &["-u", &user.0, "-r"]);
    p.run(&["deploy", "system"])
        .success()
        .stdout_contains("host0: ServiceAccount > CronTab");
    assert_eq!(user.crontab(), crontab);

    let name = user.0.clone();
    drop(user);
    let gone = Command::new("getent")
        .args(["passwd", &name])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "{name} was not removed");
}

/// The gid of group `name`.
fn gid_of(name: &str) -> u32 {
    let out = Command::new("getent")
        .args(["group", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or_else(|| panic!("no group {name}"))
}
