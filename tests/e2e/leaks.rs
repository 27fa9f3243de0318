//! What the hostile review (#15) found leaking, and the same classes
//! elsewhere: a secret in the breadcrumb of a failing command under
//! `--json` (bug 2), in a panic message (bug 5), in a file's mode (bug 6),
//! transformed by a template or used in a path (masking by exact match),
//! and terminal escape sequences from a target's old file content reaching
//! the operator's terminal (bug 7). The `evil` fixture component does the
//! careless things; its `secret` comes from encrypted secrets.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use super::remote::{both_transports, private_dirs, ssh_project};
use super::secrets::{encrypt, identity};
use super::support::{Outcome, Project};
use crate::remote_support::SshServer;

/// A secret unique to this run (upper and lower case letters, so that
/// `| upper` and `| reverse` differ from it).
fn canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("evilCanary-{}-{nanos}-Zq", std::process::id())
}

/// Everything `secret` could show as: itself and what the `evil`
/// component's template makes of it.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        secret.to_uppercase(),
        secret.chars().rev().collect(),
        secret[3..].to_string(),
    ]
}

/// Project `sec`: the `evil` component (`case`) on `host`, its secret
/// encrypted. `header` starts the environment (`[environment]` …).
fn evil_project(p: Project, header: &str, host: &str, case: &str, secret: &str) -> Project {
    p.write(
        "environments/sec/environment.cfg",
        &format!("{header}\n[hosts]\n{host} = evil\n\n[component:evil]\ncase = {case}\n"),
    );
    encrypt(&p, &format!("[evil]\nsecret = {secret}\n"));
    p
}

fn local(case: &str, secret: &str) -> Project {
    evil_project(
        Project::new(),
        "[environment]\nconnect_method = local",
        "localhost",
        case,
        secret,
    )
}

fn batou(p: &Project, args: &[&str]) -> Outcome {
    p.run_with(args, &[("BATOU_AGE_IDENTITIES", &identity())])
}

#[track_caller]
fn assert_no_leak(o: &Outcome, secret: &str) {
    for form in forms(secret) {
        assert!(
            !o.stdout.contains(&form) && !o.stderr.contains(&form),
            "{form:?} leaked:\n--- stdout\n{}\n--- stderr\n{}",
            o.stdout,
            o.stderr
        );
    }
}

/// The JSON lines of `o`'s stdout.
#[track_caller]
fn events(o: &Outcome) -> Vec<Value> {
    o.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{}", o.stdout)))
        .collect()
}

/// A failing command holding the secret, locally: its breadcrumb is the
/// `component` of the `error` event (#15 bug 2).
#[test]
fn json_error_events_mask_a_secret_in_the_component() {
    let secret = canary();
    let p = local("command", &secret);
    let o = batou(&p, &["deploy", "--json", "sec"]).code(1);
    assert_no_leak(&o, &secret);
    let events = events(&o);
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error event:\n{}", o.stdout));
    let component = error["component"].as_str().unwrap();
    assert!(
        component.starts_with("Evil > Command('echo ") && component.contains("********"),
        "{error}"
    );
    assert_eq!(events.last().unwrap()["exit_code"], 1);
    // Text mode masks the same breadcrumb.
    let o = batou(&p, &["deploy", "sec"]).code(1);
    assert_no_leak(&o, &secret);
    o.message("component: Evil > Command('echo ********");
}

both_transports! {
    /// The same over ssh: the failure comes from the agent.
    fn json_error_events_mask_a_secret_in_the_component_remotely(method: &str) {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        let header = format!("[environment]\nconnect_method = {method}\n{}", private_dirs(&p));
        let secret = canary();
        let p = evil_project(p, &header, "target", "command", &secret);
        let o = batou(&p, &["deploy", "--json", "sec"]).code(1);
        assert_no_leak(&o, &secret);
        let events = events(&o);
        let error = events
            .iter()
            .find(|e| e["event"] == "error" && e["component"].is_string())
            .unwrap_or_else(|| panic!("no error event with a component:\n{}", o.stdout));
        assert!(
            error["component"].as_str().unwrap().contains("Command('echo ********"),
            "{error}"
        );
        assert_eq!(error["host"], "target", "{error}");
        let o = batou(&p, &["deploy", "sec"]).code(1);
        assert_no_leak(&o, &secret);
    }
}

/// A panic whose message holds the secret, in configure, verify and
/// update: masked on stderr, exit 70 (#15 bug 5).
#[test]
fn a_panic_with_a_secret_is_masked() {
    let secret = canary();
    for (case, phase) in [
        ("panic-configure", "configure"),
        ("panic-verify", "verify"),
        ("panic-update", "update"),
    ] {
        let p = local(case, &secret);
        let o = batou(&p, &["deploy", "sec"]).code(70);
        assert_no_leak(&o, &secret);
        o.stderr_contains(&format!("evil panic in {phase}: ********"))
            .stderr_contains("This is a bug in batou");
    }
}

/// With `--json`, a panic ends the stream with an `error` event and a
/// `summary` (#15 bug 5: the stream just stopped).
#[test]
fn json_after_a_panic_ends_with_an_error_and_a_summary() {
    let secret = canary();
    for case in ["panic-configure", "panic-verify", "panic-update"] {
        let p = local(case, &secret);
        let o = batou(&p, &["deploy", "--json", "sec"]).code(70);
        assert_no_leak(&o, &secret);
        let events = events(&o);
        let n = events.len();
        assert!(n >= 3, "{}", o.stdout);
        assert_eq!(events[0]["event"], "start", "{}", o.stdout);
        let (error, summary) = (&events[n - 2], &events[n - 1]);
        assert_eq!(error["event"], "error", "{}", o.stdout);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("evil panic in ")
                && error["message"].as_str().unwrap().contains("********"),
            "{error}"
        );
        assert_eq!(summary["event"], "summary", "{}", o.stdout);
        assert_eq!(summary["status"], "internal", "{summary}");
        assert_eq!(summary["exit_code"], 70, "{summary}");
        assert!(summary["errors"].as_u64().unwrap() >= 1, "{summary}");
    }
}

fn mode(p: &Project, path: &str) -> u32 {
    std::fs::metadata(p.path().join(path))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// A file whose content holds a secret override is written 0600 unless
/// the component gives a mode (#15 bug 6; README: "files built from them
/// are written 0600").
#[test]
fn files_built_from_secrets_are_0600() {
    let secret = canary();
    let p = local("mode", &secret);
    batou(&p, &["deploy", "sec"]).success();
    assert_eq!(mode(&p, "work/evil/secret.conf"), 0o600);
    assert_eq!(mode(&p, "work/evil/explicit.conf"), 0o640);
    assert_eq!(mode(&p, "work/evil/public.conf"), 0o644);
    // A file that exists with a wider mode is narrowed when its content
    // becomes sensitive.
    std::fs::set_permissions(
        p.path().join("work/evil/secret.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(p.path().join("work/evil/secret.conf"), "old\n").unwrap();
    batou(&p, &["deploy", "sec"]).success();
    assert_eq!(mode(&p, "work/evil/secret.conf"), 0o600);
}

/// A template that transforms a secret (`| upper`, `| reverse`, a slice)
/// makes its file sensitive: no diff line of it is shown, in text or
/// JSON, when it is new or changes.
#[test]
fn a_template_that_touched_a_secret_shows_no_diff() {
    let secret = canary();
    let p = local("transformed", &secret);
    let first = batou(&p, &["deploy", "sec"]).success();
    assert_no_leak(&first, &secret);
    let text = p.read("work/evil/transformed.conf");
    assert!(text.contains(&secret.to_uppercase()), "{text}");
    let env = p.read("environments/sec/environment.cfg");
    p.write(
        "environments/sec/environment.cfg",
        &format!("{env}text = changed\n"),
    );
    for flag in ["--json", "--no-progress"] {
        let o = batou(&p, &["deploy", "-P", flag, "sec"]).success();
        assert_no_leak(&o, &secret);
        o.stdout_contains("Not showing diff as it contains sensitive data.");
    }
    assert_mode_0600(&p, "work/evil/transformed.conf");
}

#[track_caller]
fn assert_mode_0600(p: &Project, path: &str) {
    assert_eq!(mode(p, path), 0o600, "{path}");
}

/// A path built from a secret: labels and breadcrumbs do not show it,
/// not even upper-cased.
#[test]
fn labels_built_from_secrets_are_masked() {
    let secret = canary();
    let p = local("path", &secret);
    for args in [&["deploy", "sec"][..], &["deploy", "--json", "sec"][..]] {
        let o = batou(&p, args).success();
        assert_no_leak(&o, &secret);
    }
    let env = p.read("environments/sec/environment.cfg");
    p.write(
        "environments/sec/environment.cfg",
        &format!("{env}text = changed\n"),
    );
    let o = batou(&p, &["deploy", "-P", "--json", "sec"]).success();
    assert_no_leak(&o, &secret);
    assert!(
        o.stdout.contains("\"label\":\"dir-********.conf\""),
        "{}",
        o.stdout
    );
}

/// What a target's file held before (untrusted: the target may be
/// hostile) is shown escaped: no escape sequence reaches the terminal,
/// not in a diff line, not in a label (#15 bug 7).
#[test]
fn escape_sequences_in_old_content_are_escaped() {
    let p = Project::new().env(
        "hostile",
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = evil\n\
         [component:evil]\ncase = file\ntext = new content\n",
    );
    let hostile = "retitle \u{1b}]0;owned\u{7} clear \u{1b}[2J\u{1b}[H hide\r\u{1b}[8m \u{9b}31m\n";
    std::fs::create_dir_all(p.path().join("work/evil")).unwrap();
    std::fs::write(p.path().join("work/evil/plain.txt"), hostile).unwrap();
    for flag in ["-P", "--no-progress"] {
        let o = p.run(&["deploy", flag, "hostile"]).success();
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
            assert!(
                !o.stdout.contains(raw) && !o.stderr.contains(raw),
                "{raw:?} reached the terminal:\n{:?}",
                o.stdout
            );
        }
        // (The diff takes a lone `\r` for a line end.)
        o.stdout_contains("-retitle \\u{1b}]0;owned\\u{7} clear \\u{1b}[2J\\u{1b}[H hide\\r")
            .stdout_contains("-\\u{1b}[8m \\u{9b}31m");
    }
    // JSON carries the text as it is, escaped by JSON itself.
    std::fs::write(p.path().join("work/evil/plain.txt"), hostile).unwrap();
    let o = p.run(&["deploy", "--json", "-P", "hostile"]).success();
    assert!(!o.stdout.contains('\u{1b}'), "{:?}", o.stdout);
    assert!(o.stdout.contains("\\u001b]0;owned"), "{}", o.stdout);
}
