//! Secrets (reference §6): per-environment encrypted overrides, host data
//! and whole files, in batou's layouts and formats.
//!
//! * [`layout`]: where the files are (`environments/NAME/secrets.cfg.*`,
//!   `secret-FILE.*`);
//! * [`age_file`], [`diffable`], [`gpg`]: the three providers;
//! * [`cleartext`]: the decrypted `secrets.cfg` format;
//! * [`mask`]: keeping the values out of diffs, events and errors;
//! * [`apply`](apply()): merging decrypted secrets into an
//!   [`Environment`](crate::environment::Environment).
//!
//! Everything is decrypted on the controller, in memory; nothing here writes
//! cleartext to disk, except [`edit`]'s private file for the editor of
//! `batou secrets edit`.

pub mod age_file;
pub mod cleartext;
pub mod diffable;
pub mod edit;
mod error;
pub mod gpg;
pub mod layout;
pub mod manage;
pub mod mask;
mod merge;
pub mod store;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

pub use age_file::{Identities, PassphrasePrompt};
pub use cleartext::Cleartext;
pub use error::SecretsError;
pub use layout::{Layout, Provider, SecretFile};
pub use mask::{Masker, REDACTED, Redacting};
pub use merge::apply;

/// Keys to decrypt with, loaded on first use (an environment with only gpg
/// secrets never looks for age identities).
#[derive(Default)]
pub struct Keys {
    age: Option<Identities>,
    /// `GNUPGHOME` for gpg, instead of the process's own.
    pub gpg_home: Option<std::path::PathBuf>,
    prompt: Option<Arc<dyn PassphrasePrompt>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("age", &self.age)
            .field("gpg_home", &self.gpg_home)
            .field("prompt", &self.prompt.is_some())
            .finish()
    }
}

impl Keys {
    /// Keys from the environment (`BATOU_AGE_IDENTITIES`, `~/.ssh`).
    pub fn new() -> Keys {
        Keys::default()
    }

    /// Exactly these age identities.
    pub fn with_identities(ids: Identities) -> Keys {
        Keys {
            age: Some(ids),
            gpg_home: None,
            prompt: None,
        }
    }

    /// Asks `prompt` for passphrases of encrypted ssh keys (once per key).
    pub fn with_prompt(mut self, prompt: Arc<dyn PassphrasePrompt>) -> Keys {
        self.prompt = Some(prompt);
        self
    }

    pub fn age(&mut self) -> Result<&Identities, SecretsError> {
        if self.age.is_none() {
            self.age = Some(Identities::from_env_with(self.prompt.clone())?);
        }
        Ok(self.age.as_ref().expect("just set"))
    }

    /// The cleartext of the encrypted file at `path`.
    pub fn decrypt(&mut self, path: &Path, provider: Provider) -> Result<Vec<u8>, SecretsError> {
        let data = std::fs::read(path).map_err(|source| SecretsError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        // batou treats an empty file as an empty cleartext (a new config).
        if data.is_empty() {
            return Ok(Vec::new());
        }
        match provider {
            Provider::Age => age_file::decrypt(&data, path, self.age()?),
            Provider::AgeDiffable => {
                let text = String::from_utf8(data).map_err(|_| SecretsError::Corrupted {
                    file: path.to_path_buf(),
                    message: "an age-diffable file must be UTF-8 text".into(),
                })?;
                diffable::decrypt(&text, path, self.age()?).map(String::into_bytes)
            }
            Provider::Gpg => gpg::decrypt(path, self.gpg_home.as_deref()),
        }
    }
}

/// The decrypted secrets of one environment.
pub struct Secrets {
    pub layout: Layout,
    /// The decrypted `secrets.cfg.*`, if the environment has one.
    pub config: Option<Cleartext>,
    /// Whole-file secrets by name (`secret-NAME.age` → `NAME`).
    pub files: IndexMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("layout", &self.layout)
            .field("config", &self.config)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Decrypts the secrets of environment `name`; `Ok(None)` if it has
    /// none (no directory, or no encrypted files in it).
    pub fn load(
        project_dir: &Path,
        name: &str,
        keys: &mut Keys,
    ) -> Result<Option<Secrets>, SecretsError> {
        let Some(layout) = Layout::locate(project_dir, name)? else {
            return Ok(None);
        };
        if layout.is_empty() {
            return Ok(None);
        }
        let config = match &layout.config {
            Some((path, provider)) => {
                let bytes = keys.decrypt(path, *provider)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| SecretsError::NotText { file: path.clone() })?;
                Some(cleartext::parse(&text, path)?)
            }
            None => None,
        };
        let mut files = IndexMap::new();
        for f in &layout.files {
            files.insert(f.name.clone(), keys.decrypt(&f.path, f.provider)?);
        }
        Ok(Some(Secrets {
            layout,
            config,
            files,
        }))
    }

    /// Every secret string, for masking output.
    pub fn masker(&self) -> Masker {
        let values = self.config.iter().flat_map(|c| {
            c.components
                .values()
                .chain(c.hosts.values())
                .flat_map(|s| s.values.values().map(|v| v.value.clone()))
        });
        let mut masker = Masker::new(values);
        for bytes in self.files.values() {
            masker.add_file(bytes);
        }
        masker
    }

    /// What components see: the whole files and the masker.
    pub fn data(&self) -> SecretData {
        self.data_with_overrides(Vec::new())
    }

    fn data_with_overrides(&self, overrides: Vec<(String, String)>) -> SecretData {
        SecretData(Arc::new(SecretDataInner {
            files: self.files.clone(),
            masker: self.masker(),
            overrides: overrides.into_iter().collect(),
        }))
    }
}

/// Decrypted secrets on their way to an agent (see [`SecretData::to_wire`]).
/// Its `Debug` never shows the contents.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WireSecrets {
    files: IndexMap<String, Vec<u8>>,
    masked: Vec<String>,
    overrides: Vec<(String, String)>,
}

impl std::fmt::Debug for WireSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WireSecrets({} files, {} masked strings)",
            self.files.len(),
            self.masked.len()
        )
    }
}

/// The decrypted secrets components can reach, shared cheaply. Its `Debug`
/// never shows the contents.
#[derive(Clone, Default, PartialEq)]
pub struct SecretData(Arc<SecretDataInner>);

#[derive(Default, PartialEq)]
struct SecretDataInner {
    files: IndexMap<String, Vec<u8>>,
    masker: Masker,
    /// `(component, key)` of every override that came from the secrets.
    overrides: std::collections::BTreeSet<(String, String)>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("files", &self.0.files.keys().collect::<Vec<_>>())
            .field("masker", &self.0.masker)
            .finish()
    }
}

impl SecretData {
    /// The whole-file secret `name` (`secret-NAME.age`).
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.0.files.get(name).map(Vec::as_slice)
    }

    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.0.files.keys().map(String::as_str)
    }

    pub fn masker(&self) -> &Masker {
        &self.0.masker
    }

    /// The form in which secrets travel to an agent, over the agent's
    /// channel only: in memory on both ends, never in a file.
    pub fn to_wire(&self) -> WireSecrets {
        WireSecrets {
            files: self.0.files.clone(),
            masked: self.0.masker.strings().to_vec(),
            overrides: self.0.overrides.iter().cloned().collect(),
        }
    }

    /// Rebuilds what [`SecretData::to_wire`] sent.
    pub fn from_wire(wire: WireSecrets) -> SecretData {
        SecretData(Arc::new(SecretDataInner {
            files: wire.files,
            masker: Masker::from_strings(wire.masked),
            overrides: wire.overrides.into_iter().collect(),
        }))
    }

    /// Whether the override `component.key` came from the secrets (errors
    /// about it must not quote its value).
    pub fn is_secret_override(&self, component: &str, key: &str) -> bool {
        self.0
            .overrides
            .contains(&(component.to_string(), key.to_string()))
    }
}
