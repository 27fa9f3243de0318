//! Focused tests of values, line numbers, spans and error positions.

use crate::ini::{IniError, IniErrorKind, parse};

fn err(source: &str) -> IniError {
    match parse(source) {
        Ok(doc) => panic!("expected an error for {source:?}, got {doc:?}"),
        Err(error) => error,
    }
}

#[test]
fn entry_lines_and_spans() {
    let src = "[sect]\nkey = value\n  more\n\n  last\n\nother: x\n";
    let doc = parse(src).expect("parses");
    let section = doc.section("sect").expect("section");
    assert_eq!(section.line, 1);
    assert_eq!(&src[section.span.clone()], "[sect]");
    assert_eq!(&src[section.name_span.clone()], "sect");

    let key = section.get("key").expect("key");
    assert_eq!(key.value, "value\nmore\n\nlast");
    assert_eq!(key.line, 2);
    assert_eq!(&src[key.key_span.clone()], "key");
    assert_eq!(&src[key.value_span.clone()], "value\n  more\n\n  last");
    let lines: Vec<usize> = key.value_lines.iter().map(|l| l.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);

    let other = section.get("other").expect("other");
    assert_eq!(other.line, 7);
    assert_eq!(&src[other.key_span.clone()], "other");
    assert_eq!(&src[other.value_span.clone()], "x");
}

#[test]
fn empty_value_span_is_after_delimiter() {
    let src = "[s]\n  key   =   \n";
    let doc = parse(src).expect("parses");
    let entry = doc.section("s").and_then(|s| s.get("key")).expect("key");
    assert_eq!(entry.value, "");
    assert_eq!(entry.value_span, 13..13);
    assert_eq!(&src[..entry.value_span.start], "[s]\n  key   =");
}

#[test]
fn empty_first_line_keeps_leading_newline() {
    let src = "[s]\nkey =\n\tone\n\ttwo\n\n";
    let doc = parse(src).expect("parses");
    let entry = doc.section("s").and_then(|s| s.get("key")).expect("key");
    assert_eq!(entry.value, "\none\ntwo");
    assert_eq!(&src[entry.value_span.clone()], "one\n\ttwo");
}

#[test]
fn crlf_and_lone_cr_count_as_line_ends() {
    let src = "[s]\r\na = 1\r  b\r\nc = 2";
    let doc = parse(src).expect("parses");
    let s = doc.section("s").expect("section");
    let a = s.get("a").expect("a");
    assert_eq!(a.value, "1\nb");
    assert_eq!(&src[a.value_span.clone()], "1\r  b");
    let c = s.get("c").expect("c");
    assert_eq!(c.line, 4);
    assert_eq!(&src[c.value_span.clone()], "2");
}

#[test]
fn unicode_spans_are_byte_offsets() {
    let src = "[sëct]\n\u{3000}ключ = знач\u{3000}\n";
    let doc = parse(src).expect("parses");
    let entry = doc
        .section("sëct")
        .and_then(|s| s.get("ключ"))
        .expect("key");
    assert_eq!(&src[entry.key_span.clone()], "ключ");
    assert_eq!(&src[entry.value_span.clone()], "знач");
    assert_eq!(entry.value, "знач");
}

#[test]
fn items_merge_defaults_in_python_order() {
    let src = "[DEFAULT]\nd1 = a\nd2 = b\n[s]\nx = 1\nd2 = own\n";
    let doc = parse(src).expect("parses");
    let items: Vec<(&str, &str)> = doc
        .items("s")
        .expect("section")
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(items, [("x", "1"), ("d2", "own"), ("d1", "a")]);
    assert_eq!(doc.items("DEFAULT").map(|i| i.len()), Some(2));
    assert!(doc.items("missing").is_none());
    assert!(doc.section("DEFAULT").is_none());
    assert_eq!(doc.get("s", "d1").map(|e| e.line), Some(2));
    assert_eq!(doc.get("s", "d2").map(|e| e.line), Some(6));
}

#[test]
fn duplicate_option_reports_both_lines() {
    let e = err("[bar]\n\nfoo = 1\nx = 2\nfoo = 3\n");
    assert_eq!(e.line, 5);
    assert_eq!(
        e.kind,
        IniErrorKind::DuplicateOption {
            section: "bar".into(),
            key: "foo".into(),
            first_line: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "duplicate option `foo` in section [bar] (first defined on line 3)"
    );
    assert_eq!(e.span, 21..24);
}

#[test]
fn duplicate_section_and_missing_header_lines() {
    let e = err("# c\n[a]\nk=v\n[b]\n[a]\n");
    assert_eq!(e.line, 5);
    assert_eq!(
        e.kind,
        IniErrorKind::DuplicateSection {
            name: "a".into(),
            first_line: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "duplicate section [a] (first defined on line 2)"
    );

    let e = err("\n# comment\n  key = value\n[s]\n");
    assert_eq!(e.line, 3);
    assert_eq!(e.span, 13..24);
    assert_eq!(e.kind.python_exception(), "MissingSectionHeaderError");
}

#[test]
fn parsing_errors_report_first_bad_line_unless_fatal_error_follows() {
    let e = err("[s]\na = 1\nnot an option\n= empty key\n");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind,
        IniErrorKind::NoDelimiter {
            line_text: "not an option".into()
        }
    );
    let e = err("[s]\n= empty key\nnope\n");
    assert_eq!(e.line, 2);
    assert!(matches!(e.kind, IniErrorKind::EmptyKey { .. }));
    // Python raises duplicates immediately, dropping collected errors.
    let e = err("[s]\nnope\na = 1\na = 2\n");
    assert_eq!(e.line, 4);
    assert_eq!(e.kind.python_exception(), "DuplicateOptionError");
}

#[test]
fn bom_is_not_stripped() {
    let e = err("\u{feff}[s]\nk = v\n");
    assert_eq!(e.line, 1);
    assert_eq!(e.kind.python_exception(), "MissingSectionHeaderError");
}

#[test]
fn repeated_default_header_is_allowed_but_keys_are_not() {
    let doc = parse("[DEFAULT]\na=1\n[s]\n[DEFAULT]\nb=2\n").expect("parses");
    let keys: Vec<&str> = doc.defaults.keys().map(String::as_str).collect();
    assert_eq!(keys, ["a", "b"]);
    let e = err("[DEFAULT]\na=1\n[DEFAULT]\na=2\n");
    assert_eq!(e.line, 4);
    assert_eq!(
        e.kind,
        IniErrorKind::DuplicateOption {
            section: "DEFAULT".into(),
            key: "a".into(),
            first_line: 2
        }
    );
}

#[test]
fn empty_input_is_an_empty_document() {
    let doc = parse("").expect("parses");
    assert!(doc.sections.is_empty() && doc.defaults.is_empty());
    assert_eq!(doc.items("DEFAULT").map(|i| i.len()), Some(0));
}

#[test]
fn messages_are_single_lines() {
    let cases = [
        (
            "k = v\n",
            "`k = v` appears before any section header (expected a `[section]` line first)",
        ),
        (
            "[s]\nwords\n",
            "`words` is neither a `[section]` header nor a `key = value` option",
        ),
        ("[s]\n= v\n", "option `= v` has an empty key"),
    ];
    for (source, message) in cases {
        assert_eq!(err(source).to_string(), message);
    }
}
