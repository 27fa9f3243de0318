//! `asset_location!("templates/x")`: where an asset of the calling crate
//! lives, checked at compile time, without making the crate depend on the
//! file's content.
//!
//! Only the file's existence is looked at (a metadata call): rustc records
//! no dependency on it, so editing the file rebuilds nothing (cargo would
//! rebuild for `include_str!` or `proc_macro::tracked_path`). The content
//! is read at run time (`batou_core::assets`).

use std::path::{Component, Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

/// Expands to `(key, crate_dir, root)`: the asset's path relative to the
/// project root (the Cargo workspace the crate belongs to), the
/// crate's directory relative to that root, and the root as it was at
/// build time.
pub fn expand(path: LitStr) -> syn::Result<TokenStream> {
    let rel = path.value();
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            syn::Error::new(
                path.span(),
                "CARGO_MANIFEST_DIR is not set (build with cargo)",
            )
        })?;
    if rel.is_empty() || Path::new(&rel).is_absolute() {
        return Err(syn::Error::new(
            path.span(),
            "an asset path is relative to the crate's directory, e.g. \"templates/app.conf\"",
        ));
    }
    let file = manifest_dir.join(&rel);
    if !file.is_file() {
        return Err(syn::Error::new(
            path.span(),
            format!("asset {rel:?}: no file {}", file.display()),
        ));
    }
    let root = project_root(&manifest_dir);
    let crate_dir = manifest_dir.strip_prefix(&root).unwrap_or(Path::new(""));
    let key = normal(&crate_dir.join(&rel)).ok_or_else(|| {
        syn::Error::new(
            path.span(),
            format!("asset {rel:?} lies outside the project {}", root.display()),
        )
    })?;
    let crate_dir = crate_dir.to_string_lossy().into_owned();
    let root = root.to_string_lossy().into_owned();
    Ok(quote! { (#key, #crate_dir, #root) })
}

/// The nearest directory above `dir` (itself included) whose
/// `Cargo.toml` declares a `[workspace]`, as cargo finds a crate's
/// workspace; `dir` when there is none.
fn project_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(dir)
        .to_path_buf()
}

/// `p` with `.` and `..` resolved lexically, `/`-separated; `None` when
/// it climbs above its start.
fn normal(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn an_existing_file_is_located_relative_to_the_project() {
        let tokens = expand(lit("src/asset.rs")).unwrap().to_string();
        assert!(tokens.contains("\"batou-derive/src/asset.rs\""), "{tokens}");
        assert!(tokens.contains("\"batou-derive\""), "{tokens}");
    }

    #[test]
    fn a_misspelt_absolute_or_escaping_path_fails_the_build() {
        let e = expand(lit("src/aset.rs")).unwrap_err().to_string();
        assert!(e.starts_with("asset \"src/aset.rs\": no file "), "{e}");
        let e = expand(lit("/etc/hostname")).unwrap_err().to_string();
        assert!(e.contains("relative to the crate's directory"), "{e}");
        // Exists, but lies above the project root.
        let depth = std::env::current_dir().unwrap().components().count();
        let up = format!("{}etc/hostname", "../".repeat(depth));
        let e = expand(lit(&up)).unwrap_err().to_string();
        assert!(e.contains("lies outside the project"), "{e}");
    }
}
