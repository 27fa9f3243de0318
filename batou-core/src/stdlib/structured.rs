//! `JsonContent`, `TomlContent` and `YamlContent`: a file rendered from a
//! serde value with a stable (sorted) key order, so diffs only show real
//! changes.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use super::content::{Content, base_name};
use crate::component::{Component, Configure};
use crate::error::{Error, Result};

/// How structured data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `json.dumps(sort_keys=True, indent=4)` (batou's default) or, not
    /// human readable, compact `(",", ":")` separators.
    Json {
        readable: bool,
    },
    Toml,
    /// Block style, keys sorted (PyYAML's `safe_dump` layout, which
    /// batou's `YAMLContent` uses); strings a YAML 1.1 or 1.2 reader
    /// would take for another type (`yes`, `1.0`, `null`) are quoted
    /// (see `stdlib::yaml`).
    Yaml,
}

/// Data and overrides not yet rendered; a serialization error is kept and
/// reported in `configure`, since builders cannot fail.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    value: std::result::Result<Value, String>,
}

impl Data {
    pub(crate) fn new(value: impl Serialize) -> Self {
        Data {
            value: serde_json::to_value(value).map_err(|e| e.to_string()),
        }
    }

    /// Data that reports `message` when rendered.
    pub(crate) fn failed(message: &str) -> Self {
        Data {
            value: Err(message.to_string()),
        }
    }

    /// batou's `dict_merge` of `other` into the data.
    pub(crate) fn merge(&mut self, other: impl Serialize) {
        let other = serde_json::to_value(other).map_err(|e| e.to_string());
        self.value = match (std::mem::replace(&mut self.value, Ok(Value::Null)), other) {
            (Ok(base), Ok(other)) => Ok(dict_merge(base, other)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }

    pub(crate) fn render(&self, format: Format) -> Result<String> {
        let value = self
            .value
            .as_ref()
            .map_err(|e| Error::usage(format!("cannot serialize the data: {e}")))?;
        let value = sorted(value.clone());
        match format {
            Format::Json { readable: true } => {
                let mut out = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
                value
                    .serialize(&mut ser)
                    .map_err(|e| Error::usage(format!("cannot write JSON: {e}")))?;
                Ok(String::from_utf8(out).expect("JSON is UTF-8"))
            }
            Format::Json { readable: false } => serde_json::to_string(&value)
                .map_err(|e| Error::usage(format!("cannot write JSON: {e}"))),
            Format::Toml => toml::to_string(&value).map_err(|e| {
                Error::usage(format!(
                    "cannot write TOML: {e} (TOML needs a table at the top and has no null)"
                ))
            }),
            Format::Yaml => Ok(super::yaml::to_yaml(&value)),
        }
    }
}

/// Deep merge as batou's `dict_merge`: objects merge key by key
/// (recursively), arrays are concatenated, anything else in `other` wins.
///
/// ```
/// use serde_json::json;
/// use batou_core::stdlib::dict_merge;
/// let merged = dict_merge(json!({"a": {"x": 1}, "l": [1]}), json!({"a": {"y": 2}, "l": [2]}));
/// assert_eq!(merged, json!({"a": {"x": 1, "y": 2}, "l": [1, 2]}));
/// ```
pub fn dict_merge(base: Value, other: Value) -> Value {
    match (base, other) {
        (Value::Object(mut base), Value::Object(other)) => {
            for (key, value) in other {
                let merged = match base.remove(&key) {
                    Some(old) => dict_merge(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (Value::Array(mut base), Value::Array(other)) => {
            base.extend(other);
            Value::Array(base)
        }
        (_, other) => other,
    }
}

/// Object keys in sorted order at every level. serde_json keeps insertion
/// order in this workspace (`preserve_order`), so inserting sorted is
/// enough.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The shared builder of `JsonContent` and `TomlContent`.
struct Structured {
    path: PathBuf,
    data: Data,
    format: Format,
    mode: Option<u32>,
    leading: bool,
    sensitive: Option<bool>,
}

impl Structured {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let text = self.data.render(self.format)?;
        let mut content = Content::new(ctx.map(&self.path), text.into_bytes(), true);
        content.mode = self.mode;
        content.leading = self.leading;
        content.sensitive = self.sensitive;
        ctx.add(content)?;
        Ok(())
    }
}

macro_rules! structured_component {
    ($name:ident, $label:literal) => {
        impl $name {
            /// Deep-merges `value` over the data (batou's `override`):
            /// objects recursively, arrays concatenated.
            pub fn override_with(mut self, value: impl Serialize) -> Self {
                self.0.data.merge(value);
                self
            }

            /// Permission bits for a newly written file (use `File` for a
            /// mode that is checked on every deploy).
            pub fn mode(mut self, mode: u32) -> Self {
                self.0.mode = Some(mode);
                self
            }

            /// Create missing parent directories.
            pub fn leading(mut self, leading: bool) -> Self {
                self.0.leading = leading;
                self
            }

            /// The tri-state of [`super::File::sensitive`].
            pub fn sensitive(mut self, sensitive: bool) -> Self {
                self.0.sensitive = Some(sensitive);
                self
            }
        }

        impl Component for $name {
            fn label(&self) -> String {
                format!(concat!($label, "('{}')"), base_name(&self.0.path))
            }

            fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
                self.0.configure(ctx)
            }
        }
    };
}

/// A JSON file from any `Serialize` value: keys sorted, indented by four
/// spaces (batou's `json.dumps(sort_keys=True, indent=4)`), or compact.
/// No trailing newline, as in batou.
///
/// ```
/// use batou_core::stdlib::JsonContent;
/// use serde_json::json;
/// let upstreams = JsonContent::new("upstreams.json", json!({"b": 1, "a": [1, 2]}))
///     .override_with(json!({"a": [3]}));
/// ```
pub struct JsonContent(Structured);

impl JsonContent {
    pub fn new(path: impl Into<PathBuf>, data: impl Serialize) -> Self {
        JsonContent(Structured {
            path: path.into(),
            data: Data::new(data),
            format: Format::Json { readable: true },
            mode: None,
            leading: false,
            sensitive: None,
        })
    }

    /// `false`: compact, on one line.
    pub fn human_readable(mut self, readable: bool) -> Self {
        self.0.format = Format::Json { readable };
        self
    }
}

structured_component!(JsonContent, "JsonContent");

/// A TOML file from any `Serialize` value (a table at the top; TOML has
/// no null). Keys are sorted at every level.
///
/// ```
/// use batou_core::stdlib::TomlContent;
/// use serde_json::json;
/// let settings = TomlContent::new("app.toml", json!({"server": {"port": 8080}}));
/// ```
pub struct TomlContent(Structured);

impl TomlContent {
    pub fn new(path: impl Into<PathBuf>, data: impl Serialize) -> Self {
        TomlContent(Structured {
            path: path.into(),
            data: Data::new(data),
            format: Format::Toml,
            mode: None,
            leading: false,
            sensitive: None,
        })
    }
}

structured_component!(TomlContent, "TomlContent");

/// A YAML file from any `Serialize` value: block style, keys sorted at
/// every level, so the same data always gives the same bytes (batou's
/// `YAMLContent`). [`YamlContent::override_with`] deep-merges as for
/// JSON.
///
/// ```
/// use batou_core::stdlib::YamlContent;
/// use serde_json::json;
/// let config = YamlContent::new("config.yaml", json!({"server": {"port": 8080}, "debug": false}))
///     .override_with(json!({"server": {"workers": 4}}));
/// ```
pub struct YamlContent(Structured);

impl YamlContent {
    pub fn new(path: impl Into<PathBuf>, data: impl Serialize) -> Self {
        YamlContent(Structured {
            path: path.into(),
            data: Data::new(data),
            format: Format::Yaml,
            mode: None,
            leading: false,
            sensitive: None,
        })
    }
}

structured_component!(YamlContent, "YamlContent");
