//! Writing encrypted files: the ciphertext goes to a temporary file next
//! to the target and is renamed over it, so a failed encryption (a missing
//! gpg key, say) leaves the old file intact. Only ciphertext touches disk.

use std::io::Write;
use std::path::Path;

use super::error::SecretsError;
use super::{Provider, age_file, diffable, gpg};

/// What an age-diffable rewrite may reuse: the current encrypted text and
/// its cleartext.
pub struct Previous<'a> {
    pub encrypted: &'a str,
    pub cleartext: &'a str,
}

/// Encrypts `cleartext` to `members` and writes it to `path`.
pub fn write(
    path: &Path,
    provider: Provider,
    cleartext: &[u8],
    members: &[String],
    previous: Option<Previous<'_>>,
    force: bool,
    gpg_home: Option<&Path>,
) -> Result<(), SecretsError> {
    let ciphertext = match provider {
        Provider::Age => age_file::encrypt(cleartext, members, path)?,
        Provider::Gpg => gpg::encrypt(cleartext, members, path, gpg_home)?,
        Provider::AgeDiffable => {
            let text = std::str::from_utf8(cleartext).map_err(|_| SecretsError::Encrypt {
                file: path.to_path_buf(),
                message: "an age-diffable config must be UTF-8 text".into(),
            })?;
            diffable::encrypt(
                text,
                previous.map(|p| (p.encrypted, p.cleartext)),
                members,
                force,
                path,
            )?
            .into_bytes()
        }
    };
    write_atomically(path, &ciphertext)
}

/// Replaces `path` with `bytes` via a temporary file in the same directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |source| SecretsError::Write {
        file: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
