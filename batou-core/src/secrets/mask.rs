//! Keeping secrets out of output.
//!
//! The rule: every secret *value* (stripped), every line of a multi-line
//! value, and every line of a whole-file secret (stripped) is a secret
//! string, if it has at least [`MIN_LEN`] characters. Content is sensitive
//! when it contains any secret string; text is redacted by replacing every
//! occurrence with `********`.
//!
//! batou splits values into whitespace-separated *words*, so a secret such
//! as `deploy often` makes every file containing `deploy` sensitive (batou
//! #408). Whole values and lines have no such false positives. Strings
//! shorter than [`MIN_LEN`] are not masked: replacing every `1` or `on` in
//! the output would make it unreadable, and such values are not secret in
//! any useful sense.
//!
//! A secret string is found in any (ASCII) letter case and reversed too:
//! a path or a template that writes it `| upper`, `| lower` or `| reverse`
//! still shows `********`. Other transformations (a slice, a hash) are not
//! recognised here; files rendered by templates that read a secret are
//! sensitive whatever they make of it (see `Configure::render_template`).
//!
//! ```
//! use batou_core::secrets::Masker;
//! let m = Masker::new(["hunter2 is it".to_string()]);
//! assert!(m.is_sensitive("password = hunter2 is it\n"));
//! assert!(m.is_sensitive("PASSWORD = HUNTER2 IS IT\n"));
//! assert!(m.is_sensitive("ti si 2retnuh"));
//! assert!(!m.is_sensitive("hunter2\n"));
//! assert_eq!(m.redact("pw: hunter2 is it!"), "pw: ********!");
//! assert_eq!(m.redact("PW: Hunter2 Is It!"), "PW: ********!");
//! ```

use std::borrow::Cow;

use crate::event::{Event, EventSink};

/// Shorter strings are not treated as secrets (see the module docs).
pub const MIN_LEN: usize = 4;

/// What redacted text shows instead of a secret.
pub const REDACTED: &str = "********";

/// The set of secret strings of an environment.
#[derive(Clone, Default, PartialEq)]
pub struct Masker {
    /// Longest first, so a secret containing another is replaced whole.
    strings: Vec<String>,
    /// What is searched for: each string and its reverse, ASCII lower
    /// case (found in text lowered the same way, whose byte offsets are
    /// the original's), longest first.
    folded: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} secret strings)", self.strings.len())
    }
}

impl Masker {
    /// A masker for these values (each stripped, and each of its lines).
    pub fn new(values: impl IntoIterator<Item = String>) -> Masker {
        let mut strings = Vec::new();
        for v in values {
            let whole = v.trim();
            strings.push(whole.to_string());
            if whole.contains('\n') {
                strings.extend(whole.lines().map(|l| l.trim().to_string()));
            }
        }
        strings.retain(|s| s.chars().count() >= MIN_LEN);
        Masker::from_strings(strings)
    }

    /// Adds the lines of a whole-file secret (binary files: nothing).
    pub fn add_file(&mut self, bytes: &[u8]) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let more = Masker::new(text.lines().map(str::to_string));
            let mut strings = std::mem::take(&mut self.strings);
            strings.extend(more.strings);
            *self = Masker::from_strings(strings);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// The strings it masks, longest first (to send them to an agent).
    pub(crate) fn strings(&self) -> &[String] {
        &self.strings
    }

    /// A masker with exactly these strings (from [`Masker::strings`]).
    pub(crate) fn from_strings(mut strings: Vec<String>) -> Masker {
        strings.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        strings.dedup();
        let mut folded: Vec<String> = strings
            .iter()
            .flat_map(|s| {
                let lower = s.to_ascii_lowercase();
                let reversed = lower.chars().rev().collect::<String>();
                [lower, reversed]
            })
            .collect();
        folded.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        folded.dedup();
        Masker { strings, folded }
    }

    /// Whether `text` contains any secret string (in any letter case, or
    /// reversed).
    pub fn is_sensitive(&self, text: &str) -> bool {
        if self.folded.is_empty() {
            return false;
        }
        let lower = text.to_ascii_lowercase();
        self.folded.iter().any(|s| lower.contains(s.as_str()))
    }

    /// As [`Masker::is_sensitive`], for bytes that may not be UTF-8.
    pub fn is_sensitive_bytes(&self, bytes: &[u8]) -> bool {
        self.is_sensitive(&String::from_utf8_lossy(bytes))
    }

    /// `text` with every secret string (in any letter case, or reversed)
    /// replaced by `********`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.folded.is_empty() {
            return Cow::Borrowed(text);
        }
        let lower = text.to_ascii_lowercase();
        // Byte ranges of every match; overlapping ones merge, so a secret
        // inside another (or overlapping its reverse) goes whole.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for s in &self.folded {
            let mut from = 0;
            while let Some(at) = lower[from..].find(s.as_str()) {
                let start = from + at;
                ranges.push((start, start + s.len()));
                from = start + s.len().max(1);
            }
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        let mut iter = ranges.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(next, next_end)) = iter.peek() {
                if next > end {
                    break;
                }
                end = end.max(next_end);
                iter.next();
            }
            if start >= done {
                out.push_str(&text[done..start]);
                out.push_str(REDACTED);
                done = end;
            } else if end > done {
                done = end;
            }
        }
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }

    /// `event` with every string in it redacted.
    pub fn redact_event(&self, event: Event) -> Event {
        if self.folded.is_empty() {
            return event;
        }
        event.edit_json(&mut |value| self.redact_json(value))
    }

    /// Redacts every string in `value`, keys of objects included.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.folded.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                // A key holding a secret (a map built from secret values)
                // is renamed; the rest keep their order.
                if map.keys().any(|k| self.is_sensitive(k)) {
                    let entries = std::mem::take(map);
                    for (k, v) in entries {
                        map.insert(self.redact(&k).into_owned(), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_json(v))
            }
            _ => {}
        }
    }
}

impl Masker {
    /// Replaces every secret string in the strings of `value` by another
    /// string of the same length (each character moved to a neighbour);
    /// returns whether there was any. Rendering a template again with a
    /// context changed this way tells whether its output depends on a
    /// secret (see `Configure::render_template`).
    pub(crate) fn perturb_json(&self, value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => {
                let mut changed = false;
                for secret in &self.strings {
                    if text.contains(secret.as_str()) {
                        *text = text.replace(secret.as_str(), &perturbed(secret));
                        changed = true;
                    }
                }
                changed
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .fold(false, |any, v| self.perturb_json(v) | any),
            serde_json::Value::Object(map) => map
                .values_mut()
                .fold(false, |any, v| self.perturb_json(v) | any),
            _ => false,
        }
    }
}

impl Masker {
    /// A masker of the strings [`Masker::perturb_json`] puts in place of
    /// these secrets: it masks in a perturbed rendering exactly what this
    /// one masks in the real one.
    pub(crate) fn perturbed(&self) -> Masker {
        Masker::from_strings(self.strings.iter().map(|s| perturbed(s)).collect())
    }
}

/// `secret` with every character replaced by a different one of the same
/// kind (letters stay letters of the same case, digits digits).
fn perturbed(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            _ if c != '_' => '_',
            _ => '-',
        })
        .collect()
}

/// An [`EventSink`] that redacts secrets before passing events on. The CLI
/// always wraps its sinks in one: defence in depth behind the diff masking
/// of [`crate::stdlib::File`].
pub struct Redacting<'a, S: EventSink + ?Sized> {
    inner: &'a S,
    masker: Masker,
}

impl<'a, S: EventSink + ?Sized> Redacting<'a, S> {
    pub fn new(inner: &'a S, masker: Masker) -> Self {
        Redacting { inner, masker }
    }
}

impl<S: EventSink + ?Sized> EventSink for Redacting<'_, S> {
    fn emit(&self, event: Event) {
        self.inner.emit(self.masker.redact_event(event));
    }
}
