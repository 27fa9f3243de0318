//! Reacting to changes.
//!
//! Three kinds of handlers, all declared in `configure` and run by the
//! deploy:
//!
//! - **before-update** ([`Configure::before_update`](crate::component::Configure::before_update)): batou's
//!   `@handle_event("before-update", scope)` (reference §3.12). Runs just
//!   before a component of the same root is updated: scope
//!   [`UpdateScope::All`] for every component of the root,
//!   [`UpdateScope::Precursor`] only for components that deploy *before*
//!   the handler's own (e.g. stop a service before its configuration
//!   changes: a cold deployment).
//! - **change notifications** ([`Configure::on_change`](crate::component::Configure::on_change)): runs once per
//!   deploy, after every component it [`Watch`]es finished, and only if one
//!   of them changed (reload nginx once when any of its 40 sites changed).
//! - **routed events** ([`Configure::publish`](crate::component::Configure::publish), [`Configure::subscribe`](crate::component::Configure::subscribe)):
//!   a component publishes a routing key when it changed; subscribers on
//!   any host get it after the publisher's root finished. Subscribers'
//!   roots deploy after the publishers' (the edges are part of the
//!   dependency graph); the controller routes between hosts.
//!
//! - **revert handlers** ([`Configure::on_revert`](crate::component::Configure::on_revert)):
//!   run when the root is undone (a failed root, `batou rollback`), after
//!   its files were put back, if the declaring component or one below it
//!   was updated in what was undone.
//!
//! When predicting, handlers are not run; a `handler_triggered` event with
//! `predicted: true` lists each one that would run.
//!
//! Dispatch is indexed: each change costs the handlers it triggers (plus a
//! binary search), never a walk of the root's tree as in batou
//! (reference §10.1). [`DispatchStats`] counts both, for tests.

mod declare;
mod dispatch;
mod routing;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::component::{Deploy, Sub};
use crate::error::Result;

pub(crate) use declare::Declared;
pub(crate) use dispatch::Dispatch;
pub(crate) use routing::{Ledger, edges};
pub use routing::{Publisher, RootInputs, Routed};

/// Which updates a before-update handler hears about (batou's scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateScope {
    /// Every component of the root (batou's `"*"`).
    All,
    /// Components that deploy before the handler's own component (batou's
    /// `"precursor"`).
    Precursor,
}

/// Why a handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// This component (breadcrumbs) is about to be updated.
    BeforeUpdate { component: String },
    /// These watched components (breadcrumbs) or roots (names) changed.
    Changed { components: Vec<String> },
    /// Roots published `key`.
    Routed { key: String, from: Vec<Publisher> },
    /// The root was undone; these components (breadcrumbs) of the
    /// handler's own were updated in what was undone.
    Reverted { components: Vec<String> },
}

impl Cause {
    /// `before_update`, `change` or `routed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::BeforeUpdate { .. } => "before_update",
            Cause::Changed { .. } => "change",
            Cause::Routed { .. } => "routed",
            Cause::Reverted { .. } => "revert",
        }
    }

    /// One line for output, e.g. `backend.changed from h1:backend`.
    pub fn describe(&self) -> String {
        match self {
            Cause::BeforeUpdate { component } => component.clone(),
            Cause::Changed { components } | Cause::Reverted { components } => components.join(", "),
            Cause::Routed { key, from } => format!(
                "{key} from {}",
                from.iter()
                    .map(|p| format!("{}:{}", p.host, p.root))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A handler's code: gets the deploy context of the component that
/// declared it, and why it runs.
pub type HandlerFn = Box<dyn FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send>;

/// What a change notification watches: sub-components by handle (any in
/// the root), other roots on the same host by name.
///
/// ```
/// use batou_core::handlers::Watch;
/// let w = Watch::new().root("sites");
/// assert_eq!(w.roots(), ["sites"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    subs: Vec<Sub>,
    roots: Vec<String>,
}

impl Watch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A component added with [`crate::Configure::add`].
    pub fn component(mut self, sub: Sub) -> Self {
        self.subs.push(sub);
        self
    }

    /// Several components.
    pub fn subs(mut self, subs: impl IntoIterator<Item = Sub>) -> Self {
        self.subs.extend(subs);
        self
    }

    /// The root component `name` on the same host; this component's root
    /// then deploys after it.
    pub fn root(mut self, name: impl Into<String>) -> Self {
        self.roots.push(name.into());
        self
    }

    pub fn roots(&self) -> &[String] {
        &self.roots
    }
}

/// How much work dispatching handlers took in one root: handlers run (or,
/// predicting, listed) and index entries looked at. Linear in the number of
/// changes, whatever the size of the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchStats {
    /// Handlers run (or listed when predicting).
    pub handler_calls: usize,
    /// Index entries the dispatcher looked at (handlers considered,
    /// watches updated, publications checked).
    pub visits: usize,
}

impl std::ops::AddAssign for DispatchStats {
    fn add_assign(&mut self, other: Self) {
        self.handler_calls += other.handler_calls;
        self.visits += other.visits;
    }
}

/// One declared handler.
pub(crate) struct Handler {
    pub name: String,
    /// The declaring component's breadcrumbs and workdir (the context the
    /// handler runs in).
    pub breadcrumbs: String,
    pub workdir: PathBuf,
    pub run: HandlerFn,
}

/// A change notification.
pub(crate) struct WatchEntry {
    pub handler: usize,
    /// Node ids of watched components.
    pub nodes: Vec<usize>,
    pub roots: Vec<String>,
}

/// Everything a root's tree declared, indexed for the deploy.
#[derive(Default)]
pub(crate) struct RootEvents {
    pub handlers: Vec<Handler>,
    /// `(position of the declaring component, handler)` of precursor
    /// handlers, sorted by position.
    pub precursor: Vec<(usize, usize)>,
    /// Handlers with scope `All`, in declaration order.
    pub all: Vec<usize>,
    pub watches: Vec<WatchEntry>,
    /// `(key, handler)`.
    pub subscriptions: Vec<(String, usize)>,
    /// `(node id, key)`.
    pub publications: Vec<(usize, String)>,
    /// Revert handlers, in declaration order.
    pub reverts: Vec<usize>,
    /// Deploy-order position of each node id.
    pub position: Vec<usize>,
}

impl RootEvents {
    /// Routing keys this root publishes, sorted.
    pub fn published_keys(&self) -> Vec<String> {
        sorted_unique(self.publications.iter().map(|(_, k)| k.clone()))
    }

    /// Routing keys this root subscribes to, sorted.
    pub fn subscribed_keys(&self) -> Vec<String> {
        sorted_unique(self.subscriptions.iter().map(|(k, _)| k.clone()))
    }

    /// Roots on the same host this root watches, sorted.
    pub fn watched_roots(&self) -> Vec<String> {
        sorted_unique(self.watches.iter().flat_map(|w| w.roots.iter().cloned()))
    }
}

fn sorted_unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}

impl crate::configure::Root {
    /// Routing keys this root publishes.
    pub fn publishes(&self) -> Vec<String> {
        self.events.published_keys()
    }

    /// Routing keys this root subscribes to.
    pub fn subscribes(&self) -> Vec<String> {
        self.events.subscribed_keys()
    }

    /// Roots on the same host whose changes this root watches.
    pub fn watches(&self) -> Vec<String> {
        self.events.watched_roots()
    }
}
