//! Finding out which fields a type's `Deserialize` accepts.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::forward_to_deserialize_any;

/// The field names `T`'s `Deserialize` accepts, if it deserializes as a
/// struct (derived structs do, also with `rename`, `default`, `skip`;
/// `#[serde(flatten)]` and hand-written map impls do not, giving `None`).
///
/// ```
/// # use batou_core::convert::declared_fields;
/// #[derive(serde::Deserialize)]
/// struct Web {
///     #[serde(rename = "listen")]
///     address: String,
///     #[serde(skip)]
///     _state: u8,
/// }
/// assert_eq!(declared_fields::<Web>(), Some(&["listen"][..]));
/// ```
pub fn declared_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    // The derived impl names its fields when it asks for a struct; the probe
    // stops it right there.
    match T::deserialize(FieldProbe) {
        Err(ProbeError(fields)) => fields,
        Ok(_) => None,
    }
}

/// Asks a type's `Deserialize` for its field list; see [`declared_fields`].
struct FieldProbe;

#[derive(Debug)]
struct ProbeError(Option<&'static [&'static str]>);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        ProbeError(None)
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeError> {
        Err(ProbeError(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        Err(ProbeError(Some(fields)))
    }

    /// The overlay sees through newtypes too (see the overlay's `deserialize_newtype_struct`).
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}
