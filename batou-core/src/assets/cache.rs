//! The agent's side: the assets the controller shipped, kept by sha256 in
//! a directory beside the agent cache (`<agent_cache>-assets`), checked
//! against their hash whenever they are used, so a damaged or altered
//! copy is sent again, never deployed.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Blob, Manifest, sha256_hex};

/// Cached blobs no manifest named for this long are removed.
const UNUSED: Duration = Duration::from_secs(30 * 86_400);

/// The asset cache of an agent started from its cache directory
/// (`<cache>/batou-agent-<hash>`, the bootstrap exports
/// `BATOU_AGENT_HASH`): `<cache>-assets`, created 0700. `None` for an
/// agent started otherwise, or when that directory is not safely ours:
/// then the assets live in memory only and are sent on every start.
pub fn beside_agent() -> Option<PathBuf> {
    std::env::var_os("BATOU_AGENT_HASH")?;
    let exe = std::env::current_exe().ok()?;
    if !exe
        .file_name()?
        .to_string_lossy()
        .starts_with("batou-agent-")
    {
        return None;
    }
    let cache = exe.parent()?;
    let dir = cache.with_file_name(format!("{}-assets", cache.file_name()?.to_string_lossy()));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    private_dir(&dir).then_some(dir)
}

/// A real directory, ours, that nobody else can write to.
fn private_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| {
        m.is_dir() && m.uid() == unsafe { libc::geteuid() } && m.permissions().mode() & 0o022 == 0
    })
}

/// The assets as a configure on the agent reads them: verified content
/// by key, and the hash of that set.
#[derive(Debug, Default)]
pub struct Shipped {
    by_key: HashMap<String, Arc<[u8]>>,
    hash: String,
}

impl Shipped {
    pub fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        self.by_key.get(key).cloned()
    }

    /// The manifest hash of what this agent actually holds.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Assembling the shipped set: what the cache has (verified), then what
/// the controller sends.
#[derive(Debug)]
pub struct Receiving {
    manifest: Manifest,
    dir: Option<PathBuf>,
    have: HashMap<String, Arc<[u8]>>,
}

impl Receiving {
    /// Starts from the intact blobs of `dir`; a blob that does not hash
    /// to its name is removed (and so asked for again).
    pub fn open(manifest: Manifest, dir: Option<PathBuf>) -> Receiving {
        let mut have = HashMap::new();
        if let Some(dir) = &dir {
            for sum in manifest.entries.values() {
                if have.contains_key(sum) || !is_hash(sum) {
                    continue;
                }
                let path = dir.join(sum);
                match std::fs::read(&path) {
                    Ok(bytes) if sha256_hex(&bytes) == *sum => {
                        // In use: young again for `prune`.
                        let _ = std::fs::File::options()
                            .append(true)
                            .open(&path)
                            .and_then(|f| f.set_modified(SystemTime::now()));
                        have.insert(sum.clone(), Arc::from(bytes));
                    }
                    Ok(_) => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(_) => {}
                }
            }
            prune(dir, &manifest);
        }
        Receiving {
            manifest,
            dir,
            have,
        }
    }

    /// The hashes still missing, each once, in order.
    pub fn missing(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .manifest
            .entries
            .values()
            .filter(|s| !self.have.contains_key(*s))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Takes blobs from the controller; each must hash to its name and be
    /// one the manifest lists. Cached atomically, mode 0600.
    pub fn receive(&mut self, blobs: Vec<Blob>) -> Result<(), String> {
        for blob in blobs {
            if !self.manifest.entries.values().any(|s| *s == blob.sha256) {
                return Err(format!("asset blob {} is not in the manifest", blob.sha256));
            }
            let bytes = blob.verified()?;
            if let Some(dir) = &self.dir {
                // Best effort: a cache that cannot be written costs a
                // resend next time, never this deploy.
                let _ = store(dir, &blob.sha256, &bytes);
            }
            self.have.insert(blob.sha256, Arc::from(bytes));
        }
        Ok(())
    }

    /// The complete set (`Err`: something is still missing).
    pub fn finish(&self) -> Result<Shipped, String> {
        let missing = self.missing();
        if !missing.is_empty() {
            return Err(format!(
                "the controller did not send assets {}",
                missing.join(", ")
            ));
        }
        let mut by_key = HashMap::new();
        let mut held = Manifest::default();
        for (key, sum) in &self.manifest.entries {
            let bytes = self.have[sum].clone();
            // Hashed again from what is held, not copied from the
            // manifest: the reply vouches for the content.
            held.entries.insert(key.clone(), sha256_hex(&bytes));
            by_key.insert(key.clone(), bytes);
        }
        Ok(Shipped {
            by_key,
            hash: held.hash(),
        })
    }
}

fn store(dir: &Path, sum: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new()
        .prefix(".blob-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(sum)).map_err(|e| e.error)?;
    Ok(())
}

/// Removes blobs no manifest named for [`UNUSED`] (the cache may serve
/// several deployments, so only old ones go) and stale temp files.
fn prune(dir: &Path, manifest: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if manifest.entries.values().any(|s| *s == name) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > UNUSED);
        if old && (is_hash(&name) || name.starts_with(".blob-")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn is_hash(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}
