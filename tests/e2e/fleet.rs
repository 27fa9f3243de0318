//! Host patterns and `batou exec` on this machine: globs, `@tags`,
//! negation and comma lists select exactly the same hosts for `deploy`,
//! `exec` and `run`, `--list-hosts` prints them without connecting, and
//! `exec`'s output formats, exit codes and masking. Over SSH, to
//! namespaced hosts: `fleet_remote.rs`.

use serde_json::Value;

use super::secrets::{encrypt, identity};
use super::support::{LOCAL, Outcome, Project};

/// Hosts `w1`, `w2` (`@web`, `w2` also `@eu`), `d1` (`@db`, `@eu`), `d2`
/// (`@db`), each with the `hello` root.
fn tagged(header: &str) -> String {
    format!(
        "{header}[host:w1]\ncomponents = hello\ntags = web\n\n\
         [host:w2]\ncomponents = hello\ntags = web, eu\n\n\
         [host:d1]\ncomponents = hello\ntags = db, eu\n\n\
         [host:d2]\ncomponents = hello\ntags = db\n"
    )
}

/// The hosts `deploy -P --json` schedules a root on.
fn deployed_hosts(o: &Outcome) -> Vec<String> {
    o.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "root_scheduled")
        .map(|e| e["host"].as_str().unwrap().to_string())
        .collect()
}

/// The hosts `exec --json` ran on.
fn exec_hosts(o: &Outcome) -> Vec<String> {
    let doc: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect()
}

fn listed(o: &Outcome) -> Vec<String> {
    o.stdout
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn globs_tags_and_negation_select_the_same_hosts_for_deploy_exec_and_run() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    let table: &[(&[&str], &[&str])] = &[
        (&[], &["w1", "w2", "d1", "d2"]),
        (&["--hosts", "w*"], &["w1", "w2"]),
        (&["--hosts", "@eu"], &["w2", "d1"]),
        (&["--hosts", "@db,!d2"], &["d1"]),
        (&["--hosts", "!@eu"], &["w1", "d2"]),
        (&["--hosts", "w1", "--hosts", "@db"], &["w1", "d1", "d2"]),
        (&["--hosts", "*1"], &["w1", "d1"]),
        (&["--hosts", "@web", "--skip-hosts", "@eu"], &["w1"]),
        (&["--skip-hosts", "d*,w2"], &["w1"]),
    ];
    for (selection, expected) in table {
        fn with<'a>(cmd: &[&'a str], selection: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
            let mut args = cmd.to_vec();
            args.extend_from_slice(selection);
            args.extend_from_slice(tail);
            args
        }
        let deploy = p
            .run(&with(&["deploy", "-P", "--json"], selection, &["fleet"]))
            .success();
        assert_eq!(deployed_hosts(&deploy), *expected, "deploy {selection:?}");
        let exec = p
            .run(&with(
                &["exec", "--json"],
                selection,
                &["fleet", "--", "true"],
            ))
            .success();
        assert_eq!(exec_hosts(&exec), *expected, "exec {selection:?}");
        let run = p
            .run(&with(&["run", "--json"], selection, &["fleet", "probe"]))
            .success();
        assert_eq!(exec_hosts(&run), *expected, "run {selection:?}");
        for cmd in ["deploy", "exec", "run"] {
            let list = p
                .run(&with(&[cmd, "--list-hosts"], selection, &["fleet"]))
                .success();
            assert_eq!(listed(&list), *expected, "{cmd} --list-hosts {selection:?}");
        }
    }
    p.assert_missing("work/hello");
}

#[test]
fn list_hosts_prints_tags_and_ignored_hosts_without_connecting() {
    // Nothing answers at this domain: listing must not try.
    let header = "[environment]\nconnect_method = ssh\nhost_domain = nowhere.invalid\nconnect_timeout = 30\n";
    let env = format!(
        "{}[host:x9]\ncomponents = hello\nignore = True\n",
        tagged(header)
    );
    let p = Project::new().env("far", &env);
    let started = std::time::Instant::now();
    let o = p.run(&["exec", "far", "--list-hosts"]).success();
    assert_eq!(
        o.stdout,
        "w1 @web\nw2 @web @eu\nd1 @db @eu\nd2 @db\nx9 (ignored)\n"
    );
    p.run(&["deploy", "far", "--hosts", "@eu", "--list-hosts"])
        .success()
        .stdout_contains("w2 @web @eu\nd1 @db @eu\n");
    assert!(started.elapsed().as_secs() < 20, "it connected");
}

#[test]
fn a_pattern_selecting_nothing_is_a_usage_error_for_every_command() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    for (cmd, tail) in [
        ("deploy", &[][..]),
        ("exec", &["--", "true"]),
        ("run", &["probe"]),
    ] {
        let run = |pattern: &str| {
            let mut args = vec![cmd, "--hosts", pattern, "fleet"];
            args.extend_from_slice(tail);
            p.run(&args).code(2)
        };
        run("x*").stderr_contains("host pattern `x*` matches no host (known: w1, w2, d1, d2)");
        run("@us").stderr_contains("unknown tag `@us` (known tags: web, eu, db)");
        run("@web,!w*").stderr_contains("the host selection `@web,!w*` selects no host");
        run("nope").stderr_contains("unknown host `nope`");
    }
    p.assert_missing("work/hello");
}

#[test]
fn tags_are_a_known_host_key() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    p.run(&["deploy", "-c", "fleet"])
        .success()
        .stdout_lacks("unknown key")
        .stderr_lacks("unknown key");
}

/// `exec` here (`connect_method = local`): one answer per host.
fn local_exec(p: &Project, args: &[&str]) -> Outcome {
    let mut all = vec!["exec", "fleet"];
    all.extend_from_slice(args);
    p.run(&all)
}

#[test]
fn exec_reports_each_status_with_stdout_and_stderr_apart() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    let o = local_exec(
        &p,
        &[
            "--json",
            "--hosts",
            "w*",
            "--",
            "echo out; echo err >&2; exit 3",
        ],
    )
    .code(7);
    let doc: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(doc["command"], "echo out; echo err >&2; exit 3");
    for h in doc["hosts"].as_array().unwrap() {
        assert_eq!(h["result"], "exited", "{h}");
        assert_eq!(h["exit_code"], 3, "{h}");
        assert_eq!(h["stdout"], "out\n", "{h}");
        assert_eq!(h["stderr"], "err\n", "{h}");
        assert!(h["seconds"].as_f64().unwrap() > 0.0, "{h}");
    }
    assert_eq!(doc["summary"]["failed"], serde_json::json!(["w1", "w2"]));
    assert_eq!(doc["summary"]["exit_code"], 7);
    assert_eq!(doc["summary"]["status"], "command_failed");

    let o = local_exec(
        &p,
        &[
            "--hosts",
            "w1",
            "--format",
            "%h|%r|%s|%o|%e\\n",
            "--",
            "echo o; echo e >&2",
        ],
    )
    .success();
    assert_eq!(o.stdout, "w1|ok|0|o\n|e\n\n");
    assert!(o.stderr.contains("exec: 1 of 1 hosts ok"), "{}", o.stderr);

    let o = local_exec(
        &p,
        &[
            "--stream",
            "--hosts",
            "d1",
            "--",
            "echo a; echo b >&2; echo c; echo d >&2",
        ],
    )
    .success();
    // stdout and stderr are two pipes: each keeps its own order, but which
    // of them is read first is up to the scheduler.
    let lines: Vec<&str> = o.stdout.lines().collect();
    let of = |mark: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(mark))
            .collect()
    };
    assert_eq!(of("d1: "), ["d1: a", "d1: c"], "{}", o.stdout);
    assert_eq!(of("d1! "), ["d1! b", "d1! d"], "{}", o.stdout);
    assert_eq!(lines.len(), 4, "{}", o.stdout);

    local_exec(&p, &["--hosts", "d2", "--", "exit 1"])
        .code(7)
        .stdout_contains("=== d2: failed (exit 1, ")
        .stderr_contains("not ok: d2 (exit 1)");
}

#[test]
fn exec_kills_a_command_at_the_timeout() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    let started = std::time::Instant::now();
    let o = local_exec(
        &p,
        &[
            "--json",
            "--hosts",
            "w1",
            "--command-timeout",
            "1",
            "--",
            "sleep 30",
        ],
    )
    .code(7);
    assert!(started.elapsed().as_secs() < 15, "not killed");
    let doc: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(doc["hosts"][0]["result"], "timed_out");
    assert_eq!(doc["summary"]["timed_out"], serde_json::json!(["w1"]));
}

#[test]
fn exec_masks_secrets_in_the_command_and_its_output() {
    let secret = format!("fleetCanary{}Zq", std::process::id());
    let p = Project::new();
    p.write(
        "environments/sec/environment.cfg",
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = evil\n\n[component:evil]\ncase = file\n",
    );
    encrypt(&p, &format!("[evil]\nsecret = {secret}\n"));
    let identity = identity();
    let vars = [("BATOU_AGE_IDENTITIES", identity.as_str())];
    let command = format!("echo {secret}; echo {secret} >&2; exit 2");
    for mode in [&[][..], &["--stream"], &["--json"]] {
        let mut args = vec!["exec", "sec"];
        args.extend_from_slice(mode);
        args.extend(["--", &command]);
        let o = p.run_with(&args, &vars).code(7);
        assert!(
            !o.stdout.contains(&secret) && !o.stderr.contains(&secret),
            "{mode:?} leaked:\n{}\n{}",
            o.stdout,
            o.stderr
        );
        assert!(o.stdout.contains("********"), "{mode:?}: {}", o.stdout);
    }
}

#[test]
fn exec_takes_the_deploy_lock_only_with_lock() {
    let p = Project::new();
    let lock = p.path().join("lock/deploy.lock");
    p.write(
        "environments/fleet.cfg",
        &tagged(&format!("{LOCAL}deploy_lock = {}\n", lock.display())),
    );
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // A deploy holding the lock, as an agent holds it: flock(2) on the file.
    // One process (exec'd), so killing it frees the lock.
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 9>>\"$1\" && flock 9 && exec sleep 60", "sh"])
        .arg(&lock)
        .spawn()
        .expect("sh");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let held = loop {
        let probe = std::process::Command::new("flock")
            .args(["-n"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap();
        if !probe.success() || std::time::Instant::now() > deadline {
            break !probe.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let beside = local_exec(&p, &["--hosts", "w1", "--", "echo looked"]);
    let locked = local_exec(
        &p,
        &[
            "--json",
            "--lock",
            "--hosts",
            "w1",
            "--",
            "echo ran > ran.txt",
        ],
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(held, "the test's flock did not take the lock");
    beside.success().stdout_contains("looked\n");
    let locked = locked.code(5);
    let doc: Value = serde_json::from_str(locked.stdout.trim()).unwrap();
    assert_eq!(doc["hosts"][0]["result"], "locked", "{doc}");
    assert_eq!(doc["summary"]["locked"], serde_json::json!(["w1"]));
    p.assert_missing("ran.txt");

    // Free again: --lock runs the command.
    local_exec(&p, &["--lock", "--hosts", "w1", "--", "echo free"])
        .success()
        .stdout_contains("free\n");
}

#[test]
fn ctrl_c_stops_every_running_command_and_exits_130() {
    let p = Project::new().env("fleet", &tagged(LOCAL));
    let child = p
        .command(
            &[
                "exec",
                "fleet",
                "--json",
                "--hosts",
                "w*",
                "--",
                "echo $$ >> pids; exec sleep 60",
            ],
            &[],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let pids = loop {
        let text = std::fs::read_to_string(p.path().join("pids")).unwrap_or_default();
        if text.lines().count() == 2 || started.elapsed().as_secs() > 20 {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // SAFETY: signals the batou process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed().as_secs() < 30, "not stopped");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["summary"]["interrupted"],
        serde_json::json!(["w1", "w2"])
    );
    assert_eq!(doc["summary"]["exit_code"], 130);
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        let proc = std::path::Path::new("/proc").join(pid.trim());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while proc.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(!proc.exists(), "the command {pid} still runs");
    }
}
