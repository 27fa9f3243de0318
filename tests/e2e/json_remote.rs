//! The `--json` stream of a remote deploy: a real agent process (the
//! `subprocess` transport starts it on this machine), its events streamed
//! back and framed by `start` and `summary`.

use serde_json::Value;

use super::support::Project;

#[test]
fn json_stream_of_a_remote_deploy() {
    let p = Project::new().env(
        "sub",
        "[environment]\nconnect_method = subprocess\n[hosts]\nlocalhost = hello, provider, requirer\n\
         [component:provider]\nvalue = 42\n",
    );
    let o = p.run(&["deploy", "--json", "sub"]).success();
    let events: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let tags: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let first = |tag: &str| {
        tags.iter()
            .position(|t| *t == tag)
            .unwrap_or_else(|| panic!("no {tag} in {tags:?}"))
    };
    assert_eq!(tags[0], "start", "{tags:?}");
    assert_eq!(tags.last(), Some(&"summary"), "{tags:?}");
    assert!(first("host_connecting") < first("agent_ready"), "{tags:?}");
    assert!(first("agent_ready") < first("phase"), "{tags:?}");
    assert!(first("phase") < first("root_scheduled"), "{tags:?}");
    assert!(
        first("root_scheduled") < first("component_finished"),
        "{tags:?}"
    );
    let phase = &events[first("phase")];
    assert_eq!(phase["phase"], "deploying", "{phase}");
    // Roots in dependency order: the provider before its requirer.
    let scheduled: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "root_scheduled")
        .map(|e| e["root"].as_str().unwrap())
        .collect();
    let at = |r: &str| scheduled.iter().position(|s| *s == r).unwrap();
    assert!(at("provider") < at("requirer"), "{scheduled:?}");
    let summary = events.last().unwrap();
    assert_eq!(summary["status"], "success", "{summary}");
    assert_eq!(summary["roots"], 3, "{summary}");
    assert!(summary["changed"].as_i64().unwrap() > 0, "{summary}");
    let ready = &events[first("agent_ready")];
    assert_eq!(ready["host"], "localhost", "{ready}");
    assert_eq!(ready["uploaded"], true, "{ready}");
}
