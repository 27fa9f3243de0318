//! Transactional roots (issue #22, docs/transactions.md): a root that
//! fails is put back as it was, stat for stat; a root whose agent is
//! killed is put back by the next deploy; what cannot be undone (a
//! command) is named; the undo store is private.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::background::{
    Background, assert_lock_free, children, signal, temp_files, wait_until_no_agent,
};
use super::remote::{both_transports, private_dirs, ssh_project};
use super::support::{FileState, LOCAL, Project};
use crate::remote_support::SshServer;

/// The `transact` settings of version 2: every file, the link and the
/// mode differ from version 1 (the defaults).
pub(super) const V2: &str = "version = v2\nlink = files/f07.txt\nmode = 0600\n";

/// Every path under `dir` with what a restore can keep: kind, inode,
/// mode, size, mtime, content (not the ctime, which only the kernel
/// sets).
pub(super) fn snapshot(p: &Project, dir: &str) -> BTreeMap<PathBuf, FileState> {
    p.states_under(dir)
        .into_iter()
        .map(|(k, mut v)| {
            v.ctime = (0, 0);
            (k, v)
        })
        .collect()
}

/// The records left in an undo store (none after a root ends).
fn undo_records(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store.join("active"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A remote project deploying `transact` to host `target`.
pub(super) struct Target {
    _server: SshServer,
    pub(super) p: Project,
    method: String,
    dirs: String,
}

impl Target {
    pub(super) fn new(method: &str) -> Target {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        let dirs = private_dirs(&p);
        Target {
            _server: server,
            p,
            method: method.into(),
            dirs,
        }
    }

    pub(super) fn env(&self, component: &str) {
        self.p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {}\n{}\n[host:target]\ncomponents = transact\n\n[component:transact]\n{component}",
                self.method, self.dirs
            ),
        );
    }

    pub(super) fn lock(&self) -> PathBuf {
        self.p.path().join("remote/lock/deploy.lock")
    }

    pub(super) fn store(&self) -> PathBuf {
        self.p.path().join("remote/lock/undo")
    }

    pub(super) fn workdir(&self) -> &'static str {
        "remote/target/work/transact"
    }
}

both_transports! {
    /// A root of 50 files, a symlink and a mode change whose last
    /// component fails: afterwards every path is what it was (inode,
    /// mode, size, mtime, content), no temp file or undo record is left,
    /// the lock is free, the exit code is 1 and the transcript lists what
    /// was reverted.
    fn a_failed_root_is_put_back_stat_for_stat(method: &str) {
        let t = Target::new(method);
        t.env("");
        t.p.run(&["deploy", "remote"]).success();
        let before = snapshot(&t.p, t.workdir());
        assert_eq!(before.len(), 54, "50 files, fixed.txt, files/, current, the workdir: {before:#?}");

        t.env(&format!("{V2}fail = true\n"));
        let out = t
            .p
            .run(&["deploy", "remote"])
            .code(1)
            .stderr_contains("ERROR: boom after the files")
            .stdout_contains("↩️ target: Reverted component transact (52 paths restored)")
            .stdout_contains("/work/transact/files/f49.txt")
            .stdout_contains("/work/transact/current")
            .stdout_contains("/work/transact/files/fixed.txt")
            .no_panic();
        assert!(!out.stdout.contains("not reverted"), "{}", out.stdout);
        assert_eq!(snapshot(&t.p, t.workdir()), before, "the root is as it was");
        assert_eq!(temp_files(&t.p.path().join("remote/target")), Vec::<PathBuf>::new());
        assert_eq!(undo_records(&t.store()), Vec::<PathBuf>::new());
        wait_until_no_agent(&t.lock(), std::time::Duration::from_secs(60));
        assert_lock_free(&t.lock());

        // And the version that does not fail then deploys as usual.
        t.env(V2);
        t.p.run(&["deploy", "remote"]).success();
        assert_eq!(t.p.read(&format!("{}/files/f03.txt", t.workdir())), "v2 file 3\n");
        // The host's history says which deploy was reverted.
        assert_eq!(history_outcomes(&t.p, "remote", "target"), ["ok", "reverted", "ok"]);
    }
}

/// The outcomes `batou history --json` reads from `host`'s journal.
pub(super) fn history_outcomes(p: &Project, env: &str, host: &str) -> Vec<String> {
    let o = p.run(&["history", "--json", env]).success();
    let doc: serde_json::Value =
        serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    let hosts = doc["hosts"].as_array().unwrap_or_else(|| panic!("{doc}"));
    let records = hosts
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {doc}"))["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"));
    records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect()
}

both_transports! {
    /// The agent is SIGKILLed mid-root (the files written, a command
    /// running): the undo record is on the target, private (0700 store,
    /// 0600 journal); the next deploy restores it first, says so, and
    /// converges.
    fn a_killed_root_is_put_back_by_the_next_deploy(method: &str) {
        let t = Target::new(method);
        t.env("");
        t.p.run(&["deploy", "remote"]).success();
        let before = snapshot(&t.p, t.workdir());

        let marker = t.p.path().join("running");
        t.env(&format!("{V2}command = touch {}; sleep 300\n", marker.display()));
        let mut running = Background::start(&t.p, &["deploy", "remote"], t.lock());
        running.wait_for(&marker);
        assert_eq!(t.p.read(&format!("{}/files/f03.txt", t.workdir())), "v2 file 3\n");
        let records = undo_records(&t.store());
        assert_eq!(records.len(), 1, "{records:?}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&t.store()), 0o700);
        assert_eq!(mode(&t.store().join("active")), 0o700);
        assert_eq!(mode(&records[0]), 0o700);
        assert_eq!(mode(&records[0].join("journal")), 0o600);

        let agent = running.agent_pid();
        // The shell and its sleep first (they would outlive the agent).
        let shells = children(agent as u32);
        assert_eq!(signal(agent, libc::SIGKILL), 0);
        for shell in shells {
            for sleeper in children(shell) {
                signal(sleeper as i32, libc::SIGKILL);
            }
            signal(shell as i32, libc::SIGKILL);
        }
        running.finish();
        wait_until_no_agent(&t.lock(), std::time::Duration::from_secs(60));
        std::fs::remove_file(&marker).unwrap();

        // The next deploy (of version 1 again) restores, then converges:
        // with the old state back, it has nothing to change.
        t.env("");
        t.p.run(&["deploy", "remote"])
            .success()
            .stdout_contains("the previous deploy was killed while deploying a root; reverted it first (52 paths restored")
            .stdout_contains("not reverted: touch ")
            .stdout_contains("Nothing changed.");
        assert_eq!(snapshot(&t.p, t.workdir()), before);
        assert_eq!(undo_records(&t.store()), Vec::<PathBuf>::new());
        assert_eq!(temp_files(&t.p.path().join("remote/target")), Vec::<PathBuf>::new());
        assert_lock_free(&t.lock());
    }
}

/// A local environment deploying `transact` with `component` settings;
/// the deploy lock (and so the undo store) under the project.
pub(super) fn local_env(p: &Project, component: &str, extra: &str) {
    p.write(
        "environments/local.cfg",
        &format!(
            "{LOCAL}deploy_lock = {}/lock/deploy.lock\n{extra}[hosts]\nlocalhost = transact\n[component:transact]\n{component}",
            p.path().display()
        ),
    );
}

#[test]
fn a_command_before_the_failure_is_listed_as_not_reverted() {
    let p = Project::new();
    local_env(&p, "", "");
    p.run(&["deploy", "local"]).success();
    let before = snapshot(&p, "work/transact");
    local_env(
        &p,
        &format!("{V2}command = echo side effect\nfail = true\n"),
        "",
    );
    p.run(&["deploy", "local"])
        .code(1)
        .stdout_contains("↩️ localhost: Reverted component transact (52 paths restored)")
        .stdout_contains("  not reverted: echo side effect")
        .stderr_contains("ERROR: boom after the files");
    assert_eq!(snapshot(&p, "work/transact"), before);
    assert_eq!(
        undo_records(&p.path().join("lock/undo")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        history_outcomes(&p, "local", "localhost"),
        ["ok", "reverted"]
    );
}

#[test]
fn no_revert_and_revert_false_leave_a_failed_root_as_it_failed() {
    for (flag, extra) in [(Some("--no-revert"), ""), (None, "revert = false\n")] {
        let p = Project::new();
        local_env(&p, "", extra);
        p.run(&["deploy", "local"]).success();
        local_env(&p, &format!("{V2}fail = true\n"), extra);
        let mut args = vec!["deploy", "local"];
        args.extend(flag);
        p.run(&args).code(1).stdout_lacks("Reverted component");
        assert_eq!(
            p.read("work/transact/files/f03.txt"),
            "v2 file 3\n",
            "{flag:?} {extra}"
        );
        assert!(
            !p.path().join("lock/undo/active").exists()
                || undo_records(&p.path().join("lock/undo")).is_empty()
        );
    }
}

#[test]
fn the_json_stream_reports_the_revert() {
    let p = Project::new();
    local_env(&p, &format!("{V2}fail = true\n"), "");
    let out = p.run(&["deploy", "local", "--json"]).code(1);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let reverted = events
        .iter()
        .find(|e| e["event"] == "root_reverted")
        .unwrap_or_else(|| panic!("no root_reverted event:\n{}", out.stdout));
    assert_eq!(reverted["root"], "transact");
    assert_eq!(reverted["recovered"], false);
    // A first deploy: everything it made is removed again, the workdir too.
    assert!(
        reverted["restored"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("/work/transact")),
        "{reverted}"
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["reverted"], 1);
    p.assert_missing("work/transact");
}
