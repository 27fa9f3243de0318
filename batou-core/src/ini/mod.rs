//! An INI parser with the exact semantics of Python's
//! `configparser.RawConfigParser` as batou uses it, plus source positions.
//!
//! batou's environment files (`environments/*.cfg`) and secrets are read in
//! Python with `RawConfigParser()` and `optionxform = str`. Existing files
//! must mean the same thing to this rebuild, quirks included, so this is a
//! faithful port of Python 3.11's `_read` rather than a generic INI parser:
//!
//! * keys and section names are case-sensitive (`[a]` and `[A]` differ);
//! * a line splits on the first `=` or `:`; key and value are stripped;
//! * only whole-line comments (`#` or `;` after optional whitespace);
//!   `url = http://x/#frag ; note` keeps everything after `=`;
//! * lines indented deeper than the key line continue its value (even if
//!   they look like `key = value` or `[section]`); blank lines inside a
//!   value are kept, trailing blank lines dropped;
//! * no interpolation: `%(x)s` stays verbatim;
//! * `[DEFAULT]` options show up in every section's [`Document::items`];
//! * duplicate sections and duplicate keys are errors (`strict=True`).
//!
//! Unlike Python, every section and option remembers its line and byte
//! spans so errors in batou can point at the offending text.
//!
//! The `tests` module checks all of this differentially against the real
//! `python3` on the files in `corpus/` and on random documents.

mod document;
mod error;
mod parser;

#[cfg(test)]
mod tests;

pub use document::{DEFAULT_SECTION, Document, Entry, Section, ValueLine};
pub use error::{IniError, IniErrorKind};
pub use parser::parse;
