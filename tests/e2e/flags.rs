//! The deploy flags without a home elsewhere: `-t/--timeout`,
//! `--command-timeout`, `--connect-timeout`, the long forms of `-j` and
//! `-d`, and `--version`. (`-c`, `-P`, `-L`, `-p`, `--json`, `--exit-code`,
//! narrowing, `--no-progress` and `--break-lock` are tested with their
//! topics: predict_check, platforms, cli, progress, remote_interrupt.)

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::remote::{both_transports, private_dirs};
use super::support::{LOCAL, Project};

#[test]
fn timeout_overrides_the_environments() {
    let p = Project::new().env(
        "t",
        &format!(
            "{LOCAL}timeout = 30\n[hosts]\nlocalhost = hello\n\
             [component:hello]\ntext = timeout={{{{ environment.timeout }}}}\n"
        ),
    );
    p.run(&["deploy", "t"]).success();
    assert_eq!(p.read("work/hello/hello.txt"), "timeout=30\n");
    p.run(&["deploy", "-t", "7", "t"]).success();
    assert_eq!(p.read("work/hello/hello.txt"), "timeout=7\n");
    p.run(&["deploy", "--timeout", "9", "t"]).success();
    assert_eq!(p.read("work/hello/hello.txt"), "timeout=9\n");
    p.run(&["deploy", "-t", "soon", "t"])
        .code(2)
        .stderr_contains("invalid value 'soon'");
}

#[test]
fn command_timeout_limits_commands() {
    let p = Project::new().env(
        "cmd",
        &format!(
            "{LOCAL}command_timeout = 600\n[hosts]\nlocalhost = shell\n\
             [component:shell]\ncmd = sleep 60 && touch slept\n"
        ),
    );
    p.run(&["deploy", "--command-timeout", "1", "cmd"])
        .code(1)
        .stderr_contains("timed out after 1s")
        .stdout_contains("DEPLOYMENT FAILED");
    p.assert_missing("work/shell/slept");
    // A command that finishes in time is not affected.
    p.write(
        "environments/cmd.cfg",
        &format!("{LOCAL}[hosts]\nlocalhost = shell\n[component:shell]\ncmd = touch done\n"),
    );
    p.run(&["deploy", "--command-timeout", "30", "cmd"])
        .success();
    p.assert_exists("work/shell/done");
}

#[test]
fn long_forms_of_jobs_and_debug() {
    Project::example()
        .run(&["--debug", "deploy", "--jobs", "2", "-c", "local"])
        .success()
        .stdout_contains("Number of jobs: 2");
    // Global: after the subcommand too.
    Project::example()
        .run(&["deploy", "-c", "local", "-d"])
        .success()
        .stdout_contains("Number of jobs: 1");
}

#[test]
fn version_and_help() {
    let p = Project::new();
    for flag in ["--version", "-V"] {
        p.run(&[flag])
            .success()
            .stdout_contains(&format!("batou {}", env!("CARGO_PKG_VERSION")));
    }
    p.run(&["deploy", "-h"])
        .success()
        .stdout_contains("--no-progress")
        .stdout_contains("--connect-timeout");
}

both_transports! {
    /// A host whose TCP port accepts connections (the kernel completes
    /// them on a listening socket) but never says a word: the environment
    /// would wait an hour for its SSH banner; `--connect-timeout 1` gives up
    /// after a second and names the host. Had the flag no effect, the
    /// deploy would still be waiting at the watchdog below.
    fn connect_timeout_overrides_the_environments(method: &str) {
        let silent = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let port = silent.local_addr().unwrap().port();
        let p = Project::new().file(
            "ssh_config",
            &format!(
                "Host silent\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  BatchMode yes\n  \
                 UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
            ),
        );
        p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {method}\nconnect_timeout = 3600\n{}\n\
                 [hosts]\nsilent = hello\n",
                private_dirs(&p)
            ),
        );
        let mut child = p
            .command(&["deploy", "--connect-timeout", "1", "remote"], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the deploy");
        let watchdog = Instant::now() + Duration::from_secs(300);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > watchdog {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "--connect-timeout 1 did not apply: still connecting after 300s\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("silent"), "{stderr}");
        drop(silent);
    }
}

/// Timeouts at the limits of their types are "never" (#15 bug 8): before,
/// adding one to the clock overflowed and batou died with exit 70.
#[test]
fn huge_command_timeouts_mean_no_limit() {
    let env = |timeout: &str| {
        format!(
            "{LOCAL}command_timeout = {timeout}\n[hosts]\nlocalhost = shell\n\
             [component:shell]\ncmd = touch ran\n"
        )
    };
    let p = Project::new().env("cmd", &env("9223372036854775807"));
    p.run(&["deploy", "cmd"]).success();
    p.assert_exists("work/shell/ran");
    p.write("environments/cmd.cfg", &env("18446744073709551615"));
    p.run(&["deploy", "cmd"]).success();
    p.run(&["deploy", "--command-timeout", "18446744073709551615", "cmd"])
        .success();
    p.run(&["deploy", "-t", "18446744073709551615", "cmd"])
        .success();
}

both_transports! {
    /// The same for the connect timeout, which bounds the agent's start.
    fn huge_connect_timeout_means_no_limit(method: &str) {
        let server = crate::remote_support::SshServer::start();
        let p = crate::e2e::remote::ssh_project(&server.ssh_config(), "");
        p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {method}\n\
                 connect_timeout = 18446744073709551615\n\
                 command_timeout = 18446744073709551615\n{}\n\
                 [hosts]\ntarget = shell\n[component:shell]\ncmd = touch ran\n",
                private_dirs(&p)
            ),
        );
        p.run(&["deploy", "remote"]).success();
        p.run(&["deploy", "--connect-timeout", "18446744073709551615", "remote"])
            .success();
        p.assert_exists("remote/target/work/shell/ran");
    }
}
