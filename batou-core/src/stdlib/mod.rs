//! The standard library of components (this is the first slice: files,
//! directories, symlinks, commands).

mod command;
mod directory;
mod file;
mod symlink;
#[cfg(test)]
mod tests;

pub use command::Command;
pub use directory::Directory;
pub use file::{Content, File, Mode as FileMode, Presence};
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
