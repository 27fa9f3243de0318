//! `batou secrets …` (reference §1.4): what `summary`, `decrypttostdout`,
//! `add`, `remove`, `reencrypt` and `edit` do to a project's secrets. The
//! command line asks for keys, runs the editor and prints; the files are
//! read, checked, locked and re-encrypted here.

use std::path::Path;

use crate::lock::ProjectLock;
use crate::secrets::manage::EnvSecrets;
use crate::secrets::{Keys, Layout, Provider, SecretsError};

/// Environments with their own directory (only those can have secrets),
/// sorted.
pub fn environments(project_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_dir.join("environments"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `--environments a,b`, checked against the project; `None`: every
/// environment.
pub fn selected(project_dir: &Path, list: Option<&str>) -> Result<Vec<String>, SecretsError> {
    let all = environments(project_dir);
    let Some(list) = list else { return Ok(all) };
    let wanted: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !all.contains(w))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(SecretsError::UnknownEnvironment { names: unknown });
    }
    Ok(wanted)
}

/// Who may read an environment's secrets, and which secret files it has.
#[derive(Debug)]
pub struct Membership {
    pub environment: String,
    pub members: Vec<String>,
    pub files: Vec<String>,
}

/// `secrets summary`: every environment's members and secret files; an
/// environment whose secrets cannot be opened is an `Err` in its place,
/// named, and the others are still read.
pub fn summary(
    project_dir: &Path,
    keys: &mut Keys,
) -> Vec<(String, Result<Membership, SecretsError>)> {
    environments(project_dir)
        .into_iter()
        .map(|name| {
            let membership = EnvSecrets::open(project_dir, &name, keys).map(|s| Membership {
                members: s.members().unwrap_or_default(),
                files: s.files.keys().cloned().collect(),
                environment: name.clone(),
            });
            (name, membership)
        })
        .collect()
}

/// `secrets decrypttostdout FILE`: its cleartext.
pub fn decrypt(file: &Path, keys: &mut Keys) -> Result<Vec<u8>, SecretsError> {
    let provider = Provider::from_path(file).ok_or_else(|| SecretsError::Corrupted {
        file: file.to_path_buf(),
        message: "unknown suffix (expected .age, .age-diffable or .gpg)".into(),
    })?;
    keys.decrypt(file, provider)
}

/// A change to who may read the secrets.
pub enum MemberChange {
    Add(String),
    Remove(String),
}

/// What a re-encryption did to one environment.
#[derive(Debug)]
pub struct Reencrypted {
    pub environment: String,
    /// Members it is encrypted for now.
    pub members: usize,
    /// `false`: the keys were unchanged, nothing was written.
    pub written: bool,
}

/// `secrets add` and `secrets remove`: every selected environment with a
/// secrets config re-encrypted for its new members. `done` hears of each
/// environment as it is finished, so an error in a later one does not
/// hide what was already written.
pub fn change_members(
    project_dir: &Path,
    environments: Option<&str>,
    change: &MemberChange,
    keys: &mut Keys,
    done: &mut dyn FnMut(Reencrypted),
) -> Result<(), SecretsError> {
    for_each_environment(project_dir, environments, keys, |name, s| {
        let mut members = s.members()?;
        match change {
            MemberChange::Add(key) if !members.contains(key) => members.push(key.clone()),
            MemberChange::Add(_) => {}
            MemberChange::Remove(key) => members.retain(|m| m != key),
        }
        let text = s.with_members(&members)?;
        let written = s.update(&text, false)?;
        done(Reencrypted {
            environment: name.to_string(),
            members: members.len(),
            written,
        });
        Ok(())
    })
}

/// `secrets reencrypt`: every selected environment with a secrets config
/// encrypted again for its members (only if they changed, unless `force`).
pub fn reencrypt(
    project_dir: &Path,
    environments: Option<&str>,
    force: bool,
    keys: &mut Keys,
    done: &mut dyn FnMut(Reencrypted),
) -> Result<(), SecretsError> {
    for_each_environment(project_dir, environments, keys, |name, s| {
        let text = s.cleartext.clone();
        let written = s.update(&text, force)?;
        let members = s.members().map(|m| m.len()).unwrap_or_default();
        done(Reencrypted {
            environment: name.to_string(),
            members,
            written,
        });
        Ok(())
    })
}

/// Runs `f` on the secrets of every selected environment that has a
/// secrets config, each under its edit lock.
fn for_each_environment(
    project_dir: &Path,
    environments: Option<&str>,
    keys: &mut Keys,
    mut f: impl FnMut(&str, &mut EnvSecrets) -> Result<(), SecretsError>,
) -> Result<(), SecretsError> {
    for name in selected(project_dir, environments)? {
        let _lock = lock(&project_dir.join("environments").join(&name))?;
        let mut s = EnvSecrets::open(project_dir, &name, keys)?;
        if s.layout.config.is_some() {
            f(&name, &mut s)?;
        }
    }
    Ok(())
}

/// One change at a time per environment (a kernel lock: it goes away with
/// the process).
fn lock(env_dir: &Path) -> Result<ProjectLock, SecretsError> {
    ProjectLock::acquire(env_dir).map_err(|_| SecretsError::Locked {
        file: env_dir.join(".batou-lock"),
    })
}

/// An environment's secrets opened for `secrets edit`, locked until this
/// is dropped.
pub struct Editing {
    pub secrets: EnvSecrets,
    /// The secret file edited (`None`: the secrets config).
    pub file: Option<String>,
    _lock: ProjectLock,
}

/// What `secrets edit` starts from.
pub enum EditStart {
    /// The cleartext to hand to the editor, and the suffix its scratch
    /// file needs (so the editor picks the right syntax).
    Edit {
        editing: Box<Editing>,
        original: Vec<u8>,
        suffix: String,
    },
    /// A secret file was asked for, but the environment has no secrets
    /// config to say who may read it.
    NoConfigYet,
}

/// Opens `environment`'s secrets (or the secret file `file` of it) for
/// editing, under the environment's lock.
pub fn start_edit(
    project_dir: &Path,
    environment: &str,
    file: Option<&str>,
    keys: &mut Keys,
) -> Result<EditStart, SecretsError> {
    if Layout::locate(project_dir, environment)?.is_none() {
        return Err(SecretsError::UnknownEnvironment {
            names: vec![environment.to_string()],
        });
    }
    let lock = lock(&project_dir.join("environments").join(environment))?;
    let secrets = EnvSecrets::open(project_dir, environment, keys)?;
    let original = match file {
        None => secrets.cleartext.clone().into_bytes(),
        Some(_) if secrets.layout.config.is_none() => return Ok(EditStart::NoConfigYet),
        Some(name) => secrets
            .files
            .get(name)
            .map(|(_, b)| b.clone())
            .unwrap_or_default(),
    };
    let suffix = match file {
        None => ".cfg".to_string(),
        Some(name) => Path::new(name)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default(),
    };
    Ok(EditStart::Edit {
        editing: Box::new(Editing {
            secrets,
            file: file.map(str::to_string),
            _lock: lock,
        }),
        original,
        suffix,
    })
}

impl Editing {
    /// Checks and re-encrypts what the editor saved: the secrets config
    /// must parse; a secret file is taken as it is.
    pub fn save(&mut self, edited: Vec<u8>) -> Result<(), SecretsError> {
        let s = &mut self.secrets;
        match &self.file {
            None => match String::from_utf8(edited) {
                Ok(text) => s.update(&text, false).map(|_| ()),
                Err(_) => Err(SecretsError::NotText {
                    file: s.config_path.clone(),
                }),
            },
            Some(name) => s.members().and_then(|m| s.write_file(name, &edited, &m)),
        }
    }
}
