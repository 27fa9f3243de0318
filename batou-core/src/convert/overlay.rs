//! Applying an environment's overrides to a component struct.
//!
//! The component is serialized into a JSON object, and then deserialized
//! again from a map that feeds each field either its current value or the
//! override. Overridden text goes through the [`TextDeserializer`], so it is
//! converted to whatever type the field has, without any schema.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use super::overrides::{
    Override, OverrideError, OverrideErrorKind, OverrideValue, round_trip, whole,
};
use super::probe::declared_fields;
use super::text::TextDeserializer;

/// Returns a copy of `current` with the overrides applied.
///
/// Every problem is reported, not just the first: all unknown keys, and the
/// conversion error of every override that does not fit its field (if the
/// overrides do not apply together, each is tried alone to attribute the
/// errors to the right keys). Errors come in the order of `overrides`. If
/// the same key is given twice, the later value wins.
///
/// Which attributes exist: the fields the type's `Deserialize` declares
/// (so `#[serde(rename)]` names, and fields left out of the serialized
/// form by `skip_serializing_if`, count), or — for types that do not
/// deserialize as a plain struct, e.g. with `#[serde(flatten)]` — the keys
/// of the serialized form. `#[serde(skip)]` fields are not attributes: an
/// environment cannot set them, which is the way to keep a component's
/// internal state private. **They come back as `Default::default()`**,
/// because the copy is rebuilt from the serialized form; apply overrides
/// to a freshly constructed component, before `configure` fills in such
/// state.
///
/// ```
/// # use batou_core::convert::{Override, apply_overrides};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Nginx {
///     port: u16,
///     enabled: bool,
///     servers: Vec<String>,
/// }
///
/// let nginx = Nginx { port: 80, enabled: false, servers: vec![] };
/// let nginx = apply_overrides(
///     &nginx,
///     &[Override::text("port", "8080"), Override::text("enabled", "yes"),
///       Override::text("servers", "a, b")],
/// )
/// .unwrap();
/// assert_eq!((nginx.port, nginx.enabled), (8080, true));
/// assert_eq!(nginx.servers, ["a", "b"]);
/// ```
pub fn apply_overrides<T>(current: &T, overrides: &[Override]) -> Result<T, Vec<OverrideError>>
where
    T: serde::Serialize + DeserializeOwned,
{
    let object = match serde_json::to_value(current) {
        Ok(Value::Object(object)) => object,
        Ok(other) if overrides.is_empty() => {
            return serde_json::from_value(other).map_err(|e| {
                vec![round_trip(format!(
                    "the component does not convert back: {e}"
                ))]
            });
        }
        Ok(_) => {
            return Err(overrides
                .iter()
                .map(|o| o.error(OverrideErrorKind::NotAStruct))
                .collect());
        }
        Err(e) => {
            return Err(vec![round_trip(format!(
                "cannot serialize the component: {e}"
            ))]);
        }
    };
    let known: Vec<String> = match declared_fields::<T>() {
        Some(fields) => fields.iter().map(|f| (*f).to_owned()).collect(),
        None => object.keys().cloned().collect(),
    };

    // (position of the override, error), so errors come out in file order.
    let mut problems: Vec<(usize, OverrideError)> = Vec::new();
    let mut applied: Vec<Applied<'_>> = Vec::new();
    for (index, o) in overrides.iter().enumerate() {
        if !known.contains(&o.key) {
            let kind = OverrideErrorKind::UnknownAttribute {
                known: known.clone(),
            };
            problems.push((index, o.error(kind)));
            continue;
        }
        let new = Applied {
            index,
            set: o,
            blank_is_none: false,
        };
        match applied.iter_mut().find(|a| a.set.key == o.key) {
            Some(earlier) => *earlier = new,
            None => applied.push(new),
        }
    }

    // The common case first: everything at once.
    let mut together = attempt::<T>(&object, &applied);
    while let Err(OverlayError::Value { key, .. }) = &together {
        // A blank text failed; it may be meant as `None` (see TextDeserializer).
        let Some(blank) = applied
            .iter_mut()
            .find(|a| a.set.key == *key && a.is_blank() && !a.blank_is_none)
        else {
            break;
        };
        blank.blank_is_none = true;
        together = attempt::<T>(&object, &applied);
    }
    let together_error = match together {
        Ok(value) if problems.is_empty() => return Ok(value),
        Ok(_) => None,
        Err(e) => Some(e),
    };

    if let Some(together_error) = together_error {
        if let Err(e) = attempt::<T>(&object, &[]) {
            let message = format!("the component does not convert back from its attributes: {e}");
            problems.push((usize::MAX, round_trip(message)));
        } else {
            let before = problems.len();
            for single in &applied {
                if let Err(e) = attempt_alone::<T>(&object, single) {
                    problems.push((single.index, single.error(e)));
                }
            }
            if problems.len() == before {
                let keys: Vec<&str> = applied.iter().map(|a| a.set.key.as_str()).collect();
                let message = format!(
                    "the overrides of {} are fine one by one but not together: {together_error}",
                    keys.join(", ")
                );
                problems.push((usize::MAX, round_trip(message)));
            }
        }
    }
    problems.sort_by_key(|(index, _)| *index);
    Err(problems.into_iter().map(|(_, e)| e).collect())
}

/// The names of the attributes an environment may set on `T`: its
/// serialized field names, in order, for "did you mean" hints and `show`.
///
/// A field that serializes conditionally (`skip_serializing_if`) is listed
/// only when it is serialized; [`declared_fields`] lists those too.
pub fn attribute_names<T: serde::Serialize>(current: &T) -> Result<Vec<String>, OverrideError> {
    match serde_json::to_value(current) {
        Ok(Value::Object(object)) => Ok(object.keys().cloned().collect()),
        Ok(_) => Err(whole(OverrideErrorKind::NotAStruct)),
        Err(e) => Err(round_trip(format!("cannot serialize the component: {e}"))),
    }
}

/// An override whose key exists.
#[derive(Clone, Copy)]
struct Applied<'a> {
    index: usize,
    set: &'a Override,
    /// Second attempt for blank text: `Option` fields become `None`.
    blank_is_none: bool,
}

impl Applied<'_> {
    fn is_blank(&self) -> bool {
        self.set
            .value
            .text()
            .is_some_and(|text| text.trim().is_empty())
    }

    fn error(&self, e: OverlayError) -> OverrideError {
        let kind = match e {
            OverlayError::Value { value, message, .. } => {
                OverrideErrorKind::Conversion { value, message }
            }
            // Rejected by the component's own checks (e.g. `try_from`).
            OverlayError::Other(message) => OverrideErrorKind::Conversion {
                value: self.set.value.display(),
                message,
            },
        };
        self.set.error(kind)
    }
}

/// Deserializes `T` from its current attributes with `applied` on top.
fn attempt<T: DeserializeOwned>(
    object: &Map<String, Value>,
    applied: &[Applied<'_>],
) -> Result<T, OverlayError> {
    let mut entries: Vec<(&str, Source<'_>)> = object
        .iter()
        .map(
            |(key, value)| match applied.iter().find(|a| a.set.key == *key) {
                Some(a) => (key.as_str(), Source::Override(*a)),
                None => (key.as_str(), Source::Current(value)),
            },
        )
        .collect();
    // Declared fields the serialized form left out (`skip_serializing_if`).
    for a in applied {
        if !object.contains_key(&a.set.key) {
            entries.push((&a.set.key, Source::Override(*a)));
        }
    }
    T::deserialize(Overlay { entries })
}

/// One override alone, with the second attempt for blank text.
fn attempt_alone<T: DeserializeOwned>(
    object: &Map<String, Value>,
    single: &Applied<'_>,
) -> Result<T, OverlayError> {
    let plain = Applied {
        blank_is_none: false,
        ..*single
    };
    let first = attempt::<T>(object, &[plain]);
    if first.is_err() && single.is_blank() {
        let none = Applied {
            blank_is_none: true,
            ..*single
        };
        if let Ok(value) = attempt::<T>(object, &[none]) {
            return Ok(value);
        }
    }
    first
}

/// Where a field's value comes from.
enum Source<'a> {
    Current(&'a Value),
    Override(Applied<'a>),
}

/// Error of the overlay deserializer: which key failed, if known.
#[derive(Debug)]
enum OverlayError {
    Value {
        key: String,
        value: String,
        message: String,
    },
    Other(String),
}

impl fmt::Display for OverlayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverlayError::Value { key, message, .. } => write!(f, "attribute `{key}`: {message}"),
            OverlayError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for OverlayError {}

impl de::Error for OverlayError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        OverlayError::Other(msg.to_string())
    }
}

/// The component as a map of attributes.
struct Overlay<'a> {
    entries: Vec<(&'a str, Source<'a>)>,
}

impl<'de> de::Deserializer<'de> for Overlay<'de> {
    type Error = OverlayError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OverlayError> {
        visitor.visit_map(Fields {
            entries: self.entries.into_iter(),
            next: None,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, OverlayError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

struct Fields<'a> {
    entries: std::vec::IntoIter<(&'a str, Source<'a>)>,
    next: Option<(&'a str, Source<'a>)>,
}

impl<'de> de::MapAccess<'de> for Fields<'de> {
    type Error = OverlayError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, OverlayError> {
        let Some((key, source)) = self.entries.next() else {
            return Ok(None);
        };
        self.next = Some((key, source));
        let key = de::value::BorrowedStrDeserializer::<OverlayError>::new(key);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, OverlayError> {
        let Some((key, source)) = self.next.take() else {
            return Err(de::Error::custom("value requested before its key"));
        };
        match source {
            Source::Current(value) => seed.deserialize(value).map_err(|e| OverlayError::Value {
                key: key.to_owned(),
                value: value.to_string(),
                message: format!("the current value {value} does not convert back: {e}"),
            }),
            Source::Override(applied) => match &applied.set.value {
                OverrideValue::Text(text) | OverrideValue::Typed(Value::String(text)) => {
                    let text_de = if applied.blank_is_none {
                        TextDeserializer::blank_is_none(text)
                    } else {
                        TextDeserializer::new(text)
                    };
                    seed.deserialize(text_de).map_err(|e| OverlayError::Value {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        message: e.with_value(text).to_string(),
                    })
                }
                OverrideValue::Typed(value) => {
                    seed.deserialize(value).map_err(|e| OverlayError::Value {
                        key: key.to_owned(),
                        value: value.to_string(),
                        message: format!("cannot convert {value}: {e}"),
                    })
                }
            },
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
