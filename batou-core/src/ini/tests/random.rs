//! Randomised tests: generated INI-like documents compared against Python,
//! and garbage input that must never make the parser panic.

use std::path::{Path, PathBuf};

use super::python::{python_render, render};
use crate::ini::{Document, IniError, parse};

/// A tiny deterministic PRNG (SplitMix64), so failures are reproducible
/// without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const INDENTS: &[&str] = &[
    "", "", "", "", " ", "  ", "\t", "\u{3000}", "\u{1c}", " \t", "\u{a0}",
];
const NAMES: &[&str] = &[
    "a", "A", "b", "DEFAULT", " a ", "a]", "]", "é", "a:b", "x=y", "",
];
const KEYS: &[&str] = &["k", "K", "k2", "é", "a b", "", "#k", "[k]", "k]", "DEFAULT"];
const DELIMS: &[&str] = &["=", ":", "=:", ":=", "=="];
const SPACES: &[&str] = &["", "", " ", "\t", "\u{3000}", "\u{85}"];
const VALUES: &[&str] = &[
    "",
    "v",
    "v w",
    "%(k)s",
    "http://x/#f ; t",
    "= x",
    ": y",
    "é😀",
    "\u{1c}",
    "[a]",
    "#",
];
const SOUP: &[&str] = &[
    "a", "[", "]", "=", ":", "#", ";", " ", "\t", "\u{b}", "\u{c}", "\u{1c}", "\u{85}", "\u{2028}",
    "\u{feff}", "é", "\0", "%", "\n", "\r",
];
const ENDINGS: &[&str] = &["\n", "\n", "\n", "\n", "\r\n", "\r"];

fn random_doc(rng: &mut Rng) -> String {
    let mut doc = String::new();
    if rng.below(25) == 0 {
        doc.push('\u{feff}');
    }
    for _ in 0..rng.below(14) {
        doc.push_str(rng.pick(INDENTS));
        match rng.below(12) {
            0..=2 => {
                doc.push('[');
                doc.push_str(rng.pick(NAMES));
                doc.push(']');
                doc.push_str(rng.pick(&["", "", "", " x", "]", " ; c"]));
            }
            3..=6 => {
                doc.push_str(rng.pick(KEYS));
                doc.push_str(rng.pick(SPACES));
                doc.push_str(rng.pick(DELIMS));
                doc.push_str(rng.pick(SPACES));
                doc.push_str(rng.pick(VALUES));
                doc.push_str(rng.pick(SPACES));
            }
            7 => doc.push_str(rng.pick(&["", "", " ", "\t", "\u{b}", "\u{85}", "\u{3000}"])),
            8 => doc.push_str(rng.pick(&["#", ";", "# x = 1", "; [a]", "#\u{3000}"])),
            9 => {
                for _ in 0..rng.below(8) {
                    doc.push_str(rng.pick(SOUP));
                }
            }
            _ => doc.push_str(rng.pick(&["foo", "[", "]", "[]", "%(a)s", "v"])),
        }
        if rng.below(12) != 0 {
            doc.push_str(rng.pick(ENDINGS));
        }
    }
    doc
}

#[test]
fn random_documents_match_python() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut rng = Rng(0x5EED_1234);
    let docs: Vec<String> = (0..3000).map(|_| random_doc(&mut rng)).collect();
    let files: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let path = dir.path().join(format!("doc{i:05}.ini"));
            std::fs::write(&path, doc).expect("writable temporary file");
            path
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let expected = python_render(&paths);

    let mut mismatches = Vec::new();
    let mut ok_count = 0;
    for (doc, want) in docs.iter().zip(&expected) {
        let result = parse(doc);
        check_invariants(doc, &result);
        ok_count += usize::from(result.is_ok());
        let got = render(&result);
        if &got != want {
            mismatches.push(format!("{doc:?}\n  python: {want}\n  rust:   {got}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} random documents differ from Python, e.g.:\n{}",
        mismatches.len(),
        docs.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must exercise successful parses, not only errors.
    assert!(ok_count > 300, "only {ok_count} random documents parsed");
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(42);
    let alphabet = b"[]=:#; \t\r\n\x0b\x0c\x1cab\xc3\xa9\xef\xbb\xbf\xe3\x80\x80\xff\x80\x00";
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        let source = String::from_utf8_lossy(&bytes);
        let result = parse(&source);
        check_invariants(&source, &result);
    }
}

/// Line number of byte offset `pos`, counting universal newlines.
fn line_of(source: &str, pos: usize) -> usize {
    let before = source.get(..pos).expect("offset on a char boundary");
    let bytes = before.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    breaks + 1
}

/// Positions must point at the text they describe.
pub(super) fn check_invariants(source: &str, result: &Result<Document, IniError>) {
    match result {
        Err(error) => {
            assert!(source.get(error.span.clone()).is_some(), "{error:?}");
            assert_eq!(line_of(source, error.span.start), error.line, "{error:?}");
        }
        Ok(doc) => {
            let mut entries: Vec<_> = doc.defaults.values().collect();
            for section in doc.sections.values() {
                assert_eq!(source.get(section.name_span.clone()), Some(&*section.name));
                let header = source.get(section.span.clone()).expect("header span");
                assert!(header.starts_with('[') && header.contains(&*section.name));
                assert_eq!(line_of(source, section.span.start), section.line);
                entries.extend(section.entries.values());
            }
            for entry in entries {
                assert_eq!(source.get(entry.key_span.clone()), Some(&*entry.key));
                assert_eq!(line_of(source, entry.key_span.start), entry.line);
                let texts: Vec<&str> = entry
                    .value_lines
                    .iter()
                    .map(|l| {
                        assert_eq!(line_of(source, l.span.start), l.line);
                        source.get(l.span.clone()).expect("value line span")
                    })
                    .collect();
                assert_eq!(texts.join("\n"), entry.value);
                let spanned = source.get(entry.value_span.clone()).expect("value span");
                let content = entry.value.trim_start_matches('\n');
                let first = content.split('\n').next().unwrap_or("");
                let last = content.rsplit('\n').next().unwrap_or("");
                assert!(
                    spanned.starts_with(first) && spanned.ends_with(last),
                    "{entry:?}"
                );
                assert_eq!(spanned.is_empty(), entry.value.is_empty(), "{entry:?}");
            }
        }
    }
}
