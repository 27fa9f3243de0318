//! Errors of the INI parser, one per exception Python's `configparser` raises.

use std::fmt;
use std::ops::Range;

/// Why a document could not be parsed, with the place Python would report.
///
/// `line` is the 1-based line number Python puts into the exception (for a
/// `ParsingError`, the first offending line). `span` is a byte range into the
/// parsed source for diagnostics; it never includes the line terminator.
///
/// `Display` is a one-line message without the line number, so callers can
/// prefix it with `path:line:` themselves.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{kind}")]
pub struct IniError {
    /// What went wrong.
    pub kind: IniErrorKind,
    /// 1-based line number of the offending line.
    pub line: usize,
    /// Byte span of the offending text (the stripped line, or the key of a
    /// duplicate option, or the header of a duplicate section).
    pub span: Range<usize>,
}

/// The kinds of errors, mirroring the exceptions of `configparser`.
///
/// Python raises `MissingSectionHeaderError`, `DuplicateSectionError` and
/// `DuplicateOptionError` immediately. Malformed lines (`NoDelimiter`,
/// `EmptyKey`) are collected by Python and raised as one `ParsingError` at
/// the end of the file, so a later duplicate wins over an earlier malformed
/// line; [`parse`](super::parse) reproduces that precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniErrorKind {
    /// A line that is not blank, not a comment and not a `[section]` header
    /// appears before the first header.
    MissingSectionHeader {
        /// The offending line, stripped.
        line_text: String,
    },
    /// The same `[section]` header appears twice (`strict=True`). A repeated
    /// `[DEFAULT]` header is *not* an error in Python, and not here either.
    DuplicateSection {
        /// The section name exactly as written between the brackets.
        name: String,
        /// Line of the first header with that name.
        first_line: usize,
    },
    /// The same key appears twice in one section (`strict=True`), including
    /// twice in `[DEFAULT]` across repeated `[DEFAULT]` headers.
    DuplicateOption {
        /// The section (`DEFAULT` for the defaults section).
        section: String,
        /// The key, case-sensitive.
        key: String,
        /// Line where the key was first defined.
        first_line: usize,
    },
    /// A line inside a section that is neither a header, an option, a
    /// comment nor a continuation line (Python's `ParsingError`).
    NoDelimiter {
        /// The offending line, stripped.
        line_text: String,
    },
    /// An option line whose key is empty, e.g. `= value` (Python's
    /// `ParsingError`).
    EmptyKey {
        /// The offending line, stripped.
        line_text: String,
    },
}

impl IniErrorKind {
    /// The name of the exception class Python raises for this error, e.g.
    /// `"DuplicateOptionError"`. Used by the differential tests and handy in
    /// messages aimed at people who know batou's Python implementation.
    pub fn python_exception(&self) -> &'static str {
        match self {
            IniErrorKind::MissingSectionHeader { .. } => "MissingSectionHeaderError",
            IniErrorKind::DuplicateSection { .. } => "DuplicateSectionError",
            IniErrorKind::DuplicateOption { .. } => "DuplicateOptionError",
            IniErrorKind::NoDelimiter { .. } | IniErrorKind::EmptyKey { .. } => "ParsingError",
        }
    }
}

impl fmt::Display for IniErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IniErrorKind::MissingSectionHeader { line_text } => write!(
                f,
                "`{line_text}` appears before any section header (expected a `[section]` line first)"
            ),
            IniErrorKind::DuplicateSection { name, first_line } => write!(
                f,
                "duplicate section [{name}] (first defined on line {first_line})"
            ),
            IniErrorKind::DuplicateOption {
                section,
                key,
                first_line,
            } => write!(
                f,
                "duplicate option `{key}` in section [{section}] (first defined on line {first_line})"
            ),
            IniErrorKind::NoDelimiter { line_text } => write!(
                f,
                "`{line_text}` is neither a `[section]` header nor a `key = value` option"
            ),
            IniErrorKind::EmptyKey { line_text } => {
                write!(f, "option `{line_text}` has an empty key")
            }
        }
    }
}
