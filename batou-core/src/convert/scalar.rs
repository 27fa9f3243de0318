//! Booleans and numbers in config strings.

use std::fmt;

use super::ConversionError;

/// The plain-words name of what [`parse_bool`] accepts, for error messages.
pub(crate) const BOOL_EXPECTED: &str = "a boolean (true/false, yes/no, on/off, 1/0)";

/// Reads a boolean written in any of the spellings people use in batou
/// environments.
///
/// True: `true`, `yes`, `on`, `1`; false: `false`, `no`, `off`, `0`. The
/// match ignores case (so Python's `True`/`False`, which batou's `"literal"`
/// conversion wanted, work as well as `TRUE` or `Yes`) and surrounding
/// whitespace. These are the spellings of Python's
/// `ConfigParser.getboolean`, which INI users already know. Anything else is
/// `None`: in particular an empty value is not "false", so a forgotten value
/// is reported instead of silently switching a feature off.
///
/// ```
/// # use batou_core::convert::parse_bool;
/// assert_eq!(parse_bool("yes"), Some(true));
/// assert_eq!(parse_bool(" False "), Some(false));
/// assert_eq!(parse_bool(""), None);
/// ```
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The integer types the text deserializer handles, with their range for
/// error messages.
pub(crate) trait Integer: Sized + TryFrom<u128> + TryFrom<i128> + fmt::Display {
    const MIN: Self;
    const MAX: Self;
}

macro_rules! integer {
    ($($t:ty),*) => {
        $(impl Integer for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
        })*
    };
}
integer!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);

/// Parses an integer of type `T` from a config string.
///
/// Accepted: optional sign, then decimal digits, or `0x`/`0o`/`0b`
/// followed by hex/octal/binary digits; single `_` between digits is
/// allowed (as in Python's `int()` and TOML); surrounding whitespace is
/// ignored. Leading zeros do not make a number octal: `"0755"` is 755, as
/// with Python's `int("0755")`. (File modes are [`super::Mode`], which reads
/// octal.)
pub(crate) fn parse_integer<T: Integer>(text: &str) -> Result<T, ConversionError> {
    let fail = |detail: String| ConversionError::new(text, "an integer").with_detail(detail);
    let (negative, magnitude) = parse_magnitude(text.trim()).map_err(fail)?;
    let value = if negative {
        // Magnitudes up to 2^127 fit in i128 once negated; `wrapping_neg`
        // maps 2^127 (i128::MIN as bits) onto itself, which is right.
        if magnitude > i128::MAX as u128 + 1 {
            None
        } else {
            T::try_from((magnitude as i128).wrapping_neg()).ok()
        }
    } else {
        T::try_from(magnitude).ok()
    };
    value.ok_or_else(|| fail(format!("out of range ({} to {})", T::MIN, T::MAX)))
}

/// Splits off sign and radix prefix and parses the digits.
fn parse_magnitude(text: &str) -> Result<(bool, u128), String> {
    if text.is_empty() {
        return Err("the value is empty".to_owned());
    }
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = match rest.get(..2) {
        Some("0x" | "0X") => (16, &rest[2..]),
        Some("0o" | "0O") => (8, &rest[2..]),
        Some("0b" | "0B") => (2, &rest[2..]),
        _ => (10, rest),
    };
    if digits.is_empty() {
        return Err("no digits".to_owned());
    }
    // `from_str_radix` would accept another sign; only digits and `_` may follow.
    if !digits
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err("invalid digit found in string".to_owned());
    }
    if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return Err("`_` is only allowed between digits".to_owned());
    }
    let cleaned = digits.replace('_', "");
    let magnitude = u128::from_str_radix(&cleaned, radix).map_err(|e| e.to_string())?;
    Ok((negative, magnitude))
}

/// Parses a floating point number (`1.5`, `-2e3`, `inf`, `NaN`).
pub(crate) fn parse_float<F: std::str::FromStr>(text: &str) -> Result<F, ConversionError>
where
    F::Err: fmt::Display,
{
    text.trim()
        .parse()
        .map_err(|e| ConversionError::new(text, "a number").with_detail(e))
}
