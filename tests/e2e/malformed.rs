//! Malformed environments: every case must exit 3, say what is wrong,
//! point at the file and line (both in the `at FILE:LINE` context and in
//! the miette excerpt `[FILE:LINE:COL]`), and touch nothing.

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

/// One `#[test]` per case, so a failure names the case.
macro_rules! malformed {
    ($( $name:ident: $file:literal, $text:expr => $message:expr, line $line:expr; )*) => {
        $(
            #[test]
            fn $name() {
                check($file, $text, $message, Some($line));
            }
        )*
    };
}

const H: &str = "[environment]\nconnect_method = local\n";

fn env(rest: &str) -> String {
    format!("{H}{rest}")
}

malformed! {
    // --- INI syntax (Python configparser's errors) ---
    ini_line_without_delimiter: "x.cfg",
        &env("[hosts]\nlocalhost = hello\nthis line is garbage\n")
        => "`this line is garbage` is neither a `[section]` header nor a `key = value` option", line 5;
    ini_key_before_any_section: "x.cfg",
        "connect_method = local\n[hosts]\nlocalhost = hello\n"
        => "`connect_method = local` appears before any section header", line 1;
    ini_duplicate_section: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[environment]\njobs = 2\n")
        => "duplicate section [environment] (first defined on line 1)", line 5;
    ini_duplicate_key: "x.cfg",
        &env("[hosts]\nlocalhost = hello\nlocalhost = typed\n")
        => "duplicate option `localhost` in section [hosts] (first defined on line 4)", line 5;
    ini_empty_key: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n= orphan value\n")
        => "option `= orphan value` has an empty key", line 5;

    // --- sections and hosts ---
    superfluous_section: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[weird]\nkey = value\n")
        => "superfluous section in environment: weird", line 5;
    component_section_for_unknown_component: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[component:nope]\nport = 1\n")
        => "override section for unknown component found: nope", line 5;
    component_section_typo_suggests: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[component:helo]\ntext = x\n")
        => "did you mean `hello`?", line 5;
    unknown_component_in_hosts: "x.cfg",
        &env("[hosts]\nlocalhost = hello, nope\n")
        => "missing component: nope", line 4;
    unknown_component_in_host_section: "x.cfg",
        &env("[host:web]\ndata-role = x\ncomponents = hello, typd\n")
        => "missing component: typd", line 5;
    host_section_without_components: "x.cfg",
        &env("[host:web]\ndata-role = x\n")
        => "host `web` has no `components` key", line 3;
    duplicate_host_across_sections: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[host:localhost]\ncomponents = typed\n")
        => "duplicate host: localhost (first defined at environments/x.cfg:4)", line 5;
    duplicate_host_ignored_and_not: "x.cfg",
        &env("[hosts]\nweb = hello\n!web = typed\n")
        => "duplicate host: web", line 5;

    // --- [environment] values ---
    invalid_jobs: "x.cfg",
        &env("jobs = many\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `jobs`: \"many\" is not a number of jobs, at least 1", line 3;
    zero_jobs: "x.cfg",
        &env("jobs = 0\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `jobs`: \"0\"", line 3;
    invalid_timeout: "x.cfg",
        &env("timeout = 3s\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `timeout`: \"3s\" is not a whole number of seconds", line 3;
    invalid_require_v4: "x.cfg",
        &env("require_v4 = sometimes\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `require_v4`: \"sometimes\" is not True, False or optional", line 3;
    invalid_require_v6: "x.cfg",
        &env("\nrequire_v6 = 2\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `require_v6`", line 4;
    empty_connect_method: "x.cfg",
        "[environment]\nconnect_method =\n[hosts]\nlocalhost = hello\n"
        => "invalid value for `connect_method`: \"\" is not a connect method", line 2;
    environment_require_sudo_not_boolean: "x.cfg",
        &env("require_sudo = sure\n[hosts]\nlocalhost = hello\n")
        => "invalid value for `require_sudo`: \"sure\" is not a boolean", line 3;

    // --- host keys ---
    host_ignore_not_boolean: "x.cfg",
        &env("[host:web]\ncomponents = hello\nignore = maybe\n")
        => "invalid value for `ignore`: \"maybe\" is not a boolean", line 5;
    host_require_sudo_not_boolean: "x.cfg",
        &env("[host:web]\ncomponents = hello\nrequire_sudo = perhaps\n")
        => "invalid value for `require_sudo`: \"perhaps\" is not a boolean", line 5;

    // --- [vfs] and [resolver] ---
    vfs_unknown_sandbox: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[vfs]\nsandbox = Bogus\n")
        => "invalid value for `sandbox`: \"Bogus\" is not `Developer` or `Map`", line 6;
    resolver_invalid_ip: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[resolver]\ndb.internal = 10.0.0.256\n")
        => "not a valid IP address for `db.internal`: 10.0.0.256", line 6;
    resolver_invalid_ip_on_second_line: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[resolver]\ndb.internal =\n    10.1.2.3\n    fd00::zz\n")
        => "not a valid IP address for `db.internal`: fd00::zz", line 8;
    resolver_invalid_ip_after_a_comment_line: "x.cfg",
        &env("[hosts]\nlocalhost = hello\n[resolver]\ndb.internal = 10.1.2.3\n# the v6 one\n    nonsense\n")
        => "not a valid IP address for `db.internal`: nonsense", line 8;

    // --- overrides: unknown attributes, conversions, expansion ---
    override_for_undefined_attribute: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nprot = 8080\n")
        => "override for undefined attribute `prot` of component `typed`", line 6;
    undefined_attribute_did_you_mean: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nflavour = vanilla\n")
        => "did you mean `flavor`?", line 6;
    u16_not_a_number: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = abc\n")
        => "cannot convert `typed.port`: cannot convert \"abc\" to an integer", line 6;
    u16_out_of_range: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nenabled = yes\nport = 70000\n")
        => "cannot convert \"70000\" to an integer: out of range (0 to 65535)", line 7;
    bool_not_a_boolean: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nenabled = maybe\n")
        => "cannot convert `typed.enabled`: cannot convert \"maybe\" to a boolean", line 6;
    list_of_ints_with_a_word: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nports = 80, http, 443\n")
        => "cannot convert \"http\" to an integer", line 6;
    list_of_ints_multiline: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nports =\n    80\n    -1\n")
        => "cannot convert \"-1\" to an integer: out of range", line 7;
    mode_bad_letter: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nmode = rwxrwxrwq\n")
        => "Mode-string should be between `---------` and `rwxrwxrwx`.", line 6;
    mode_out_of_range: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nmode = 17777\n")
        => "is out of range (at most 0o7777)", line 6;
    address_without_port: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal\n")
        => "Need port for service address.", line 6;
    address_bad_port: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal:http\n")
        => "cannot convert `typed.address`", line 6;
    enum_unknown_variant: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nflavor = mint\n")
        => "cannot convert \"mint\" to one of `vanilla`, `chocolate`, `strawberry`", line 6;
    duration_not_a_duration: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\ntimeout = soonish\n")
        => "cannot convert `typed.timeout`", line 6;
    expansion_of_undefined_name: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nlabel = {{ nope }}\n")
        => "error while expanding attribute `typed.label`: undefined value", line 6;
    expansion_syntax_error: "x.cfg",
        &env("[hosts]\nlocalhost = typed\n[component:typed]\nport = 1\nlabel = {{ host.name\n")
        => "error while expanding attribute `typed.label`", line 7;
    override_in_example_backend: "x.cfg",
        &env("[hosts]\nlocalhost = backend, frontend\n[component:backend]\nworkers = lots\n")
        => "cannot convert `backend.workers`", line 6;

    // --- the directory layout ---
    directory_layout_line_numbers: "prod/environment.cfg",
        &env("[hosts]\nlocalhost = hello\n[component:hello]\ntxt = hi\n")
        => "override for undefined attribute `txt` of component `hello`", line 6;

    // --- TOML ---
    toml_syntax_error: "t.toml",
        "[environment]\nconnect_method = \"local\"\n\n[hosts]\nlocalhost = [\"hello\"\n"
        => "unclosed array, expected `]`", line 5;
    toml_duplicate_key: "t.toml",
        "[environment]\nconnect_method = \"local\"\nconnect_method = \"ssh\"\n[hosts]\nlocalhost = [\"hello\"]\n"
        => "duplicate key", line 3;
    toml_unknown_component_section: "t.toml",
        "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\"]\n[component.nope]\nport = 1\n"
        => "override section for unknown component found: nope", line 5;
    toml_conversion_error: "t.toml",
        "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nenabled = true\nport = 70000\n"
        => "cannot convert `typed.port`", line 7;
    toml_wrong_type: "t.toml",
        "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n[component.typed]\nnames = 5\n"
        => "cannot convert `typed.names`", line 6;
    toml_unknown_component_in_hosts: "t.toml",
        "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\", \"nope\"]\n"
        => "missing component: nope", line 4;
    toml_superfluous_section: "t.toml",
        "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"hello\"]\n[weird]\nx = 1\n"
        => "superfluous section in environment: weird", line 5;
    toml_bad_jobs: "t.toml",
        "[environment]\nconnect_method = \"local\"\njobs = 0\n[hosts]\nlocalhost = [\"hello\"]\n"
        => "invalid value for `jobs`", line 3;
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
