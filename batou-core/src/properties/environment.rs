//! The environment loader, INI and TOML: arbitrary environments load or
//! fail with errors that name the file and a line inside it; loading is
//! deterministic.

use std::path::Path;

use proptest::prelude::*;

use super::{config, lines_of, nasty_text};
use crate::environment::Environment;
use crate::error::ConfigError;

const SECTIONS: &[&str] = &[
    "environment",
    "hosts",
    "host:web",
    "host:db",
    "component:app",
    "component:nginx",
    "resolver",
    "vfs",
    "DEFAULT",
    "provisioner:x",
    "bogus",
];

const KEYS: &[&str] = &[
    "host_domain",
    "connect_method",
    "service_user",
    "require_sudo",
    "platform",
    "timeout",
    "jobs",
    "connect_timeout",
    "command_timeout",
    "target_directory",
    "agent_cache",
    "deploy_lock",
    "update_method",
    "branch",
    "components",
    "ignore",
    "data-role",
    "web",
    "db",
    "app",
    "port",
    "secret_provider",
    "/srv",
    "sandbox",
    "",
];

const VALUES: &[&str] = &[
    "app",
    "app, nginx",
    "!app",
    "nginx:ssl",
    "yes",
    "no",
    "maybe",
    "30",
    "-4",
    "99999999999999999999",
    "1.5",
    "local",
    "ssh",
    "nope",
    "127.0.0.1",
    "::1",
    "example",
    "{{ host.name }}",
    "{% bad",
    "",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(VALUES).prop_map(str::to_string),
        1 => nasty_text(),
    ]
}

fn ini_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(SECTIONS).prop_map(|s| format!("[{s}]")),
        5 => (prop::sample::select(KEYS), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => value().prop_map(|v| format!("    {v}")),
        1 => nasty_text(),
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => value().prop_map(|v| format!("{v:?}")),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => prop::collection::vec(value(), 0..3).prop_map(|v| format!("{v:?}")),
        1 => Just("{ a = 1, b = [true] }".to_string()),
        1 => Just("1979-05-27T07:32:00Z".to_string()),
        1 => value(),
    ]
}

fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "[environment]", "[hosts]", "[hosts.web]", "[hosts.web.data]", "[components.app]",
            "[components.nginx]", "[resolver]", "[vfs]", "[[hosts]]", "[bogus]", "[hosts.db]",
        ])
        .prop_map(str::to_string),
        5 => (prop::sample::select(KEYS), toml_value())
            .prop_map(|(k, v)| format!("{:?} = {v}", k)),
        1 => nasty_text(),
    ]
}

/// Loads `source` as `environments/fuzz.<ext>` and checks every error.
fn load_and_check(source: &str, ext: &str) -> Result<(), TestCaseError> {
    let project = Path::new("/nonexistent-project");
    let file = project.join("environments").join(format!("fuzz.{ext}"));
    let (env, errors) = Environment::from_source_partial(project, "fuzz", &file, source);
    let lines = source.split(['\n', '\r']).count().max(1);
    for e in &errors {
        check_error(e, &file, lines, source.len())?;
    }
    prop_assert!(
        env.is_some() || !errors.is_empty(),
        "nothing loaded and no error"
    );
    // Loading is a function of the text.
    let (again, errors_again) = Environment::from_source_partial(project, "fuzz", &file, source);
    prop_assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        errors_again
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    prop_assert_eq!(
        env.map(|e| e.hosts.keys().cloned().collect::<Vec<_>>()),
        again.map(|e| e.hosts.keys().cloned().collect::<Vec<_>>())
    );
    Ok(())
}

fn check_error(
    e: &ConfigError,
    file: &Path,
    lines: usize,
    len: usize,
) -> Result<(), TestCaseError> {
    let message = e.to_string();
    prop_assert!(!message.is_empty());
    if let Some(origin) = e.origin() {
        prop_assert_eq!(&origin.file, file, "{}", message);
        prop_assert!(
            origin.line >= 1 && origin.line <= lines + 1,
            "{message}: line {} of {lines}",
            origin.line
        );
        if let Some(span) = &origin.span {
            prop_assert!(
                span.start <= span.end && span.end <= len,
                "{message}: span {span:?}"
            );
        }
    } else {
        // Only whole-file problems may come without a line.
        prop_assert!(
            matches!(e, ConfigError::NoHosts { .. }),
            "{message}: no location"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn ini_environments_load_or_point_at_a_line(source in lines_of(ini_line(), 24)) {
        load_and_check(&source, "cfg")?;
    }

    #[test]
    fn toml_environments_load_or_point_at_a_line(source in lines_of(toml_line(), 20)) {
        load_and_check(&source, "toml")?;
    }

    #[test]
    fn arbitrary_text_as_either_format(source in "\\PC{0,300}", toml in any::<bool>()) {
        load_and_check(&source, if toml { "toml" } else { "cfg" })?;
    }
}
