//! The decrypted `secrets.cfg` (reference §6.2), parsed with the project's
//! own INI parser so every value keeps its line:
//!
//! ```ini
//! [batou]
//! secret_provider = age
//! members = age1…, ssh-ed25519 AAAA…
//!
//! [component:db]        ; or just [db]
//! password = hunter2
//!
//! [host:db1]
//! data-token = abc      ; or token = abc
//! ```

use std::path::Path;

use indexmap::IndexMap;

use super::error::SecretsError;
use crate::error::Origin;

/// One secret `key = value`.
#[derive(Clone, PartialEq)]
pub struct SecretValue {
    pub value: String,
    /// The encrypted file and the line in its cleartext.
    pub origin: Origin,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(******** at {})", self.origin)
    }
}

/// A `[component:X]` or `[host:X]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSection {
    pub origin: Origin,
    pub values: IndexMap<String, SecretValue>,
}

/// A parsed cleartext.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cleartext {
    /// `[batou] secret_provider`, if given.
    pub provider: Option<String>,
    /// `[batou] members`, split on commas and newlines.
    pub members: Vec<String>,
    /// Overrides by component name.
    pub components: IndexMap<String, SecretSection>,
    /// Host data by host name; keys without the `data-` prefix.
    pub hosts: IndexMap<String, SecretSection>,
}

/// Splits a `members` value as batou does: on commas and newlines.
pub fn split_members(value: &str) -> Vec<String> {
    value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `text`, the cleartext of `file`.
pub fn parse(text: &str, file: &Path) -> Result<Cleartext, SecretsError> {
    let doc = crate::ini::parse(text).map_err(|e| SecretsError::Syntax {
        file: file.to_path_buf(),
        line: e.line,
        message: describe(&e.kind),
    })?;
    let mut out = Cleartext::default();
    for section in doc.sections.values() {
        let origin = Origin::new(file, section.line, None);
        if section.name == "batou" {
            out.provider = section
                .get("secret_provider")
                .map(|e| e.value.trim().to_string());
            out.members = section
                .get("members")
                .map(|e| split_members(&e.value))
                .unwrap_or_default();
            continue;
        }
        let (target, name, strip_data) = match section.name.split_once(':') {
            Some(("host", h)) => (&mut out.hosts, h.trim(), true),
            Some(("component", c)) => (&mut out.components, c.trim(), false),
            Some((kind, _)) => {
                return Err(SecretsError::Syntax {
                    file: file.to_path_buf(),
                    line: section.line,
                    message: format!("unknown section kind `{kind}`"),
                });
            }
            None => (&mut out.components, section.name.trim(), false),
        };
        let mut values = IndexMap::new();
        for entry in section.entries.values() {
            let key = if strip_data {
                entry.key.strip_prefix("data-").unwrap_or(&entry.key)
            } else {
                &entry.key
            };
            values.insert(
                key.to_string(),
                SecretValue {
                    value: entry.value.clone(),
                    origin: Origin::new(file, entry.line, Some(entry.key_span.clone())),
                },
            );
        }
        target.insert(name.to_string(), SecretSection { origin, values });
    }
    Ok(out)
}

/// The parser's error without the offending line's text, which may be a
/// secret (a value continued without indentation, say).
fn describe(kind: &crate::ini::IniErrorKind) -> String {
    use crate::ini::IniErrorKind::*;
    match kind {
        MissingSectionHeader { .. } => "a line appears before any section header".into(),
        NoDelimiter { .. } => {
            "a line is neither a `[section]` header nor a `key = value` option".into()
        }
        EmptyKey { .. } => "an option has an empty key".into(),
        other => other.to_string(),
    }
}
