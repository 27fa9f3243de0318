//! Running Python's `configparser` and rendering our results the same way.
//!
//! Both sides produce the exact text of Python's
//! `json.dumps(obj)` (default separators, `ensure_ascii=True`), so the
//! comparison is a plain string comparison and needs no JSON parser:
//! `{"ok": {"DEFAULT": {...}, "section": {"key": "value"}}}` or
//! `{"error": "DuplicateOptionError", "lineno": 5}`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::ini::{Document, IniError};

/// Reads each file named on the command line exactly as batou does and
/// prints one JSON line per file. For a `ParsingError` (which has no
/// `lineno`) the first offending line is reported.
const SCRIPT: &str = r#"
import configparser, json, sys
for path in sys.argv[1:]:
    cp = configparser.RawConfigParser()
    cp.optionxform = str
    try:
        with open(path, encoding="utf-8") as f:
            cp.read_file(f)
        out = {"DEFAULT": dict(cp["DEFAULT"])}
        for s in cp.sections():
            out[s] = dict(cp[s])
        out = {"ok": out}
    except Exception as e:
        lineno = getattr(e, "lineno", None)
        if lineno is None and isinstance(e, configparser.ParsingError) and e.errors:
            lineno = e.errors[0][0]
        out = {"error": type(e).__name__, "lineno": lineno}
    print(json.dumps(out))
"#;

/// Python's rendering of each file, in order. Panics (failing the test)
/// with a clear message if `python3` cannot be run.
pub(super) fn python_render(paths: &[&Path]) -> Vec<String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(paths)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the differential INI tests need `python3` on PATH, but it could not be run: {e}"
            )
        });
    assert!(
        output.status.success(),
        "python3 failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("python3 printed non-UTF-8");
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        paths.len(),
        "python3 printed {} lines for {} files:\n{stdout}",
        lines.len(),
        paths.len()
    );
    lines
}

/// Our result rendered like [`SCRIPT`] renders Python's.
pub(super) fn render(result: &Result<Document, IniError>) -> String {
    let mut out = String::new();
    match result {
        Err(error) => {
            out.push_str("{\"error\": ");
            json_str(&mut out, error.kind.python_exception());
            let _ = write!(out, ", \"lineno\": {}}}", error.line);
        }
        Ok(doc) => {
            out.push_str("{\"ok\": {");
            let names = std::iter::once("DEFAULT").chain(doc.section_names());
            for (i, name) in names.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_str(&mut out, name);
                out.push_str(": {");
                let items = doc.items(name).expect("listed section exists");
                for (j, entry) in items.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    json_str(&mut out, &entry.key);
                    out.push_str(": ");
                    json_str(&mut out, &entry.value);
                }
                out.push('}');
            }
            out.push_str("}}");
        }
    }
    out
}

/// A JSON string exactly as Python's `json.dumps` writes it with
/// `ensure_ascii=True`.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[test]
fn json_str_matches_python_escaping() {
    let mut out = String::new();
    json_str(&mut out, "a\"\\\n\r\t\u{8}\u{c}\u{1}\u{7f}é😀~ ");
    assert_eq!(out, r#""a\"\\\n\r\t\b\f\u0001\u007f\u00e9\ud83d\ude00~ ""#);
}
