//! `secrets.cfg.age-diffable` (batou 2.5): an INI whose `[batou]` section
//! is in the clear and whose every other value is `base64(age(value))`, so
//! a git diff shows which keys changed. On rewrite, values whose cleartext
//! did not change keep their old ciphertext (age output is randomised, so
//! re-encrypting would change every line).

use std::ops::Range;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::age_file::{self, Identities};
use super::error::SecretsError;

/// The encrypted file's text back to the cleartext INI.
pub fn decrypt(source: &str, file: &Path, ids: &Identities) -> Result<String, SecretsError> {
    let doc = parse(source, file)?;
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for section in doc.sections.values().filter(|s| s.name != "batou") {
        for entry in section.entries.values() {
            let encoded: String = entry.value.split_whitespace().collect();
            if encoded.is_empty() {
                continue;
            }
            let corrupted = |message: String| SecretsError::Corrupted {
                file: file.to_path_buf(),
                message: format!(
                    "[{}] {} (line {}): {message}",
                    section.name, entry.key, entry.line
                ),
            };
            let bytes = STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| corrupted(format!("not base64: {e}")))?;
            let plain = age_file::decrypt(&bytes, file, ids)?;
            let text = String::from_utf8(plain).map_err(|_| corrupted("not UTF-8".into()))?;
            // Multi-line values continue on indented lines, as ConfigUpdater
            // writes them in batou.
            edits.push((entry.value_span.clone(), text.replace('\n', "\n    ")));
        }
    }
    Ok(splice(source, edits))
}

/// The cleartext `new` as an age-diffable file for `members`. `previous` is
/// the current encrypted text and its cleartext: values unchanged from it
/// keep their ciphertext unless `force`.
pub fn encrypt(
    new: &str,
    previous: Option<(&str, &str)>,
    members: &[String],
    force: bool,
    file: &Path,
) -> Result<String, SecretsError> {
    let doc = parse(new, file)?;
    let previous = match previous {
        Some((enc, clear)) => Some((parse(enc, file)?, parse(clear, file)?)),
        None => None,
    };
    let mut edits = Vec::new();
    for section in doc.sections.values().filter(|s| s.name != "batou") {
        for entry in section.entries.values() {
            let kept = previous
                .as_ref()
                .filter(|_| !force)
                .and_then(|(enc, clear)| {
                    let old = clear.get(&section.name, &entry.key)?;
                    (old.value == entry.value)
                        .then(|| enc.get(&section.name, &entry.key).map(|e| e.value.clone()))
                        .flatten()
                });
            let cipher = match kept {
                Some(c) => c,
                None => STANDARD.encode(age_file::encrypt(entry.value.as_bytes(), members, file)?),
            };
            edits.push((entry.value_span.clone(), cipher));
        }
    }
    Ok(splice(new, edits))
}

fn parse(source: &str, file: &Path) -> Result<crate::ini::Document, SecretsError> {
    crate::ini::parse(source).map_err(|e| SecretsError::Corrupted {
        file: file.to_path_buf(),
        message: format!("line {}: not an INI file", e.line),
    })
}

/// `source` with each range replaced; ranges do not overlap.
fn splice(source: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = source.to_string();
    for (range, text) in edits {
        out.replace_range(range, &text);
    }
    out
}
