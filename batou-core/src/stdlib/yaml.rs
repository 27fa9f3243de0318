//! YAML text from a (key-sorted) JSON value, for `YamlContent`.
//!
//! Written here rather than with a serde YAML crate because those follow
//! YAML 1.2, where `yes`, `on` or `1:20` are plain strings, while PyYAML
//! (what batou and most Python readers use) follows YAML 1.1 and reads
//! them as a boolean or a number: the file would say something else than
//! the data. Here a string is written plain only when it is plainly a
//! string under both versions (letters first, a small set of characters,
//! no keyword); every other string is double-quoted with JSON's escapes,
//! which YAML's double-quoted style reads alike. The layout is PyYAML's
//! `safe_dump` block style: maps indented by two, a list under a key at
//! the key's indentation.

use serde_json::{Number, Value};

/// The YAML document for `value`, ending in a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => block(value, 0, &mut out),
        Value::Array(items) if !items.is_empty() => block(value, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// A non-empty map or list, each line indented by `indent`.
fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                out.push_str(&pad);
                out.push_str(&string(key));
                out.push(':');
                match value {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        block(value, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        block(value, indent, out);
                    }
                    scalar => {
                        out.push(' ');
                        out.push_str(&inline(scalar));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                let nested = match item {
                    Value::Object(m) => !m.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => false,
                };
                if nested {
                    // The item's first line goes after the dash.
                    let mut inner = String::new();
                    block(item, indent + 2, &mut inner);
                    out.push(' ');
                    out.push_str(&inner[indent + 2..]);
                } else {
                    out.push(' ');
                    out.push_str(&inline(item));
                    out.push('\n');
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Numbers as both YAML versions read them: a float always has a dot,
/// and an exponent a sign (YAML 1.1's float needs both).
fn number(n: &Number) -> String {
    let text = n.to_string();
    if n.is_f64() {
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m.to_string(), Some(e.to_string())),
            None => (text.clone(), None),
        };
        let mantissa = if mantissa.contains('.') {
            mantissa
        } else {
            format!("{mantissa}.0")
        };
        return match exponent {
            Some(e) if e.starts_with(['-', '+']) => format!("{mantissa}e{e}"),
            Some(e) => format!("{mantissa}e+{e}"),
            None => mantissa,
        };
    }
    text
}

/// Words that one YAML version or the other reads as a boolean or null.
const KEYWORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// A string, plain when that is unambiguous, else double-quoted.
fn string(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./ ".contains(c))
        && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout_is_pyyamls_block_style() {
        let value = json!({"a": {"b": [1, {"c": [], "d": {}}], "e": [[1, 2], []]}, "f": "x"});
        assert_eq!(
            to_yaml(&value),
            "a:\n  b:\n  - 1\n  - c: []\n    d: {}\n  e:\n  - - 1\n    - 2\n  - []\nf: x\n"
        );
        assert_eq!(to_yaml(&json!([])), "[]\n");
        assert_eq!(to_yaml(&json!("on")), "\"on\"\n");
    }

    #[test]
    fn ambiguous_strings_are_quoted_and_numbers_keep_their_type() {
        let cases = [
            (json!("yes"), "\"yes\""),
            (json!("Off"), "\"Off\""),
            (json!("1:20"), "\"1:20\""),
            (json!("1.0"), "\"1.0\""),
            (json!("~"), "\"~\""),
            (json!(""), "\"\""),
            (json!("a: b"), "\"a: b\""),
            (json!("line\nbreak"), "\"line\\nbreak\""),
            (json!("/srv/app-1.2"), "/srv/app-1.2"),
            (json!("hello world"), "hello world"),
            (json!(1.5), "1.5"),
            (json!(1e100), "1.0e+100"),
            (json!(-3), "-3"),
        ];
        for (value, text) in cases {
            assert_eq!(inline(&value), text, "{value}");
        }
    }
}
