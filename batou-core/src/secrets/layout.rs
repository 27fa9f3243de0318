//! Where an environment's secrets live (reference §6.1).
//!
//! Only the directory layout has secrets: `environments/NAME/` holds at
//! most one `secrets.cfg.{age,age-diffable,gpg}` and any number of
//! whole-file secrets `secret-FILE.{age,gpg}`. A flat environment
//! (`environments/NAME.cfg` / `.toml`) has no secrets, as in batou.

use std::path::{Path, PathBuf};

use super::error::SecretsError;

/// How a file is encrypted, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Age,
    /// An INI with every value (outside `[batou]`) age-encrypted on its own.
    AgeDiffable,
    Gpg,
}

impl Provider {
    /// The provider for `path`'s suffix (`.age`, `.age-diffable`, `.gpg`).
    pub fn from_path(path: &Path) -> Option<Provider> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".age-diffable") {
            Some(Provider::AgeDiffable)
        } else if name.ends_with(".age") {
            Some(Provider::Age)
        } else if name.ends_with(".gpg") {
            Some(Provider::Gpg)
        } else {
            None
        }
    }

    /// `secret_provider` spelling.
    pub fn from_name(name: &str) -> Option<Provider> {
        match name.trim() {
            "age" => Some(Provider::Age),
            "age-diffable" => Some(Provider::AgeDiffable),
            "gpg" => Some(Provider::Gpg),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Age => "age",
            Provider::AgeDiffable => "age-diffable",
            Provider::Gpg => "gpg",
        }
    }

    /// The suffix whole-file secrets use with this provider (age-diffable
    /// files are plain age, as in batou).
    pub fn file_suffix(self) -> &'static str {
        match self {
            Provider::Age | Provider::AgeDiffable => "age",
            Provider::Gpg => "gpg",
        }
    }
}

/// One whole-file secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// `NAME` of `secret-NAME.age`.
    pub name: String,
    pub path: PathBuf,
    pub provider: Provider,
}

/// The encrypted files of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub environment: String,
    pub dir: PathBuf,
    /// `secrets.cfg.*` and its provider, if there is one.
    pub config: Option<(PathBuf, Provider)>,
    pub files: Vec<SecretFile>,
}

impl Layout {
    /// The secrets of environment `name` in `project_dir`. An environment
    /// without its own directory has none (`Ok(None)`).
    pub fn locate(project_dir: &Path, name: &str) -> Result<Option<Layout>, SecretsError> {
        let dir = project_dir.join("environments").join(name);
        if !dir.is_dir() {
            return Ok(None);
        }
        let read_err = |source| SecretsError::Read {
            file: dir.clone(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut configs = Vec::new();
        let mut files = Vec::new();
        for path in entries {
            let Some(fname) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(suffix) = fname.strip_prefix("secrets.cfg.") {
                // Editor leftovers (`.swp`, `~`) and `.old` backups are not
                // configs; only the three known suffixes count.
                if let Some(p) = Provider::from_name(suffix) {
                    configs.push((path.clone(), p));
                }
            } else if let Some(rest) = fname.strip_prefix("secret-") {
                let provider = Provider::from_path(&path);
                if let (Some(provider @ (Provider::Age | Provider::Gpg)), Some(stem)) = (
                    provider,
                    rest.strip_suffix(".age")
                        .or_else(|| rest.strip_suffix(".gpg")),
                ) {
                    files.push(SecretFile {
                        name: stem.to_string(),
                        path: path.clone(),
                        provider,
                    });
                }
            }
        }
        if configs.len() > 1 {
            return Err(SecretsError::AmbiguousConfig {
                environment: name.to_string(),
                files: configs.into_iter().map(|(p, _)| p).collect(),
            });
        }
        Ok(Some(Layout {
            environment: name.to_string(),
            dir,
            config: configs.pop(),
            files,
        }))
    }

    /// True when there is nothing to decrypt.
    pub fn is_empty(&self) -> bool {
        self.config.is_none() && self.files.is_empty()
    }
}
