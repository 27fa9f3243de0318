//! CronTab's revert step (issue #22, docs/transactions.md): a root whose
//! crontab changed and which then fails gets the old crontab back (none,
//! when it had none); `batou rollback` after a good deploy does the same.
//! Real `crontab(1)` for a throwaway user, deployed locally as root.

use super::support::{LOCAL, Project};
use super::transactions::history_outcomes;
use crate::remote_support::users::User;

/// The jobs of `user`'s crontab (comments and blank lines left out).
fn jobs(user: &User) -> Vec<String> {
    user.crontab()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A local environment whose one root installs `job` as `user`'s crontab
/// (then fails if `fail`); the undo store under the project.
fn env(p: &Project, user: &User, job: &str, fail: bool) {
    p.write(
        "environments/local.cfg",
        &format!(
            "{LOCAL}deploy_lock = {}/lock/deploy.lock\n[hosts]\nlocalhost = crontabbed\n\
             [component:crontabbed]\nuser = {}\njob = {job}\nfail = {fail}\n",
            p.path().display(),
            user.name
        ),
    );
}

#[test]
fn a_failed_root_gets_its_old_crontab_back() {
    let user = User::create("bt-cron");
    let p = Project::new();

    // The first deploy fails: the crontab it installed is removed again.
    env(&p, &user, "/usr/bin/true first", true);
    p.run(&["deploy", "local"])
        .code(1)
        .stderr_contains("ERROR: boom after the files")
        .stdout_contains("↩️ localhost: Reverted component crontabbed")
        .stdout_contains("removed the crontab (it had none before)");
    assert_eq!(user.crontab(), "", "the crontab of {} is left", user.name);

    env(&p, &user, "/usr/bin/true old", false);
    p.run(&["deploy", "local"]).success();
    let old = user.crontab();
    assert_eq!(jobs(&user), ["@daily /usr/bin/true old"], "{old}");

    // A change whose root fails afterwards: the old crontab is back.
    env(&p, &user, "/usr/bin/true new", true);
    p.run(&["deploy", "local"])
        .code(1)
        .stdout_contains("↩️ localhost: Reverted component crontabbed")
        .stdout_contains("installed the old crontab");
    assert_eq!(user.crontab(), old);
    assert_eq!(
        history_outcomes(&p, "local", "localhost"),
        ["reverted", "ok", "reverted"]
    );
}

#[test]
fn rollback_puts_the_old_crontab_back() {
    let user = User::create("bt-cron");
    let p = Project::new();
    env(&p, &user, "/usr/bin/true old", false);
    p.run(&["deploy", "local"]).success();
    let old = user.crontab();
    env(&p, &user, "/usr/bin/true new", false);
    p.run(&["deploy", "local"]).success();
    assert_eq!(jobs(&user), ["@daily /usr/bin/true new"]);

    p.run(&["rollback", "local"])
        .success()
        .stdout_contains("revert handler ran: Crontabbed > CronTab: install the old crontab");
    assert_eq!(user.crontab(), old);
    assert_eq!(jobs(&user), ["@daily /usr/bin/true old"]);
    assert_eq!(
        history_outcomes(&p, "local", "localhost"),
        ["ok", "ok", "rolled-back"]
    );
}
