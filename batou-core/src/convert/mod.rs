//! Converting environment overrides to the types of component attributes.
//!
//! An environment says `[component:nginx]` `port = 8080`; the `port` field
//! of the `Nginx` struct is a `u16`. There is no schema: the conversion is
//! driven by serde, through a [`TextDeserializer`] that reads the string
//! according to what the field's type asks for (an integer, a list, an
//! enum variant name, ...). [`apply_overrides`] applies a set of overrides
//! to a component and reports every problem.
//!
//! Beyond the std types, [`Mode`] (file modes like `755` or `rwxr-x---`)
//! and [`Duration`] (`90s`, `1h30m`) convert the way batou users write
//! them; any type that deserializes from a string (such as `Address`)
//! works as an attribute too.
//!
//! ```
//! use batou_core::convert::{Duration, Mode, Override, apply_overrides};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(rename_all = "lowercase")]
//! enum Ensure { File, Directory }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Data {
//!     ensure: Ensure,
//!     mode: Mode,
//!     timeout: Duration,
//!     owner: Option<String>,
//! }
//!
//! let data = Data {
//!     ensure: Ensure::File,
//!     mode: Mode(0o644),
//!     timeout: Duration::from_secs(30),
//!     owner: None,
//! };
//! let data = apply_overrides(&data, &[
//!     Override::text("ensure", "directory"),
//!     Override::text("mode", "rwxr-x---"),
//!     Override::text("timeout", "2m"),
//! ]).unwrap();
//! assert_eq!(data.ensure, Ensure::Directory);
//! assert_eq!(data.mode, Mode(0o750));
//! assert_eq!(data.timeout, Duration::from_secs(120));
//! ```

mod duration;
mod error;
mod list;
mod mode;
mod overlay;
mod overrides;
mod probe;
mod scalar;
mod text;

#[cfg(test)]
mod tests;

pub use duration::{Duration, DurationError};
pub use error::ConversionError;
pub use list::split_list;
pub use mode::{Mode, ModeError};
pub use overlay::{apply_overrides, attribute_names};
pub use overrides::{Override, OverrideError, OverrideErrorKind, OverrideValue};
pub use probe::declared_fields;
pub use scalar::parse_bool;
pub use text::TextDeserializer;

use serde::de::DeserializeOwned;

/// Deserializes any `T` from one config string, as an environment override
/// would be converted. See [`TextDeserializer`] for how each type reads the
/// text.
///
/// ```
/// # use batou_core::convert::from_config_str;
/// assert_eq!(from_config_str::<u16>("8080").unwrap(), 8080);
/// assert_eq!(from_config_str::<Vec<u16>>("80, 443").unwrap(), [80, 443]);
/// assert_eq!(from_config_str::<Option<u16>>("").unwrap(), None);
/// assert_eq!(
///     from_config_str::<u8>("300").unwrap_err().to_string(),
///     r#"cannot convert "300" to an integer: out of range (0 to 255)"#,
/// );
/// ```
pub fn from_config_str<T: DeserializeOwned>(text: &str) -> Result<T, ConversionError> {
    match T::deserialize(TextDeserializer::new(text)) {
        Ok(value) => Ok(value),
        // A blank text that does not convert may be meant as `None`.
        Err(first) if text.trim().is_empty() => {
            T::deserialize(TextDeserializer::blank_is_none(text))
                .map_err(|_| first.with_value(text))
        }
        // Errors raised by `T` itself after reading the text (say, a
        // hand-written impl that parses a `String`) do not name the text yet.
        Err(e) => Err(e.with_value(text)),
    }
}

/// Deserializes `T` from an override value: text as [`from_config_str`]
/// does, typed (TOML) values directly.
pub fn from_override_value<T: DeserializeOwned>(
    value: &OverrideValue,
) -> Result<T, ConversionError> {
    match value {
        OverrideValue::Text(text) | OverrideValue::Typed(serde_json::Value::String(text)) => {
            from_config_str(text)
        }
        OverrideValue::Typed(json) => T::deserialize(json).map_err(|e| {
            ConversionError::new(json.to_string(), "the attribute's type").with_detail(e)
        }),
    }
}
