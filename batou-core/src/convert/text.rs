//! A serde `Deserializer` over one config string.
//!
//! The string has no type of its own, so each `deserialize_*` request of
//! the target type decides how to read it: `deserialize_u16` parses an
//! integer, `deserialize_seq` splits a list, `deserialize_str` takes the text
//! as it is. See [`TextDeserializer`] for the whole table.

use serde::de::{self, DeserializeSeed, Visitor};

use super::error::ConversionError;
use super::list::split_list_borrowed;
use super::scalar::{BOOL_EXPECTED, parse_bool, parse_float, parse_integer};

/// What we tell people who try to write structured values as one string.
const USE_TOML: &str =
    "a single string cannot hold structured values; write this attribute as a TOML table";

/// Deserializes any serde type from one config string, reading the string
/// according to what the type asks for.
///
/// | the type asks for | the text is read as |
/// |---|---|
/// | `bool` | [`parse_bool`](super::parse_bool): true/false, yes/no, on/off, 1/0, any case |
/// | integers | decimal, or `0x`/`0o`/`0b` prefixed; `_` between digits; whitespace trimmed; range-checked |
/// | `f32`, `f64` | a number, whitespace trimmed |
/// | `char` | exactly one character (not trimmed) |
/// | `String`, `&str`, `PathBuf` | the text verbatim, **not** trimmed |
/// | bytes | the UTF-8 bytes of the text |
/// | `Option<T>` | `Some(T)` from the text; see below for empty text |
/// | `()` and unit structs | an empty (or whitespace-only) text |
/// | sequences, tuples, arrays, sets | [`split_list`](super::split_list), each item read with these same rules |
/// | maps | an error: use a TOML table |
/// | enums | the (trimmed) name of a unit variant, as serde spells it |
/// | newtype structs | whatever the inner type asks for |
/// | structs, `deserialize_any` | the text as a string, so types that deserialize from strings (`Address`, [`Mode`](super::Mode), [`Duration`](super::Duration)) work; other structs fail with a hint to use a TOML table |
///
/// **Empty text and `Option`.** An empty or whitespace-only text becomes
/// `None` only when the inner type cannot be read from it: `Option<u16>`
/// from `""` is `None`, but `Option<String>` from `""` is `Some("")` and
/// `Option<Vec<T>>` from `""` is `Some(vec![])`. A deserializer cannot
/// rewind its visitor, so [`from_config_str`](super::from_config_str) and
/// the overlay find this out by converting twice: first with
/// [`TextDeserializer::new`], and if that fails on a blank text, again with
/// [`TextDeserializer::blank_is_none`].
#[derive(Debug, Clone, Copy)]
pub struct TextDeserializer<'de> {
    text: &'de str,
    blank_is_none: bool,
}

impl<'de> TextDeserializer<'de> {
    /// Reads `text`; an `Option` becomes `Some` of whatever the text converts to.
    pub fn new(text: &'de str) -> Self {
        TextDeserializer {
            text,
            blank_is_none: false,
        }
    }

    /// Like [`new`](Self::new), but a blank text read as an `Option`
    /// gives `None`. Used for the second attempt described above.
    pub fn blank_is_none(text: &'de str) -> Self {
        TextDeserializer {
            text,
            blank_is_none: true,
        }
    }

    fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    fn error(&self, expected: &str) -> ConversionError {
        ConversionError::new(self.text, expected)
    }

    fn items(&self) -> ItemAccess<'de> {
        ItemAccess {
            whole: self.text,
            items: split_list_borrowed(self.text).into_iter(),
            seen: 0,
            blank_is_none: self.blank_is_none,
        }
    }

    /// A list into a tuple or array: too many items is an error too (serde
    /// itself only notices too few).
    fn tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, ConversionError> {
        let mut items = self.items();
        let total = items.items.len();
        let value = visitor.visit_seq(&mut items)?;
        if !items.items.as_slice().is_empty() {
            let plural = if len == 1 { "" } else { "s" };
            return Err(self
                .error(&format!("a list of {len} item{plural}"))
                .with_detail(format!("found {total} items")));
        }
        Ok(value)
    }
}

/// Names the text in errors that do not name a value yet.
fn quoting(text: &str) -> impl FnOnce(ConversionError) -> ConversionError + '_ {
    move |e| e.with_value(text)
}

/// `deserialize_i8` and friends: all integers go through [`parse_integer`].
macro_rules! integers {
    ($($method:ident => $visit:ident: $t:ty,)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
            let value: $t = parse_integer(self.text)?;
            visitor.$visit(value).map_err(quoting(self.text))
        })*
    };
}

impl<'de> de::Deserializer<'de> for TextDeserializer<'de> {
    type Error = ConversionError;

    /// Self-describing requests (`serde_json::Value`, untagged enums, types
    /// with hand-written `Deserialize` such as [`Mode`](super::Mode)) see a string.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        visitor
            .visit_borrowed_str(self.text)
            .map_err(quoting(self.text))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        match parse_bool(self.text) {
            Some(value) => visitor.visit_bool(value).map_err(quoting(self.text)),
            None => Err(self.error(BOOL_EXPECTED)),
        }
    }

    integers! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        let value: f32 = parse_float(self.text)?;
        visitor.visit_f32(value).map_err(quoting(self.text))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        let value: f64 = parse_float(self.text)?;
        visitor.visit_f64(value).map_err(quoting(self.text))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        let mut chars = self.text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c).map_err(quoting(self.text)),
            _ => Err(self
                .error("a single character")
                .with_detail(format!("found {} characters", self.text.chars().count()))),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        visitor
            .visit_borrowed_bytes(self.text.as_bytes())
            .map_err(quoting(self.text))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        if self.blank_is_none && self.is_blank() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
        .map_err(quoting(self.text))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        if self.is_blank() {
            visitor.visit_unit().map_err(quoting(self.text))
        } else {
            Err(self.error("nothing (an empty value)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(quoting(self.text))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConversionError> {
        visitor.visit_seq(self.items()).map_err(quoting(self.text))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.tuple(len, visitor).map_err(quoting(self.text))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_tuple(len, visitor)
    }

    /// A `k=v` syntax was considered and rejected: values containing `=`,
    /// `,` or line breaks (URLs, commands) would need quoting rules of their
    /// own, and TOML environments already have real tables.
    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ConversionError> {
        Err(self.error("a table").with_detail(USE_TOML))
    }

    /// Handed over as a string, so that structs with a string form work.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_any(visitor).map_err(|e| {
            if e.is_type_mismatch() {
                e.with_hint(USE_TOML)
            } else {
                e
            }
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        visitor
            .visit_enum(VariantName(self.text.trim()))
            .map_err(quoting(self.text))
    }

    fn deserialize_identifier<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConversionError> {
        visitor.visit_unit()
    }
}

/// The items of a list, each read by its own [`TextDeserializer`].
struct ItemAccess<'de> {
    whole: &'de str,
    items: std::vec::IntoIter<&'de str>,
    seen: usize,
    blank_is_none: bool,
}

impl<'de> de::SeqAccess<'de> for ItemAccess<'de> {
    type Error = ConversionError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, ConversionError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        self.seen += 1;
        let deserializer = TextDeserializer {
            text: item,
            blank_is_none: self.blank_is_none,
        };
        seed.deserialize(deserializer).map(Some).map_err(|e| {
            let seen = self.seen;
            let whole = self.whole;
            e.with_value(item)
                .within(|| format!("item {seen} of {whole:?}"))
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An enum written as the bare name of one of its variants.
struct VariantName<'de>(&'de str);

impl<'de> de::EnumAccess<'de> for VariantName<'de> {
    type Error = ConversionError;
    type Variant = UnitOnly<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, UnitOnly<'de>), ConversionError> {
        let name = de::value::BorrowedStrDeserializer::<ConversionError>::new(self.0);
        let variant = seed.deserialize(name)?;
        Ok((variant, UnitOnly(self.0)))
    }
}

/// The name alone cannot carry a variant's data.
struct UnitOnly<'de>(&'de str);

impl UnitOnly<'_> {
    fn needs_data(&self) -> ConversionError {
        ConversionError::new(self.0, "a variant without data")
            .with_detail(format!("variant `{}` holds data; {USE_TOML}", self.0))
    }
}

impl<'de> de::VariantAccess<'de> for UnitOnly<'de> {
    type Error = ConversionError;

    fn unit_variant(self) -> Result<(), ConversionError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        _seed: S,
    ) -> Result<S::Value, ConversionError> {
        Err(self.needs_data())
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, ConversionError> {
        Err(self.needs_data())
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ConversionError> {
        Err(self.needs_data())
    }
}
