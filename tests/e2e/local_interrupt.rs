//! Ctrl-C during a local deploy (#15 bug 9): like a remote one, the first
//! lets the running command finish, starts nothing new and exits 130
//! naming what was not deployed, with the transcript's verdict (and with
//! `--json` an `interrupted` summary); the second stops at once and takes
//! the running command (its own process group) with it. With revert on
//! (the default) the running root is also put back (#22; see
//! `ctrlc_revert.rs`); `--no-revert` lets it finish.

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::support::{LOCAL, Project};

/// `shell` runs `cmd` (which announces itself with `started`), then
/// `hello` would deploy.
fn project(cmd: &str) -> Project {
    Project::new().env(
        "slow",
        &format!("{LOCAL}[hosts]\nlocalhost = shell, hello\n\n[component:shell]\ncmd = {cmd}\n"),
    )
}

/// The deploy as a shell runs a foreground job: in a process group of its
/// own, which a terminal's Ctrl-C signals as a whole.
fn job(p: &Project, args: &[&str]) -> Child {
    p.command(args, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start the deploy")
}

#[track_caller]
fn wait_for(p: &Project, path: &str, job: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists(path) {
        if let Ok(Some(status)) = job.try_wait() {
            panic!("the deploy ended ({status}) before {path} appeared");
        }
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ctrl_c(job: &Child) {
    // SAFETY: kill(2) on the test's own child's process group.
    assert_eq!(unsafe { libc::kill(-(job.id() as i32), libc::SIGINT) }, 0);
}

/// Whether process `pid` is gone (or a zombie).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn with_no_revert_ctrl_c_lets_the_running_command_finish_and_names_the_rest() {
    let p = project("touch started; sleep 2; touch finished");
    let mut job = job(&p, &["deploy", "--no-revert", "slow"]);
    wait_for(&p, "work/shell/started", &mut job);
    ctrl_c(&job);
    let out = job.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    p.assert_exists("work/shell/finished");
    p.assert_missing("work/hello/hello.txt");
    assert!(
        stderr.contains("ERROR: interrupted (SIGINT); not deployed: localhost: hello"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Interrupted: finishing the running"),
        "{stderr}"
    );
    assert!(
        stdout.contains("DEPLOYMENT FAILED (during deploy)"),
        "{stdout}"
    );
    // The next deploy completes the work.
    p.run(&["deploy", "slow"]).success();
    p.assert_exists("work/hello/hello.txt");
}

#[test]
fn ctrl_c_under_json_ends_with_an_interrupted_summary() {
    let p = project("touch started; sleep 2");
    let mut job = job(&p, &["deploy", "--json", "slow"]);
    wait_for(&p, "work/shell/started", &mut job);
    ctrl_c(&job);
    let out = job.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "summary", "{stdout}");
    assert_eq!(last["status"], "interrupted", "{stdout}");
    // The running root was stopped and put back: it is not deployed
    // either.
    assert!(
        stdout.contains("\"event\":\"error\"")
            && stdout.contains("not deployed: localhost: shell, localhost: hello"),
        "{stdout}"
    );
    assert_eq!(last["reverted"], 1, "{stdout}");
    assert!(
        stdout.contains("\"event\":\"root_reverted\",\"host\":\"localhost\",\"root\":\"shell\""),
        "{stdout}"
    );
}

#[test]
fn ctrl_c_twice_stops_at_once_and_stops_the_running_command() {
    let p = project("echo $$ > started; sleep 60; touch finished");
    let mut job = job(&p, &["deploy", "slow"]);
    wait_for(&p, "work/shell/started", &mut job);
    let shell: i32 = loop {
        // The pid is written right after the file appears.
        if let Ok(pid) = p.read("work/shell/started").trim().parse() {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    ctrl_c(&job);
    std::thread::sleep(Duration::from_millis(200));
    ctrl_c(&job);
    let start = Instant::now();
    let out = job.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGINT),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "did not stop at once"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(shell) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(shell), "the command's shell {shell} was left running");
    p.assert_missing("work/shell/finished");
}
