//! `batou exec` over both SSH transports to three namespaced hosts, each
//! logged into as its own user who sudoes to the host's service user: a
//! command whose exit status differs per host reports each status, its
//! stdout and stderr apart and a duration; it runs as the service user;
//! a host whose link is down is reported while the others still answer.

use serde_json::Value;

use super::remote::both_transports;
use super::remote_hosts::Cluster;
use super::support::{Outcome, Project};

/// Hosts h1..h3 (h1 and h3 tagged `edge`), reached through `method`,
/// each with its service user.
fn project(cluster: &Cluster, method: &str) -> Project {
    let p = cluster.project();
    let env = format!(
        "[environment]\nconnect_method = {method}\nconnect_timeout = 3\n\n{}",
        cluster.host_sections("hello", |k| {
            if k == 1 {
                String::new()
            } else {
                "tags = edge\n".into()
            }
        })
    );
    p.write("environments/fleet.cfg", &env);
    p
}

/// `exec --json fleet ARGS`, the document parsed.
fn exec_json(p: &Project, args: &[&str], code: i32) -> (Outcome, Value) {
    let mut all = vec!["exec", "--json", "fleet"];
    all.extend_from_slice(args);
    let o = p.run(&all).code(code);
    let doc = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    (o, doc)
}

/// A script exiting 0 as h1's service user, 3 as h2's, 5 otherwise.
fn per_host_script(cluster: &Cluster) -> String {
    format!(
        "u=$(id -un); echo \"out $u\"; echo \"err $u\" >&2; \
         case $u in {}) exit 0 ;; {}) exit 3 ;; esac; exit 5",
        cluster.services[0].name, cluster.services[1].name
    )
}

both_transports! {
    fn exec_reports_each_hosts_status_output_and_duration_as_the_service_user(method: &str) {
        let cluster = Cluster::create(3);
        let p = project(&cluster, method);
        let (_, doc) = exec_json(&p, &["--", &per_host_script(&cluster)], 7);
        let hosts = doc["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 3, "{doc}");
        for (k, (h, code)) in hosts.iter().zip([0, 3, 5]).enumerate() {
            let service = &cluster.services[k].name;
            assert_eq!(h["host"], Cluster::name(k), "{h}");
            assert_eq!(h["result"], "exited", "{h}");
            assert_eq!(h["exit_code"], code, "{h}");
            assert_eq!(h["user"], service.as_str(), "{h}");
            assert_eq!(h["stdout"], format!("out {service}\n"), "{h}");
            assert_eq!(h["stderr"], format!("err {service}\n"), "{h}");
            assert!(h["seconds"].as_f64().unwrap() > 0.0, "{h}");
        }
        assert_eq!(doc["summary"]["ok"], serde_json::json!(["h1"]));
        assert_eq!(doc["summary"]["failed"], serde_json::json!(["h2", "h3"]));

        // `id -un` as the text view shows it: the service user everywhere.
        let o = p.run(&["exec", "fleet", "--format", "%h %o", "--", "id", "-un"]).success();
        let expected: String = (0..3)
            .map(|k| format!("h{} {}\n", k + 1, cluster.services[k].name))
            .collect();
        assert_eq!(o.stdout, expected);

        // A tag narrows it; nothing is uploaded or locked for exec.
        let (_, doc) = exec_json(&p, &["--hosts", "@edge", "--", "true"], 0);
        let names: Vec<&str> = doc["hosts"].as_array().unwrap().iter()
            .map(|h| h["host"].as_str().unwrap()).collect();
        assert_eq!(names, ["h1", "h3"]);
        for service in &cluster.services {
            assert!(!service.home.join(".cache/batou/agents").exists(), "an agent was uploaded");
            assert!(!service.home.join(".batou/deploy.lock").exists(), "a lock was taken");
        }
    }
}

both_transports! {
    fn an_unreachable_host_is_reported_and_the_others_still_answer(method: &str) {
        let cluster = Cluster::create(3);
        let p = project(&cluster, method);
        cluster.hosts.hosts[1].set_link(false);
        let (o, doc) = exec_json(&p, &["--", "echo here"], 4);
        cluster.hosts.hosts[1].set_link(true);
        let hosts = doc["hosts"].as_array().unwrap();
        assert_eq!(hosts[0]["result"], "exited", "{doc}");
        assert_eq!(hosts[0]["stdout"], "here\n", "{doc}");
        assert_eq!(hosts[2]["stdout"], "here\n", "{doc}");
        assert_eq!(hosts[1]["result"], "unreachable", "{doc}");
        assert!(hosts[1]["error"].as_str().unwrap().contains("h2"), "{doc}");
        assert_eq!(doc["summary"]["unreachable"], serde_json::json!(["h2"]));
        assert_eq!(doc["summary"]["exit_code"], 4);
        assert!(o.stderr.contains("ERROR: h2: "), "{}", o.stderr);

        // Text view: the others' output, the host named, exit 4.
        cluster.hosts.hosts[1].set_link(false);
        let o = p.run(&["exec", "fleet", "--", "echo here"]);
        cluster.hosts.hosts[1].set_link(true);
        let o = o.code(4)
            .stdout_contains("=== h1: ok (exit 0, ")
            .stdout_contains("=== h2: unreachable (exit -, ")
            .stdout_contains("=== h3: ok (exit 0, ");
        assert!(o.stderr.contains("not ok: h2 (unreachable)"), "{}", o.stderr);
    }
}
