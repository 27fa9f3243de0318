//! The example deployment: a backend and a frontend that finds it through
//! service discovery, with a platform variant, host data in templates and a
//! `[resolver]` override read through `Address`.

mod backend;
mod frontend;

pub use backend::{Backend, BackendInfo};
pub use frontend::{Frontend, LocalDevFrontend};

use batou_core::Registry;

/// Registers this deployment's components (used by `main` and by tests).
pub fn register(registry: &mut Registry) {
    registry
        .add::<Backend>()
        .add::<Frontend>()
        .platform("localdev", |f: &Frontend| LocalDevFrontend {
            title: f.title.clone(),
        });
}
