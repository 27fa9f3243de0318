//! batou-core: the model, environments, configure engine, templates and the
//! standard library of a batou deployment.
//!
//! This crate knows nothing of terminals: it reports what happens as
//! [`event::Event`] values to an [`event::EventSink`] and fails with typed
//! errors ([`Error`], [`ConfigError`], [`DeployError`]). The command line in
//! `batou-cli` renders both.
//!
//! A deployment is written as Rust types implementing [`Component`]:
//!
//! ```
//! use batou_core::prelude::*;
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Hello {
//!     greeting: String,
//! }
//!
//! impl Component for Hello {
//!     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
//!         ctx.add(File::new("hello.txt").content(format!("{}\n", self.greeting)))?;
//!         Ok(())
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.component::<Hello>("hello");
//! ```

// Errors here carry their context (file, line, host, component) by design and
// only travel the cold path; boxing them all would only add noise.
#![allow(clippy::result_large_err)]

pub mod address;
pub mod agent_build;
pub mod component;
pub mod configure;
pub mod convert;
pub mod deploy;
pub mod diff;
pub mod environment;
pub mod error;
pub mod event;
pub mod handlers;
pub mod host;
pub mod ini;
pub mod interrupt;
pub mod lock;
#[cfg(test)]
mod properties;
pub mod remote;
pub mod secrets;
pub mod show;
pub mod stdlib;
pub mod template;
#[cfg(test)]
pub(crate) mod testutil;
pub mod transport;
pub mod vfs;

/// A static (musl) build — the agent that runs on targets — uses mimalloc:
/// with Rust's bundled musl, musl's own malloc makes a first deploy of
/// 1,000 files about half again as slow as the glibc build, mimalloc
/// takes most of that back (`bench/agent`; zig's musl, used by `cargo
/// zigbuild`, shows no difference either way).
#[cfg(all(target_env = "musl", not(feature = "musl-malloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use component::{Component, Configure, Deploy, Registry, Sub, Verdict};
pub use error::{ConfigError, DeployError, Error, Origin, Result};

/// Everything a component author usually needs, in one import.
pub mod prelude {
    pub use crate::address::{Address, NetLoc};
    pub use crate::component::{Component, Configure, Deploy, Registry, Require, Sub, Verdict};
    pub use crate::convert::{Duration, Mode};
    pub use crate::error::{Error, Result};
    pub use crate::stdlib::{Command, Directory, File, Symlink};
    pub use serde::{Deserialize, Serialize};
}
