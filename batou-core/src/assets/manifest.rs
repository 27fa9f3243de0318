//! The asset set as it crosses the wire: a manifest of key → sha256 with a
//! hash of its own, and blobs named by their hash.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `bytes`' sha256 as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which content (by sha256) each asset key has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: BTreeMap<String, String>,
}

impl Manifest {
    /// The set's own hash: sha256 over `key NUL hash LF`, keys in order. Two
    /// sides that agree on it hold the same contents under the same names.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (key, sum) in &self.entries {
            h.update(key.as_bytes());
            h.update([0]);
            h.update(sum.as_bytes());
            h.update([b'\n']);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One asset's content on the wire: text as it is (JSON escapes only
/// quotes, backslashes and control characters, so a template costs about
/// its own size), anything else as base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

impl Blob {
    pub fn new(bytes: &[u8]) -> Blob {
        let sha256 = sha256_hex(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => Blob {
                sha256,
                text: Some(text.to_string()),
                base64: None,
            },
            Err(_) => Blob {
                sha256,
                text: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        }
    }

    /// The content, if it is what the blob's hash says.
    pub fn verified(&self) -> Result<Vec<u8>, String> {
        let bytes = match (&self.text, &self.base64) {
            (Some(t), None) => t.clone().into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("blob {}: bad base64: {e}", self.sha256))?,
            _ => return Err(format!("blob {}: needs text or base64", self.sha256)),
        };
        let got = sha256_hex(&bytes);
        if got == self.sha256 {
            Ok(bytes)
        } else {
            Err(format!("blob {}: content hashes to {got}", self.sha256))
        }
    }
}
