//! The standard library of components (this slice: files, directories,
//! symlinks, structured content, purging, commands).
//!
//! Every component is idempotent: `verify` compares, `update` only runs
//! when something differs, writes are atomic, and predicting writes
//! nothing. Paths are mapped (relative → the root's workdir, `~`, `[vfs]`).
//!
//! | Component | Attributes (builder methods) | Example |
//! |---|---|---|
//! | [`File`] | `content`, `empty`, `bytes`, `template` + `context` / `arg`, `assets` (implicit template), `secret`, `json` / `json_compact` / `toml` + `override_with`, `mode`, `owner`, `group`, `leading`, `sensitive`, `ensure_directory`, `symlink_to` | `File::new("app.conf").template(name, src).mode("rw-r-----").owner("app")` |
//! | [`Presence`] | `leading` | `Presence::new("var/initialized")` |
//! | [`Content`] | (built by `File`: `path`, `wanted`, `is_text`, `mode`, `leading`, `sensitive`) | — |
//! | [`FileMode`] | mode as `0o640`, `"640"`, `"rw-r-----"` or [`crate::convert::Mode`] | `FileMode::new("key.pem", "rw-------")` |
//! | [`Owner`] / [`Group`] | name or numeric id, resolved at verify time | `Owner::new("htdocs", "www-data")` |
//! | [`Directory`] | `leading`, `mode`, `source` (sync from a directory on the target), `purge` | `Directory::new("htdocs").source("/srv/build").purge(true)` |
//! | [`Symlink`] | link, target | `Symlink::new("current", "releases/42")` |
//! | [`JsonContent`] | data (any `Serialize`), `override_with`, `human_readable`, `mode`, `leading`, `sensitive` | `JsonContent::new("up.json", &upstreams)` |
//! | [`TomlContent`] | data (any `Serialize`, a table), `override_with`, `mode`, `leading`, `sensitive` | `TomlContent::new("app.toml", &settings)` |
//! | [`Purge`] | glob pattern | `Purge::new("releases/2023-*")` |
//! | [`Command`] | `unless`, `onlyif`, `cwd`, `env`, `timeout`, `raw` (no template expansion); expanded `{{ values }}` are shell-quoted | `Command::new("make").unless("test -f bin/app")` |
//!
//! Helpers for custom components live on [`crate::component::Deploy`]:
//! `last_updated`, `file_is_current`, `cmd_succeeds`,
//! `no_subcomponent_changes`.
//!
//! ```
//! use batou_core::prelude::*;
//! use batou_core::stdlib::{JsonContent, Owner, Purge};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Site { port: u16 }
//!
//! impl Component for Site {
//!     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
//!         ctx.add(File::new("logs").ensure_directory().mode("rwxr-x---"))?;
//!         ctx.add(File::new("site.conf").content(format!("port {}\n", self.port)).mode(0o640))?;
//!         ctx.add(JsonContent::new("site.json", &*self))?;
//!         ctx.add(Directory::new("htdocs").source("/usr/share/site").purge(true))?;
//!         ctx.add(Symlink::new("current", "htdocs"))?;
//!         ctx.add(Purge::new("*.bak"))?;
//!         ctx.add(Owner::new("logs", 0))?;
//!         ctx.add(Command::new("make").unless("test -f site.bin"))?;
//!         Ok(())
//!     }
//! }
//! ```

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
