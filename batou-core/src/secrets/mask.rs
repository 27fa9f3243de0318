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
//! ```
//! use batou_core::secrets::Masker;
//! let m = Masker::new(["hunter2 is it".to_string()]);
//! assert!(m.is_sensitive("password = hunter2 is it\n"));
//! assert!(!m.is_sensitive("hunter2\n"));
//! assert_eq!(m.redact("pw: hunter2 is it!"), "pw: ********!");
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
        strings.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        strings.dedup();
        Masker { strings }
    }

    /// Adds the lines of a whole-file secret (binary files: nothing).
    pub fn add_file(&mut self, bytes: &[u8]) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let more = Masker::new(text.lines().map(str::to_string));
            self.strings.extend(more.strings);
            self.strings
                .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            self.strings.dedup();
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
    pub(crate) fn from_strings(strings: Vec<String>) -> Masker {
        Masker { strings }
    }

    /// Whether `text` contains any secret string.
    pub fn is_sensitive(&self, text: &str) -> bool {
        self.strings.iter().any(|s| text.contains(s.as_str()))
    }

    /// As [`Masker::is_sensitive`], for bytes that may not be UTF-8.
    pub fn is_sensitive_bytes(&self, bytes: &[u8]) -> bool {
        self.is_sensitive(&String::from_utf8_lossy(bytes))
    }

    /// `text` with every secret string replaced by `********`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.is_sensitive(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.strings {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// `event` with every string in it redacted.
    pub fn redact_event(&self, event: Event) -> Event {
        if self.strings.is_empty() {
            return event;
        }
        // Events are plain data: walking their JSON form reaches every
        // string field, including ones added to `Event` later.
        let Ok(mut value) = serde_json::to_value(&event) else {
            return event;
        };
        self.redact_json(&mut value);
        serde_json::from_value(value).unwrap_or(event)
    }

    fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
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
