//! Converting single config strings: scalars, lists, options, enums.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

use super::super::*;

/// The error message of converting `text` to `T`.
fn fails<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
    match from_config_str::<T>(text) {
        Ok(value) => panic!("{text:?} converted to {value:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bool_accepts_batou_spellings_in_any_case() {
    for text in [
        "True", "true", "TRUE", "yes", "Yes", "on", "ON", "1", " true\n",
    ] {
        assert_eq!(parse_bool(text), Some(true), "{text:?}");
        assert!(from_config_str::<bool>(text).unwrap(), "{text:?}");
    }
    for text in ["False", "false", "FALSE", "no", "No", "off", "0", "\tno "] {
        assert_eq!(parse_bool(text), Some(false), "{text:?}");
        assert!(!from_config_str::<bool>(text).unwrap(), "{text:?}");
    }
}

#[test]
fn bool_rejects_everything_else_and_lists_the_spellings() {
    for text in [
        "", " ", "maybe", "2", "y", "n", "t", "f", "none", "truee", "yes!",
    ] {
        assert_eq!(parse_bool(text), None, "{text:?}");
    }
    assert_eq!(
        fails::<bool>("maybe"),
        r#"cannot convert "maybe" to a boolean (true/false, yes/no, on/off, 1/0)"#
    );
    assert!(fails::<bool>("").starts_with(r#"cannot convert "" to a boolean"#));
}

#[test]
fn integers_parse_trimmed_decimal() {
    assert_eq!(from_config_str::<u16>("8080").unwrap(), 8080);
    assert_eq!(from_config_str::<u16>(" 8080 ").unwrap(), 8080);
    assert_eq!(from_config_str::<i32>("-42").unwrap(), -42);
    assert_eq!(from_config_str::<i32>("+42").unwrap(), 42);
    assert_eq!(
        from_config_str::<u64>("0755").unwrap(),
        755,
        "leading zeros stay decimal"
    );
    assert_eq!(from_config_str::<u32>("1_000_000").unwrap(), 1_000_000);
    assert_eq!(from_config_str::<i8>("-128").unwrap(), i8::MIN);
    assert_eq!(
        from_config_str::<i128>(&i128::MIN.to_string()).unwrap(),
        i128::MIN
    );
    assert_eq!(
        from_config_str::<u128>(&u128::MAX.to_string()).unwrap(),
        u128::MAX
    );
    assert_eq!(from_config_str::<usize>("7").unwrap(), 7);
    assert_eq!(from_config_str::<isize>("-7").unwrap(), -7);
}

#[test]
fn integers_accept_radix_prefixes() {
    assert_eq!(from_config_str::<u32>("0x1F").unwrap(), 31);
    assert_eq!(from_config_str::<u32>("0o755").unwrap(), 0o755);
    assert_eq!(from_config_str::<u32>("0b1010").unwrap(), 10);
    assert_eq!(from_config_str::<i32>("-0x10").unwrap(), -16);
}

#[test]
fn integers_report_range_and_syntax_errors() {
    assert_eq!(
        fails::<u16>("70000"),
        r#"cannot convert "70000" to an integer: out of range (0 to 65535)"#
    );
    assert_eq!(
        fails::<u8>("-1"),
        r#"cannot convert "-1" to an integer: out of range (0 to 255)"#
    );
    assert_eq!(
        fails::<i8>("128"),
        r#"cannot convert "128" to an integer: out of range (-128 to 127)"#
    );
    assert_eq!(
        fails::<u16>("abc"),
        r#"cannot convert "abc" to an integer: invalid digit found in string"#
    );
    assert_eq!(
        fails::<u16>("80.5"),
        r#"cannot convert "80.5" to an integer: invalid digit found in string"#
    );
    assert_eq!(
        fails::<u16>(""),
        r#"cannot convert "" to an integer: the value is empty"#
    );
    assert!(fails::<u32>("0x").contains("no digits"));
    assert!(fails::<u32>("0x+5").contains("invalid digit"));
    assert!(fails::<u32>("--5").contains("invalid digit"));
    assert!(fails::<u32>("1__0").contains("`_` is only allowed between digits"));
    assert!(fails::<u32>("_1").contains("`_`"));
    assert!(fails::<i128>("-170141183460469231731687303715884105729").contains("out of range"));
    assert!(fails::<u128>("340282366920938463463374607431768211456").contains("too large"));
}

#[test]
fn floats_parse() {
    assert_eq!(from_config_str::<f64>(" 1.5 ").unwrap(), 1.5);
    assert_eq!(from_config_str::<f64>("-2e3").unwrap(), -2000.0);
    assert_eq!(from_config_str::<f32>("3").unwrap(), 3.0);
    assert!(from_config_str::<f64>("inf").unwrap().is_infinite());
    assert_eq!(
        fails::<f64>("fast"),
        r#"cannot convert "fast" to a number: invalid float literal"#
    );
}

#[test]
fn char_needs_exactly_one_character() {
    assert_eq!(from_config_str::<char>("x").unwrap(), 'x');
    assert_eq!(from_config_str::<char>("ä").unwrap(), 'ä');
    assert_eq!(from_config_str::<char>(" ").unwrap(), ' ', "not trimmed");
    assert_eq!(
        fails::<char>("ab"),
        r#"cannot convert "ab" to a single character: found 2 characters"#
    );
    assert!(fails::<char>("").contains("found 0 characters"));
}

#[test]
fn strings_are_taken_verbatim() {
    assert_eq!(
        from_config_str::<String>("  padded  ").unwrap(),
        "  padded  "
    );
    assert_eq!(from_config_str::<String>("a, b").unwrap(), "a, b");
    assert_eq!(from_config_str::<String>("").unwrap(), "");
    assert_eq!(
        from_config_str::<PathBuf>("/srv/app").unwrap(),
        PathBuf::from("/srv/app")
    );
    // Self-describing targets see a string too.
    assert_eq!(
        from_config_str::<serde_json::Value>("8080").unwrap(),
        serde_json::json!("8080")
    );
}

#[test]
fn bytes_are_the_utf8_of_the_text() {
    #[derive(Deserialize)]
    struct Bytes(#[serde(deserialize_with = "bytes")] Vec<u8>);
    fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(V)
    }
    assert_eq!(from_config_str::<Bytes>("hé").unwrap().0, "hé".as_bytes());
}

#[test]
fn unit_takes_only_empty_text() {
    from_config_str::<()>("").unwrap();
    from_config_str::<()>("  ").unwrap();
    assert_eq!(
        fails::<()>("x"),
        r#"cannot convert "x" to nothing (an empty value)"#
    );
}

#[test]
fn split_list_follows_batou() {
    assert_eq!(split_list("a, b, c"), ["a", "b", "c"]);
    assert_eq!(split_list("a,b,"), ["a", "b"], "trailing comma");
    assert_eq!(split_list(",a,,b , "), ["a", "b"], "empty items dropped");
    assert_eq!(split_list("\n  one\n  two\n\n"), ["one", "two"]);
    assert_eq!(split_list("one\r\ntwo"), ["one", "two"]);
    assert_eq!(split_list("a b c"), ["a b c"], "spaces do not split");
    assert_eq!(split_list("  solo "), ["solo"]);
    assert_eq!(
        split_list("a,\nb\nc"),
        ["a", "b\nc"],
        "commas win over lines"
    );
    assert!(split_list("").is_empty());
    assert!(split_list(" , \n ").is_empty());
}

#[test]
fn lists_convert_each_item() {
    assert_eq!(from_config_str::<Vec<u16>>("80, 443").unwrap(), [80, 443]);
    assert_eq!(from_config_str::<Vec<String>>("a\nb").unwrap(), ["a", "b"]);
    assert_eq!(from_config_str::<Vec<String>>("a, b,").unwrap(), ["a", "b"]);
    assert!(from_config_str::<Vec<String>>("").unwrap().is_empty());
    assert_eq!(
        from_config_str::<Vec<bool>>("yes\nno\n").unwrap(),
        [true, false]
    );
    assert_eq!(
        from_config_str::<BTreeSet<u8>>("3, 1, 3").unwrap(),
        BTreeSet::from([1, 3])
    );
    assert_eq!(from_config_str::<[u8; 2]>("1, 2").unwrap(), [1, 2]);
    assert_eq!(
        from_config_str::<(String, u16)>("db, 5432").unwrap(),
        ("db".to_owned(), 5432)
    );
}

#[test]
fn list_errors_name_the_item() {
    assert_eq!(
        fails::<Vec<u16>>("80, abc"),
        r#"cannot convert "abc" to an integer: invalid digit found in string (item 2 of "80, abc")"#
    );
    assert_eq!(
        fails::<(u8, u8)>("1"),
        r#"cannot convert "1" to a tuple of size 2: found 1 item"#
    );
    assert_eq!(
        fails::<(u8, u8)>("1, 2, 3"),
        r#"cannot convert "1, 2, 3" to a list of 2 items: found 3 items"#
    );
}

#[test]
fn option_is_some_of_the_text() {
    assert_eq!(from_config_str::<Option<u16>>("80").unwrap(), Some(80));
    assert_eq!(
        from_config_str::<Option<String>>(" x ").unwrap().as_deref(),
        Some(" x ")
    );
    assert!(fails::<Option<u16>>("x").contains("to an integer"));
}

#[test]
fn blank_option_is_none_only_if_the_inner_type_rejects_it() {
    assert_eq!(from_config_str::<Option<u16>>("").unwrap(), None);
    assert_eq!(from_config_str::<Option<bool>>("  ").unwrap(), None);
    assert_eq!(from_config_str::<Option<Mode>>("").unwrap(), None);
    assert_eq!(
        from_config_str::<Option<String>>("").unwrap().as_deref(),
        Some("")
    );
    assert_eq!(
        from_config_str::<Option<Vec<u16>>>("").unwrap(),
        Some(vec![])
    );
    assert_eq!(from_config_str::<Option<Option<u8>>>("").unwrap(), None);
    // Not an option: the first error stays.
    assert!(fails::<u16>(" ").contains("to an integer"));
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Ensure {
    File,
    Directory,
    Symlink,
}

#[derive(Debug, PartialEq, Deserialize)]
enum Source {
    Default,
    Path(String),
    Pair(u8, u8),
    Named { name: String },
}

#[test]
fn enums_convert_by_variant_name() {
    assert_eq!(
        from_config_str::<Ensure>("directory").unwrap(),
        Ensure::Directory
    );
    assert_eq!(from_config_str::<Ensure>(" file ").unwrap(), Ensure::File);
    assert_eq!(
        from_config_str::<Vec<Ensure>>("file, symlink").unwrap(),
        [Ensure::File, Ensure::Symlink]
    );
    assert_eq!(
        from_config_str::<Source>("Default").unwrap(),
        Source::Default
    );
}

#[test]
fn enum_errors_list_the_variants_or_ask_for_toml() {
    assert_eq!(
        fails::<Ensure>("Directory"),
        r#"cannot convert "Directory" to one of `file`, `directory`, `symlink`"#
    );
    for text in ["Path", "Pair", "Named"] {
        let message = fails::<Source>(text);
        assert!(message.contains("holds data"), "{message}");
        assert!(message.contains("TOML table"), "{message}");
    }
}

#[test]
fn newtypes_and_unit_structs() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Port(u16);
    #[derive(Debug, PartialEq, Deserialize)]
    struct Marker;
    assert_eq!(from_config_str::<Port>("80").unwrap(), Port(80));
    assert_eq!(from_config_str::<Marker>("").unwrap(), Marker);
    assert!(fails::<Port>("x").contains("to an integer"));
}

#[test]
fn structs_see_a_string() {
    /// Like `Address`: a struct that deserializes from "host:port".
    #[derive(Debug, PartialEq)]
    struct HostPort {
        host: String,
        port: u16,
    }
    impl<'de> Deserialize<'de> for HostPort {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            let (host, port) = text
                .split_once(':')
                .ok_or_else(|| serde::de::Error::custom("Need port for service address."))?;
            let port = port.parse().map_err(serde::de::Error::custom)?;
            Ok(HostPort {
                host: host.to_owned(),
                port,
            })
        }
    }
    assert_eq!(
        from_config_str::<HostPort>("db:5432").unwrap(),
        HostPort {
            host: "db".into(),
            port: 5432
        }
    );
    assert_eq!(
        fails::<HostPort>("db"),
        r#"cannot convert "db": Need port for service address."#
    );

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Tls {
        cert: String,
    }
    assert_eq!(
        fails::<Tls>("cert.pem"),
        "cannot convert \"cert.pem\" to struct Tls: a single string cannot hold structured \
         values; write this attribute as a TOML table"
    );
}

#[test]
fn maps_ask_for_toml() {
    let message = fails::<HashMap<String, String>>("a=1");
    assert_eq!(
        message,
        "cannot convert \"a=1\" to a table: a single string cannot hold structured values; \
         write this attribute as a TOML table"
    );
    assert!(fails::<indexmap::IndexMap<String, u8>>("").contains("to a table"));
}

#[test]
fn untagged_enums_see_a_string() {
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Target {
        Auto(Ensure),
        Name(String),
    }
    assert_eq!(
        from_config_str::<Target>("anything").unwrap(),
        Target::Name("anything".into())
    );
}

#[test]
fn override_values_convert_standalone() {
    let text = OverrideValue::Text("80, 443".into());
    assert_eq!(from_override_value::<Vec<u16>>(&text).unwrap(), [80, 443]);
    let typed = OverrideValue::Typed(serde_json::json!([80, 443]));
    assert_eq!(from_override_value::<Vec<u16>>(&typed).unwrap(), [80, 443]);
    let typed_string = OverrideValue::Typed(serde_json::json!("8080"));
    assert_eq!(from_override_value::<u16>(&typed_string).unwrap(), 8080);
    let wrong = OverrideValue::Typed(serde_json::json!(["80"]));
    let message = from_override_value::<Vec<u16>>(&wrong)
        .unwrap_err()
        .to_string();
    assert!(message.contains("expected u16"), "{message}");
}

#[test]
fn odd_input_never_panics() {
    let inputs = [
        "",
        " ",
        "\0",
        "\u{feff}",
        "ä",
        "0x",
        "0o",
        "0b",
        "-",
        "+",
        "0xä",
        "ä0x",
        "--",
        "__",
        ",",
        ",,,",
        "\n\n",
        "\r",
        "µs",
        "1µs",
        "9999999999999999999999999999999999999999d",
        "18446744073709551616",
        "-0",
        "rwxrwxrwx",
        "rwxrwxrw",
        "rwxrwxrwxx",
        "ärwxrwxrw",
        "99999999999999999999999999999999999999999999",
        "1.",
        ".5",
        "1e999",
        "NaN",
        "1h1",
        "h",
        "1 h",
        "1hh",
        "𝟙",
        "7777",
        "07777",
        "0o10000",
        "\u{202e}",
    ];
    for text in inputs {
        // Results do not matter here, only that nothing panics.
        let _ = from_config_str::<bool>(text);
        let _ = from_config_str::<u8>(text);
        let _ = from_config_str::<i128>(text);
        let _ = from_config_str::<u128>(text);
        let _ = from_config_str::<f32>(text);
        let _ = from_config_str::<char>(text);
        let _ = from_config_str::<Option<u16>>(text);
        let _ = from_config_str::<Vec<Option<u8>>>(text);
        let _ = from_config_str::<(u8, String)>(text);
        let _ = from_config_str::<Ensure>(text);
        let _ = from_config_str::<Source>(text);
        let _ = from_config_str::<Mode>(text);
        let _ = from_config_str::<Duration>(text);
        let _ = from_config_str::<HashMap<String, u8>>(text);
        let _ = from_config_str::<serde_json::Value>(text);
        let _ = parse_bool(text);
        let _ = split_list(text);
    }
    // Something must have been checked: a sample from the list converts.
    assert_eq!(from_config_str::<Mode>("rwxrwxrwx").unwrap(), Mode(0o777));
}
