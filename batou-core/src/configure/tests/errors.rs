//! Configuration errors that point into the environment file, and errors
//! of several hosts reported together.

use super::probes;
use crate::error::{ConfigError, Error};
use crate::testutil::{Project, configure_err, line_of};

fn errors_of(p: &Project, names: &[&str], ini: &str) -> Vec<ConfigError> {
    configure_err(p.env(ini), &probes(names), &p.options())
}

#[test]
fn unknown_component_names_host_and_line() {
    let p = Project::new();
    let ini = "[environment]\nconnect_method = local\n[hosts]\nh1 = a, nope\n";
    let errors = errors_of(&p, &["a", "b"], ini);
    match &errors[..] {
        [
            ConfigError::UnknownComponent {
                origin,
                host,
                component,
                known,
            },
        ] => {
            assert_eq!(host, "h1");
            assert_eq!(component, "nope");
            assert_eq!(known, &["a", "b"]);
            assert_eq!(origin.file, p.env_file());
            assert_eq!(origin.line, line_of(ini, "h1 = "));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(errors[0].to_string(), "missing component: nope");
}

#[test]
fn unknown_components_on_several_hosts_are_all_reported() {
    let p = Project::new();
    let errors = errors_of(&p, &["a"], "[hosts]\nh1 = x\nh2 = y\n");
    let names: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e.host().unwrap().to_string(),
                e.component().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("h1".into(), "x".into()), ("h2".into(), "y".into())]
    );
}

#[test]
fn override_section_for_unknown_component() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a\n\n[component:ghost]\nx = 1\n";
    let errors = errors_of(&p, &["a"], ini);
    match &errors[..] {
        [
            ConfigError::SuperfluousComponentSection {
                origin, component, ..
            },
        ] => {
            assert_eq!(component, "ghost");
            assert_eq!(origin.line, line_of(ini, "[component:ghost]"));
            assert_eq!(origin.file, p.env_file());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn override_for_a_missing_attribute_points_at_its_line() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a\n[component:a]\nlabel = fine\nprot = 80\n";
    let errors = errors_of(&p, &["a"], ini);
    match &errors[..] {
        [
            ConfigError::UnknownAttribute {
                origin,
                host,
                component,
                key,
                known,
            },
        ] => {
            assert_eq!((host.as_str(), component.as_str()), ("h1", "a"));
            assert_eq!(key, "prot");
            assert!(known.contains(&"port".to_string()), "{known:?}");
            assert!(
                !known.contains(&"seen".to_string()),
                "skipped fields are private"
            );
            assert_eq!(origin.line, 5);
            assert_eq!(origin.file, p.env_file());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(errors[0].hint().unwrap(), "did you mean `port`?");
}

#[test]
fn a_value_that_does_not_convert_points_at_its_line() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a\n[component:a]\n\nport = eighty\n";
    let errors = errors_of(&p, &["a"], ini);
    match &errors[..] {
        [
            ConfigError::Conversion {
                origin,
                component,
                key,
                message,
                ..
            },
        ] => {
            assert_eq!((component.as_str(), key.as_str()), ("a", "port"));
            assert_eq!(origin.line, 5);
            assert!(message.contains("eighty"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Out of range for u16 is a conversion error too.
    let errors = errors_of(&p, &["a"], "[hosts]\nh1 = a\n[component:a]\nport = 70000\n");
    assert!(
        matches!(&errors[..], [ConfigError::Conversion { origin, .. }] if origin.line == 4),
        "{errors:?}"
    );
}

#[test]
fn a_failing_expansion_points_at_its_line() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a\n[component:a]\nlabel = {{ nope }}\n";
    let errors = errors_of(&p, &["a"], ini);
    match &errors[..] {
        [
            ConfigError::Expansion {
                origin,
                key,
                message,
                ..
            },
        ] => {
            assert_eq!(key, "label");
            assert_eq!(origin.line, 4);
            assert!(message.contains("undefined"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_override_error_on_several_hosts_is_reported_once() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a"],
        "[hosts]\nh1 = a\nh2 = a\nh3 = a\n[component:a]\nport = x\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn several_override_errors_are_all_reported_in_file_order() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a, b\n\
               [component:b]\nport = x\n\
               [component:a]\nnope = 1\nlabel = {{ nope }}\n";
    let errors = errors_of(&p, &["a", "b"], ini);
    let lines: Vec<usize> = errors.iter().map(|e| e.origin().unwrap().line).collect();
    assert_eq!(lines, [4, 6, 7], "{errors:?}");
    assert!(matches!(errors[0], ConfigError::Conversion { .. }));
    assert!(matches!(errors[1], ConfigError::UnknownAttribute { .. }));
    assert!(matches!(errors[2], ConfigError::Expansion { .. }));
}

#[test]
fn invalid_resolver_address_points_at_its_line() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a\n[resolver]\ndb =\n    10.0.0.1\n    10.0.0.x\nweb = ::1\n";
    let errors = errors_of(&p, &["a"], ini);
    match &errors[..] {
        [
            ConfigError::InvalidIpAddress {
                origin,
                host,
                value,
            },
        ] => {
            assert_eq!((host.as_str(), value.as_str()), ("db", "10.0.0.x"));
            assert_eq!(origin.line, line_of(ini, "10.0.0.x"));
            assert_eq!(origin.file, p.env_file());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_of_several_hosts_come_back_together() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a", "b"],
        "[hosts]\nh1 = a\nh2 = a, b\n\
         [component:a]\nfail = broken on {{ host.name }}\n\
         [component:b]\nrequire = missing\n",
    );
    let component_errors: Vec<(String, String)> = errors
        .iter()
        .filter_map(|e| match e {
            ConfigError::Component {
                host,
                source: Error::Message(m),
                ..
            } => Some((host.clone(), m.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        component_errors,
        [
            ("h1".to_string(), "broken on h1".to_string()),
            ("h2".to_string(), "broken on h2".to_string())
        ]
    );
    assert!(
        errors.iter().any(|e| matches!(e,
            ConfigError::UnsatisfiedResources { resources } if resources[0].required_by == ["b@h2"])),
        "{errors:?}"
    );
    // A root with an error is not also reported as not converging.
    assert!(
        !errors
            .iter()
            .any(|e| matches!(e, ConfigError::NonConvergence { .. })),
        "{errors:?}"
    );
}

#[test]
fn the_roots_left_unconfigured_are_named_after_the_errors() {
    let p = Project::new();
    let ini = "[hosts]\nh1 = a, c\nh2 = a, b\n\
               [component:a]\nfail = broken\n\
               [component:b]\nrequire = missing\n";
    let errors = crate::testutil::configure_err_with_summary(
        p.env(ini),
        &probes(&["a", "b", "c"]),
        &p.options(),
    );
    // As in batou: the roots with errors and the one waiting for its
    // resource, sorted, last; the root that configured is not named.
    match errors.last() {
        Some(e @ ConfigError::Unconfigured { components }) => {
            assert_eq!(components, &["a@h1", "a@h2", "b@h2"]);
            assert_eq!(
                e.to_string(),
                "3 remaining unconfigured component(s): a@h1, a@h2, b@h2"
            );
            assert!(e.is_summary());
        }
        other => panic!("{other:?} in {errors:?}"),
    }
    assert_eq!(errors.iter().filter(|e| e.is_summary()).count(), 1);
}
