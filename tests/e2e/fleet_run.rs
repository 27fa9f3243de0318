//! `batou run` to three namespaced hosts over SSH, each logged into as
//! its own user who sudoes to the host's service user: a registered
//! command answers with JSON from each host's agent; the stdlib's `facts`
//! reports the hosts' architecture; `verify` reports a file changed by
//! hand as drift on that host only and writes nothing anywhere; an
//! unreachable host is reported while the others answer. On this
//! machine (selection, failures, the text view): `fleet.rs` and below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::remote::both_transports;
use super::remote_hosts::Cluster;
use super::secrets::{encrypt, identity};
use super::support::{LOCAL, Outcome, Project};

/// Hosts h1..h3 with `components` and `data-role = roleK`, reached
/// through `method`.
fn project(cluster: &Cluster, method: &str, components: &str) -> Project {
    let p = cluster.project();
    let env = format!(
        "[environment]\nconnect_method = {method}\nconnect_timeout = 3\n\n{}",
        cluster.host_sections(components, |k| format!("data-role = role{}\n", k + 1))
    );
    p.write("environments/fleet.cfg", &env);
    p
}

/// `run --json fleet ARGS`, the document parsed.
fn run_json(p: &Project, args: &[&str], code: i32) -> (Outcome, Value) {
    let mut all = vec!["run", "--json", "fleet"];
    all.extend_from_slice(args);
    let o = p.run(&all).code(code);
    let doc = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    (o, doc)
}

/// Every file and directory under `dir`: its kind, size, mode and
/// modification time, to show that nothing was written.
fn states(dir: &Path) -> BTreeMap<PathBuf, (bool, u64, u32, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                todo.push(e.path());
            }
            out.insert(
                e.path(),
                (
                    meta.is_dir(),
                    meta.len(),
                    meta.mode(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                ),
            );
        }
    }
    out
}

both_transports! {
    fn a_registered_command_answers_with_json_from_each_hosts_agent(method: &str) {
        let cluster = Cluster::create(3);
        let p = project(&cluster, method, "hello");
        let (_, doc) = run_json(&p, &["probe", "x", "y"], 0);
        assert_eq!(doc["command"], "probe", "{doc}");
        assert_eq!(doc["args"], json!(["x", "y"]), "{doc}");
        let hosts = doc["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 3, "{doc}");
        for (k, h) in hosts.iter().enumerate() {
            let service = &cluster.services[k].name;
            assert_eq!(h["host"], Cluster::name(k), "{h}");
            assert_eq!(h["result"], "ok", "{h}");
            assert_eq!(h["user"], service.as_str(), "{h}");
            // What the agent found out on the host, through its Host handle,
            // and what the model it configured says.
            assert_eq!(
                h["value"],
                json!({
                    "host": Cluster::name(k),
                    "user": service,
                    "role": format!("role{}", k + 1),
                    "hosts": 3,
                    "args": ["x", "y"],
                }),
                "{h}"
            );
        }
        assert_eq!(doc["summary"]["ok"], json!(["h1", "h2", "h3"]));
        assert_eq!(doc["summary"]["exit_code"], 0);
        for service in &cluster.services {
            assert!(service.home.join(".cache/batou/agents").is_dir(), "the agent ran there");
            assert!(!service.home.join(".batou/deploy.lock").exists(), "a lock was taken");
            assert!(!service.home.join("deployment").exists(), "the target directory was made");
        }
        // With --lock the agent takes each host's deploy lock (which
        // leaves its file, emptied).
        let (_, doc) = run_json(&p, &["--lock", "--hosts", "h2", "probe"], 0);
        assert_eq!(doc["hosts"][0]["result"], "ok", "{doc}");
        let lock = cluster.services[1].home.join(".batou/deploy.lock");
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), "", "{}", lock.display());
        assert!(!cluster.services[0].home.join(".batou/deploy.lock").exists());

        // facts: the architecture and kernel these hosts run (the
        // namespaces share this machine's kernel).
        let (_, doc) = run_json(&p, &["--hosts", "h1,h3", "facts"], 0);
        let names: Vec<&str> = doc["hosts"].as_array().unwrap().iter()
            .map(|h| h["host"].as_str().unwrap()).collect();
        assert_eq!(names, ["h1", "h3"]);
        let uname = |flag: &str| {
            let out = std::process::Command::new("uname").arg(flag).output().unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        for h in doc["hosts"].as_array().unwrap() {
            let facts = &h["value"];
            assert_eq!(facts["architecture"], uname("-m"), "{h}");
            assert_eq!(facts["kernel"], uname("-r"), "{h}");
            assert_eq!(facts["os"]["kernel"], "Linux", "{h}");
            assert_eq!(facts["user"], h["user"], "{h}");
            assert!(facts["memory"]["total_bytes"].as_u64().unwrap() > 0, "{h}");
            assert!(facts["disk"]["/"]["total_bytes"].as_u64().unwrap() > 0, "{h}");
            assert!(facts["uptime_seconds"].is_u64(), "{h}");
        }
        assert_eq!(doc["hosts"][1]["value"]["data"], json!({"role": "role3"}));

        // A command that fails on every host: exit 7, each host's error.
        let (o, doc) = run_json(&p, &["probe", "fail"], 7);
        for (k, h) in doc["hosts"].as_array().unwrap().iter().enumerate() {
            assert_eq!(h["result"], "failed", "{h}");
            assert_eq!(h["error"], format!("{} was asked to fail", Cluster::name(k)), "{h}");
        }
        assert!(o.stderr.contains("ERROR: h2: h2 was asked to fail"), "{}", o.stderr);
    }
}

both_transports! {
    fn an_unreachable_host_is_reported_and_the_others_answer(method: &str) {
        let cluster = Cluster::create(3);
        let p = project(&cluster, method, "hello");
        cluster.hosts.hosts[1].set_link(false);
        let result = p.run(&["run", "--json", "fleet", "probe"]);
        let text = p.run(&["run", "fleet", "probe"]);
        cluster.hosts.hosts[1].set_link(true);
        let o = result.code(4);
        let doc: Value = serde_json::from_str(o.stdout.trim()).unwrap();
        let hosts = doc["hosts"].as_array().unwrap();
        assert_eq!(hosts[0]["result"], "ok", "{doc}");
        assert_eq!(hosts[0]["value"]["host"], "h1", "{doc}");
        assert_eq!(hosts[2]["value"]["host"], "h3", "{doc}");
        assert_eq!(hosts[1]["result"], "unreachable", "{doc}");
        assert!(hosts[1]["error"].as_str().unwrap().contains("h2"), "{doc}");
        assert_eq!(doc["summary"]["unreachable"], json!(["h2"]));
        assert_eq!(doc["summary"]["exit_code"], 4);

        // The text view: a table of the answers' fields.
        let o = text.code(4);
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{}", o.stdout);
        assert!(lines[0].starts_with("HOST  RESULT"), "{}", o.stdout);
        assert!(lines[0].contains("ROLE"), "{}", o.stdout);
        assert!(lines[1].starts_with("h1    ok "), "{}", o.stdout);
        assert!(lines[1].contains(" role1"), "{}", o.stdout);
        assert!(lines[2].starts_with("h2    unreachable "), "{}", o.stdout);
        assert!(lines[3].contains(" role3"), "{}", o.stdout);
        assert!(o.stderr.contains("not ok: h2 (unreachable)"), "{}", o.stderr);
    }
}

both_transports! {
    fn verify_reports_drift_on_the_changed_host_only_and_writes_nothing(method: &str) {
        let cluster = Cluster::create(3);
        let p = project(&cluster, method, "hello");
        p.run(&["deploy", "fleet"]).success();
        let (_, doc) = run_json(&p, &["verify"], 0);
        for h in doc["hosts"].as_array().unwrap() {
            assert_eq!(h["value"]["drift"], false, "{h}");
        }

        let changed = cluster.deployed(1, "work/hello/hello.txt");
        std::fs::write(&changed, "changed by hand\n").unwrap();
        // The target directories and the deploy locks (taking one writes
        // its holder into it).
        let homes: Vec<PathBuf> = cluster
            .services
            .iter()
            .flat_map(|s| [s.home.join("deployment"), s.home.join(".batou")])
            .collect();
        assert!(homes[3].join("deploy.lock").exists(), "the deploy left its lock file");
        let before: Vec<_> = homes.iter().map(|h| states(h)).collect();
        let (_, doc) = run_json(&p, &["verify"], 0);
        let after: Vec<_> = homes.iter().map(|h| states(h)).collect();
        assert_eq!(before, after, "verify wrote to a target or took a lock");
        assert_eq!(std::fs::read_to_string(&changed).unwrap(), "changed by hand\n");

        let hosts = doc["hosts"].as_array().unwrap();
        assert_eq!(hosts[0]["value"]["drift"], false, "{doc}");
        assert_eq!(hosts[2]["value"]["drift"], false, "{doc}");
        let h2 = &hosts[1]["value"];
        assert_eq!(h2["drift"], true, "{doc}");
        assert_eq!(h2["verified"], true, "{doc}");
        let root = &h2["roots"][0];
        assert_eq!(root["root"], "hello", "{doc}");
        assert_eq!(root["drift"], true, "{doc}");
        let components = root["components"].as_array().unwrap();
        assert!(components.iter().any(|c| c.as_str().unwrap().contains("hello.txt")), "{doc}");
        let diff = &root["diffs"][0];
        assert!(diff["label"].as_str().unwrap().contains("hello.txt"), "{doc}");
        let lines: Vec<&str> = diff["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert!(lines.iter().any(|l| l.contains("changed by hand")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("Hello")), "{lines:?}");

        // A deploy puts it back; verify then finds no drift anywhere.
        p.run(&["deploy", "fleet"]).success();
        let (_, doc) = run_json(&p, &["verify"], 0);
        for h in doc["hosts"].as_array().unwrap() {
            assert_eq!(h["value"]["drift"], false, "{h}");
        }
    }
}

#[test]
fn run_locally_answers_fails_and_refuses_unknown_commands() {
    let env = format!(
        "{LOCAL}[host:a1]\ncomponents = hello\ndata-role = web\n\n[host:a2]\ncomponents = hello\n"
    );
    let p = Project::new().env("two", &env);
    let o = p.run(&["run", "two", "probe", "--", "-v"]).success();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(
        lines[0].starts_with("HOST  RESULT  SECONDS  HOST  USER"),
        "{}",
        o.stdout
    );
    assert!(lines[1].starts_with("a1    ok"), "{}", o.stdout);
    assert!(lines[1].contains(" web "), "{}", o.stdout);
    assert!(lines[2].contains(r#"["-v"]"#), "{}", o.stdout);
    assert!(
        o.stderr.contains("run probe: 2 of 2 hosts answered"),
        "{}",
        o.stderr
    );

    // A panicking command is a failure of each host (exit 7), not the
    // end of the run (exit 70).
    let o = p
        .run(&["run", "--json", "two", "probe", "panic"])
        .code(7)
        .stderr_contains("ERROR: a2: panicked: probe was asked to panic");
    let doc: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(doc["hosts"][0]["result"], "failed", "{doc}");
    assert_eq!(doc["hosts"][0]["panicked"], true, "{doc}");

    p.run(&["run", "two", "nosuch"])
        .code(2)
        .stderr_contains("no command `nosuch` is registered (known: facts, verify, probe)");
    p.run(&["run", "two", "facts", "extra"])
        .code(7)
        .stderr_contains("facts takes no arguments");
    // Nothing was deployed or written by any of it.
    p.assert_missing("work/hello");
}

#[test]
fn run_masks_secrets_in_answers_and_errors_in_every_view() {
    let secret = format!("runCanary{}Zq", std::process::id());
    let p = Project::new();
    p.write(
        "environments/sec/environment.cfg",
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = evil\n\n[component:evil]\ncase = file\n",
    );
    encrypt(&p, &format!("[evil]\nsecret = {secret}\n"));
    let identity = identity();
    let vars = [("BATOU_AGE_IDENTITIES", identity.as_str())];
    // The answer carries the secret (as an argument it was given back).
    for (mode, code) in [(&[][..], 0), (&["--json"][..], 0)] {
        let mut args = vec!["run", "sec"];
        args.extend_from_slice(mode);
        args.extend(["probe", &secret]);
        let o = p.run_with(&args, &vars).code(code);
        assert!(
            !o.stdout.contains(&secret) && !o.stderr.contains(&secret),
            "{mode:?} leaked:\n{}\n{}",
            o.stdout,
            o.stderr
        );
        assert!(o.stdout.contains("********"), "{mode:?}: {}", o.stdout);
    }
    // An unknown command's name is echoed in the error: masked too.
    let o = p.run_with(&["run", "sec", &secret], &vars).code(2);
    assert!(!o.stderr.contains(&secret), "{}", o.stderr);
}
