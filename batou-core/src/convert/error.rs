//! The error of converting one config string (or typed value).

use std::fmt;

/// A config value could not be converted to the type a field asks for.
///
/// It renders as `cannot convert "<value>" to <expected>: <detail>`, e.g.
/// `cannot convert "abc" to an integer: invalid digit found in string`;
/// parts that are not known are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError {
    value: Option<String>,
    expected: Option<String>,
    detail: Option<String>,
    /// Where the value sits in a larger one, e.g. `item 2 of "80, x"`.
    context: Option<String>,
}

impl ConversionError {
    /// An error about `value`, which is not `expected` (in plain words, e.g.
    /// "an integer").
    ///
    /// ```
    /// # use batou_core::convert::ConversionError;
    /// let err = ConversionError::new("80x", "a port number").with_detail("invalid digit");
    /// assert_eq!(err.to_string(), r#"cannot convert "80x" to a port number: invalid digit"#);
    /// ```
    pub fn new(value: impl Into<String>, expected: impl Into<String>) -> Self {
        ConversionError {
            value: Some(value.into()),
            expected: Some(expected.into()),
            detail: None,
            context: None,
        }
    }

    /// Says why the value does not convert.
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// An error with only a message; the value is filled in by the
    /// deserializer that notices it.
    pub(crate) fn message(detail: impl fmt::Display) -> Self {
        ConversionError {
            value: None,
            expected: None,
            detail: Some(detail.to_string()),
            context: None,
        }
    }

    /// The text (or, for typed values, the JSON) that failed to convert.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What was expected, in plain words ("an integer", "a list", ...).
    pub fn expected(&self) -> Option<&str> {
        self.expected.as_deref()
    }

    /// Why it failed, if more is known than the expected type.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Names the value, unless a more precise (inner) value is already
    /// named: an error in item 2 of a list quotes that item, not the list.
    pub(crate) fn with_value(mut self, value: &str) -> Self {
        if self.value.is_none() {
            self.value = Some(value.to_owned());
        }
        self
    }

    /// Adds an explanation, keeping any detail already there.
    pub(crate) fn with_hint(mut self, hint: &str) -> Self {
        self.detail = Some(match self.detail.take() {
            Some(detail) => format!("{detail}; {hint}"),
            None => hint.to_owned(),
        });
        self
    }

    /// Says where the value sits in a larger one, unless an inner context
    /// is already known.
    pub(crate) fn within(mut self, context: impl FnOnce() -> String) -> Self {
        if self.context.is_none() {
            self.context = Some(context());
        }
        self
    }

    /// True if the error says the value was a string where something else
    /// (a struct, a map) was expected.
    pub(crate) fn is_type_mismatch(&self) -> bool {
        self.expected.is_some() && self.detail.is_none()
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.value, &self.expected) {
            (Some(value), Some(expected)) => write!(f, "cannot convert {value:?} to {expected}")?,
            (Some(value), None) => write!(f, "cannot convert {value:?}")?,
            (None, Some(expected)) => write!(f, "expected {expected}")?,
            (None, None) => f.write_str(self.detail.as_deref().unwrap_or("conversion failed"))?,
        }
        if let (Some(detail), true) = (
            &self.detail,
            self.value.is_some() || self.expected.is_some(),
        ) {
            write!(f, ": {detail}")?;
        }
        if let Some(context) = &self.context {
            write!(f, " ({context})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConversionError {}

impl serde::de::Error for ConversionError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConversionError::message(msg)
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        unexpected(unexp, exp)
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        unexpected(unexp, exp)
    }

    fn invalid_length(len: usize, exp: &dyn serde::de::Expected) -> Self {
        let items = if len == 1 { "item" } else { "items" };
        ConversionError {
            value: None,
            expected: Some(exp.to_string()),
            detail: Some(format!("found {len} {items}")),
            context: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        ConversionError {
            value: Some(variant.to_owned()),
            expected: Some(one_of(expected)),
            detail: None,
            context: None,
        }
    }
}

/// `invalid_type` / `invalid_value`: a string the visitor did not like is
/// the value itself; anything else is described in the detail.
fn unexpected(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> ConversionError {
    match unexp {
        serde::de::Unexpected::Str(text) => ConversionError {
            value: Some(text.to_owned()),
            expected: Some(exp.to_string()),
            detail: None,
            context: None,
        },
        other => ConversionError {
            value: None,
            expected: Some(exp.to_string()),
            detail: Some(format!("got {other}")),
            context: None,
        },
    }
}

/// "one of `a`, `b`, `c`" for enum variants.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing (the type has no variants)".to_owned(),
        [only] => format!("`{only}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}
