//! Templates and static files are data, not code: `asset!` names a file
//! of the deployment project, and its content is read at run time.
//!
//! The controller reads every asset from the project directory (once per
//! process, [`project`]); an agent gets them from the controller, by
//! content hash, and keeps them in a cache beside its own ([`cache`]).
//! A template edit therefore rebuilds nothing and ships only the changed
//! file; Rust changes still build (and ship) a new binary.
//!
//! What an agent deploys stays what the controller ships, verified by
//! hash: the `hello` request carries the asset set's [`Manifest`] (key →
//! sha256) and its hash; the agent checks every blob it holds or receives
//! against the manifest and answers `configured` with the hash of the set
//! it actually loaded, which the controller compares with its own.

pub mod cache;
mod manifest;
pub mod project;

use std::sync::Arc;

pub use manifest::{Blob, Manifest, sha256_hex};

#[doc(hidden)]
pub use inventory;

/// One file named by `asset!`: where it is and what errors call it.
/// Every `asset!` of the deployment registers one, so the controller
/// knows the whole set it may have to ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// As written in `asset!(..)`, e.g. `templates/nginx.conf`.
    pub name: &'static str,
    /// Relative to the project root, `/`-separated, e.g.
    /// `components/templates/nginx.conf`: the key of the manifest.
    pub key: &'static str,
    /// The crate's directory relative to the project root (`""` when the
    /// crate is the root).
    pub crate_dir: &'static str,
    /// The project root at build time, where a binary run outside its
    /// project finds its assets.
    pub build_root: &'static str,
}

inventory::collect!(Asset);

/// Every asset compiled into this binary, by key (each once).
pub fn compiled() -> std::collections::BTreeMap<&'static str, &'static Asset> {
    inventory::iter::<Asset>
        .into_iter()
        .map(|a| (a.key, a))
        .collect()
}

/// An asset that cannot be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AssetError {
    #[error("asset {name}: cannot read {path}: {reason}")]
    Unreadable {
        name: String,
        path: String,
        reason: String,
    },
    #[error("asset {name} ({key}) was not shipped to this host: the controller has no such file")]
    NotShipped { name: String, key: String },
    #[error("asset {name} is not UTF-8 text and cannot be a template")]
    NotText { name: String },
}

/// Where a process gets asset contents: the project directory (the
/// controller, a local deploy) or what the controller shipped (an agent).
#[derive(Clone, Default)]
pub struct AssetSource(Option<Arc<cache::Shipped>>);

impl AssetSource {
    /// What the controller shipped (an agent).
    pub fn shipped(shipped: Arc<cache::Shipped>) -> Self {
        AssetSource(Some(shipped))
    }

    /// The content of `asset`, for a project in `project_dir`.
    pub fn load(
        &self,
        asset: &Asset,
        project_dir: &std::path::Path,
    ) -> Result<Arc<[u8]>, AssetError> {
        match &self.0 {
            Some(shipped) => shipped
                .get(asset.key)
                .ok_or_else(|| AssetError::NotShipped {
                    name: asset.name.into(),
                    key: asset.key.into(),
                }),
            None => project::read(asset, project_dir),
        }
    }

    /// `asset` as template text.
    pub fn text(
        &self,
        asset: &Asset,
        project_dir: &std::path::Path,
    ) -> Result<Arc<str>, AssetError> {
        let bytes = self.load(asset, project_dir)?;
        std::str::from_utf8(&bytes)
            .map(Arc::from)
            .map_err(|_| AssetError::NotText {
                name: asset.name.into(),
            })
    }
}

impl std::fmt::Debug for AssetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "AssetSource(shipped)"
        } else {
            "AssetSource(project)"
        })
    }
}

/// Sources compare equal: which one a process uses is not part of an
/// environment's identity.
impl PartialEq for AssetSource {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
