//! batou-core: write a deployment as Rust types. This is the manual for
//! component authors; the engine that runs components is public for
//! `batou-cli` and the tests but left out of these pages.
//!
//! A component is a struct implementing [`Component`]. Its serde fields are
//! the attributes an environment may override (`[component:hello]`
//! `greeting = Hi`); `configure` adds sub-components, `verify` and `update`
//! act on the target through a [`host::Host`]. Components are registered
//! by name in a [`Registry`], which the deployment's `main` hands to
//! `batou_cli::main`:
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
//!
//! # Where to look
//!
//! | module | for |
//! |---|---|
//! | [`prelude`] | one import with what most components use |
//! | [`component`] | the [`Component`] trait, the contexts of `configure` ([`Configure`]: sub-components, service discovery, templates, paths) and of `verify`/`update` ([`Deploy`]), the [`Registry`] and platform variants |
//! | [`stdlib`] | the standard library: files, directories, content, commands, downloads, archives, git, systemd units and programs, users, packages, cron, logrotate, externals — each with its attributes and an example |
//! | [`host`] | what `verify` and `update` may do on the target: atomic writes, stat, modes, owners, symlinks, commands with timeouts, users |
//! | [`template`] | minijinja with batou's settings (`@@` line statements, strict undefined) |
//! | [`assets`] | template files as data: `asset!` files read from the project at run time and shipped to agents by hash |
//! | [`address`] | `Address` and `NetLoc`: where services listen, resolved by DNS or the environment's `[resolver]` |
//! | [`rollout`] | rolling deploys: `max_parallel` of a root component, batches (`serial`), `max_fail` |
//! | [`handlers`] | reacting to changes: before-update handlers, change notifications, routed events across hosts |
//! | [`diff`] | unified diffs as batou shows them, for a component's own `show_diff` |
//! | [`convert`] | how an environment's text becomes an attribute's type (`Mode`, `Duration`, lists, booleans in batou's spellings) |
//! | [`transport`] | for a deployment that reaches its hosts another way (`docker exec`, `kubectl exec`): the `Transport` trait |
//!
//! Errors are values: component code returns [`Error`] (mostly through `?`
//! on host operations, templates and commands), and the command line shows
//! each with the host and component it concerns.
//!
//! # Why transports live in the registry
//!
//! The registry is the one value a deployment hands to the command line,
//! and the binary it is compiled into is the deployment: a deployment's
//! own transport must be compiled in with its components and chosen by
//! name from the environment (`connect_method = docker`), exactly as
//! components are chosen by name from `[hosts]`. A second registry would
//! only add a second argument to `batou_cli::main` and a second place to
//! look for names; so [`Registry::transport`] registers them next to the
//! components, with `ssh` and `ssh2` built in.
//!
//! # The engine
//!
//! Environments and secrets, the configure engine, deploying, the remote
//! controller and agent, locks, interrupts and the whole operations of
//! `ops` are modules too, hidden here: a deployment does not call them.
//! Each opens, in the source, with what it does and why.

// Errors here carry their context (file, line, host, component) by design and
// only travel the cold path; boxing them all would only add noise.
#![allow(clippy::result_large_err)]

pub mod address;
pub mod agent_build;
pub mod assets;
pub mod command;
pub mod component;
pub mod convert;
pub mod diff;
pub mod escape;
pub mod handlers;
pub mod host;
pub mod rollout;
pub mod stdlib;
pub mod template;
pub mod transport;

// The engine: public for batou-cli, the agent and the tests.
#[doc(hidden)]
pub mod configure;
#[doc(hidden)]
pub mod deploy;
#[doc(hidden)]
pub mod environment;
#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod event;
#[doc(hidden)]
pub mod history;
#[doc(hidden)]
pub mod ini;
#[doc(hidden)]
pub mod interrupt;
#[doc(hidden)]
pub mod lock;
#[doc(hidden)]
pub mod ops;
#[cfg(test)]
mod properties;
#[doc(hidden)]
pub mod remote;
#[doc(hidden)]
pub mod secrets;
#[doc(hidden)]
pub mod show;
#[cfg(test)]
pub(crate) mod testutil;
#[doc(hidden)]
pub mod vfs;

/// A static (musl) build — the agent that runs on targets — uses mimalloc:
/// with Rust's bundled musl, musl's own malloc makes a first deploy of
/// 1,000 files about half again as slow as the glibc build, mimalloc
/// takes most of that back (`bench/agent`; zig's musl, used by `cargo
/// zigbuild`, shows no difference either way).
#[cfg(all(target_env = "musl", not(feature = "musl-malloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use component::{Attributes, Component, Configure, Deploy, Registry, Sub, Verdict};

// So that `#[component]`'s output, which names `::batou_core`, also
// compiles in this crate's own tests.
extern crate self as batou_core;

/// What `#[component]`'s output refers to; not for component authors.
#[doc(hidden)]
pub mod __private {
    pub use batou_derive::asset_location;
    pub use serde;
}
#[doc(hidden)]
pub use error::{ConfigError, DeployError, Origin};
pub use error::{Error, Result};

/// Everything a component author usually needs, in one import.
pub mod prelude {
    pub use crate::address::{Address, NetLoc};
    pub use crate::asset;
    pub use crate::component::{
        Attributes, Component, Configure, Deploy, Registry, Require, Retry, Sub, Verdict, component,
    };
    pub use crate::convert::{Duration, Mode};
    pub use crate::error::{Error, Result};
    pub use crate::rollout::Limit;
    pub use crate::stdlib::{Command, Directory, File, Symlink};
    pub use serde::{Deserialize, Serialize};
}
