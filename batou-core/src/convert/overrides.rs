//! The overrides an environment hands over, and what can go wrong with them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Origin;

/// A value an environment assigns to a component attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideValue {
    /// From INI (always) or a TOML string: template-expanded, then
    /// converted according to the field's type (see
    /// [`TextDeserializer`](super::TextDeserializer)).
    Text(String),
    /// A typed TOML value (number, bool, array, table) already as JSON:
    /// deserialized directly, so strings nested inside it are plain JSON
    /// strings (`ports = ["80"]` does not fit a `Vec<u16>`). A top-level
    /// JSON string is treated like [`OverrideValue::Text`], so TOML
    /// `port = "8080"` fits a `u16`.
    Typed(Value),
}

impl OverrideValue {
    /// The value as people wrote it, for error messages: the text itself,
    /// or compact JSON.
    pub fn display(&self) -> String {
        match self {
            OverrideValue::Text(text) | OverrideValue::Typed(Value::String(text)) => text.clone(),
            OverrideValue::Typed(value) => value.to_string(),
        }
    }

    /// The text the text deserializer converts: text, or a typed string;
    /// `None` for other typed values, which are deserialized directly.
    pub fn text(&self) -> Option<&str> {
        match self {
            OverrideValue::Text(text) | OverrideValue::Typed(Value::String(text)) => Some(text),
            OverrideValue::Typed(_) => None,
        }
    }
}

/// One `key = value` an environment sets on a component.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: OverrideValue,
    /// Where the environment set it; errors about it carry it along.
    pub origin: Option<Origin>,
}

impl Override {
    /// An override from a config string, e.g. an INI line `port = 8080`.
    pub fn text(key: impl Into<String>, text: impl Into<String>) -> Override {
        Override {
            key: key.into(),
            value: OverrideValue::Text(text.into()),
            origin: None,
        }
    }

    /// An override from a typed (TOML) value.
    pub fn typed(key: impl Into<String>, value: Value) -> Override {
        Override {
            key: key.into(),
            value: OverrideValue::Typed(value),
            origin: None,
        }
    }

    /// The same override, set at `origin`.
    pub fn at(self, origin: Origin) -> Override {
        Override {
            origin: Some(origin),
            ..self
        }
    }

    /// An error about this override.
    pub(crate) fn error(&self, kind: OverrideErrorKind) -> OverrideError {
        OverrideError {
            key: self.key.clone(),
            origin: self.origin.clone(),
            kind,
        }
    }
}

/// An override that cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", describe(.key, .kind))]
pub struct OverrideError {
    /// The attribute as the environment spelt it; empty when the problem is
    /// with the component as a whole ([`OverrideErrorKind::RoundTrip`]).
    pub key: String,
    /// Where the override was set, when it came from a file.
    pub origin: Option<Origin>,
    pub kind: OverrideErrorKind,
}

/// What is wrong with an override.
#[derive(Debug, Clone, PartialEq)]
pub enum OverrideErrorKind {
    /// The component has no such attribute; `known` lists the ones it has.
    UnknownAttribute { known: Vec<String> },
    /// The value does not convert to the attribute's type. `message` is the
    /// whole explanation, e.g. `cannot convert "abc" to an integer: invalid
    /// digit found in string`.
    Conversion { value: String, message: String },
    /// The text is a template that does not expand (e.g. an undefined
    /// variable).
    Expansion { message: String },
    /// The component does not serialize as a struct (a map of attributes).
    NotAStruct,
    /// The component cannot be rebuilt from its own serialized attributes
    /// (e.g. a `#[serde(skip_serializing)]` field without a default), or
    /// the overrides are each fine but rejected together.
    RoundTrip { message: String },
    /// The attribute is computed in `configure` (`#[attr(computed)]`).
    Computed,
}

fn describe(key: &str, kind: &OverrideErrorKind) -> String {
    match kind {
        OverrideErrorKind::UnknownAttribute { known } if known.is_empty() => {
            format!("no attribute `{key}` on this component (it has none)")
        }
        OverrideErrorKind::UnknownAttribute { known } => format!(
            "no attribute `{key}` on this component (it has: {})",
            known.join(", ")
        ),
        OverrideErrorKind::Conversion { message, .. }
        | OverrideErrorKind::Expansion { message } => {
            format!("attribute `{key}`: {message}")
        }
        OverrideErrorKind::NotAStruct => format!(
            "cannot set `{key}`: the component does not serialize as a struct, so it has no attributes"
        ),
        OverrideErrorKind::Computed => format!(
            "attribute `{key}` is computed by the component in configure; an environment cannot set it"
        ),
        OverrideErrorKind::RoundTrip { message } if key.is_empty() => message.clone(),
        OverrideErrorKind::RoundTrip { message } => format!("attribute `{key}`: {message}"),
    }
}

/// An error about the component as a whole.
pub(crate) fn whole(kind: OverrideErrorKind) -> OverrideError {
    OverrideError {
        key: String::new(),
        origin: None,
        kind,
    }
}

/// The component as a whole cannot be rebuilt.
pub(crate) fn round_trip(message: String) -> OverrideError {
    whole(OverrideErrorKind::RoundTrip { message })
}
