//! The deploy history (#22, point 2): every real deploy leaves one record
//! per host in a journal beside the host's deploy lock, `batou history`
//! reads them back over the transport side by side, and the controller
//! keeps a copy in `.batou/history/`. Over both SSH transports to two
//! namespaced hosts (each its own sshd, login and service user), and for
//! a local deploy.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::remote::{both_transports, uid_of};
use super::remote_hosts::Cluster;
use super::support::Project;

/// `history --json ENV ARGS`, parsed.
fn history_json(p: &Project, env: &str, args: &[&str]) -> Value {
    let mut all = vec!["history", "--json", env];
    all.extend_from_slice(args);
    let o = p.run(&all).success();
    serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// Each host's records in `doc`, by host name.
fn records<'a>(doc: &'a Value, host: &str) -> &'a Vec<Value> {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {doc}"))["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
}

fn outcomes(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

fn ids(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `hello` on every host, and `failing` too when `fail`; `--max-fail 1`
/// lets the failure on one host not keep the other from failing too.
fn env_text(cluster: &Cluster, method: &str, text: &str, fail: bool) -> String {
    let components = if fail { "hello, failing" } else { "hello" };
    format!(
        "[environment]\nconnect_method = {method}\nconnect_timeout = 5\n\n{}[component:hello]\ntext = {text}\n",
        cluster.host_sections(components, |_| String::new())
    )
}

/// The controller as the records name it: this user at this host.
fn controller() -> String {
    let user = crate::remote_support::run("id", &["-un"]);
    let host = crate::remote_support::run("hostname", &[]);
    format!("{}@{}", user.trim(), host.trim())
}

both_transports! {
    /// Three deploys (the second fails on both hosts) and a prediction:
    /// after an sshd restart on both hosts, `history --json` shows exactly
    /// three records per host with the same ids, outcomes ok, failed, ok,
    /// the agent's hash, the roots and what changed; the journal is 0600
    /// in a 0700 directory of the service user; the text view puts the
    /// hosts side by side; `--hosts` narrows; the controller's copy holds
    /// the same records; and a journal at its bound drops its oldest.
    fn three_deploys_on_two_hosts_are_recorded_on_each_and_survive_an_sshd_restart(method: &str) {
        let mut cluster = Cluster::create(2);
        let p = cluster.project();
        let env = "hist";
        let file = format!("environments/{env}.cfg");
        p.write(&file, &env_text(&cluster, method, "one", false));
        p.run(&["deploy", env]).success();
        p.write(&file, &env_text(&cluster, method, "two", true));
        // Not reverted, so the record says failed (reverted: see the
        // local test and e2e::transactions).
        p.run(&["deploy", "--no-revert", "--max-fail", "1", env]).code(1);
        p.write(&file, &env_text(&cluster, method, "three", false));
        // A prediction changes nothing and is not recorded.
        p.run(&["deploy", "-P", env]).success();
        p.run(&["deploy", env]).success();
        assert_eq!(cluster.read(0, "work/hello/hello.txt"), "three\n");

        for k in 0..2 {
            cluster.hosts.hosts[k].restart_sshd();
        }

        let doc = history_json(&p, env, &[]);
        assert_eq!(doc["environment"], env, "{doc}");
        assert_eq!(doc["exit_code"], 0, "{doc}");
        let first = records(&doc, "h1");
        assert_eq!(outcomes(first), ["ok", "failed", "ok"], "{doc}");
        let first_ids = ids(first);
        let distinct: std::collections::BTreeSet<_> = first_ids.iter().collect();
        assert_eq!(distinct.len(), 3, "every deploy has its own id: {doc}");
        for k in 0..2 {
            let host = Cluster::name(k);
            let recs = records(&doc, &host);
            assert_eq!(outcomes(recs), ["ok", "failed", "ok"], "{host}: {doc}");
            assert_eq!(ids(recs), first_ids, "one id per deploy on every host: {doc}");
            for (i, r) in recs.iter().enumerate() {
                assert_eq!(r["host"], host.as_str(), "{r}");
                assert_eq!(r["environment"], env, "{r}");
                assert_eq!(r["controller"], controller().as_str(), "{r}");
                let agent = r["agent"].as_str().unwrap_or_else(|| panic!("{r}"));
                assert!(agent.len() == 64 && agent.chars().all(|c| c.is_ascii_hexdigit()), "{r}");
                let (started, ended) = (r["started"].as_u64().unwrap(), r["ended"].as_u64());
                assert!(ended.is_some_and(|e| e >= started), "closed: {r}");
                let roots: Vec<&str> =
                    r["roots"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                if i == 1 {
                    assert_eq!(roots, ["hello", "failing"], "{r}");
                } else {
                    assert_eq!(roots, ["hello"], "{r}");
                }
                // Each deploy rewrote hello.txt.
                assert!(r["changed_count"].as_u64().unwrap() >= 1, "{r}");
                let changed = r["changed"].as_array().unwrap();
                assert!(
                    changed.iter().any(|c| c.as_str().unwrap().contains("hello.txt")),
                    "{r}"
                );
            }
            let journal = cluster.services[k].home.join(".batou/history.jsonl");
            assert_eq!(mode(&journal), 0o600, "{}", journal.display());
            assert_eq!(mode(journal.parent().unwrap()), 0o700);
            let meta = std::fs::metadata(&journal).unwrap();
            assert_eq!(meta.uid(), uid_of(&cluster.services[k].name));
        }

        // Side by side: one row per deploy, one column per host.
        let text = p.run(&["history", env]).success();
        let lines: Vec<&str> = text.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "a header and three deploys:\n{}", text.stdout);
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["DEPLOY", "STARTED", "BY", "COMMIT", "h1", "h2"], "{}", text.stdout);
        assert!(lines[1].starts_with(first_ids[0]), "{}", text.stdout);
        assert_eq!(lines[2].matches("failed (").count(), 2, "{}", text.stdout);
        assert_eq!(lines[3].matches("ok (").count(), 2, "{}", text.stdout);

        // --hosts narrows with the host pattern of exec and deploy.
        let only = history_json(&p, env, &["--hosts", "h2"]);
        let hosts: Vec<&str> = only["hosts"].as_array().unwrap().iter()
            .map(|h| h["host"].as_str().unwrap()).collect();
        assert_eq!(hosts, ["h2"], "{only}");
        assert!(only["controller"].as_array().unwrap().iter().all(|r| r["host"] == "h2"), "{only}");

        // The controller's copy: the same deploys, per host.
        let copy = doc["controller"].as_array().unwrap();
        assert_eq!(copy.len(), 6, "{doc}");
        for k in 0..2 {
            let host = Cluster::name(k);
            let mine: Vec<Value> = copy.iter().filter(|r| r["host"] == host.as_str()).cloned().collect();
            assert_eq!(ids(&mine), first_ids, "{doc}");
            assert_eq!(outcomes(&mine), ["ok", "failed", "ok"], "{doc}");
        }
        let copy_file = p.path().join(".batou/history/hist.jsonl");
        assert_eq!(mode(&copy_file), 0o600);

        // Bounded: h1's journal holds 200 records (197 old ones before the
        // three real ones); the next deploy drops the oldest, keeps 200.
        let journal = cluster.services[0].home.join(".batou/history.jsonl");
        let real = std::fs::read_to_string(&journal).unwrap();
        let template: Value = serde_json::from_str(real.lines().next().unwrap()).unwrap();
        let mut filled = String::new();
        for i in 0..197 {
            let mut old = template.clone();
            old["id"] = format!("old-{i}").into();
            old["started"] = (i as u64).into();
            filled.push_str(&format!("{old}\n"));
        }
        filled.push_str(&real);
        write_as_owner(&journal, &filled);
        p.write(&file, &env_text(&cluster, method, "four", false));
        p.run(&["deploy", env]).success();
        let after = std::fs::read_to_string(&journal).unwrap();
        let kept: Vec<Value> = after.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(kept.len(), 200, "bounded to 200 records");
        assert_eq!(kept[0]["id"], "old-1", "the oldest went");
        assert_eq!(kept[199]["outcome"], "ok");
        assert!(!ids(&kept).contains(&"old-0"));
        assert_eq!(mode(&journal), 0o600);
        let leftovers: Vec<PathBuf> = std::fs::read_dir(journal.parent().unwrap()).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary journal left: {leftovers:?}");
    }
}

/// Replaces `path` keeping its owner and mode.
fn write_as_owner(path: &Path, text: &str) {
    let meta = std::fs::metadata(path).unwrap();
    std::fs::write(path, text).unwrap();
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid())).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A local deploy records on this machine (beside `~/.batou/deploy.lock`
/// of the user running it), and `history` reads it back the same way.
#[test]
fn local_deploys_are_recorded_on_this_machine() {
    let env = |text: &str, fail: bool| {
        format!(
            "[environment]\nconnect_method = local\n\n[host:localhost]\ncomponents = hello{}\n\n[component:hello]\ntext = {text}\n",
            if fail { ", failing" } else { "" }
        )
    };
    let p = Project::new().env("here", &env("one", false));
    p.run(&["deploy", "here"]).success();
    // A prediction changes nothing and is not recorded.
    p.write("environments/here.cfg", &env("two", false));
    p.run(&["deploy", "-P", "here"]).success();
    p.write("environments/here.cfg", &env("two", true));
    p.run(&["deploy", "here"]).code(1);
    let doc = history_json(&p, "here", &[]);
    let recs = records(&doc, "localhost");
    // The failed root was put back: reverted.
    assert_eq!(outcomes(recs), ["ok", "reverted"], "{doc}");
    assert_eq!(recs[0]["agent"], Value::Null, "no agent ran: {doc}");
    assert_eq!(
        recs[1]["roots"],
        serde_json::json!(["hello", "failing"]),
        "{doc}"
    );
    let journal = p.path().join("home/.batou/history.jsonl");
    assert_eq!(mode(&journal), 0o600);
    assert_eq!(mode(journal.parent().unwrap()), 0o700);
    assert_eq!(doc["controller"].as_array().unwrap().len(), 2, "{doc}");
}

/// A host that cannot be reached is named, the others still shown, and
/// the exit code is 4.
#[test]
fn an_unreachable_host_is_reported_with_exit_code_4() {
    let cluster = Cluster::create(2);
    let p = cluster.project();
    p.write(
        "environments/hist.cfg",
        &env_text(&cluster, "ssh", "one", false),
    );
    p.run(&["deploy", "hist"]).success();
    cluster.hosts.hosts[1].set_link(false);
    let o = p
        .run(&["history", "--json", "--connect-timeout", "2", "hist"])
        .code(4);
    cluster.hosts.hosts[1].set_link(true);
    let doc: Value =
        serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    assert_eq!(outcomes(records(&doc, "h1")), ["ok"], "{doc}");
    let h2 = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "h2")
        .unwrap();
    assert!(h2["error"].is_string(), "{doc}");
    assert_eq!(doc["exit_code"], 4, "{doc}");
    assert!(o.stderr.contains("ERROR: h2: "), "{}", o.stderr);
}
