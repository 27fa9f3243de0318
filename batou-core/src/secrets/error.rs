//! What loading, decrypting and encrypting secrets can fail with.
//!
//! No variant ever carries a secret value: messages name files, lines,
//! identities and tools, and tool output (gpg's stderr) is only diagnostic
//! text that gpg itself prints for the user.

use std::path::PathBuf;

/// A problem with an environment's secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "environment `{environment}` has more than one secrets config: {}",
        list(.files)
    )]
    AmbiguousConfig {
        environment: String,
        files: Vec<PathBuf>,
    },
    #[error("cannot read {}: {source}", .file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use age identity {}: {message}", .file.display())]
    Identity { file: PathBuf, message: String },
    #[error(
        "none of the age identities can decrypt {}; tried: {}",
        .file.display(),
        if .tried.is_empty() { "(none found)".to_string() } else { list(.tried) }
    )]
    NoMatchingIdentity { file: PathBuf, tried: Vec<PathBuf> },
    #[error("{} is not a valid encrypted file: {message}", .file.display())]
    Corrupted { file: PathBuf, message: String },
    #[error("{} does not decrypt to UTF-8 text", .file.display())]
    NotText { file: PathBuf },
    #[error("invalid secrets cleartext of {} (line {line}): {message}", .file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid recipient `{member}`: {message}")]
    Recipient { member: String, message: String },
    #[error("no recipients in [batou] members of {}", .file.display())]
    NoRecipients { file: PathBuf },
    #[error(
        "error while calling gpg: {} while calling `{command}`\n{stderr}",
        .code.map_or("killed by a signal".to_string(), |c| format!("exit code {c}"))
    )]
    Gpg {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot encrypt {}: {message}", .file.display())]
    Encrypt { file: PathBuf, message: String },
    #[error("unknown secrets environment(s): {}", .names.join(", "))]
    UnknownEnvironment { names: Vec<String> },
    #[error("file already locked: {}", .file.display())]
    Locked { file: PathBuf },
    /// The private area `secrets edit` keeps the cleartext in is not
    /// private.
    #[error("refusing to put cleartext into {}: {why}", .dir.display())]
    UnsafeScratch { dir: PathBuf, why: String },
}

impl SecretsError {
    /// How to fix the error, where there is a standard answer.
    pub fn hint(&self) -> Option<String> {
        match self {
            SecretsError::NoMatchingIdentity { .. } => Some(
                "set BATOU_AGE_IDENTITIES to a comma-separated list of age or ssh private key files, \
                 one of which must be a member of this environment"
                    .into(),
            ),
            SecretsError::Identity { .. } => Some(
                "an encrypted ssh key needs its passphrase: enter it when asked (on a terminal), or set BATOU_AGE_IDENTITY_PASSPHRASE".into(),
            ),
            SecretsError::AmbiguousConfig { .. } => {
                Some("keep exactly one of secrets.cfg.age, secrets.cfg.age-diffable, secrets.cfg.gpg".into())
            }
            _ => None,
        }
    }
}

pub(crate) fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
