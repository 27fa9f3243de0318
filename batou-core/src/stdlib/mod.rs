//! The standard library of components (this slice: files, directories,
//! symlinks, structured content, purging, commands).

mod command;
mod content;
mod directory;
mod file;
mod mode;
mod owner;
mod purge;
mod structured;
mod symlink;
mod sync;
#[cfg(test)]
mod tests;

pub use command::Command;
pub use content::{Content, Presence};
pub use directory::Directory;
pub use file::{Assets, File};
pub use mode::{Mode as FileMode, ModeSpec};
pub use owner::{Group, Owner, Principal};
pub use purge::Purge;
pub use structured::{JsonContent, TomlContent, dict_merge};
pub use symlink::Symlink;

/// A file compiled into the deployment binary: `(name, text)`.
///
/// In a component crate with `templates/nginx.conf` beside its
/// `Cargo.toml`:
///
/// ```text
/// let (name, source) = batou_core::asset!("templates/nginx.conf");
/// ctx.add(File::new("nginx.conf").template(name, source))?;
/// ```
#[macro_export]
macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
        )
    };
}

/// A table of compiled-in files for [`File::assets`], the implicit
/// template of a `File` without content (looked up by base name):
///
/// ```text
/// const TEMPLATES: batou_core::stdlib::Assets =
///     batou_core::assets!["templates/nginx.conf", "templates/app.toml"];
/// ctx.add(File::new("/etc/nginx/nginx.conf").assets(TEMPLATES))?;
/// ```
#[macro_export]
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$($crate::asset!($path)),*]
    };
}
