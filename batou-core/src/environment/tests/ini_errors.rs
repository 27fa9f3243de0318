//! Malformed INI environments: each error with its file and line.

use super::*;

/// The single error of `src`, with its line.
fn single(src: &str) -> (ConfigError, usize) {
    let mut errs = errors(src);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = errs.remove(0);
    let origin = e.origin().cloned().expect("an origin");
    assert_eq!(origin.file, Path::new("/p/environments/t.cfg"));
    (e, origin.line)
}

#[test]
fn syntax_errors_carry_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("hosts = a\n", 1, "appears before any section header"),
        (
            "[hosts]\nh = a\nthis line has no delimiter\n",
            3,
            "neither a",
        ),
        (
            "[hosts]\nh = a\n[hosts]\nx = b\n",
            3,
            "duplicate section [hosts]",
        ),
        ("[hosts]\nh = a\nh = b\n", 3, "duplicate option `h`"),
        ("[hosts]\nh = a\n= b\n", 3, "empty key"),
    ];
    for (src, line, text) in cases {
        let (e, l) = single(src);
        assert!(matches!(e, ConfigError::Syntax { .. }), "{src:?}: {e:?}");
        assert_eq!(l, *line, "{src:?}");
        assert!(e.to_string().contains(text), "{src:?}: {e}");
    }
}

#[test]
fn unknown_sections_are_superfluous() {
    let (e, line) = single("[hosts]\nh = a\n\n[hots]\nx = 1\n");
    assert!(matches!(&e, ConfigError::SuperfluousSection { section, .. } if section == "hots"));
    assert_eq!(line, 4);
    assert_eq!(e.to_string(), "superfluous section in environment: hots");
}

#[test]
fn a_host_defined_twice() {
    let (e, line) = single("[hosts]\nweb = a\n\n[host:web]\ncomponents = b\n");
    match &e {
        ConfigError::DuplicateHost { host, first, .. } => {
            assert_eq!(host, "web");
            assert_eq!(first.line, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(line, 4);
    // The other way round too.
    let (e, line) = single("[host:web]\ncomponents = b\n[hosts]\nweb = a\n");
    assert!(matches!(&e, ConfigError::DuplicateHost { first, .. } if first.line == 1));
    assert_eq!(line, 4);
}

#[test]
fn a_host_section_without_components() {
    let (e, line) = single("[hosts]\nh = a\n[host:db]\nplatform = debian\n");
    assert!(matches!(&e, ConfigError::MissingComponents { host, .. } if host == "db"));
    assert_eq!(line, 3);
    assert_eq!(
        e.hint().unwrap(),
        "add `components = ...` to the host section, or list the host in [hosts] (then the section adds its keys to it)"
    );
}

#[test]
fn a_host_section_without_components_adds_keys_to_a_host_of_hosts() {
    // Before or after [hosts]: the section's keys go to that host.
    for ini in [
        "[hosts]\n!web = a, b\n[host:web]\nservice_user = app\nplatform = debian\ndata-role = primary\nignore = False\n",
        "[host:web]\nservice_user = app\nplatform = debian\ndata-role = primary\nignore = False\n[hosts]\n!web = a, b\n",
    ] {
        let env = crate::environment::Environment::from_source(
            std::path::Path::new("/p"),
            "x",
            std::path::Path::new("/p/environments/x.cfg"),
            ini,
        )
        .unwrap_or_else(|e| panic!("{ini}: {e:?}"));
        assert_eq!(env.hosts.len(), 1, "{ini}");
        let web = &env.hosts["web"];
        let names: Vec<&str> = web.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(web.service_user.as_deref(), Some("app"));
        assert_eq!(web.platform.as_deref(), Some("debian"));
        assert_eq!(web.data["role"], serde_json::json!("primary"));
        assert!(!web.ignore, "the section's ignore = False wins");
    }
}

#[test]
fn invalid_values_name_key_value_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("[environment]\njobs = many\n", "jobs", "many"),
        ("[environment]\njobs = 0\n", "jobs", "0"),
        (
            "[environment]\nagent_cache_keep = 0\n",
            "agent_cache_keep",
            "0",
        ),
        (
            "[environment]\nagent_cache_keep = all\n",
            "agent_cache_keep",
            "all",
        ),
        ("[environment]\ntimeout = 3s\n", "timeout", "3s"),
        ("[environment]\ntimeout = -1\n", "timeout", "-1"),
        (
            "[environment]\nrequire_v4 = sometimes\n",
            "require_v4",
            "sometimes",
        ),
        ("[environment]\nrequire_v6 = maybe\n", "require_v6", "maybe"),
        (
            "[environment]\nrequire_sudo = perhaps\n",
            "require_sudo",
            "perhaps",
        ),
        ("[environment]\nconnect_method =\n", "connect_method", ""),
        ("[environment]\nserial = 1, 0%\n", "serial", "1, 0%"),
        ("[environment]\nmax_fail = lots\n", "max_fail", "lots"),
        ("[vfs]\nsandbox = Sandbox\n", "sandbox", "Sandbox"),
    ];
    for (head, key, value) in cases {
        let src = format!("{head}[hosts]\nh = a\n");
        let (e, line) = single(&src);
        match &e {
            ConfigError::InvalidValue {
                key: k, value: v, ..
            } => {
                assert_eq!((k.as_str(), v.as_str()), (*key, *value), "{src}");
            }
            other => panic!("{src}: {other:?}"),
        }
        assert_eq!(line, 2, "{src}");
    }
}

#[test]
fn invalid_host_booleans() {
    let (e, line) = single("[host:h]\ncomponents = a\nignore = maybe\n");
    assert!(matches!(&e, ConfigError::InvalidValue { key, value, .. }
        if key == "ignore" && value == "maybe"));
    assert_eq!(line, 3);
    let (e, line) = single("[host:h]\ncomponents = a\n\nrequire_sudo = sure\n");
    assert!(matches!(&e, ConfigError::InvalidValue { key, .. } if key == "require_sudo"));
    assert_eq!(line, 4);
}

#[test]
fn no_hosts() {
    for src in ["", "[environment]\nconnect_method = local\n", "[hosts]\n"] {
        match &errors(src)[..] {
            [ConfigError::NoHosts { file }] => {
                assert_eq!(file, Path::new("/p/environments/t.cfg"))
            }
            other => panic!("{src:?}: {other:?}"),
        }
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let src =
        "[environment]\njobs = x\ntimeout = y\n[hosts]\nh = a\n[bogus]\n[host:h]\ncomponents = b\n";
    let lines: Vec<usize> = errors(src)
        .iter()
        .map(|e| e.origin().unwrap().line)
        .collect();
    assert_eq!(lines, [2, 3, 6, 7]);
}

#[test]
fn max_parallel_is_a_limit_not_an_attribute() {
    let (e, line) = single("[hosts]\nh = web\n\n[component:web]\nmax_parallel = 0\n");
    assert!(
        matches!(&e, ConfigError::InvalidValue { key, value, .. } if key == "max_parallel" && value == "0"),
        "{e:?}"
    );
    assert_eq!(line, 5);
}
