//! The parsed representation of an INI file.

use std::ops::Range;

use indexmap::IndexMap;

/// Name of the section whose options are visible in every other section,
/// as in Python's `configparser` (`default_section`).
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// A parsed INI document.
///
/// Holds exactly what Python's `RawConfigParser` (with `optionxform = str`)
/// would hold after `read_file`, plus source positions for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// Sections in file order, keyed by their case-sensitive name. The
    /// `[DEFAULT]` section is never in here; see [`Document::defaults`].
    pub sections: IndexMap<String, Section>,
    /// Options of the `[DEFAULT]` section in file order (merged over all
    /// `[DEFAULT]` headers, which Python allows to repeat).
    pub defaults: IndexMap<String, Entry>,
}

/// One `[name]` section and its own options (without defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name exactly as between the brackets: not stripped, case kept.
    pub name: String,
    /// 1-based line of the `[header]`.
    pub line: usize,
    /// Byte span of the header line with surrounding whitespace removed
    /// (so it includes any text after the closing bracket, e.g. `[a] x`).
    pub span: Range<usize>,
    /// Byte span of the name between the brackets.
    pub name_span: Range<usize>,
    /// The section's options in file order.
    pub entries: IndexMap<String, Entry>,
}

/// One `key = value` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, stripped, case kept (`optionxform = str`).
    pub key: String,
    /// The value exactly as Python gives it: every line stripped, lines
    /// joined with `\n` (blank lines kept as empty lines), trailing blank
    /// lines removed. If the first line is empty but continuation lines
    /// follow, the value starts with `\n`, as in Python.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
    /// Byte span of the key.
    pub key_span: Range<usize>,
    /// Byte span from the first non-blank character of the value through
    /// the last character of its last non-blank line (so it covers
    /// continuation lines, and any comment lines between them). If the
    /// value is empty, an empty range right after the delimiter.
    ///
    /// For a value whose first line is empty (`key =` followed by indented
    /// lines) the span starts at the first continuation line's text, even
    /// though [`Entry::value`] starts with `\n`.
    pub value_span: Range<usize>,
    /// The lines that make up [`Entry::value`], in order: `value` equals
    /// these lines' texts joined with `\n`. Blank lines inside the value are
    /// included with an empty span at the start of the blank line.
    pub value_lines: Vec<ValueLine>,
}

/// One physical line contributing to a (possibly multi-line) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLine {
    /// 1-based line number.
    pub line: usize,
    /// Byte span of the stripped text of this line that is part of the
    /// value (for the key line: the part after the delimiter).
    pub span: Range<usize>,
}

impl Document {
    /// Items of a section as Python's `dict(cp[section])` gives them: the
    /// section's own options in file order, then the `[DEFAULT]` options it
    /// does not override, in their file order. An option that overrides a
    /// default keeps its own position and value.
    ///
    /// `items("DEFAULT")` gives the defaults alone, as `cp["DEFAULT"]` does.
    /// Returns `None` for a section that does not exist.
    pub fn items(&self, section: &str) -> Option<Vec<&Entry>> {
        if section == DEFAULT_SECTION {
            return Some(self.defaults.values().collect());
        }
        let sect = self.sections.get(section)?;
        let mut items: Vec<&Entry> = sect.entries.values().collect();
        items.extend(
            self.defaults
                .iter()
                .filter(|(key, _)| !sect.entries.contains_key(key.as_str()))
                .map(|(_, entry)| entry),
        );
        Some(items)
    }

    /// The section with this exact (case-sensitive) name. `[DEFAULT]` is
    /// not a section here (as in Python's `has_section`); use
    /// [`Document::defaults`].
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.get(name)
    }

    /// Look up an option like Python's `cp.get(section, key)`: the
    /// section's own option, else the `[DEFAULT]` one. `None` if the section
    /// or the option does not exist.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        if section == DEFAULT_SECTION {
            return self.defaults.get(key);
        }
        let sect = self.sections.get(section)?;
        sect.entries.get(key).or_else(|| self.defaults.get(key))
    }

    /// Section names in file order, like Python's `cp.sections()`.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }
}

impl Section {
    /// The section's own option with this exact key (defaults not
    /// consulted; see [`Document::get`] for that).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }
}
