//! Applying overrides to component structs.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Ensure {
    File,
    Directory,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Tls {
    cert: String,
    #[serde(default)]
    port: u16,
}

/// What a component author writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nginx {
    port: u16,
    workers: u8,
    enabled: bool,
    servers: Vec<String>,
    ports: Vec<u16>,
    mode: Mode,
    timeout: Duration,
    ensure: Ensure,
    #[serde(rename = "listen")]
    listen_address: String,
    #[serde(default)]
    user: Option<String>,
    max_body: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_level: Option<String>,
    tls: Option<Tls>,
    headers: IndexMap<String, String>,
    env: HashMap<String, u16>,
    /// Internal state: not settable, and reset by the round trip.
    #[serde(skip)]
    configured: bool,
}

fn nginx() -> Nginx {
    Nginx {
        port: 80,
        workers: 1,
        enabled: false,
        servers: vec!["default".into()],
        ports: vec![80],
        mode: Mode(0o644),
        timeout: Duration::from_secs(30),
        ensure: Ensure::File,
        listen_address: "0.0.0.0".into(),
        user: Some("nginx".into()),
        max_body: Some(1024),
        log_level: None,
        tls: None,
        headers: IndexMap::new(),
        env: HashMap::new(),
        configured: true,
    }
}

fn text(key: &str, value: &str) -> Override {
    Override::text(key, value)
}

fn errors_of(overrides: &[Override]) -> Vec<OverrideError> {
    match apply_overrides(&nginx(), overrides) {
        Ok(value) => panic!("expected errors, got {value:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn text_overrides_convert_to_each_field_type() {
    let got = apply_overrides(
        &nginx(),
        &[
            text("port", "8080"),
            text("workers", "4"),
            text("enabled", "yes"),
            text("servers", "a, b, c"),
            text("ports", "80\n443"),
            text("mode", "rwxr-x---"),
            text("timeout", "1h30m"),
            text("ensure", "directory"),
            text("listen", "127.0.0.1"),
            text("user", "www"),
            text("max_body", ""),
            text("log_level", "debug"),
        ],
    )
    .unwrap();
    let mut expected = nginx();
    expected.port = 8080;
    expected.workers = 4;
    expected.enabled = true;
    expected.servers = vec!["a".into(), "b".into(), "c".into()];
    expected.ports = vec![80, 443];
    expected.mode = Mode(0o750);
    expected.timeout = Duration::from_secs(5400);
    expected.ensure = Ensure::Directory;
    expected.listen_address = "127.0.0.1".into();
    expected.user = Some("www".into());
    expected.max_body = None;
    expected.log_level = Some("debug".into());
    expected.configured = false; // `#[serde(skip)]`: back to Default
    assert_eq!(got, expected);
}

#[test]
fn untouched_fields_keep_their_values_but_skipped_ones_reset() {
    let mut current = nginx();
    current.headers.insert("X-A".into(), "1".into());
    current.tls = Some(Tls {
        cert: "a.pem".into(),
        port: 443,
    });
    let got = apply_overrides(&current, &[text("port", "81")]).unwrap();
    assert_eq!(got.port, 81);
    assert_eq!(got.headers, current.headers);
    assert_eq!(got.tls, current.tls);
    assert_eq!(got.mode, current.mode);
    assert!(current.configured);
    assert!(!got.configured, "skip fields come back as Default");

    let copy = apply_overrides(&current, &[]).unwrap();
    assert_eq!(copy.tls, current.tls);
    assert!(!copy.configured);
}

#[test]
fn blank_text_clears_options_but_not_strings() {
    let got = apply_overrides(&nginx(), &[text("user", ""), text("max_body", " ")]).unwrap();
    assert_eq!(
        got.user.as_deref(),
        Some(""),
        "Option<String> from \"\" is Some(\"\")"
    );
    assert_eq!(got.max_body, None);
}

#[test]
fn unknown_key_lists_known_attributes() {
    let errors = errors_of(&[text("prot", "8080")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "prot");
    let OverrideErrorKind::UnknownAttribute { known } = &errors[0].kind else {
        panic!("wrong kind: {:?}", errors[0].kind);
    };
    assert!(known.contains(&"port".to_string()));
    assert!(known.contains(&"listen".to_string()), "the serde name");
    assert!(
        known.contains(&"log_level".to_string()),
        "declared though not serialized"
    );
    assert!(!known.contains(&"listen_address".to_string()));
    assert!(
        !known.contains(&"configured".to_string()),
        "skip fields are private"
    );
    assert_eq!(
        errors[0].to_string(),
        "no attribute `prot` on this component (it has: port, workers, enabled, servers, \
         ports, mode, timeout, ensure, listen, user, max_body, log_level, tls, headers, env)"
    );
}

#[test]
fn skip_fields_and_rust_names_cannot_be_set() {
    let errors = errors_of(&[text("configured", "yes"), text("listen_address", "x")]);
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["configured", "listen_address"]);
    assert!(
        errors
            .iter()
            .all(|e| matches!(e.kind, OverrideErrorKind::UnknownAttribute { .. }))
    );
}

#[test]
fn every_bad_key_is_reported_with_its_own_error() {
    let errors = errors_of(&[
        text("port", "http"),
        text("enabled", "sure"),
        text("workers", "2"),
        text("nope", "1"),
        text("workers", "300"),
    ]);
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["port", "enabled", "nope", "workers"]);
    assert_eq!(
        errors[0].kind,
        OverrideErrorKind::Conversion {
            value: "http".into(),
            message: r#"cannot convert "http" to an integer: invalid digit found in string"#.into(),
        }
    );
    assert_eq!(
        errors[0].to_string(),
        r#"attribute `port`: cannot convert "http" to an integer: invalid digit found in string"#
    );
    assert!(errors[1].to_string().contains("to a boolean"));
    assert!(matches!(
        errors[2].kind,
        OverrideErrorKind::UnknownAttribute { .. }
    ));
    // The later `workers` wins, and it is the one that is wrong.
    assert!(errors[3].to_string().contains("out of range (0 to 255)"));
}

#[test]
fn mode_and_enum_errors_reach_the_right_key() {
    let errors = errors_of(&[text("mode", "wrongmode"), text("ensure", "socket")]);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].key, "mode");
    assert_eq!(
        errors[0].to_string(),
        "attribute `mode`: cannot convert \"wrongmode\": Mode-string should be between \
         `---------` and `rwxrwxrwx`."
    );
    assert_eq!(errors[1].key, "ensure");
    assert!(errors[1].to_string().contains("one of `file`, `directory`"));
}

#[test]
fn typed_values_deserialize_directly() {
    let got = apply_overrides(
        &nginx(),
        &[
            Override::typed("port", json!(8443)),
            Override::typed("enabled", json!(true)),
            Override::typed("ports", json!([80, 443])),
            Override::typed("mode", json!(0o700)),
            Override::typed("timeout", json!(90)),
            Override::typed("servers", json!(["x", "y"])),
            Override::typed("headers", json!({"X-B": "2", "X-A": "1"})),
            Override::typed("env", json!({"PORT": 80})),
            Override::typed("tls", json!({"cert": "c.pem"})),
        ],
    )
    .unwrap();
    assert_eq!(got.port, 8443);
    assert!(got.enabled);
    assert_eq!(got.ports, [80, 443]);
    assert_eq!(got.mode, Mode(0o700));
    assert_eq!(got.timeout, Duration::from_secs(90));
    assert_eq!(got.servers, ["x", "y"]);
    let header_keys: Vec<&String> = got.headers.keys().collect();
    assert_eq!(header_keys, ["X-B", "X-A"], "table order is kept");
    assert_eq!(got.env.get("PORT"), Some(&80));
    assert_eq!(
        got.tls,
        Some(Tls {
            cert: "c.pem".into(),
            port: 0
        }),
        "a table replaces the whole nested struct"
    );
}

#[test]
fn typed_strings_go_through_the_text_rules() {
    let got = apply_overrides(
        &nginx(),
        &[
            Override::typed("port", json!("8080")),
            Override::typed("ports", json!("80, 443")),
            Override::typed("mode", json!("0o755")),
            Override::typed("max_body", json!("")),
        ],
    )
    .unwrap();
    assert_eq!(got.port, 8080);
    assert_eq!(got.ports, [80, 443]);
    assert_eq!(got.mode, Mode(0o755));
    assert_eq!(got.max_body, None);
}

#[test]
fn typed_errors_quote_the_json() {
    let errors = errors_of(&[
        Override::typed("ports", json!(["80"])),
        Override::typed("enabled", json!(1)),
    ]);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].key, "ports");
    let OverrideErrorKind::Conversion { value, message } = &errors[0].kind else {
        panic!("wrong kind: {:?}", errors[0].kind);
    };
    assert_eq!(value, r#"["80"]"#);
    assert!(
        message.starts_with(r#"cannot convert ["80"]: invalid type: string "80", expected u16"#),
        "{message}"
    );
    assert_eq!(errors[1].key, "enabled");
}

#[test]
fn structured_fields_need_typed_tables() {
    let errors = errors_of(&[text("tls", "cert.pem"), text("headers", "X-A=1")]);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].key, "tls");
    assert!(
        errors[0].to_string().contains("to struct Tls"),
        "{}",
        errors[0]
    );
    assert!(errors[0].to_string().contains("TOML table"));
    assert_eq!(errors[1].key, "headers");
    assert!(errors[1].to_string().contains("to a table"));
}

#[test]
fn attribute_names_are_the_serialized_fields() {
    let names = attribute_names(&nginx()).unwrap();
    assert_eq!(names.first().map(String::as_str), Some("port"));
    assert!(names.contains(&"listen".to_string()));
    assert!(!names.contains(&"configured".to_string()));
    assert!(
        !names.contains(&"log_level".to_string()),
        "skipped while None"
    );
    let declared = declared_fields::<Nginx>().unwrap();
    assert!(declared.contains(&"log_level"));
    assert!(!declared.contains(&"configured"));
}

#[test]
fn odd_override_values_never_panic() {
    let odd = [
        "", " ", "\0", "ä", ",", "\n", "0x", "-", "rwx", "1.", "{}", "[]", "𝟙",
    ];
    let keys = [
        "port",
        "workers",
        "enabled",
        "servers",
        "ports",
        "mode",
        "timeout",
        "ensure",
        "listen",
        "user",
        "max_body",
        "log_level",
        "tls",
        "headers",
        "env",
    ];
    let mut failures = 0;
    for key in keys {
        for value in odd {
            failures += usize::from(apply_overrides(&nginx(), &[text(key, value)]).is_err());
            let typed = [
                json!(null),
                json!(-1),
                json!(1e300),
                json!({"a": [1]}),
                json!([[]]),
            ];
            for value in typed {
                let _ = apply_overrides(&nginx(), &[Override::typed(key, value)]);
            }
        }
    }
    assert!(failures > 0, "some odd values must be rejected");
}

#[test]
fn errors_carry_where_each_override_was_set() {
    let at = |line| crate::error::Origin::new("environments/prod.cfg", line, None);
    let errors = errors_of(&[
        text("port", "eighty").at(at(7)),
        text("listen", "127.0.0.1").at(at(8)),
        text("prot", "8080").at(at(9)),
        text("workers", "many"),
    ]);
    let found: Vec<(&str, Option<usize>)> = errors
        .iter()
        .map(|e| (e.key.as_str(), e.origin.as_ref().map(|o| o.line)))
        .collect();
    assert_eq!(
        found,
        [("port", Some(7)), ("prot", Some(9)), ("workers", None)]
    );
}
