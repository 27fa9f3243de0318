//! The per-host record of installed externals: which external got which
//! name with which data, so the next deploy knows what to leave alone, what
//! to replace and what to remove.
//!
//! One JSON file per host under the work directory
//! (`work/.batou/externals-HOST.json`, mode 0600: the data may be
//! sensitive). Every change rewrites it atomically (temp file, fsync,
//! rename, directory fsync) right after the external call it records, so a
//! crash at any point loses no entry: at worst the last call is repeated.

use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::component::EnvironmentInfo;
use crate::error::{Error, Result};
use crate::host::Host;

/// One installed external.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub external: String,
    pub name: String,
    /// sha256 of the data, hex.
    pub hash: String,
    /// The data, base64 (for `remove`).
    pub data: String,
    /// The component's choices, for a `remove` after it left.
    #[serde(default)]
    pub ignore_failure: bool,
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl Installed {
    pub fn data_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .unwrap_or_default()
    }

    pub fn encode(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    pub fn is(&self, external: &str, name: &str) -> bool {
        self.external == external && self.name == name
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    installed: Vec<Installed>,
}

/// Serialises read-modify-write of records: roots of one host may deploy
/// on several threads at once.
static LOCK: Mutex<()> = Mutex::new(());

/// The record of host `host`.
pub(crate) fn path(env: &EnvironmentInfo, host: &str) -> PathBuf {
    env.workdir_base
        .join(".batou")
        .join(format!("externals-{host}.json"))
}

/// Every entry of the record (none if there is no record yet).
pub(crate) fn load(target: &Host, env: &EnvironmentInfo, host: &str) -> Result<Vec<Installed>> {
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    read(target, &path(env, host))
}

fn read(target: &Host, file: &std::path::Path) -> Result<Vec<Installed>> {
    let Some(bytes) = target.read(file)? else {
        return Ok(Vec::new());
    };
    let record: RecordFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::msg(format!(
            "the externals record {} is damaged: {e}",
            file.display()
        ))
    })?;
    Ok(record.installed)
}

/// Applies `change` to the record and writes it back atomically.
pub(crate) fn update(
    target: &Host,
    env: &EnvironmentInfo,
    host: &str,
    change: impl FnOnce(&mut Vec<Installed>),
) -> Result<()> {
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // The record tells what was done outside batou's reach, which a
    // revert does not undo: putting the record back would forget it.
    let target = &target.without_undo();
    let file = path(env, host);
    let mut installed = read(target, &file)?;
    change(&mut installed);
    // A stable order, whatever order the changes came in.
    installed.sort_by(|a, b| (&a.external, &a.name).cmp(&(&b.external, &b.name)));
    if let Some(dir) = file.parent() {
        target.mkdir(dir, true)?;
    }
    let text = serde_json::to_vec_pretty(&RecordFile {
        version: 1,
        installed,
    })
    .map_err(|e| Error::msg(format!("cannot serialize the externals record: {e}")))?;
    target.write(&file, &text, Some(0o600))?;
    Ok(())
}
