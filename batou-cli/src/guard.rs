//! The one gate between batou and the operator's screen. Everything the
//! command line prints passes through here: every secret value of the
//! environment is masked, in text and in every string of a JSON line, and
//! in text every control character but newline and tab is escaped, so
//! neither a secret nor a terminal escape sequence from a target (a diff
//! of a file there, an agent's message) reaches the terminal.
//!
//! The crate denies `print!`/`eprint!` and their `ln` forms everywhere
//! but here ([`out`], [`err`]); the transcript ([`crate::output::Output`])
//! and the JSON stream ([`crate::json::JsonStream`]) call [`text`] and
//! [`json_line`]. The masker is process-wide, so the panic hook masks
//! with it too.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use batou_core::escape::control_chars;
use batou_core::event::Event;
use batou_core::secrets::Masker;
use serde::Serialize;

use crate::json::JsonStream;

static MASKER: RwLock<Option<Masker>> = RwLock::new(None);

/// The `--json` stream of this run, for the panic path (see
/// [`crate::main`]).
static JSON: Mutex<Option<Arc<JsonStream>>> = Mutex::new(None);

/// Masks `masker`'s secrets from now on (when the environment's secrets
/// are loaded).
pub fn set_masker(masker: &Masker) {
    *MASKER.write().unwrap_or_else(PoisonError::into_inner) = Some(masker.clone());
}

/// `text` with secrets masked (for text that is already formatted for the
/// terminal, e.g. a diagnostic rendered in colour, whose parts were
/// escaped before).
pub fn mask(text: &str) -> Cow<'_, str> {
    let guard = MASKER.read().unwrap_or_else(PoisonError::into_inner);
    match guard.as_ref() {
        Some(m) if !m.is_empty() => Cow::Owned(m.redact(text).into_owned()),
        _ => Cow::Borrowed(text),
    }
}

/// `text` made fit for the terminal: secrets masked, control characters
/// escaped.
pub fn text(text: &str) -> String {
    control_chars(&mask(text)).into_owned()
}

/// `value` as one JSON line, every string in it masked and every control
/// character escaped (serde_json escapes C0 and DEL; C1, which some
/// terminals obey as well, is escaped by [`EscapeC1`]).
pub fn json_line<T: Serialize>(value: &T) -> Option<String> {
    let mut value = serde_json::to_value(value).ok()?;
    if let Some(m) = MASKER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        m.redact_json(&mut value);
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, EscapeC1);
    value.serialize(&mut ser).ok()?;
    String::from_utf8(out).ok()
}

/// serde_json's compact format, with C1 control characters (U+0080 to
/// U+009F, e.g. the one-byte CSI U+009B) written as `\u009b`.
struct EscapeC1;

impl serde_json::ser::Formatter for EscapeC1 {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(|c: char| ('\u{80}'..='\u{9f}').contains(&c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// `event` for the live view, which prints its names and messages
/// itself: every string in it through [`text`].
pub fn screen_event(event: Event) -> Event {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = text(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    event.edit_json(&mut walk)
}

/// Prints `text` (plus a newline) on stdout, through [`text`].
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not turn into a panic.
    let _ = writeln!(stdout, "{}", self::text(text));
}

/// Prints `text` on stdout as it is (no newline added), through [`text`].
pub fn out_raw(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", self::text(text)).and_then(|_| stdout.flush());
}

/// Prints `text` (plus a newline) on stderr, through [`text`].
pub fn err(text: &str) {
    eprintln!("{}", self::text(text));
}

/// Prints `text` on stderr, through [`text`], without a newline (a
/// question the user answers on the same line).
pub fn err_prompt(text: &str) {
    eprint!("{}", self::text(text));
}

/// Prints `text` on stderr with secrets masked only: `text` was made for
/// the terminal already (see [`mask`]).
pub fn err_rendered(text: &str) {
    eprintln!("{}", mask(text));
}

/// Remembers the run's JSON stream, so a panic can still end it.
pub fn register_json(stream: &Arc<JsonStream>) {
    *JSON.lock().unwrap_or_else(PoisonError::into_inner) = Some(stream.clone());
}

/// The run's JSON stream, if it has one and it is not finished.
pub fn json_stream() -> Option<Arc<JsonStream>> {
    JSON.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .filter(|s| !s.finished())
}

/// Clears what one run set (for embedders that call [`crate::run`] more
/// than once in a process).
pub fn reset() {
    *MASKER.write().unwrap_or_else(PoisonError::into_inner) = None;
    *JSON.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_masked_and_escaped_json_masked() {
        set_masker(&Masker::new(["s3cr3t-value".to_string()]));
        assert_eq!(
            text("pw s3cr3t-value \u{1b}]0;x\u{7}\nnext"),
            "pw ******** \\u{1b}]0;x\\u{7}\nnext"
        );
        let line = json_line(&serde_json::json!({
            "component": "Evil > Command('echo s3cr3t-value')",
            "lines": ["+s3cr3t-value"],
            "s3cr3t-value": 1,
        }))
        .unwrap();
        assert!(!line.contains("s3cr3t"), "{line}");
        let line = json_line(&serde_json::json!({"l": "a\u{9b}31m\u{1b}b"})).unwrap();
        assert_eq!(line, r#"{"l":"a\u009b31m\u001bb"}"#);
        reset();
        assert_eq!(text("s3cr3t-value"), "s3cr3t-value");
    }
}
