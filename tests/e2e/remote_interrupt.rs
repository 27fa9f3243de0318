//! Deploys over real OpenSSH that something interrupts: the connection is
//! killed in the middle (the agent dies, or the controller's ssh client
//! does), and a second deploy to the same host while one runs.

use std::path::PathBuf;

use super::background::{Background, children, comm, is_agent, no_half_written_files, signal};
use super::remote::{both_transports, private_dirs, ssh_project};
use super::support::Project;
use crate::remote_support::SshServer;

/// The sleeper on host `target`, sleeping `seconds` in its update.
fn sleeper_env(method: &str, dirs: &str, seconds: u64) -> String {
    format!(
        "[environment]\nconnect_method = {method}\n{dirs}\n\
         [host:target]\ncomponents = sleeper\n\n[component:sleeper]\nseconds = {seconds}\n"
    )
}

fn lock_of(p: &Project) -> PathBuf {
    p.path().join("remote/lock/deploy.lock")
}

fn sleeper_file(p: &Project, name: &str) -> PathBuf {
    p.path().join("remote/target/work/sleeper").join(name)
}

both_transports! {
    /// The agent dies in the middle of a root (its connection with it):
    /// the controller says the connection to `target` was lost (exit 4);
    /// the next deploy converges.
    fn the_agent_killed_mid_deploy_is_reported_and_the_next_deploy_converges(method: &str) {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        let dirs = private_dirs(&p);
        p.write("environments/remote.cfg", &sleeper_env(method, &dirs, 30));
        let mut running = Background::start(&p, &["deploy", "remote"], lock_of(&p));
        running.wait_for(&sleeper_file(&p, "started"));
        let agent = running.agent_pid();
        assert!(is_agent(agent), "the lock names the running agent {agent}");
        assert_eq!(signal(agent, libc::SIGKILL), 0);
        let (stdout, _) = running.finish_connection_lost("target");
        assert!(stdout.contains("DEPLOYMENT FAILED (during deploy)"), "{stdout}");
        assert!(!sleeper_file(&p, "done").exists());
        no_half_written_files(&p.path().join("remote/target"));

        p.write("environments/remote.cfg", &sleeper_env(method, &dirs, 0));
        // The killed agent's lock is recognised as stale, and said so.
        p.run(&["deploy", "remote"])
            .success()
            .stdout_contains("did not end cleanly; its stale lock was taken over")
            .stdout_lacks("Uploaded agent");
        assert_eq!(p.read("remote/target/work/sleeper/done"), "slept\n");
        no_half_written_files(&p.path().join("remote/target"));

        // The deploy history: the killed agent's record stayed open
        // (interrupted, no end), the next deploy's is closed and ok; the
        // controller, which lost the host, closed its copy as interrupted.
        let records = |path: &str| -> Vec<serde_json::Value> {
            p.read(path).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        };
        let target = records("remote/lock/history.jsonl");
        assert_eq!(target.len(), 2, "{target:?}");
        assert_eq!(target[0]["outcome"], "interrupted", "{target:?}");
        assert!(target[0]["ended"].is_null(), "{target:?}");
        assert_eq!(target[1]["outcome"], "ok", "{target:?}");
        assert!(target[1]["ended"].is_u64(), "{target:?}");
        let copy = records(".batou/history/remote.jsonl");
        assert_eq!(copy.len(), 2, "{copy:?}");
        assert_eq!(copy[0]["id"], target[0]["id"]);
        assert_eq!(copy[0]["outcome"], "interrupted", "{copy:?}");
        assert!(copy[0]["ended"].is_u64(), "{copy:?}");
        assert_eq!(copy[1]["outcome"], "ok", "{copy:?}");
    }
}

/// The controller's own `ssh` client dies in the middle of a deploy: the
/// controller reports the lost connection (exit 4). The agent on the
/// target finishes the root it runs and holds the target's lock until
/// then: a deploy meanwhile is refused naming it, and `--break-lock`
/// converges at once.
#[test]
fn the_ssh_client_killed_mid_deploy_is_reported_and_break_lock_converges() {
    let server = SshServer::start();
    let p = ssh_project(&server.ssh_config(), "");
    let dirs = private_dirs(&p);
    p.write("environments/remote.cfg", &sleeper_env("ssh", &dirs, 30));
    let mut running = Background::start(&p, &["deploy", "remote"], lock_of(&p));
    running.wait_for(&sleeper_file(&p, "started"));
    let clients: Vec<u32> = children(running.pid())
        .into_iter()
        .filter(|c| comm(*c) == "ssh")
        .collect();
    assert_eq!(
        clients.len(),
        1,
        "one ssh client for the one host: {clients:?}"
    );
    assert_eq!(signal(clients[0] as i32, libc::SIGKILL), 0);
    running.finish_connection_lost("target");
    assert!(!sleeper_file(&p, "done").exists());
    no_half_written_files(&p.path().join("remote/target"));

    // The orphaned agent still sleeps, holding the lock.
    let orphan = running.agent_pid();
    assert!(is_agent(orphan), "the agent {orphan} still runs its root");
    p.write("environments/remote.cfg", &sleeper_env("ssh", &dirs, 0));
    p.run(&["deploy", "remote"])
        .code(5)
        .stderr_contains("target: another deploy is running")
        .stderr_contains(&format!("(agent pid {orphan})"))
        .stderr_contains("--break-lock");
    p.run(&["deploy", "--break-lock", "remote"]).success();
    assert_eq!(p.read("remote/target/work/sleeper/done"), "slept\n");
    assert!(!is_agent(orphan), "--break-lock ended the orphaned agent");
    no_half_written_files(&p.path().join("remote/target"));
}

both_transports! {
    /// Two projects deploy to one host (same target directory and deploy
    /// lock): the second is refused at once (exit 5), naming the holder.
    fn a_second_deploy_to_a_busy_host_is_refused_naming_the_holder(method: &str) {
        let server = SshServer::start();
        let first = ssh_project(&server.ssh_config(), "");
        let dirs = private_dirs(&first);
        first.write("environments/remote.cfg", &sleeper_env(method, &dirs, 30));
        let mut running = Background::start(&first, &["deploy", "remote"], lock_of(&first));
        running.wait_for(&sleeper_file(&first, "started"));

        let second = ssh_project(
            &server.ssh_config(),
            &sleeper_env(method, &dirs, 0),
        );
        let holder = format!(
            "root@{} (pid {}), started 20",
            batou_core::remote::agent::hostname(),
            running.pid()
        );
        let out = second
            .run(&["deploy", "remote"])
            .code(5)
            .stderr_contains("ERROR: target: another deploy is running")
            .stderr_contains(&holder)
            .stderr_contains(&format!("(agent pid {})", running.agent_pid()))
            .stderr_contains("--break-lock")
            .stdout_lacks("Scheduling component");
        assert_eq!(out.error_count(), 1, "{}", out.stderr);
        assert!(!sleeper_file(&first, "done").exists());
        // The first deploy goes on undisturbed.
        assert!(running.child.as_mut().unwrap().try_wait().unwrap().is_none());
        assert!(is_agent(running.agent_pid()));
    }
}
