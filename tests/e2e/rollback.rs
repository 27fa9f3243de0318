//! `batou rollback` (issue #22 point 3, docs/transactions.md): the last
//! deploy's undo record is kept, private; a rollback puts every path back
//! stat for stat and runs the revert handlers (a real `systemd --user`
//! service restarted); a file edited by hand since stops it, naming the
//! file, unless `--force`; `-P` writes nothing; the record is consumed;
//! the history says `rolled-back`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::remote::both_transports;
use super::support::{LOCAL, Project};
use super::transactions::{Target, V2, history_outcomes, local_env, snapshot};

#[allow(dead_code)]
#[path = "../../batou-core/src/stdlib/tests/accounts.rs"]
mod accounts;
#[allow(dead_code)]
#[path = "../../batou-core/src/stdlib/tests/user_manager.rs"]
mod user_manager;

/// Every directory and file of the kept record in `store`, with its mode.
fn kept_modes(store: &Path) -> Vec<(PathBuf, u32)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, u32)>) {
        let meta = std::fs::symlink_metadata(p).unwrap();
        out.push((p.to_path_buf(), meta.permissions().mode() & 0o7777));
        if meta.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&store.join("last"), &mut out);
    out
}

/// The kept record is private: every directory 0700, every file only
/// in the store (the journal, the fingerprints, old versions of files
/// the deploy replaced) 0600.
fn assert_private(store: &Path) {
    use std::os::unix::fs::MetadataExt;
    let modes = kept_modes(store);
    assert!(
        modes.len() > 3,
        "no kept record in {}: {modes:?}",
        store.display()
    );
    let mut only_here = 0;
    for (path, mode) in modes {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
        } else if meta.file_type().is_file() && meta.nlink() == 1 {
            only_here += 1;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    assert!(
        only_here >= 3,
        "no journal, fingerprints and old files kept"
    );
}

both_transports! {
    /// After a good deploy of version 2, `rollback -P` lists what it
    /// would restore and writes nothing; `rollback` puts back version 1
    /// stat for stat; a second rollback has nothing to undo; the history
    /// says `rolled-back`.
    fn rollback_puts_back_the_deploy_before(method: &str) {
        let t = Target::new(method);
        t.env("");
        t.p.run(&["deploy", "remote"]).success();
        let v1 = snapshot(&t.p, t.workdir());
        t.env(V2);
        t.p.run(&["deploy", "remote"]).success();
        let v2 = snapshot(&t.p, t.workdir());
        assert_ne!(v1, v2);
        assert_private(&t.store());

        t.p.run(&["rollback", "-P", "remote"])
            .success()
            .stdout_contains("↩️ target: Would roll back component transact (52 paths would be restored)")
            .stdout_contains("/work/transact/files/f49.txt")
            .stdout_contains("target: rollback predicted; nothing was changed")
            .no_panic();
        assert_eq!(snapshot(&t.p, t.workdir()), v2, "-P changed nothing");

        t.p.run(&["rollback", "remote"])
            .success()
            .stdout_contains("↩️ target: Rolled back component transact (52 paths restored)")
            .stdout_contains("/work/transact/current")
            .stdout_contains("target: rolled back")
            .no_panic();
        assert_eq!(snapshot(&t.p, t.workdir()), v1, "version 1 is back, stat for stat");
        assert!(!t.store().join("last").exists(), "the record is consumed");
        super::super::background::wait_until_no_agent(&t.lock(), std::time::Duration::from_secs(60));
        super::super::background::assert_lock_free(&t.lock());

        t.p.run(&["rollback", "remote"])
            .success()
            .stdout_contains("target: nothing to undo");
        assert_eq!(snapshot(&t.p, t.workdir()), v1);
        assert_eq!(
            history_outcomes(&t.p, "remote", "target"),
            ["ok", "ok", "rolled-back"]
        );
    }
}

#[test]
fn a_file_edited_since_refuses_the_rollback_and_force_overrides() {
    let p = Project::new();
    local_env(&p, "", "");
    p.run(&["deploy", "local"]).success();
    let v1 = snapshot(&p, "work/transact");
    local_env(&p, V2, "");
    p.run(&["deploy", "local"]).success();
    assert_private(&p.path().join("lock/undo"));
    p.write("work/transact/files/f07.txt", "edited by hand\n");
    let edited = snapshot(&p, "work/transact");

    p.run(&["rollback", "local"])
        .code(8)
        .stdout_contains("localhost: refused: 1 files changed since the last deploy")
        .stderr_contains(
            "files changed since the last deploy; nothing was rolled back (--force overrides)",
        )
        .stderr_contains("/work/transact/files/f07.txt: content changed")
        .stderr_lacks("panicked");
    assert_eq!(
        snapshot(&p, "work/transact"),
        edited,
        "refused: nothing changed"
    );

    p.run(&["rollback", "--force", "local"])
        .success()
        .stdout_contains("localhost: --force: overwriting 1 files changed since the deploy")
        .stdout_contains("↩️ localhost: Rolled back component transact (52 paths restored)");
    assert_eq!(p.read("work/transact/files/f07.txt"), "v1 file 7\n");
    // The hand edit is lost (that is what --force says); the rest is back
    // stat for stat.
    let mut now = snapshot(&p, "work/transact");
    let mut want = v1.clone();
    let f07 = PathBuf::from("work/transact/files/f07.txt");
    now.remove(&f07);
    want.remove(&f07);
    assert_eq!(now, want);
    assert_eq!(
        history_outcomes(&p, "local", "localhost"),
        ["ok", "ok", "rolled-back"]
    );
}

#[test]
fn a_record_over_rollback_limit_is_not_kept_and_the_deploy_says_so() {
    let p = Project::new();
    local_env(&p, "", "rollback_limit = 0\n");
    p.run(&["deploy", "local"]).success();
    local_env(&p, V2, "rollback_limit = 0\n");
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("WARN: rollback_limit = 0: no undo record is kept, so batou rollback cannot undo this deploy");
    assert!(!p.path().join("lock/undo/last").exists());
    p.run(&["rollback", "local"])
        .success()
        .stdout_contains("localhost: nothing to undo");
    assert_eq!(p.read("work/transact/files/f07.txt"), "v2 file 7\n");
}

/// A local environment deploying `service` for `m`'s user.
fn service_env(p: &Project, m: &user_manager::UserManager, version: &str) {
    p.write(
        "environments/local.cfg",
        &format!(
            "{LOCAL}deploy_lock = {}/lock/deploy.lock\n[hosts]\nlocalhost = service\n\
             [component:service]\nversion = {version}\nuser = {}\nruntime_dir = {}\n",
            p.path().display(),
            m.user,
            m.runtime_dir.display()
        ),
    );
}

#[test]
fn rollback_restores_the_old_config_and_restarts_the_systemd_user_service() {
    let m = user_manager::UserManager::start();
    let p = Project::new();
    service_env(&p, &m, "1");
    p.run(&["deploy", "local"]).success();
    let first = m.main_pid("bt-app.service");
    assert!(first > 0, "the service runs");
    service_env(&p, &m, "2");
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("restarted bt-app.service");
    let second = m.main_pid("bt-app.service");
    assert!(second > 0 && second != first, "{first} {second}");
    assert_eq!(p.read("work/service/app.conf"), "version = 2\n");

    p.run(&["rollback", "-P", "local"])
        .success()
        .stdout_contains("revert handler would run: Service > SystemdUnit('bt-app.service'): restart with the old unit");
    assert_eq!(m.main_pid("bt-app.service"), second, "-P restarted nothing");

    p.run(&["rollback", "local"])
        .success()
        .stdout_contains("/work/service/app.conf")
        .stdout_contains("revert handler ran: Service > SystemdUnit('bt-app.service'): restart with the old unit");
    assert_eq!(p.read("work/service/app.conf"), "version = 1\n");
    let third = m.main_pid("bt-app.service");
    assert!(
        third > 0 && third != second,
        "restarted by the revert handler: {second} {third}"
    );
    assert!(m.is_active("bt-app.service"));
}
