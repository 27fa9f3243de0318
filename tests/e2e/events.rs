//! Events and externals end to end: a routed event from one namespaced
//! host to another over real OpenSSH (and nothing when nothing changed),
//! `graph` and `--json` showing publications and subscriptions, externals
//! as real scripts on an ssh target run as its service user, and a deploy
//! killed in the middle of its externals keeping its record.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::remote::uid_of;
use super::remote_hosts::Cluster;
use super::support::Project;

fn routed_env(version: u32) -> String {
    format!("[component:announcer]\nversion = {version}\n")
}

#[test]
fn a_change_on_one_host_triggers_a_handler_on_another_and_no_change_triggers_nothing() {
    let cluster = Cluster::create(2);
    let p = cluster.project();
    let write = |version: u32| {
        p.write(
            "environments/routed.cfg",
            &format!(
                // The listener is on h1, listed first: the subscription
                // orders it after the announcer on h2 anyway.
                "[environment]\nconnect_method = ssh\n\n\
                 [host:h1]\ncomponents = listener\nservice_user = {}\n\n\
                 [host:h2]\ncomponents = announcer\nservice_user = {}\n\n{}",
                cluster.services[0].name,
                cluster.services[1].name,
                routed_env(version)
            ),
        )
    };
    write(1);
    let graph = p.run(&["graph", "routed"]).success();
    assert!(
        graph.stdout.contains("h1:listener <- h2:announcer")
            && graph.stdout.contains("  publishes backend.changed")
            && graph.stdout.contains("  subscribes backend.changed"),
        "{}",
        graph.stdout
    );
    let json = p.run(&["graph", "--json", "routed"]).success();
    let g: serde_json::Value = serde_json::from_str(&json.stdout).expect("graph JSON");
    assert_eq!(g["nodes"][0]["component"], "announcer");
    assert_eq!(g["nodes"][0]["publishes"][0], "backend.changed");
    assert_eq!(g["nodes"][1]["subscribes"][0], "backend.changed");
    let dot = p.run(&["graph", "--dot", "routed"]).success();
    assert!(
        dot.stdout.contains(
            "\"h2:announcer\" -> \"h1:listener\" [style=dashed, label=\"backend.changed\"]"
        ),
        "{}",
        dot.stdout
    );

    p.run(&["deploy", "routed"]).success().stdout_in_order(&[
        "h2: Scheduling component announcer",
        "h2: Published backend.changed (announcer)",
        "h1: Scheduling component listener",
        "h1: Trigger routed: Listener.reload (backend.changed from h2:announcer)",
    ]);
    let handled = "work/listener/handled.log";
    assert_eq!(
        cluster.read(0, handled),
        "routed backend.changed from h2:announcer\n"
    );

    // Nothing changed: nothing published, nothing triggered.
    p.run(&["deploy", "routed"])
        .success()
        .stdout_lacks("Published")
        .stdout_lacks("Trigger");
    assert_eq!(cluster.read(0, handled).lines().count(), 1);

    // Predicting a change lists the handler and runs nothing.
    write(2);
    p.run(&["deploy", "-P", "routed"])
        .success()
        .stdout_contains("h1: Trigger routed: Listener.reload");
    assert_eq!(cluster.read(0, handled).lines().count(), 1);

    // The change, as JSON.
    let out = p.run(&["deploy", "--json", "routed"]).success();
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let published = events
        .iter()
        .position(|e| e["event"] == "event_published")
        .expect("event_published");
    assert_eq!(events[published]["host"], "h2");
    assert_eq!(events[published]["key"], "backend.changed");
    let triggered = events
        .iter()
        .position(|e| e["event"] == "handler_triggered")
        .expect("handler_triggered");
    assert!(published < triggered);
    let t = &events[triggered];
    assert_eq!(t["host"], "h1");
    assert_eq!(t["trigger"], "routed");
    assert_eq!(t["handler"], "reload");
    assert_eq!(t["predicted"], false);
    assert_eq!(cluster.read(0, handled).lines().count(), 2);
}

#[test]
fn a_change_notification_runs_once_on_a_remote_host_when_any_watched_file_changed() {
    let cluster = Cluster::create(1);
    let p = cluster.project();
    let write = |sites: &str, other: &str| {
        p.write(
            "environments/watch.cfg",
            &format!(
                "[environment]\nconnect_method = ssh\n\n{}[component:watcher]\nsites = {sites}\nother = {other}\n",
                cluster.host_sections("watcher", |_| String::new())
            ),
        )
    };
    let site = |name: &str| format!("Watcher > File('sites/{name}.conf')");
    let handled = "work/watcher/handled.log";
    let log = || -> Vec<String> {
        cluster
            .read(0, handled)
            .lines()
            .map(str::to_string)
            .collect()
    };

    // First deploy: three new sites, one handler run naming all of them,
    // after the last one.
    write("a:1, b:1, c:1", "x");
    let all = format!("{}, {}, {}", site("a"), site("b"), site("c"));
    p.run(&["deploy", "watch"]).success().stdout_in_order(&[
        "h1: Watcher > File('sites/c.conf')",
        &format!("h1: Trigger change: Watcher.reload ({all})"),
    ]);
    assert_eq!(log(), [format!("change {all}")]);
    assert_eq!(cluster.read(0, "work/watcher/sites/b.conf"), "b 1\n");
    let meta = std::fs::metadata(cluster.deployed(0, handled)).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        uid_of(&cluster.services[0].name),
        "the handler ran on the target as its service user"
    );

    // Nothing changed: no trigger.
    p.run(&["deploy", "watch"])
        .success()
        .stdout_contains("Nothing changed.")
        .stdout_lacks("Trigger");
    assert_eq!(log().len(), 1);

    // A file the handler does not watch: no trigger.
    write("a:1, b:1, c:1", "y");
    p.run(&["deploy", "watch"])
        .success()
        .stdout_contains("h1: Watcher > File('other.txt')")
        .stdout_lacks("Trigger");
    assert_eq!(log().len(), 1);

    // Predicting one changed site lists the handler and runs nothing.
    write("a:1, b:2, c:1", "y");
    p.run(&["deploy", "-P", "watch"])
        .success()
        .stdout_contains(&format!(
            "h1: Trigger change: Watcher.reload ({})",
            site("b")
        ));
    assert_eq!(log().len(), 1);
    assert_eq!(cluster.read(0, "work/watcher/sites/b.conf"), "b 1\n");

    // One of the three changed: the handler runs once, for it.
    let out = p.run(&["deploy", "watch"]).success();
    assert_eq!(out.stdout.matches("Trigger").count(), 1, "{}", out.stdout);
    assert_eq!(log()[1..], [format!("change {}", site("b"))]);
    assert_eq!(cluster.read(0, "work/watcher/sites/b.conf"), "b 2\n");

    // Two at once: still one run, naming both.
    write("a:2, b:2, c:2", "y");
    let out = p.run(&["deploy", "watch"]).success();
    assert_eq!(out.stdout.matches("Trigger").count(), 1, "{}", out.stdout);
    assert_eq!(log()[2..], [format!("change {}, {}", site("a"), site("c"))]);
    p.run(&["deploy", "watch"])
        .success()
        .stdout_lacks("Trigger");
    assert_eq!(log().len(), 3);
}

/// Writes the test externals (shell scripts logging `NAME ACTION [DATA]`
/// to `log`) into `dir`, owned by `uid`.
fn write_externals(dir: &Path, log: &Path, uid: Option<u32>) {
    std::fs::create_dir_all(dir).unwrap();
    let log = log.display();
    let scripts = [
        (
            "user",
            format!("data=$(cat)\nprintf '%s %s [%s]\\n' \"$1\" \"$2\" \"$data\" >> {log}\n"),
        ),
        (
            "gen",
            format!("data=$(cat)\nprintf 'gen %s %s [%s]\\n' \"$1\" \"$2\" \"$data\" >> {log}\n"),
        ),
        // Kills the deploy that called it (its parent): a crash mid-deploy.
        ("crash", "kill -9 $PPID\nsleep 5\n".to_string()),
    ];
    for (name, body) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
        }
    }
    if let Some(uid) = uid {
        std::os::unix::fs::chown(dir, Some(uid), None).unwrap();
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn externals_over_ssh_install_skip_replace_and_remove() {
    let cluster = Cluster::create(1);
    let p = cluster.project();
    let service = &cluster.services[0];
    let dir = service.home.join("externals");
    let log = service.home.join("calls.log");
    write_externals(&dir, &log, Some(uid_of(&service.name)));
    let write = |components: &str, section: &str| {
        p.write(
            "environments/ext.cfg",
            &format!(
                "[environment]\nconnect_method = ssh\nexternals = {}\n\n{}[component:externals]\n{section}\n",
                dir.display(),
                cluster.host_sections(components, |_| String::new())
            ),
        )
    };
    write(
        "externals",
        "entries = user:alice=v1\nscript = echo generated-on-$(hostname)",
    );
    p.run(&["deploy", "ext"])
        .success()
        .stdout_contains("h1: Externals > External('user', 'alice')");
    let calls = lines(&log);
    assert_eq!(calls[0], "alice install [v1]");
    // The script ran on the target (the namespace's host name is the
    // machine's, so compare with what the test sees).
    assert!(
        calls[1].starts_with("gen generated install [generated-on-"),
        "{calls:?}"
    );
    assert_eq!(calls.len(), 2);
    let record = cluster.deployed(0, "work/.batou/externals-h1.json");
    let meta = std::fs::metadata(&record).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        uid_of(&service.name)
    );

    // Unchanged: no call.
    p.run(&["deploy", "ext"]).success();
    assert_eq!(lines(&log).len(), 2);

    // Changed data: remove then install.
    write(
        "externals",
        "entries = user:alice=v2\nscript = echo generated-on-$(hostname)",
    );
    p.run(&["deploy", "ext"]).success();
    assert_eq!(
        lines(&log)[2..],
        ["alice remove [v1]", "alice install [v2]"]
    );

    // The component leaves the environment: predicted, then removed.
    write("listener", "");
    p.run(&["deploy", "-P", "ext"])
        .success()
        .stdout_contains("h1: External('user', 'alice') (left the environment)")
        .stdout_contains("h1: External('gen', 'generated') (left the environment)");
    assert_eq!(lines(&log).len(), 4);
    p.run(&["deploy", "ext"]).success();
    let calls = lines(&log);
    // In the record's order (by external, then name).
    assert!(
        calls[4].starts_with("gen generated remove [generated-on-"),
        "{calls:?}"
    );
    assert_eq!(calls[5], "alice remove [v2]");
    assert_eq!(calls.len(), 6);
    p.run(&["deploy", "ext"])
        .success()
        .stdout_lacks("External(");
    assert_eq!(lines(&log).len(), 6);
}

#[test]
fn a_deploy_killed_among_its_externals_keeps_every_recorded_entry() {
    let p = Project::new();
    let dir = p.path().join("externals");
    let log = p.path().join("calls.log");
    write_externals(&dir, &log, None);
    let env = |entries: &str| {
        format!(
            "[environment]\nconnect_method = local\nexternals = {}\n\
             [host:localhost]\ncomponents = externals\n[component:externals]\nentries = {entries}\n",
            dir.display()
        )
    };
    p.write("environments/crash.cfg", &env("user:alice=a;crash:boom=x"));
    let out = p.run(&["deploy", "crash"]);
    assert_eq!(out.code, None, "killed: {}{}", out.stdout, out.stderr);
    assert_eq!(lines(&log), ["alice install [a]"]);
    let record: serde_json::Value =
        serde_json::from_str(&p.read("work/.batou/externals-localhost.json")).unwrap();
    assert_eq!(record["installed"][0]["name"], "alice");
    assert_eq!(record["installed"].as_array().unwrap().len(), 1);
    // The next deploy (without the crashing external) knows alice is
    // installed, and leaves no temp file behind.
    p.write("environments/crash.cfg", &env("user:alice=a"));
    p.run(&["deploy", "crash"]).success();
    assert_eq!(lines(&log), ["alice install [a]"]);
    let leftovers: Vec<_> = std::fs::read_dir(p.path().join("work/.batou"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["externals-localhost.json"]);
}
