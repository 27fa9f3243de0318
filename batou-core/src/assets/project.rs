//! The controller's side: assets read from the project directory, once
//! per process, so the configure that rendered them and the set shipped
//! to the agents are the same snapshot even if a file changes meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::{Asset, AssetError, Blob, Manifest, compiled};

/// Where `asset` is read from for a project in `project_dir`: the
/// project's copy when the project holds the asset's crate (its
/// `Cargo.toml` in the crate's directory, or, for a crate at the root of
/// its workspace, the project being that workspace), else the tree the
/// binary was built from: a binary run outside its project (as the tests
/// do), or a component crate from outside the project (a dependency).
pub fn path_of(asset: &Asset, project_dir: &Path) -> PathBuf {
    let build_root = Path::new(asset.build_root);
    let in_project = if asset.crate_dir.is_empty() {
        same_dir(project_dir, build_root)
    } else {
        project_dir
            .join(asset.crate_dir)
            .join("Cargo.toml")
            .is_file()
    };
    let root = if in_project { project_dir } else { build_root };
    root.join(asset.key)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

type Read = Result<Arc<[u8]>, AssetError>;

/// Every asset read so far, by project and key.
fn files() -> &'static Mutex<HashMap<(PathBuf, &'static str), Read>> {
    static FILES: OnceLock<Mutex<HashMap<(PathBuf, &'static str), Read>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// The content of `asset` (read once per process: a template used for a
/// thousand files is looked up, not read, a thousand times).
pub fn read(asset: &Asset, project_dir: &Path) -> Read {
    let mut files = files().lock().unwrap_or_else(|p| p.into_inner());
    files
        .entry((project_dir.to_path_buf(), asset.key))
        .or_insert_with(|| {
            let path = path_of(asset, project_dir);
            std::fs::read(&path)
                .map(Arc::from)
                .map_err(|e| AssetError::Unreadable {
                    name: asset.name.into(),
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
        })
        .clone()
}

/// The asset set an agent gets: the manifest and the blobs by hash.
#[derive(Debug, Default)]
pub struct Shipment {
    pub manifest: Manifest,
    pub manifest_hash: String,
    blobs: HashMap<String, Arc<[u8]>>,
}

impl Shipment {
    /// Every compiled-in asset that the project has (one that cannot be
    /// read is left out: configure already named it if it is used).
    pub fn of(project_dir: &Path) -> Shipment {
        Shipment::from_assets(compiled().into_values(), project_dir)
    }

    pub fn from_assets<'a>(
        assets: impl IntoIterator<Item = &'a Asset>,
        project_dir: &Path,
    ) -> Shipment {
        let mut s = Shipment::default();
        for asset in assets {
            if let Ok(bytes) = read(asset, project_dir) {
                let sum = super::sha256_hex(&bytes);
                s.manifest
                    .entries
                    .insert(asset.key.to_string(), sum.clone());
                s.blobs.insert(sum, bytes);
            }
        }
        s.manifest_hash = s.manifest.hash();
        s
    }

    /// The blobs with these hashes (`Err`: one the manifest does not have).
    pub fn blobs(&self, hashes: &[String]) -> Result<Vec<Blob>, String> {
        hashes
            .iter()
            .map(|h| {
                self.blobs.get(h).map(|b| Blob::new(b)).ok_or_else(|| {
                    format!("the agent asked for asset {h}, which is not in the set")
                })
            })
            .collect()
    }
}

/// The shipment of `project_dir`, built once per process.
pub fn shipment(project_dir: &Path) -> Arc<Shipment> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Arc<Shipment>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    built
        .entry(project_dir.to_path_buf())
        .or_insert_with(|| Arc::new(Shipment::of(project_dir)))
        .clone()
}
