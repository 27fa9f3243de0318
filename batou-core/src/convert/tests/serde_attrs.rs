//! The overlay with less common shapes of components: serde attributes
//! that change what is serialized, validation, newtypes, flatten.

use serde::{Deserialize, Serialize};

use super::super::*;

fn text(key: &str, value: &str) -> Override {
    Override::text(key, value)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tls {
    cert: String,
    #[serde(default)]
    port: u16,
}

#[test]
fn non_struct_components_cannot_be_overridden() {
    let errors = apply_overrides(&vec![1u8, 2], &[text("a", "1"), text("b", "2")]).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].key, "a");
    assert_eq!(errors[0].kind, OverrideErrorKind::NotAStruct);
    assert!(
        errors[1]
            .to_string()
            .contains("does not serialize as a struct")
    );
    assert_eq!(apply_overrides(&vec![1u8, 2], &[]).unwrap(), [1, 2]);
    assert_eq!(
        attribute_names(&5u8).unwrap_err().kind,
        OverrideErrorKind::NotAStruct
    );
}

#[test]
fn default_fields_may_be_missing_from_the_serialized_form() {
    /// `skip_serializing` + `default`: settable, but never serialized.
    #[derive(Debug, Serialize, Deserialize)]
    struct Secretive {
        #[serde(skip_serializing, default)]
        password: String,
        name: String,
    }
    let current = Secretive {
        password: "old".into(),
        name: "n".into(),
    };
    let got = apply_overrides(&current, &[text("password", "s3cret")]).unwrap();
    assert_eq!(got.password, "s3cret");
    assert_eq!(got.name, "n");
    let unset = apply_overrides(&current, &[]).unwrap();
    assert_eq!(unset.password, "", "not serialized, so it resets");
}

#[test]
fn a_component_that_does_not_round_trip_is_reported_as_a_whole() {
    #[derive(Debug, Serialize, Deserialize)]
    #[allow(dead_code)] // `required` is only there to be missing
    struct Broken {
        #[serde(skip_serializing)]
        required: String,
        port: u16,
    }
    let current = Broken {
        required: "x".into(),
        port: 1,
    };
    let errors = apply_overrides(&current, &[text("port", "2")]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "");
    let OverrideErrorKind::RoundTrip { message } = &errors[0].kind else {
        panic!("wrong kind: {:?}", errors[0].kind);
    };
    assert!(message.contains("missing field `required`"), "{message}");
}

#[test]
fn checks_across_fields_blame_the_override() {
    /// A component that validates itself while deserializing.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(try_from = "RangeFields")]
    struct Range {
        low: u16,
        high: u16,
    }
    #[derive(Serialize, Deserialize)]
    struct RangeFields {
        low: u16,
        high: u16,
    }
    impl TryFrom<RangeFields> for Range {
        type Error = String;
        fn try_from(f: RangeFields) -> Result<Self, String> {
            if f.low > f.high {
                return Err(format!("low {} is above high {}", f.low, f.high));
            }
            Ok(Range {
                low: f.low,
                high: f.high,
            })
        }
    }
    let current = Range { low: 1, high: 5 };
    let ok = apply_overrides(&current, &[text("high", "9")]).unwrap();
    assert_eq!((ok.low, ok.high), (1, 9));

    let errors = apply_overrides(&current, &[text("low", "7")]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "low");
    assert!(errors[0].to_string().contains("low 7 is above high 5"));

    // Each alone is fine; together they are not.
    let errors = apply_overrides(&current, &[text("low", "4"), text("high", "3")]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "");
    assert!(
        errors[0]
            .to_string()
            .contains("the overrides of low, high are fine one by one but not together"),
        "{}",
        errors[0]
    );
}

#[test]
fn newtype_components_see_through() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Wrapper(Tls);
    let current = Wrapper(Tls {
        cert: "a".into(),
        port: 1,
    });
    let got = apply_overrides(&current, &[text("port", "2")]).unwrap();
    assert_eq!(got.0.port, 2);
    assert_eq!(got.0.cert, "a");
}

#[test]
fn flattened_components_fall_back_to_serialized_keys() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Outer {
        name: String,
        #[serde(flatten)]
        tls: Tls,
    }
    assert!(declared_fields::<Outer>().is_none());
    let current = Outer {
        name: "n".into(),
        tls: Tls {
            cert: "a".into(),
            port: 1,
        },
    };
    let got = apply_overrides(&current, &[text("cert", "b"), text("name", "m")]).unwrap();
    assert_eq!((got.name.as_str(), got.tls.cert.as_str()), ("m", "b"));
    let errors = apply_overrides(&current, &[text("zzz", "1")]).unwrap_err();
    assert_eq!(
        errors[0].kind,
        OverrideErrorKind::UnknownAttribute {
            known: vec!["name".into(), "cert".into(), "port".into()]
        }
    );
}
