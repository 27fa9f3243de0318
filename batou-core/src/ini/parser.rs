//! A line-by-line port of `configparser.RawConfigParser._read` (Python
//! 3.11) for batou's settings: `optionxform = str`, delimiters `=` and `:`,
//! full-line comment prefixes `#` and `;`, no inline comments,
//! `empty_lines_in_values=True`, `strict=True`, `allow_no_value=False`.
//!
//! The structure deliberately follows Python's loop (same state variables,
//! same order of checks) so that odd inputs behave the same; the comments
//! name the Python variables.

use std::ops::Range;

use indexmap::IndexMap;

use super::document::{DEFAULT_SECTION, Document, Entry, Section, ValueLine};
use super::error::{IniError, IniErrorKind};

/// Parse an INI document with Python `RawConfigParser` semantics.
///
/// `source` is the file content as Python reads it with
/// `open(path, encoding="utf-8")`: a leading UTF-8 BOM is *not* removed (it
/// is an ordinary character to Python, so `\u{feff}[section]` is not a
/// header). Lines end at `\n`, `\r\n` or a lone `\r` (Python's universal
/// newlines); spans and line numbers refer to `source` as given.
pub fn parse(source: &str) -> Result<Document, IniError> {
    let mut parser = Parser {
        source,
        doc: Document::default(),
        cursect: Cursor::None,
        optname: None,
        indent_level: 0,
        deferred: None,
    };
    for (index, range) in LineRanges::new(source).enumerate() {
        parser.line(index + 1, range)?;
    }
    parser.finish()
}

/// Which options map Python's `cursect` points at.
#[derive(Clone, Copy)]
enum Cursor {
    None,
    Defaults,
    Section(usize),
}

struct Parser<'a> {
    source: &'a str,
    doc: Document,
    /// Python's `cursect`.
    cursect: Cursor,
    /// Python's `optname`, as the index of the entry in `cursect`. An empty
    /// key is falsy in Python and behaves exactly like `None`, so it is
    /// stored as `None` too.
    optname: Option<usize>,
    /// Python's `indent_level`, counted in characters like Python does.
    indent_level: usize,
    /// Python's `e`: the first malformed line, raised only at the end.
    deferred: Option<IniError>,
}

impl Parser<'_> {
    fn line(&mut self, lineno: usize, range: Range<usize>) -> Result<(), IniError> {
        let text = self.source.get(range.clone()).unwrap_or("");
        let (lead_bytes, lead_chars) = leading_space(text);
        let stripped_len = rstrip(&text[lead_bytes..]).len();
        let start = range.start + lead_bytes;
        let stripped = start..start + stripped_len;
        let value = &text[lead_bytes..lead_bytes + stripped_len];

        // Full-line comments are skipped entirely, even inside a
        // multi-line value, and (unlike blank lines) add nothing to it.
        if value.starts_with('#') || value.starts_with(';') {
            return Ok(());
        }
        if value.is_empty() {
            // `empty_lines_in_values`: a blank line becomes an empty line of
            // the current value, whatever the indentation.
            let at = range.start;
            if let Some(entry) = self.current_entry() {
                entry.value_lines.push(ValueLine {
                    line: lineno,
                    span: at..at,
                });
            }
            return Ok(());
        }
        // Continuation line?
        let cur_indent_level = lead_chars;
        if cur_indent_level > self.indent_level
            && let Some(entry) = self.current_entry()
        {
            entry.value_lines.push(ValueLine {
                line: lineno,
                span: stripped,
            });
            return Ok(());
        }
        self.indent_level = cur_indent_level;
        if let Some(name_len) = header_name_len(value) {
            let name_span = stripped.start + 1..stripped.start + 1 + name_len;
            self.header(lineno, stripped, name_span)
        } else if matches!(self.cursect, Cursor::None) {
            Err(IniError {
                kind: IniErrorKind::MissingSectionHeader {
                    line_text: value.to_owned(),
                },
                line: lineno,
                span: stripped,
            })
        } else {
            self.option(lineno, stripped, value)
        }
    }

    fn header(
        &mut self,
        lineno: usize,
        span: Range<usize>,
        name_span: Range<usize>,
    ) -> Result<(), IniError> {
        let name = self.source.get(name_span.clone()).unwrap_or("");
        if let Some(first) = self.doc.sections.get(name) {
            return Err(IniError {
                kind: IniErrorKind::DuplicateSection {
                    name: name.to_owned(),
                    first_line: first.line,
                },
                line: lineno,
                span,
            });
        }
        self.cursect = if name == DEFAULT_SECTION {
            // Python never puts DEFAULT into `_sections`, so repeating the
            // header is allowed and re-opens the defaults.
            Cursor::Defaults
        } else {
            let section = Section {
                name: name.to_owned(),
                line: lineno,
                span,
                name_span,
                entries: IndexMap::new(),
            };
            let (index, _) = self.doc.sections.insert_full(name.to_owned(), section);
            Cursor::Section(index)
        };
        // So sections can't start with a continuation line.
        self.optname = None;
        Ok(())
    }

    fn option(
        &mut self,
        lineno: usize,
        stripped: Range<usize>,
        value: &str,
    ) -> Result<(), IniError> {
        let Some(delim) = value.find(['=', ':']) else {
            // Python keeps going and raises a ParsingError at the end;
            // `optname` stays what it was.
            self.defer(
                IniErrorKind::NoDelimiter {
                    line_text: value.to_owned(),
                },
                lineno,
                stripped,
            );
            return Ok(());
        };
        let key = rstrip(&value[..delim]);
        let key_span = stripped.start..stripped.start + key.len();
        if key.is_empty() {
            // Python records the error, then still stores the option under
            // the empty key, which can make a later `= x` a duplicate.
            self.defer(
                IniErrorKind::EmptyKey {
                    line_text: value.to_owned(),
                },
                lineno,
                stripped.clone(),
            );
        }
        let section_name = self.section_name().to_owned();
        let Some(entries) = self.entries_mut() else {
            return Ok(());
        };
        if let Some(first) = entries.get(key) {
            return Err(IniError {
                kind: IniErrorKind::DuplicateOption {
                    section: section_name,
                    key: key.to_owned(),
                    first_line: first.line,
                },
                line: lineno,
                span: key_span,
            });
        }
        let delim_end = stripped.start + delim + 1;
        let after = &value[delim + 1..];
        let (lead, _) = leading_space(after);
        let optval_start = delim_end + lead;
        let optval_end = optval_start + rstrip(&after[lead..]).len();
        let entry = Entry {
            key: key.to_owned(),
            value: String::new(),
            line: lineno,
            key_span,
            value_span: delim_end..delim_end,
            value_lines: vec![ValueLine {
                line: lineno,
                span: optval_start..optval_end,
            }],
        };
        let (index, _) = entries.insert_full(key.to_owned(), entry);
        self.optname = (!key.is_empty()).then_some(index);
        Ok(())
    }

    fn defer(&mut self, kind: IniErrorKind, line: usize, span: Range<usize>) {
        if self.deferred.is_none() {
            self.deferred = Some(IniError { kind, line, span });
        }
    }

    fn section_name(&self) -> &str {
        match self.cursect {
            Cursor::Section(index) => self
                .doc
                .sections
                .get_index(index)
                .map_or("", |(name, _)| name.as_str()),
            Cursor::Defaults | Cursor::None => DEFAULT_SECTION,
        }
    }

    fn entries_mut(&mut self) -> Option<&mut IndexMap<String, Entry>> {
        match self.cursect {
            Cursor::None => None,
            Cursor::Defaults => Some(&mut self.doc.defaults),
            Cursor::Section(index) => self
                .doc
                .sections
                .get_index_mut(index)
                .map(|(_, section)| &mut section.entries),
        }
    }

    /// `cursect[optname]` if both are set (and `optname` is truthy).
    fn current_entry(&mut self) -> Option<&mut Entry> {
        let index = self.optname?;
        self.entries_mut()?
            .get_index_mut(index)
            .map(|(_, entry)| entry)
    }

    /// Python's `_join_multiline_values`, then raise the deferred error.
    fn finish(mut self) -> Result<Document, IniError> {
        if let Some(error) = self.deferred {
            return Err(error);
        }
        let source = self.source;
        let sections = self.doc.sections.values_mut().map(|s| &mut s.entries);
        for entries in std::iter::once(&mut self.doc.defaults).chain(sections) {
            for entry in entries.values_mut() {
                join_value(source, entry);
            }
        }
        Ok(self.doc)
    }
}

/// `'\n'.join(lines).rstrip()`: every line is already stripped, so the
/// `rstrip` only drops trailing blank lines.
fn join_value(source: &str, entry: &mut Entry) {
    while entry
        .value_lines
        .last()
        .is_some_and(|line| line.span.is_empty())
    {
        entry.value_lines.pop();
    }
    let texts: Vec<&str> = entry
        .value_lines
        .iter()
        .map(|line| source.get(line.span.clone()).unwrap_or(""))
        .collect();
    entry.value = texts.join("\n");
    let first = entry.value_lines.iter().find(|line| !line.span.is_empty());
    if let (Some(first), Some(last)) = (first, entry.value_lines.last()) {
        entry.value_span = first.span.start..last.span.end;
    }
}

/// Python's `SECTCRE` (`\[(?P<header>.+)\]`, matched at the start of the
/// stripped line): the name runs from after the `[` to the *last* `]` that
/// leaves it non-empty, so `[a] x` is section `a` and `[a]]` is `a]`.
/// Returns the byte length of the name.
fn header_name_len(value: &str) -> Option<usize> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then_some(close)
}

/// Whitespace as Python's `str.isspace()` (and `\s`, `str.strip()`) sees
/// it. Differs from `char::is_whitespace` in the ASCII separators
/// `\x1c`..`\x1f`.
pub(super) fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{b}'
            | '\u{c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Leading Python whitespace of `s`: (bytes, characters). Python measures
/// indentation in characters, so a tab or an ideographic space counts one.
fn leading_space(s: &str) -> (usize, usize) {
    let mut chars = 0;
    for (index, c) in s.char_indices() {
        if !is_py_space(c) {
            return (index, chars);
        }
        chars += 1;
    }
    (s.len(), chars)
}

fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// Byte ranges of the lines of `source` without their terminators, split
/// the way Python's text files in universal-newline mode split them.
struct LineRanges<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> LineRanges<'a> {
    fn new(source: &'a str) -> Self {
        LineRanges {
            bytes: source.as_bytes(),
            pos: 0,
        }
    }
}

impl Iterator for LineRanges<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        if rest.is_empty() {
            return None;
        }
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                self.pos = self.bytes.len();
                Some(start..self.bytes.len())
            }
            Some(offset) => {
                let end = start + offset;
                let crlf = rest.get(offset..offset + 2) == Some(b"\r\n".as_slice());
                self.pos = end + if crlf { 2 } else { 1 };
                Some(start..end)
            }
        }
    }
}
