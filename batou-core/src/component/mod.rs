//! Components: the `Component` trait, the contexts its methods get, and the
//! registry that names components for environments.

pub(crate) mod configure;
mod deploy;
mod info;
mod node;
mod registry;
mod retry;
mod verify;
mod view;

pub use configure::{Configure, Require};
pub use deploy::Deploy;
pub use info::{EnvironmentInfo, HostInfo};
pub(crate) use node::Node;
pub use registry::Registry;
pub use retry::{Retry, Retrying};

/// A component's attributes declared on its fields: defaults beside them,
/// computed ones marked once, the registered name on the struct.
///
/// ```
/// use batou_core::prelude::*;
///
/// #[component]                      // registered as `backend` (the type's name, lowercased)
/// pub struct Backend {
///     #[attr(default = 8080)]
///     port: u16,
///     #[attr(default = "Hello")]    // a string literal becomes the field's type
///     greeting: String,
///     debug: bool,                  // no default given: `Default::default()`
///     #[attr(computed)]             // set in configure; an environment cannot override it
///     peers: Vec<String>,
/// }
///
/// impl Component for Backend {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         self.peers = vec!["a".into()];
///         ctx.add(File::new("backend.conf").template(("backend.conf", "{{ component.peers | length }} {{ component.port }}\n")))?;
///         Ok(())
///     }
/// }
///
/// let mut registry = Registry::new();
/// registry.add::<Backend>();
/// assert_eq!(registry.names(), ["backend"]);
/// assert_eq!(Backend::default().port, 8080);
/// ```
///
/// `#[component(name = "web")]` registers it under another name. The
/// struct gets `Serialize`, `Deserialize` (with `#[serde(default)]`),
/// `Default` and [`Attributes`]; do not derive those yourself. Other
/// derives and serde attributes (`#[serde(rename = ..)]`) stay as written;
/// put `#[component]` above them. `#[attr(computed)]` is serde's
/// `skip_deserializing` plus the refusal of an environment's value.
pub use batou_derive::component;

/// What `#[component]` says about a struct: the name it is registered
/// under ([`Registry::add`]) and the attributes computed in `configure`,
/// which an environment may not set.
pub trait Attributes {
    /// The name environments use, e.g. `nginx`.
    const NAME: &'static str;
    /// Fields marked `#[attr(computed)]`.
    const COMPUTED: &'static [&'static str];
}

use crate::error::Result;

/// Whether the target is as the component wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    UpToDate,
    NeedsUpdate,
}

impl Verdict {
    /// `NeedsUpdate` if `needs_update` is true.
    ///
    /// ```
    /// use batou_core::Verdict;
    /// assert_eq!(Verdict::update_if(true), Verdict::NeedsUpdate);
    /// ```
    pub fn update_if(needs_update: bool) -> Self {
        if needs_update {
            Verdict::NeedsUpdate
        } else {
            Verdict::UpToDate
        }
    }
}

/// A handle to a sub-component added in `configure`; ask the deploy
/// context whether it changed, or watch it ([`crate::handlers::Watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sub {
    /// Its place among its parent's sub-components.
    pub(crate) index: usize,
    /// Its node id within the root (see [`Node::id`]).
    pub(crate) node: usize,
}

/// A piece of a deployment.
///
/// `configure` builds the model (adds sub-components, provides and requires
/// resources) and must not touch the target: it may run several times and
/// runs before any host is contacted. `verify` checks the target through
/// [`Deploy::host`]; if it answers [`Verdict::NeedsUpdate`], `update` makes
/// it so (unless predicting). Sub-components are deployed first, in the
/// order they were added. A component that only adds sub-components (a
/// composite) needs neither `verify` nor `update`.
///
/// Root components (the ones an environment names) are marked
/// [`#[component]`](component) — or derive `Default`, `Serialize` and
/// `Deserialize` by hand: their serde fields are the attributes an
/// environment can override.
///
/// ```
/// use batou_core::prelude::*;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Motd {
///     text: String,
/// }
///
/// impl Component for Motd {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(File::new("/etc/motd").content(self.text.clone()))?;
///         Ok(())
///     }
/// }
/// ```
pub trait Component: std::any::Any + Send {
    /// Builds the model. Runs on the controller, possibly several times.
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Checks the target. The default (for composites) is "up to date".
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let _ = ctx;
        Ok(Verdict::UpToDate)
    }

    /// Brings the target to the wanted state. Called only after `verify`
    /// said so, and never when predicting.
    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// For a root component: how many of its instances (one per host that
    /// has it) may deploy at once, whatever `-j` is; `None`: no limit.
    /// The environment's `[component:NAME] max_parallel` wins over it.
    ///
    /// ```
    /// use batou_core::prelude::*;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Backend {}
    ///
    /// impl Component for Backend {
    ///     // One backend behind the load balancer restarts at a time.
    ///     fn max_parallel(&self) -> Option<Limit> {
    ///         Some(Limit::Count(1))
    ///     }
    /// }
    /// ```
    fn max_parallel(&self) -> Option<crate::rollout::Limit> {
        None
    }

    /// How the component appears in breadcrumbs, e.g. `File('app.conf')`.
    /// Defaults to the type's name.
    fn label(&self) -> String {
        let full = std::any::type_name_of_val(self);
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }
}
