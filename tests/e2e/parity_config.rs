//! Where batou 2.7.1's configuration behaviour and ours were compared
//! (issue #20, points 1, 2, 3, 6, 10 and 11): each test fails without
//! the change it pins. Transcripts are snapshots where the output is the
//! point.

use super::secrets::{encrypt, identity, project as secrets_project};
use super::support::{LOCAL, Outcome, Project, redact};

fn transcript(p: &Project, o: &Outcome) -> String {
    format!(
        "$ batou {}\nexit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.args.join(" "),
        o.code.map_or("signal".to_string(), |c| c.to_string()),
        redact(&o.stdout, p.path()),
        redact(&o.stderr, p.path()),
    )
}

fn key() -> Vec<(&'static str, String)> {
    vec![("BATOU_AGE_IDENTITIES", identity())]
}

/// Point 1: an error in the secrets (a section for an unknown component)
/// is reported with the environment's own errors, each with file:line,
/// not instead of them.
#[test]
fn a_secrets_error_does_not_hide_the_configuration_errors() {
    let p = secrets_project("[component:nosuch]\nkey = x-secret\n");
    let env = p.read("environments/sec/environment.cfg").replace(
        "components = backend, frontend",
        "components = backend, frontend, nope",
    ) + "[component:ghost]\nport = 1\n";
    p.write("environments/sec/environment.cfg", &env);
    let vars = key();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = p
        .run_with(&["deploy", "sec"], &vars)
        .code(3)
        .message("secrets section for unknown component found: nosuch")
        .message("missing component: nope")
        .message("(at environments/sec/environment.cfg:7")
        .message("override section for unknown component found: ghost")
        .stdout_contains("3 ERRORS - CONFIGURATION FAILED")
        .stdout_contains("DEPLOYMENT FAILED (during load secrets)");
    assert_eq!(o.error_count(), 3, "{}", o.stderr);
    assert!(!o.stderr.contains("x-secret") && !o.stdout.contains("x-secret"));
    p.assert_untouched();
    insta::assert_snapshot!(transcript(&p, &o));

    // Secrets that cannot be decrypted at all (no key): the names the
    // environment uses are still checked.
    let o = p
        .run_with(&["deploy", "sec"], &[("BATOU_AGE_IDENTITIES", "")])
        .code(3)
        .message("missing component: nope")
        .message("override section for unknown component found: ghost");
    assert_eq!(o.error_count(), 3, "{}", o.stderr);
    p.assert_untouched();
}

/// Point 2: a consumer that fails to configure does not also make what
/// it would have required "unused": one mistake, one error.
#[test]
fn a_failing_consumer_leaves_no_unused_resource_error() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = provider, requirer\n\
             [component:requirer]\noptional = perhaps\n"
        ),
    );
    let o = p
        .run(&["deploy", "local"])
        .code(3)
        .message("cannot convert `requirer.optional`")
        .stderr_lacks("unused provided resources")
        .stdout_contains("1 ERROR - CONFIGURATION FAILED");
    assert_eq!(o.error_count(), 1, "{}", o.stderr);
    p.assert_untouched();
    insta::assert_snapshot!(transcript(&p, &o));
}

/// Point 3: when configuring fails, the roots left unconfigured are
/// named (batou #342), after the errors, and not counted as one.
#[test]
fn the_roots_left_unconfigured_are_named() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = typed, hello, requirer\n\
             [component:typed]\nport = 70000\n\
             [component:requirer]\nkey = nothing\n"
        ),
    );
    let o = p
        .run(&["deploy", "local"])
        .code(3)
        .message("cannot convert `typed.port`")
        .message("unsatisfied resource requirements: `nothing` required by requirer")
        .stderr_contains("\n  2 remaining unconfigured component(s): requirer, typed\n")
        .stdout_contains("2 ERRORS - CONFIGURATION FAILED");
    assert_eq!(o.error_count(), 2, "{}", o.stderr);
    p.assert_untouched();
    insta::assert_snapshot!(transcript(&p, &o));
}

/// Point 6: a `[host:NAME]` section without `components` adds its keys
/// to the host of `[hosts]` (batou 2.7.1 refuses it).
#[test]
fn a_host_section_adds_keys_to_a_host_of_hosts() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}[host:localhost]\ndata-role = primary\n\
             [hosts]\nlocalhost = hostdata\n"
        ),
    );
    p.run(&["deploy", "local"]).success();
    assert_eq!(
        p.read("work/hostdata/data.json"),
        "{\"role\":\"primary\"}\n"
    );
    // Without a host of that name, the section still lacks `components`.
    p.write(
        "environments/local.cfg",
        &format!("{LOCAL}[host:other]\ndata-role = x\n[hosts]\nlocalhost = hostdata\n"),
    );
    p.run(&["deploy", "local"])
        .code(3)
        .message("host `other` has no `components` key")
        .message("or list the host in [hosts]");
}

/// Point 10: an undefined name is named, with the closest known one.
#[test]
fn an_undefined_name_suggests_the_closest() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = typed\n\
             [component:typed]\nport = 8080\nlabel = {{{{ component.prot }}}} on {{{{ hots.name }}}}\n"
        ),
    );
    p.run(&["deploy", "local"])
        .code(3)
        .message("undefined value: `component.prot` is undefined; did you mean `component.port`?")
        .message("(at environments/local.cfg:7, host: localhost, component: typed)");
    p.assert_untouched();
}

/// Point 11: an override reading another attribute sees its overridden
/// value, whichever line comes first; a cycle is an error; a secret read
/// this way stays masked, and a form of it the masking cannot follow is
/// refused.
#[test]
fn overrides_see_the_other_overrides() {
    for order in [
        "label = port {{ component.port }}\nport = 8080\n",
        "port = 8080\nlabel = port {{ component.port }}\n",
    ] {
        let p = Project::new().env(
            "local",
            &format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\n{order}"),
        );
        p.run(&["deploy", "local"]).success();
        let typed = p.read("work/typed/typed.txt");
        assert!(typed.contains("label=port 8080\n"), "{order}: {typed}");
    }
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\n\
             label = {{{{ component.names }}}}\nnames = {{{{ component.label }}}}\n"
        ),
    );
    p.run(&["deploy", "local"])
        .code(3)
        .message("the overrides refer to each other in a cycle: `label` -> `names` -> `label`");
    p.assert_untouched();

    // A secret in a non-secret attribute: masked wherever it shows.
    let secret_env = |names: &str| {
        format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nnames = a, {names}\n")
    };
    let p = Project::new().env_file("sec/environment.cfg", &secret_env("{{ component.label }}"));
    encrypt(&p, "[typed]\nlabel = x-secret-label\n");
    let vars = key();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = p.run_with(&["deploy", "sec"], &vars).success();
    assert!(
        p.read("work/typed/typed.txt")
            .contains("names=a|x-secret-label\n")
    );
    assert!(
        !o.stdout.contains("secret-label") && !o.stderr.contains("secret-label"),
        "{o:?}"
    );
    let o = p
        .run_with(&["deploy", "-P", "--json", "sec"], &vars)
        .success();
    assert!(!o.stdout.contains("secret-label"), "{}", o.stdout);
    // A slice of it would not be masked: refused, naming the attribute.
    p.write(
        "environments/sec/environment.cfg",
        &secret_env("{{ component.label[2:] }}"),
    );
    let o = p
        .run_with(&["deploy", "sec"], &vars)
        .code(3)
        .message("error while expanding attribute `typed.names`: it uses a secret in a form the output masking cannot recognise");
    assert!(
        !o.stdout.contains("secret-label") && !o.stderr.contains("secret-label"),
        "{o:?}"
    );

    // A secret is taken as written, never expanded: expanded, it would be
    // a string the masking does not know.
    let p = Project::new().env_file("sec/environment.cfg", &secret_env("b"));
    encrypt(&p, "[typed]\nlabel = {{ host.name }}-pw\n");
    let o = p.run_with(&["deploy", "sec"], &vars).success();
    let typed = p.read("work/typed/typed.txt");
    assert!(typed.contains("label={{ host.name }}-pw\n"), "{typed}");
    for out in [&o.stdout, &o.stderr] {
        assert!(!out.contains("-pw"), "{o:?}");
    }
}
