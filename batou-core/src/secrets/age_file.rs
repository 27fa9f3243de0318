//! age in process, with the `age` crate: no `age` binary, no pty, one
//! identity load per run however many files there are.
//!
//! Identities come from `BATOU_AGE_IDENTITIES` (comma-separated paths to
//! age identity files or ssh private keys) or, as in batou, from the ssh
//! default key list in `~/.ssh` (those that exist). Encrypted ssh keys take
//! their passphrase from `BATOU_AGE_IDENTITY_PASSPHRASE` (the passphrase,
//! or an `op://…` 1Password reference read with `op read`), else from a
//! [`PassphrasePrompt`] the caller supplies (the CLI asks on the terminal),
//! once per key however many files it decrypts.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use age::secrecy::{ExposeSecret, SecretString};

/// Asks the user for a key's passphrase. The core has no terminal; the CLI
/// implements this on the TTY. `None`: no answer (e.g. not interactive).
pub trait PassphrasePrompt: Send + Sync {
    fn passphrase(&self, description: &str) -> Option<String>;
}

use super::error::SecretsError;

/// ssh's default identity files, the ones batou tries (§6.3).
const SSH_DEFAULT_KEYS: &[&str] = &[
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_dsa",
];

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// The identities this run can decrypt with.
pub struct Identities {
    identities: Vec<BoxedIdentity>,
    /// Every file looked at, for the "none matched" error.
    tried: Vec<PathBuf>,
    /// Why a 1Password passphrase reference could not be read, if so.
    op_failure: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("tried", &self.tried)
            .finish_non_exhaustive()
    }
}

impl Identities {
    /// From `BATOU_AGE_IDENTITIES`, else the ssh default keys under `$HOME`.
    pub fn from_env() -> Result<Identities, SecretsError> {
        Identities::from_env_with(None)
    }

    /// [`Identities::from_env`], asking `prompt` for passphrases of
    /// encrypted keys that `BATOU_AGE_IDENTITY_PASSPHRASE` does not answer.
    pub fn from_env_with(
        prompt: Option<Arc<dyn PassphrasePrompt>>,
    ) -> Result<Identities, SecretsError> {
        match std::env::var("BATOU_AGE_IDENTITIES") {
            Ok(list) if !list.trim().is_empty() => {
                let paths: Vec<PathBuf> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect();
                Identities::from_files_with(&paths, prompt)
            }
            _ => {
                let home = std::env::var_os("HOME").map(PathBuf::from);
                let paths: Vec<PathBuf> = home
                    .map(|h| {
                        SSH_DEFAULT_KEYS
                            .iter()
                            .map(|k| h.join(".ssh").join(k))
                            .filter(|p| p.exists())
                            .collect()
                    })
                    .unwrap_or_default();
                Identities::from_files_with(&paths, prompt)
            }
        }
    }

    /// Loads every file in `paths`; each must be a usable identity.
    pub fn from_files(paths: &[PathBuf]) -> Result<Identities, SecretsError> {
        Identities::from_files_with(paths, None)
    }

    /// [`Identities::from_files`] with a prompt for passphrases.
    pub fn from_files_with(
        paths: &[PathBuf],
        prompt: Option<Arc<dyn PassphrasePrompt>>,
    ) -> Result<Identities, SecretsError> {
        let source = PassphraseSource {
            prompt,
            answered: Arc::default(),
            op_failure: Arc::default(),
        };
        let mut identities = Vec::new();
        for path in paths {
            identities.extend(load_identity_file(path, &source)?);
        }
        Ok(Identities {
            identities,
            tried: paths.to_vec(),
            op_failure: source.op_failure,
        })
    }

    pub fn tried(&self) -> &[PathBuf] {
        &self.tried
    }
}

fn load_identity_file(
    path: &Path,
    source: &PassphraseSource,
) -> Result<Vec<BoxedIdentity>, SecretsError> {
    let bytes = std::fs::read(path).map_err(|source| SecretsError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| SecretsError::Identity {
        file: path.to_path_buf(),
        message,
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("AGE-SECRET-KEY-") {
        let file = age::IdentityFile::from_buffer(&bytes[..]).map_err(|e| bad(e.to_string()))?;
        return file.into_identities().map_err(|e| bad(e.to_string()));
    }
    let filename = Some(path.display().to_string());
    let id = age::ssh::Identity::from_buffer(&bytes[..], filename)
        .map_err(|e| bad(format!("not an age identity or ssh private key ({e})")))?;
    match id {
        age::ssh::Identity::Unsupported(k) => Err(bad(format!("unsupported ssh key ({k:?})"))),
        other => Ok(vec![Box::new(other.with_callbacks(source.clone()))]),
    }
}

/// Answers an encrypted ssh key's passphrase request: from
/// `BATOU_AGE_IDENTITY_PASSPHRASE`, else from what the user already told
/// us for that key, else by asking the prompt once.
#[derive(Clone)]
struct PassphraseSource {
    prompt: Option<Arc<dyn PassphrasePrompt>>,
    answered: Arc<Mutex<HashMap<String, SecretString>>>,
    /// Why `op read` could not give the passphrase (for the error).
    op_failure: Arc<Mutex<Option<String>>>,
}

/// How `BATOU_AGE_IDENTITY_PASSPHRASE` names a 1Password secret instead
/// of holding the passphrase (batou 2.7.1's `get_passphrase`).
const OP_PREFIX: &str = "op://";

/// The secret a 1Password reference names, read with the 1Password CLI
/// (`op read REFERENCE`), as batou does. The reference is on the command
/// line; the passphrase only ever comes back through the pipe, trimmed.
/// On failure: what `op` said (its stderr, which holds no secret).
fn op_read(reference: &str) -> Result<String, String> {
    let out = std::process::Command::new("op")
        .arg("read")
        .arg(reference)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `op` (the 1Password CLI): {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(format!(
            "`op read {reference}` failed ({}){}",
            out.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ));
    }
    let secret = String::from_utf8(out.stdout)
        .map_err(|_| format!("`op read {reference}` printed no text"))?;
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(format!("`op read {reference}` printed nothing"));
    }
    Ok(secret.to_string())
}

impl age::Callbacks for PassphraseSource {
    fn display_message(&self, _message: &str) {}

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(p) = std::env::var("BATOU_AGE_IDENTITY_PASSPHRASE") {
            if !p.starts_with(OP_PREFIX) {
                return Some(SecretString::from(p));
            }
            // A 1Password reference, read once per run however many keys
            // and files ask.
            if let Some(known) = answered.get(&p) {
                return Some(SecretString::from(known.expose_secret().to_string()));
            }
            let mut failure = self.op_failure.lock().unwrap_or_else(|p| p.into_inner());
            if failure.is_some() {
                return None;
            }
            return match op_read(&p) {
                Ok(secret) => {
                    answered.insert(p, SecretString::from(secret.clone()));
                    Some(SecretString::from(secret))
                }
                Err(why) => {
                    *failure = Some(why);
                    None
                }
            };
        }
        if let Some(known) = answered.get(description) {
            return Some(SecretString::from(known.expose_secret().to_string()));
        }
        let given = self.prompt.as_ref()?.passphrase(description)?;
        answered.insert(description.to_string(), SecretString::from(given.clone()));
        Some(SecretString::from(given))
    }
}

/// Decrypts an age file (binary or ASCII-armored). `file` names it in errors.
pub fn decrypt(ciphertext: &[u8], file: &Path, ids: &Identities) -> Result<Vec<u8>, SecretsError> {
    let corrupted = |message: String| SecretsError::Corrupted {
        file: file.to_path_buf(),
        message,
    };
    let reader = age::armor::ArmoredReader::new(ciphertext);
    let decryptor = age::Decryptor::new(reader).map_err(|e| corrupted(e.to_string()))?;
    let mut stream = decryptor
        .decrypt(
            ids.identities
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity),
        )
        .map_err(|e| {
            // An encrypted key whose 1Password passphrase could not be
            // read looks to age like a key that does not match.
            let op_failure = ids.op_failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match (e, op_failure) {
                (
                    age::DecryptError::NoMatchingKeys | age::DecryptError::KeyDecryptionFailed,
                    Some(why),
                ) => SecretsError::Identity {
                    file: file.to_path_buf(),
                    message: format!(
                        "an encrypted identity could not be unlocked: BATOU_AGE_IDENTITY_PASSPHRASE names a 1Password secret, and {why}"
                    ),
                },
                (age::DecryptError::NoMatchingKeys, None) => SecretsError::NoMatchingIdentity {
                    file: file.to_path_buf(),
                    tried: ids.tried.clone(),
                },
                (age::DecryptError::KeyDecryptionFailed, None) => SecretsError::Identity {
                    file: file.to_path_buf(),
                    message: "an encrypted identity could not be unlocked".into(),
                },
                (other, _) => corrupted(other.to_string()),
            }
        })?;
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .map_err(|e| corrupted(e.to_string()))?;
    Ok(out)
}

/// The age recipient for one `[batou] members` entry.
pub fn parse_recipient(member: &str) -> Result<Box<dyn age::Recipient + Send>, SecretsError> {
    let member = member.trim();
    let bad = |message: &str| SecretsError::Recipient {
        member: member.to_string(),
        message: message.to_string(),
    };
    if member.starts_with("age1") {
        age::x25519::Recipient::from_str(member)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(bad)
    } else if member.starts_with("ssh-") {
        age::ssh::Recipient::from_str(member)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| bad(&format!("not a supported ssh public key ({e:?})")))
    } else if member.starts_with("https://") || member.starts_with("http://") {
        Err(bad(
            "key-list URLs are not supported yet; paste the ssh public keys into members",
        ))
    } else {
        Err(bad(
            "expected an `age1…` key or an `ssh-ed25519`/`ssh-rsa` public key",
        ))
    }
}

/// Encrypts `plaintext` to all `members` (binary age format, as the `age`
/// CLI writes by default, so batou can read it too).
pub fn encrypt(plaintext: &[u8], members: &[String], file: &Path) -> Result<Vec<u8>, SecretsError> {
    if members.is_empty() {
        return Err(SecretsError::NoRecipients {
            file: file.to_path_buf(),
        });
    }
    let recipients = members
        .iter()
        .map(|m| parse_recipient(m))
        .collect::<Result<Vec<_>, _>>()?;
    let fail = |message: String| SecretsError::Encrypt {
        file: file.to_path_buf(),
        message,
    };
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    writer
        .write_all(plaintext)
        .map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))?;
    Ok(out)
}
