//! Attribute conversions end to end: overrides written in an environment
//! reach the typed fields of a component (the `typed` fixture writes them
//! into `work/typed/typed.txt`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use super::support::{LOCAL, Project};

/// `key=value` lines of `typed.txt`.
fn typed_values(p: &Project) -> BTreeMap<String, String> {
    p.read("work/typed/typed.txt")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn assert_values(p: &Project, expected: &[(&str, &str)]) {
    let values = typed_values(p);
    for (k, v) in expected {
        assert_eq!(
            values.get(*k).map(String::as_str),
            Some(*v),
            "attribute {k}; all values: {values:#?}"
        );
    }
}

fn file_mode(p: &Project, path: &str) -> u32 {
    std::fs::metadata(p.path().join(path))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn defaults_without_overrides() {
    let p = Project::new().env("local", &format!("{LOCAL}[hosts]\nlocalhost = typed\n"));
    p.run(&["deploy", "local"]).success();
    assert_values(
        &p,
        &[
            ("port", "80"),
            ("enabled", "false"),
            ("names", ""),
            ("mode", "0644"),
            ("address", "127.0.0.1:80"),
            ("listen", "127.0.0.1:80"),
            ("flavor", "Vanilla"),
            ("timeout", "30s"),
            ("limit", "none"),
        ],
    );
}

#[test]
fn ini_overrides_are_converted_to_the_field_types() {
    let env = format!(
        "{LOCAL}[hosts]\nlocalhost = typed\n\
         [component:typed]\n\
         port = 8080\n\
         enabled = yes\n\
         names = a, b, c\n\
         ports =\n    80\n    443\n\
         mode = rwxr-x---\n\
         address = db.internal:5432\n\
         flavor = chocolate\n\
         timeout = 1h30m\n\
         label = {{{{ host.name }}}} in {{{{ environment.name }}}}\n\
         limit = 7\n\
         [resolver]\n\
         db.internal = 10.1.2.3\n"
    );
    let p = Project::new().env("local", &env);
    p.run(&["deploy", "local"]).success();
    assert_values(
        &p,
        &[
            ("port", "8080"),
            ("enabled", "true"),
            ("names", "a|b|c"),
            ("ports", "80|443"),
            ("mode", "0750"),
            ("address", "db.internal:5432"),
            // `address.listen` resolved through the [resolver] override.
            ("listen", "10.1.2.3:5432"),
            ("flavor", "Chocolate"),
            ("timeout", "1h30m"),
            ("label", "localhost in local"),
            ("limit", "7"),
        ],
    );
    // The mode is applied to the file, too.
    assert_eq!(file_mode(&p, "work/typed/typed.txt"), 0o750);
}

#[test]
fn newline_separated_lists() {
    let env = format!(
        "{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nnames =\n    one\n\n    two words\n    three\n"
    );
    let p = Project::new().env("local", &env);
    p.run(&["deploy", "local"]).success();
    assert_values(&p, &[("names", "one|two words|three")]);
}

#[test]
fn boolean_spellings() {
    for (text, expected) in [
        ("True", "true"),
        ("False", "false"),
        ("true", "true"),
        ("no", "false"),
        ("1", "true"),
        ("0", "false"),
    ] {
        let env =
            format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nenabled = {text}\n");
        let p = Project::new().env("local", &env);
        p.run(&["deploy", "local"]).success();
        assert_values(&p, &[("enabled", expected)]);
    }
}

#[test]
fn mode_spellings() {
    for (text, expected) in [
        ("0o640", "0640"),
        ("755", "0755"),
        ("0600", "0600"),
        ("r--r-----", "0440"),
    ] {
        let env = format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nmode = {text}\n");
        let p = Project::new().env("local", &env);
        p.run(&["deploy", "local"]).success();
        assert_values(&p, &[("mode", expected)]);
    }
}

#[test]
fn empty_text_for_an_option_is_none() {
    let env = format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nlimit =\n");
    let p = Project::new().env("local", &env);
    p.run(&["deploy", "local"]).success();
    assert_values(&p, &[("limit", "none")]);
}

#[test]
fn resolver_with_several_addresses_last_v4_wins() {
    let env = format!(
        "{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\naddress = db.internal:5432\n\
         [resolver]\ndb.internal =\n    10.0.0.1\n    # the real one\n    10.0.0.2\n    fd00::2\n"
    );
    let p = Project::new().env("local", &env);
    p.run(&["deploy", "local"]).success();
    assert_values(&p, &[("listen", "10.0.0.2:5432")]);
}

#[test]
fn toml_environment_with_typed_values() {
    let env = r#"
[environment]
connect_method = "local"

[hosts]
localhost = ["typed", "hostdata"]

[component.typed]
port = 8080
enabled = true
names = ["a", "b", "c"]
ports = [80, 443]
mode = "rwxr-x---"
address = "db.internal:5432"
flavor = "strawberry"
timeout = "90s"
limit = 7

[resolver]
"db.internal" = "10.1.2.3"
"#;
    let p = Project::new().env_file("t.toml", env);
    p.run(&["deploy", "t"]).success();
    assert_values(
        &p,
        &[
            ("port", "8080"),
            ("enabled", "true"),
            ("names", "a|b|c"),
            ("ports", "80|443"),
            ("mode", "0750"),
            ("address", "db.internal:5432"),
            ("listen", "10.1.2.3:5432"),
            ("flavor", "Strawberry"),
            ("timeout", "1m30s"),
            ("limit", "7"),
        ],
    );
    assert_eq!(file_mode(&p, "work/typed/typed.txt"), 0o750);
}

#[test]
fn toml_strings_convert_like_ini_text() {
    let env = r#"
[environment]
connect_method = "local"
[hosts]
localhost = "typed"
[component.typed]
port = "8081"
enabled = "yes"
names = "x, y"
mode = "0o600"
"#;
    let p = Project::new().env_file("t.toml", env);
    p.run(&["deploy", "t"]).success();
    assert_values(
        &p,
        &[
            ("port", "8081"),
            ("enabled", "true"),
            ("names", "x|y"),
            ("mode", "0600"),
        ],
    );
}

#[test]
fn toml_host_data_keeps_its_types() {
    let env = r#"
[environment]
connect_method = "local"
[host.localhost]
components = ["hostdata"]
data = { weight = 3, tags = ["a", "b"], primary = true }
"#;
    let p = Project::new().env_file("t.toml", env);
    p.run(&["deploy", "t"]).success();
    assert_eq!(
        p.read("work/hostdata/data.json"),
        "{\"weight\":3,\"tags\":[\"a\",\"b\"],\"primary\":true}\n"
    );
}

#[test]
fn toml_resolver_array_reports_the_bad_item_line() {
    let env = "[environment]\nconnect_method = \"local\"\n[hosts]\nlocalhost = [\"typed\"]\n\
               [resolver]\n\"db.internal\" = [\n  \"10.0.0.1\",\n  \"not-an-ip\",\n]\n";
    let p = Project::new().env_file("t.toml", env);
    p.run(&["deploy", "t"])
        .code(3)
        .message("not a valid IP address for `db.internal`: not-an-ip")
        .stderr_contains("at environments/t.toml:8)")
        .stderr_contains("[environments/t.toml:8:");
    p.assert_untouched();
}

#[test]
fn overrides_apply_to_the_example_components() {
    let env = super::support::example_env()
        .replace("workers = 2", "workers = 16\ndebug = yes")
        .replace("app.internal = 127.0.0.1", "app.internal = 127.0.0.9");
    let p = Project::new().env("local", &env);
    p.run(&["deploy", "local"]).success();
    let backend = p.read("work/backend/etc/backend.conf");
    assert!(backend.contains("\nworkers = 16\n"), "{backend}");
    assert!(backend.contains("\ndebug = True\n"), "{backend}");
    assert!(backend.contains("\nlisten = 127.0.0.9:8080\n"), "{backend}");
    assert!(
        p.read("work/frontend/frontend.conf")
            .contains("upstream localhost = 127.0.0.9:8080"),
    );
}
