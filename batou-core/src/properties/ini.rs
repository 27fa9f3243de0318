//! The INI parser: arbitrary text never panics, errors point at a real
//! line and span, and well-formed documents read back exactly.

use proptest::prelude::*;

use super::{config, lines_of, nasty_text};
use crate::ini::{self, IniErrorKind};

/// One line that is likely to mean something to the parser.
fn ini_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => ("[a-z:!DEFAULT]{0,8}", prop::bool::ANY)
            .prop_map(|(n, closed)| format!("[{n}{}", if closed { "]" } else { "" })),
        3 => ("[ \t]{0,2}", "[a-z_.-]{0,6}", prop::sample::select(vec!["=", ":", " = ", ""]), nasty_text())
            .prop_map(|(indent, k, d, v)| format!("{indent}{k}{d}{v}")),
        1 => ("[ \t]{1,4}", nasty_text()).prop_map(|(i, v)| format!("{i}{v}")),
        1 => prop::sample::select(vec!["#", ";", "  # c", ""]).prop_map(str::to_string),
        1 => nasty_text(),
    ]
}

/// Checks what an error claims about `source`.
fn check_error(source: &str, e: &ini::IniError) {
    let lines = source.split(['\n', '\r']).count().max(1);
    // `\r\n` counts as two separators above, so this bound is loose but
    // still catches a line number from nowhere.
    assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
    assert!(e.span.start <= e.span.end && e.span.end <= source.len());
    assert!(source.is_char_boundary(e.span.start) && source.is_char_boundary(e.span.end));
    // The message is one line (callers prefix `file:line:`).
    let message = e.to_string();
    assert!(!message.is_empty());
    if let IniErrorKind::DuplicateOption { first_line, .. }
    | IniErrorKind::DuplicateSection { first_line, .. } = &e.kind
    {
        assert!(*first_line >= 1 && *first_line <= e.line);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_parses_or_fails_with_a_position(source in lines_of(ini_line(), 24)) {
        match ini::parse(&source) {
            Ok(doc) => {
                for section in doc.sections.values() {
                    prop_assert!(section.span.end <= source.len());
                    for entry in section.entries.values() {
                        prop_assert!(entry.line >= section.line);
                        prop_assert!(entry.key_span.end <= source.len());
                        prop_assert_eq!(&source[entry.key_span.clone()], entry.key.as_str());
                        prop_assert!(entry.value_span.end <= source.len());
                        for l in &entry.value_lines {
                            prop_assert!(l.span.end <= source.len());
                            prop_assert!(source.is_char_boundary(l.span.start));
                        }
                    }
                }
            }
            Err(e) => check_error(&source, &e),
        }
    }

    #[test]
    fn arbitrary_bytes_as_text_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let source = String::from_utf8_lossy(&bytes);
        if let Err(e) = ini::parse(&source) {
            check_error(&source, &e);
        }
    }

    #[test]
    fn well_formed_documents_read_back_exactly(
        sections in prop::collection::btree_map(
            "[a-z][a-z:_-]{0,8}",
            prop::collection::btree_map("[a-z][a-z0-9_.-]{0,8}", "([!-~]([ -~]{0,20}[!-~])?)?", 0..5),
            0..5,
        )
    ) {
        let mut source = String::new();
        for (name, entries) in &sections {
            source.push_str(&format!("[{name}]\n"));
            for (k, v) in entries {
                source.push_str(&format!("{k} = {v}\n"));
            }
        }
        let doc = ini::parse(&source).map_err(|e| TestCaseError::fail(format!("{e} at line {}", e.line)))?;
        let names: Vec<&String> = doc.sections.keys().collect();
        prop_assert_eq!(names, sections.keys().collect::<Vec<_>>());
        for (name, entries) in &sections {
            let section = &doc.sections[name];
            let got: Vec<(&str, &str)> = section
                .entries
                .values()
                .map(|e| (e.key.as_str(), e.value.as_str()))
                .collect();
            let want: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
