//! The command line beyond the transcript: `--json`, narrowing a run,
//! `-P --exit-code`, `show`, `graph`, completions and the man page.

use batou_core::secrets::{Provider, store};
use serde_json::Value;

use super::support::{LOCAL, Outcome, Project, example_env, workspace_root};

/// Every stdout line parsed as JSON (fails on any line that is not).
#[track_caller]
fn parse_events(o: &Outcome) -> Vec<Value> {
    o.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\nstdout:\n{}", o.stdout))
        })
        .collect()
}

/// The `event` tag of every event.
fn tags_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().expect("every event has a tag"))
        .collect()
}

/// Asserts that `expected` occur in `tags` in this order (first
/// occurrences after the previous match).
#[track_caller]
fn assert_sequence(tags: &[&str], expected: &[&str]) {
    let mut at = 0;
    for want in expected {
        match tags[at..].iter().position(|t| t == want) {
            Some(i) => at += i + 1,
            None => panic!("expected {want} after position {at} in {tags:?}"),
        }
    }
}

/// The start and summary that frame every stream.
#[track_caller]
fn assert_framed<'a>(events: &'a [Value], status: &str, code: i64) -> &'a Value {
    let start = &events[0];
    assert_eq!(start["event"], "start", "{events:?}");
    assert_eq!(start["version"], 1, "{start}");
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary", "{summary}");
    assert_eq!(summary["status"], status, "{summary}");
    assert_eq!(summary["exit_code"], code, "{summary}");
    assert!(summary["seconds"]["total"].as_f64().is_some(), "{summary}");
    summary
}

#[test]
fn json_stream_of_a_local_deploy() {
    let p = Project::example();
    let o = p.run(&["deploy", "--json", "local"]).success();
    assert!(!o.stdout.contains("DEPLOYMENT"), "{}", o.stdout);
    let events = parse_events(&o);
    let tags = tags_of(&events);
    assert_sequence(
        &tags,
        &[
            "start",
            "host_connecting",
            "root_scheduled",
            "component_needs_update",
            "diff",
            "component_finished",
            "summary",
        ],
    );
    assert_eq!(events[0]["environment"], "local");
    assert_eq!(events[0]["action"], "deploy");
    let summary = assert_framed(&events, "success", 0);
    let finished = tags.iter().filter(|t| **t == "component_finished").count();
    assert_eq!(summary["components"], finished as i64, "{summary}");
    assert_eq!(summary["roots"], 2, "{summary}");
    assert!(summary["changed"].as_i64().unwrap() > 0, "{summary}");
    assert!(summary["seconds"]["deploy"].as_f64().is_some(), "{summary}");
    let diff = events.iter().find(|e| e["event"] == "diff").unwrap();
    assert_eq!(diff["host"], "localhost");
    assert!(diff["lines"].as_array().unwrap().len() > 2, "{diff}");
    p.assert_exists("work/backend/etc/backend.conf");

    // Again: nothing changes, so no updates and no diffs.
    let o = p.run(&["deploy", "--json", "local"]).success();
    let events = parse_events(&o);
    let tags = tags_of(&events);
    assert!(!tags.contains(&"component_needs_update"), "{tags:?}");
    assert_eq!(assert_framed(&events, "success", 0)["changed"], 0);
}

#[test]
fn json_stream_of_a_failing_deploy() {
    let p = Project::new().env(
        "failing",
        &format!("{LOCAL}[hosts]\nlocalhost = hello, failing\n"),
    );
    let o = p.run(&["deploy", "--json", "failing"]).code(1);
    // The human error text still goes to stderr.
    let o = o.stderr_contains("ERROR: ");
    let events = parse_events(&o);
    assert_sequence(
        &tags_of(&events),
        &[
            "start",
            "root_scheduled",
            "component_finished",
            "error",
            "summary",
        ],
    );
    let summary = assert_framed(&events, "deploy_failed", 1);
    assert_eq!(summary["errors"], 1, "{summary}");
    let error = events.iter().find(|e| e["event"] == "error").unwrap();
    assert_eq!(error["host"], "localhost", "{error}");
    let component = error["component"].as_str().unwrap();
    assert!(component.starts_with("Failing > Exploder"), "{error}");
    assert!(!error["message"].as_str().unwrap().is_empty(), "{error}");
}

#[test]
fn json_stream_of_a_configuration_error() {
    let p = Project::new().env(
        "broken",
        &format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nport = 70000\n"),
    );
    let o = p
        .run(&["deploy", "--json", "broken"])
        .code(3)
        .stderr_contains("ERROR: ")
        .stderr_contains("environments/broken.cfg:6");
    let events = parse_events(&o);
    assert_eq!(
        tags_of(&events),
        ["start", "host_connecting", "error", "summary"]
    );
    let summary = assert_framed(&events, "config", 3);
    assert_eq!(summary["errors"], 1);
    assert!(summary["seconds"]["deploy"].is_null(), "{summary}");
    let error = &events[2];
    assert_eq!(error["file"], "environments/broken.cfg", "{error}");
    assert_eq!(error["line"], 6, "{error}");
    assert_eq!(error["host"], "localhost", "{error}");
    assert_eq!(error["component"], "typed", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("port"),
        "{error}"
    );
    p.assert_untouched();
}

/// The example as environment `sec`, its greeting `secret` from
/// `environments/sec/secrets.cfg.age`; returns the project and the
/// variables that let batou decrypt it.
fn secret_project(secret: &str) -> (Project, Vec<(&'static str, String)>) {
    let keys = workspace_root().join("batou-core/tests-data/secrets");
    let identity = keys.join("age-identity.txt");
    let member = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let env = example_env().replace("greeting = Hello from {{ host.name }}\n", "");
    let p = Project::new().env_file("sec/environment.cfg", &env);
    let text = format!("[batou]\nmembers = {member}\n\n[backend]\ngreeting = {secret}\n");
    store::write(
        &p.path().join("environments/sec/secrets.cfg.age"),
        Provider::Age,
        text.as_bytes(),
        &[member],
        None,
        false,
        None,
    )
    .unwrap();
    let vars = vec![(
        "BATOU_AGE_IDENTITIES",
        identity.to_str().unwrap().to_string(),
    )];
    (p, vars)
}

#[test]
fn json_stream_masks_secrets() {
    let secret = format!("json-canary-{}", std::process::id());
    let (p, vars) = secret_project(&secret);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = p
        .run_with(&["deploy", "--json", "sec"], &vars)
        .success()
        .stdout_lacks(&secret);
    let events = parse_events(&o);
    assert_framed(&events, "success", 0);
    // The greeting's diff line is there, masked.
    let masked = events
        .iter()
        .filter(|e| e["event"] == "diff" || e["event"] == "diff_hidden")
        .any(|e| e.to_string().contains("backend.conf"));
    assert!(masked, "{}", o.stdout);
    assert!(p.read("work/backend/etc/backend.conf").contains(&secret));
}

#[test]
fn json_stream_of_a_usage_error() {
    let p = Project::example();
    let o = p.run(&["deploy", "--json", "--local", "local"]).code(2);
    let events = parse_events(&o);
    assert_eq!(tags_of(&events), ["start", "error", "summary"]);
    assert_framed(&events, "usage", 2);
    assert!(
        events[1]["message"]
            .as_str()
            .unwrap()
            .contains("--local option"),
        "{}",
        o.stdout
    );
}

#[test]
fn exit_code_tells_whether_changes_are_pending() {
    let p = Project::example();
    p.run(&["deploy", "-P", "--exit-code", "local"])
        .code(6)
        .stdout_contains("would change");
    p.assert_untouched();
    // Without --exit-code, a prediction with changes still succeeds.
    p.run(&["deploy", "-P", "local"]).success();
    p.run(&["deploy", "local"]).success();
    p.run(&["deploy", "-P", "--exit-code", "local"])
        .success()
        .stdout_contains("Nothing would change.");
    // With --json, the summary tells the same.
    p.write(
        "environments/local.cfg",
        &example_env().replace("workers = 2", "workers = 3"),
    );
    let o = p
        .run(&["deploy", "-P", "--exit-code", "--json", "local"])
        .code(6);
    assert_framed(&parse_events(&o), "changes_pending", 6);
}

#[test]
fn exit_code_needs_predict_only() {
    Project::example()
        .run(&["deploy", "--exit-code", "local"])
        .code(2)
        .stderr_contains("--predict-only");
}

#[test]
fn exit_code_table_lists_changes_pending() {
    Project::new()
        .run(&["deploy", "--help"])
        .success()
        .stdout_contains("6   changes pending");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    assert!(readme.contains("| 6 | changes pending"), "README's table");
}

/// Two hosts on this machine, three roots.
fn two_hosts() -> Project {
    Project::new().env(
        "two",
        &format!("{LOCAL}[hosts]\nlocalhost = hello, featured\nother = platformed\n"),
    )
}

#[test]
fn components_narrows_the_deploy() {
    let p = two_hosts();
    p.run(&["deploy", "--components", "hello", "two"])
        .success()
        .stdout_contains("⚪ localhost: Scheduling component hello ...")
        .stdout_contains("⏭️ localhost: Skipping component featured ... (Not selected)")
        .stdout_contains("⏭️ other: Skipping component platformed ... (Not selected)");
    p.assert_exists("work/hello/hello.txt");
    p.assert_missing("work/featured");
    p.assert_missing("work/platformed");
}

#[test]
fn skip_components_leaves_them_out() {
    let p = two_hosts();
    p.run(&["deploy", "--skip-components", "hello,platformed", "two"])
        .success()
        .stdout_contains("Skipping component hello ... (Not selected)")
        .stdout_contains("Scheduling component featured ...");
    p.assert_missing("work/hello");
    p.assert_exists("work/featured/features.txt");
    p.assert_missing("work/platformed");
}

#[test]
fn hosts_narrows_the_deploy() {
    let p = two_hosts();
    p.run(&["deploy", "--hosts", "other", "two"])
        .success()
        .stdout_contains("⚪ other: Scheduling component platformed ...")
        .stdout_contains("Skipping component hello ... (Not selected)");
    p.assert_missing("work/hello");
    p.assert_missing("work/featured");
    p.assert_exists("work/platformed/base.txt");
}

#[test]
fn skip_hosts_leaves_them_out() {
    let p = two_hosts();
    let o = p
        .run(&["deploy", "--json", "--skip-hosts", "other", "two"])
        .success();
    let events = parse_events(&o);
    let skipped: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "root_skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{events:?}");
    assert_eq!(skipped[0]["host"], "other");
    assert_eq!(skipped[0]["root"], "platformed");
    assert_eq!(skipped[0]["reason"], "not_selected");
    let summary = assert_framed(&events, "success", 0);
    assert_eq!(summary["skipped"], 1);
    assert_eq!(summary["roots"], 2);
    p.assert_exists("work/hello/hello.txt");
    p.assert_missing("work/platformed");
}

#[test]
fn unknown_hosts_and_components_are_refused() {
    let p = two_hosts();
    p.run(&["deploy", "--hosts", "nope", "two"])
        .code(2)
        .stderr_contains("unknown host `nope` (known: localhost, other)");
    p.run(&["deploy", "--skip-hosts", "nope", "two"])
        .code(2)
        .stderr_contains("unknown host `nope`");
    p.run(&["deploy", "--components", "hello,nada", "two"])
        .code(2)
        .stderr_contains("unknown component `nada` (known: hello, featured, platformed)");
    p.run(&["deploy", "-P", "--skip-components", "nada", "two"])
        .code(2)
        .stderr_contains("unknown component `nada`");
    p.assert_untouched();
}

#[test]
fn narrowing_works_for_remote_deploys() {
    let p = Project::new().env(
        "sub",
        "[environment]\nconnect_method = subprocess\n[hosts]\nlocalhost = hello, featured\n",
    );
    p.run(&["deploy", "--skip-components", "featured", "sub"])
        .success()
        .stdout_contains("Scheduling component hello ...")
        .stdout_contains("Skipping component featured ... (Not selected)");
    p.assert_exists("home/deployment/work/hello/hello.txt");
    p.assert_missing("home/deployment/work/featured");
}

#[test]
fn show_lists_hosts_components_and_where_values_come_from() {
    let p = Project::example();
    p.run(&["show", "local"]).success().stdout_in_order(&[
        "environment local (environments/local.cfg)",
        "settings:",
        "  connect_method = local  (environments/local.cfg:3)",
        "  platform = localdev  (environments/local.cfg:4)",
        "  jobs = 1  (default)",
        "hosts:",
        "  localhost  (environments/local.cfg:6)",
        "    platform: localdev",
        "    data-role = primary",
        "    components:",
        "      backend  (environments/local.cfg:7)",
        "      frontend  (environments/local.cfg:7)",
        "overrides:",
        "  backend:",
        "    workers = 2  (environments/local.cfg:13)",
        "  frontend:",
        "    title = batou example  (environments/local.cfg:17)",
        "resolver:",
        "  app.internal = 127.0.0.1  (environments/local.cfg:21)",
    ]);
    // -p overrides the platform, as for deploy.
    p.run(&["show", "-p", "other", "local"])
        .success()
        .stdout_contains("    platform: other\n");
    p.assert_untouched();
}

#[test]
fn show_marks_features_and_ignored_components_and_hosts() {
    let p = Project::new().env(
        "mixed",
        &format!("{LOCAL}[hosts]\nlocalhost = featured:extra, !hello\n!gone = hello\n"),
    );
    p.run(&["show", "mixed"])
        .success()
        .stdout_contains("      featured [features: extra]  (environments/mixed.cfg:4)")
        .stdout_contains("      hello (ignored)  (environments/mixed.cfg:4)")
        .stdout_contains("  gone (ignored)  (environments/mixed.cfg:5)");
}

#[test]
fn show_never_prints_secret_values() {
    let secret = format!("show-canary-{}", std::process::id());
    let (p, vars) = secret_project(&secret);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run_with(&["show", "sec"], &vars)
        .success()
        .stdout_contains("    greeting = (secret, from environments/sec/secrets.cfg.age)")
        .stdout_contains("    workers = 2  (environments/sec/environment.cfg:")
        .stdout_lacks(&secret);
    let o = p
        .run_with(&["show", "--json", "sec"], &vars)
        .success()
        .stdout_lacks(&secret);
    let d: Value = serde_json::from_str(&o.stdout).expect("show --json is JSON");
    let backend = d["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "backend")
        .expect("backend's overrides");
    let greeting = backend["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "greeting")
        .expect("the greeting");
    assert_eq!(greeting["secret"], true, "{greeting}");
    assert!(greeting["value"].is_null(), "{greeting}");
    assert_eq!(
        greeting["source"]["file"], "environments/sec/secrets.cfg.age",
        "{greeting}"
    );
}

#[test]
fn show_json_has_hosts_settings_and_sources() {
    let o = Project::example()
        .run(&["show", "--json", "local"])
        .success();
    let d: Value = serde_json::from_str(&o.stdout).expect("show --json is JSON");
    assert_eq!(d["environment"], "local");
    let host = &d["hosts"][0];
    assert_eq!(host["name"], "localhost");
    assert_eq!(host["platform"], "localdev");
    assert_eq!(host["data"]["datacenter"], "home");
    assert_eq!(host["components"][1]["name"], "frontend");
    let workers = &d["overrides"][0]["values"][1];
    assert_eq!(workers["key"], "workers");
    assert_eq!(workers["value"], "2");
    assert_eq!(workers["source"]["line"], 13);
    let method = d["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "connect_method")
        .unwrap();
    assert_eq!(method["value"], "local");
    assert_eq!(method["source"]["line"], 3);
    let resolver = &d["resolver"][0];
    assert_eq!(resolver["host"], "app.internal", "{resolver}");
    assert_eq!(resolver["address"], "127.0.0.1", "{resolver}");
    assert_eq!(resolver["source"]["file"], "environments/local.cfg");
    assert_eq!(resolver["source"]["line"], 21, "{resolver}");
}

#[test]
fn show_and_graph_refuse_a_broken_environment() {
    let p = Project::new().env(
        "broken",
        &format!("{LOCAL}[hosts]\nlocalhost = typed, nosuch\n[component:typed]\nport = 70000\n"),
    );
    for cmd in ["show", "graph"] {
        p.run(&[cmd, "broken"])
            .code(3)
            .stdout_lacks("localhost")
            .stderr_contains("cannot convert `typed.port`")
            .stderr_contains("nosuch")
            .stderr_contains("2 ERRORS - CONFIGURATION FAILED");
    }
    p.run(&["show", "nope"]).code(3).stderr_contains("nope");
}

/// Roots on two hosts with cross-host dependencies: `requirer` needs what
/// `provider` provides.
fn dependent() -> Project {
    Project::new().env(
        "dep",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = requirer, hello\nother = provider\n\
             [component:provider]\nvalue = 42\n"
        ),
    )
}

#[test]
fn graph_lists_roots_in_deploy_order_with_dependencies() {
    let o = dependent().run(&["graph", "dep"]).success();
    assert_eq!(
        o.stdout,
        "localhost:hello\nother:provider\nlocalhost:requirer <- other:provider\n"
    );
}

#[test]
fn graph_dot_has_a_cluster_per_host() {
    let o = dependent().run(&["graph", "--dot", "dep"]).success();
    let dot = &o.stdout;
    assert!(dot.starts_with("digraph \"dep\" {\n"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    assert!(
        dot.contains("subgraph cluster_0 {\n    label=\"localhost\";"),
        "{dot}"
    );
    assert!(
        dot.contains("subgraph cluster_1 {\n    label=\"other\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"other:provider\" [label=\"provider\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"localhost:requirer\" -> \"other:provider\";"),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), 1, "{dot}");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let p = Project::new();
    for (shell, flag) in [
        ("bash", "--predict-only"),
        ("zsh", "--predict-only"),
        ("fish", "-l predict-only"),
    ] {
        let o = p.run(&["completions", shell]).success();
        assert!(o.stdout.len() > 1000, "{shell}: {}", o.stdout);
        assert!(o.stdout.contains("deploy"), "{shell}: {}", o.stdout);
        assert!(o.stdout.contains(flag), "{shell}: {}", o.stdout);
        assert!(o.stdout.contains("batou"), "{shell}: {}", o.stdout);
    }
    p.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let o = Project::new().run(&["man"]).success();
    let man = &o.stdout;
    assert!(man.starts_with(".ie"), "{man}");
    assert!(man.contains(".TH batou 1"), "{man}");
    assert!(man.contains("\\fBbatou deploy\\fR"), "{man}");
    assert!(man.contains("\\-\\-predict\\-only"), "{man}");
    assert!(man.contains("\\-\\-exit\\-code"), "{man}");
    assert!(man.contains("changes pending"), "exit-code table: {man}");
    assert!(!man.contains("batou agent"), "the agent is hidden: {man}");
}
