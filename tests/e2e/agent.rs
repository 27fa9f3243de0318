//! The agent path without ssh: `connect_method = subprocess` is a transport
//! the test deployment registers itself (the plugin API), running the
//! agent as a local subprocess. Upload once per build, deploy, predict,
//! failures, the target deploy lock, `--break-lock`, and a connection lost
//! in the middle of a deploy.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use super::background::{is_running, signal, temp_files};
use super::support::{BIN, NATIVE_AGENT, Project, built_agent, is_static, native_agent_built};

const EXAMPLE: &str = "\
[environment]
connect_method = subprocess

[host:localhost]
components = backend, frontend
data-role = primary
data-datacenter = home

[component:backend]
address = app.internal:8080

[resolver]
app.internal = 127.0.0.1
";

fn sleeper_env(seconds: u64) -> String {
    format!(
        "[environment]\nconnect_method = subprocess\n\n[hosts]\nlocalhost = sleeper\n\n[component:sleeper]\nseconds = {seconds}\n"
    )
}

fn cached_agents(home: &Path) -> Vec<PathBuf> {
    let dir = home.join(".cache/batou/agents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn sha256_of(path: &Path) -> String {
    batou_core::remote::bootstrap::hash_file(path).expect("hash")
}

/// Waits until `path` exists (the sleeper announces its start), or fails.
#[track_caller]
fn wait_for(path: &Path, child: &mut Child) {
    // The deadline is for the deploy, not for a cold build of the agent
    // (which the controller waits for behind cargo's lock meanwhile).
    native_agent_built();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the background deploy ended early ({status}) before {} appeared",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child
        .wait_with_output()
        .expect("wait for the background deploy");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn holder_agent_pid(home: &Path) -> i32 {
    let text = std::fs::read_to_string(home.join(".batou/deploy.lock"))
        .expect("the deploy lock names its holder");
    let holder: serde_json::Value = serde_json::from_str(text.trim()).expect("holder JSON");
    holder["agent_pid"].as_i64().expect("agent_pid") as i32
}

#[test]
fn deploys_through_the_agent_and_uploads_it_only_once() {
    let p = Project::new().env("prod", EXAMPLE);
    let home = p.path().join("home");
    p.run(&["deploy", "prod"])
        .success()
        .stdout_contains("📦 localhost: Uploaded agent")
        .stdout_contains("DEPLOYMENT FINISHED");
    let conf = p.read("home/deployment/work/backend/etc/backend.conf");
    assert!(conf.contains("listen = 127.0.0.1:8080"), "{conf}");
    assert!(conf.contains("role = primary"), "{conf}");
    assert!(
        p.read("home/deployment/work/frontend/frontend.conf")
            .contains("upstream localhost = 127.0.0.1:8080")
    );

    let agents = cached_agents(&home);
    assert_eq!(agents.len(), 1, "{agents:?}");
    let mode = std::fs::metadata(&agents[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // The agent is the static build of this deployment for this
    // machine's architecture, built by the controller.
    let built = built_agent(NATIVE_AGENT);
    assert_eq!(
        sha256_of(&agents[0]),
        sha256_of(&built),
        "the cached agent is the static build of this deployment"
    );
    assert_ne!(sha256_of(&agents[0]), sha256_of(Path::new(BIN)));
    assert!(
        is_static(&agents[0]),
        "{} needs a loader",
        agents[0].display()
    );
    let name = agents[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(name, format!("batou-agent-{}", sha256_of(&built)));
    let before = std::fs::metadata(&agents[0]).unwrap().modified().unwrap();

    p.run(&["deploy", "prod"])
        .success()
        .stdout_contains("Nothing changed.")
        .stdout_lacks("Uploaded agent");
    assert_eq!(cached_agents(&home), agents);
    assert_eq!(
        std::fs::metadata(&agents[0]).unwrap().modified().unwrap(),
        before,
        "the cached agent was not rewritten"
    );
}

#[test]
fn summary_shows_hosts_and_roots_with_timings() {
    let p = Project::new().env("prod", EXAMPLE);
    let out = p.run(&["deploy", "prod"]).success();
    let summary = out
        .stdout
        .split("Summary")
        .nth(1)
        .expect("a summary section")
        .to_string();
    assert!(summary.contains("localhost: connect="), "{summary}");
    assert!(summary.contains("    backend "), "{summary}");
    assert!(summary.contains("    frontend "), "{summary}");
    assert!(summary.contains("agent uploaded"), "{summary}");
}

#[test]
fn predict_through_the_agent_shows_the_diff_and_writes_nothing() {
    let p = Project::new().env("prod", EXAMPLE);
    p.run(&["deploy", "prod"]).success();
    let index = "home/deployment/work/frontend/htdocs/index.html";
    let before = p.states_under("home/deployment");
    p.write(
        "environments/prod.cfg",
        &format!("{EXAMPLE}\n[component:frontend]\ntitle = Changed\n"),
    );
    p.run(&["deploy", "-P", "prod"])
        .success()
        .stdout_contains("Predicting deployment actions")
        .stdout_contains("index.html -<title>Example</title>")
        .stdout_contains("index.html +<title>Changed</title>")
        .stdout_contains("DEPLOYMENT PREDICTION FINISHED");
    assert!(p.read(index).contains("<title>Example</title>"));
    assert_eq!(
        p.states_under("home/deployment"),
        before,
        "predict wrote nothing"
    );
}

#[test]
fn a_failing_component_on_the_agent_fails_the_deploy() {
    let p = Project::new().env(
        "prod",
        "[environment]\nconnect_method = subprocess\n[hosts]\nlocalhost = failing\n",
    );
    p.run(&["deploy", "prod"])
        .code(1)
        .stderr_contains("host: localhost")
        .stderr_contains("Failing")
        .stdout_contains("DEPLOYMENT FAILED (during deploy)");
}

#[test]
fn a_second_deploy_to_the_same_target_is_refused_naming_the_holder() {
    let first = Project::new().env("prod", &sleeper_env(30));
    let home = first.path().join("home");
    let mut running = first
        .command(&["deploy", "prod"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&home.join("deployment/work/sleeper/started"), &mut running);

    // Another project (so the controller's own project lock is not what
    // stops it) deploying to the same target: same HOME on the same host.
    let second = Project::new().env("prod", &sleeper_env(0));
    let home_str = home.to_string_lossy().into_owned();
    let out = second
        .run_with(&["deploy", "prod"], &[("HOME", &home_str)])
        .code(5);
    assert!(
        out.stderr.contains("localhost: another deploy is running"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("(pid "),
        "the holder's pid is named: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("started 20"),
        "the start time is named: {}",
        out.stderr
    );
    assert!(out.stderr.contains("--break-lock"), "{}", out.stderr);
    assert!(!home.join("deployment/work/sleeper/done").exists());

    running.kill().unwrap();
    let _ = finish(running);
}

#[test]
fn break_lock_takes_over_from_a_hung_deploy() {
    let first = Project::new().env("prod", &sleeper_env(60));
    let home = first.path().join("home");
    let mut running = first
        .command(&["deploy", "prod"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&home.join("deployment/work/sleeper/started"), &mut running);
    let hung_agent = holder_agent_pid(&home);

    let second = Project::new().env("prod", &sleeper_env(0));
    let home_str = home.to_string_lossy().into_owned();
    second
        .run_with(&["deploy", "--break-lock", "prod"], &[("HOME", &home_str)])
        .success();
    assert_eq!(
        std::fs::read_to_string(home.join("deployment/work/sleeper/done")).unwrap(),
        "slept\n"
    );
    assert!(
        !is_running(hung_agent),
        "the hung agent {hung_agent} was terminated"
    );

    let (code, _, stderr) = finish(running);
    assert_ne!(
        code,
        Some(0),
        "the deploy whose agent was ended failed: {stderr}"
    );
}

#[test]
fn a_connection_lost_mid_deploy_is_reported_and_the_next_deploy_converges() {
    let p = Project::new().env("prod", &sleeper_env(60));
    let home = p.path().join("home");
    let mut running = p
        .command(&["deploy", "prod"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&home.join("deployment/work/sleeper/started"), &mut running);
    let agent = holder_agent_pid(&home);
    // The connection dies with the agent.
    signal(agent, libc::SIGKILL);
    let started = Instant::now();
    let (code, stdout, stderr) = finish(running);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "noticed within seconds"
    );
    assert_eq!(code, Some(4), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("localhost: connection lost during the deploy"),
        "{stderr}"
    );
    assert!(
        stdout.contains("DEPLOYMENT FAILED (during deploy)"),
        "{stdout}"
    );
    assert!(!home.join("deployment/work/sleeper/done").exists());
    let leftovers = temp_files(&home.join("deployment"));
    assert!(leftovers.is_empty(), "no half-written files: {leftovers:?}");

    p.write("environments/prod.cfg", &sleeper_env(0));
    // The killed agent's lock is recognised as stale, and said so.
    p.run(&["deploy", "prod"])
        .success()
        .stdout_contains("WARN: the previous deploy (")
        .stdout_contains("did not end cleanly; its stale lock was taken over");
    // A clean deploy leaves nothing stale behind.
    p.run(&["deploy", "prod"])
        .success()
        .stdout_lacks("did not end cleanly");
    assert_eq!(p.read("home/deployment/work/sleeper/done"), "slept\n");
}
