//! Malformed environments beyond single bad lines (those are rows of the
//! bad-input catalogue, `catalogue.rs`): errors without a line, several
//! errors in one run, their order. Every case must exit 3, say what is
//! wrong, point at the file and line (both in the `at FILE:LINE` context
//! and in the miette excerpt `[FILE:LINE:COL]`), and touch nothing.

use super::support::{Outcome, Project};

/// `environments/FILE` → the environment name to deploy.
fn env_name(file: &str) -> &str {
    for suffix in ["/environment.cfg", "/environment.toml", ".cfg", ".toml"] {
        if let Some(name) = file.strip_suffix(suffix) {
            return name;
        }
    }
    panic!("not an environment file name: {file}")
}

/// Writes `text` to `environments/FILE`, deploys it and checks the
/// common contract of a configuration error.
#[track_caller]
fn check(file: &str, text: &str, message: &str, line: Option<usize>) -> Outcome {
    let p = Project::new().env_file(file, text);
    let outcome = p
        .run(&["deploy", env_name(file)])
        .code(3)
        .message(message)
        .stdout_contains("CONFIGURATION FAILED")
        .stdout_lacks("DEPLOYMENT FINISHED");
    if let Some(line) = line {
        let path = format!("environments/{file}:{line}");
        let context_ok = outcome.stderr.contains(&format!("at {path})"))
            || outcome.stderr.contains(&format!("at {path},"));
        assert!(context_ok, "expected `at {path}` in:\n{}", outcome.stderr);
        let outcome = outcome.stderr_contains(&format!("[{path}:"));
        p.assert_untouched();
        return outcome;
    }
    p.assert_untouched();
    outcome
}

const H: &str = "[environment]\nconnect_method = local\n";

fn env(rest: &str) -> String {
    format!("{H}{rest}")
}

// --- errors without a line ---

#[test]
fn environment_without_hosts() {
    check(
        "x.cfg",
        "[environment]\nconnect_method = local\n",
        "no host found in environment",
        None,
    )
    .stderr_contains("list hosts in [hosts] or in [host:NAME] sections");
}

#[test]
fn missing_environment_lists_where_it_looked() {
    let p = Project::new().env("other", "[hosts]\nlocalhost = hello\n");
    p.run(&["deploy", "nope"])
        .code(3)
        .message("missing environment `nope` (looked for")
        .message("environments/nope/environment.cfg")
        .message("environments/nope.cfg")
        .message("environments/nope.toml")
        .stdout_contains("DEPLOYMENT FAILED (during load)");
    p.assert_untouched();
}

#[test]
fn environment_name_with_a_path_is_missing() {
    let p = Project::new().env("x", "[hosts]\nlocalhost = hello\n");
    p.run(&["deploy", "../environments/x"])
        .code(3)
        .message("missing environment");
    p.assert_untouched();
}

#[test]
fn ambiguous_environment() {
    let text = "[environment]\nconnect_method = local\n[hosts]\nlocalhost = hello\n";
    let p = Project::new()
        .env("local", text)
        .env_file("local/environment.cfg", text);
    p.run(&["deploy", "local"])
        .code(3)
        .message("environment `local` is defined twice")
        .message("environments/local/environment.cfg")
        .message("environments/local.cfg");
    p.assert_untouched();
}

#[test]
fn unreadable_environment_is_an_error() {
    // Not UTF-8.
    let p = Project::new().bytes("environments/bin.cfg", b"[hosts]\nlocalhost = \xff\xfe\n");
    p.run(&["deploy", "bin"])
        .code(3)
        .message("cannot read")
        .message("environments/bin.cfg");
    p.assert_untouched();
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let text = env(concat!(
        "jobs = none\n",        // 3
        "timeout = forever\n",  // 4
        "[hosts]\n",            // 5
        "localhost = hello\n",  // 6
        "[host:localhost]\n",   // 7
        "components = typed\n", // 8
        "[bogus]\n",            // 9
        "[vfs]\n",              // 10
        "sandbox = Nope\n",     // 11
    ));
    let o = check("x.cfg", &text, "invalid value for `jobs`", Some(3))
        .message("invalid value for `timeout`")
        .message("at environments/x.cfg:4")
        .message("duplicate host: localhost")
        .message("at environments/x.cfg:7")
        .message("superfluous section in environment: bogus")
        .message("at environments/x.cfg:9")
        .message("invalid value for `sandbox`")
        .message("at environments/x.cfg:11")
        .stdout_contains("5 ERRORS - CONFIGURATION FAILED");
    assert_eq!(o.error_count(), 5, "{}", o.stderr);
}

#[test]
fn several_override_errors_are_reported_in_one_run() {
    let text = env(concat!(
        "[hosts]\n",            // 3
        "localhost = typed\n",  // 4
        "[component:typed]\n",  // 5
        "port = abc\n",         // 6
        "enabled = maybe\n",    // 7
        "prot = 1\n",           // 8
        "mode = rwxrwxrwq\n",   // 9
        "label = {{ nope }}\n", // 10
    ));
    let o = check("x.cfg", &text, "cannot convert `typed.port`", Some(6))
        .message("cannot convert `typed.enabled`")
        .message("at environments/x.cfg:7")
        .message("override for undefined attribute `prot`")
        .message("at environments/x.cfg:8")
        .message("cannot convert `typed.mode`")
        .message("at environments/x.cfg:9")
        .message("error while expanding attribute `typed.label`")
        .message("at environments/x.cfg:10")
        .stdout_contains("5 ERRORS - CONFIGURATION FAILED");
    assert_eq!(o.error_count(), 5, "{}", o.stderr);
}

#[test]
fn errors_are_listed_in_file_order() {
    let text = env(concat!(
        "[host:web]\n",              // 3
        "components = nada\n",       // 4
        "[hosts]\n",                 // 5
        "localhost = typed, nope\n", // 6
        "[component:zzz]\n",         // 7
    ));
    let o = check("x.cfg", &text, "missing component: nada", Some(4))
        .message("missing component: nope")
        .message("at environments/x.cfg:6")
        .message("override section for unknown component found: zzz")
        .message("at environments/x.cfg:7");
    let first = o.stderr.find("nada").expect("line 4");
    let second = o.stderr.find("nope").expect("line 6");
    let third = o.stderr.find("zzz").expect("line 7");
    assert!(first < second && second < third, "{}", o.stderr);
}

#[test]
fn same_override_error_on_two_hosts_is_reported_once() {
    let text = env("[hosts]\na = typed\nb = typed\n[component:typed]\nport = abc\n");
    let o = check("x.cfg", &text, "cannot convert `typed.port`", Some(7));
    assert_eq!(o.error_count(), 1, "{}", o.stderr);
}

#[test]
fn consistency_check_reports_the_same_errors() {
    let p = Project::new().env(
        "x",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = abc\n"),
    );
    p.run(&["deploy", "-c", "x"])
        .code(3)
        .message("cannot convert `typed.port`")
        .stderr_contains("at environments/x.cfg:6,")
        .stdout_contains("CONSISTENCY CHECK FAILED (during connect)");
    p.assert_untouched();
}

/// Loading, resolving and configuring each find problems; one run reports
/// them all, in file order, instead of stopping at the first stage.
#[test]
fn errors_from_every_stage_are_reported_in_one_run() {
    let text = "\
[environment]
connect_method = local
jobs = many

[hosts]
localhost = hello, helo

[host:localhost]
components = hello

[component:hello]
greting = hi

[bogus]
a = 1

[resolver]
app.internal = 1.2.3
";
    let p = Project::new().env("x", text);
    let out = p.run(&["deploy", "x"]).code(3);
    let expected = [
        ("invalid value for `jobs`", "environments/x.cfg:3"),
        ("missing component: helo", "environments/x.cfg:6"),
        ("duplicate host: localhost", "environments/x.cfg:8"),
        (
            "override for undefined attribute `greting`",
            "environments/x.cfg:12",
        ),
        (
            "superfluous section in environment: bogus",
            "environments/x.cfg:14",
        ),
        (
            "not a valid IP address for `app.internal`: 1.2.3",
            "environments/x.cfg:18",
        ),
    ];
    let mut last = 0;
    for (message, at) in expected {
        let pos = out
            .stderr
            .find(message)
            .unwrap_or_else(|| panic!("missing {message:?} in:\n{}", out.stderr));
        assert!(
            pos >= last,
            "{message:?} is out of file order:\n{}",
            out.stderr
        );
        last = pos;
        assert!(
            out.stderr.contains(&format!("at {at}")),
            "{at} for {message:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stdout.contains("6 ERRORS - CONFIGURATION FAILED"),
        "{}",
        out.stdout
    );
    p.assert_untouched();
}
