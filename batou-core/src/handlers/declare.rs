//! Declaring handlers, publications and subscriptions in `configure`.

use super::{Cause, Handler, RootEvents, UpdateScope, Watch, WatchEntry};
use crate::component::{Configure, Deploy};
use crate::error::{Error, Result};

/// What one root's configure pass declared so far.
#[derive(Default)]
pub(crate) struct Declared {
    events: RootEvents,
    scopes: Vec<(usize, usize, UpdateScope)>,
    next_id: usize,
    next_position: usize,
}

impl Declared {
    /// A new component's id (ids follow the order components are added).
    pub fn new_node(&mut self) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.events.position.push(usize::MAX);
        id
    }

    /// Component `id` and its sub-components are configured: its place in
    /// the deploy order (post-order: sub-components first) is next.
    pub fn node_done(&mut self, id: usize) {
        self.events.position[id] = self.next_position;
        self.next_position += 1;
    }

    fn handler(&mut self, owner: &HandlerOwner, name: &str, run: super::HandlerFn) -> usize {
        self.events.handlers.push(Handler {
            name: name.to_string(),
            breadcrumbs: owner.breadcrumbs.clone(),
            workdir: owner.workdir.clone(),
            run,
        });
        self.events.handlers.len() - 1
    }

    /// The index the deploy uses.
    pub fn finish(mut self) -> RootEvents {
        let mut precursor = Vec::new();
        for (node, handler, scope) in self.scopes {
            match scope {
                UpdateScope::All => self.events.all.push(handler),
                UpdateScope::Precursor => precursor.push((self.events.position[node], handler)),
            }
        }
        precursor.sort_unstable();
        self.events.precursor = precursor;
        self.events
    }
}

struct HandlerOwner {
    node: usize,
    breadcrumbs: String,
    workdir: std::path::PathBuf,
}

/// Event declarations (see [`crate::handlers`]).
impl Configure<'_> {
    fn owner(&self) -> HandlerOwner {
        HandlerOwner {
            node: self.node,
            breadcrumbs: self.breadcrumbs.clone(),
            workdir: self.workdir.clone(),
        }
    }

    /// Runs `handler` just before a component of this root is updated
    /// (batou's `@handle_event("before-update", scope)`); `name` shows in
    /// output.
    ///
    /// ```
    /// use batou_core::prelude::*;
    /// use batou_core::handlers::UpdateScope;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Program;
    ///
    /// impl Component for Program {
    ///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
    ///         ctx.add(File::new("app.conf").content("x = 1\n"))?;
    ///         // Cold deployment: stop before the configuration changes.
    ///         ctx.before_update("stop", UpdateScope::Precursor, |d, _cause| {
    ///             d.cmd("true")?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn before_update<F>(&mut self, name: &str, scope: UpdateScope, handler: F)
    where
        F: FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static,
    {
        let owner = self.owner();
        let mut declared = self.scope.events.borrow_mut();
        let h = declared.handler(&owner, name, Box::new(handler));
        declared.scopes.push((owner.node, h, scope));
    }

    /// Runs `handler` once per deploy, after every component in `watch`
    /// finished, if any of them changed (or, predicting, would).
    ///
    /// ```
    /// use batou_core::prelude::*;
    /// use batou_core::handlers::Watch;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Sites;
    ///
    /// impl Component for Sites {
    ///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
    ///         let mut sites = Vec::new();
    ///         for name in ["a", "b"] {
    ///             sites.push(ctx.add(File::new(format!("{name}.conf")).content("site\n"))?);
    ///         }
    ///         ctx.on_change("reload", Watch::new().subs(sites), |d, _cause| {
    ///             d.cmd("true")?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn on_change<F>(&mut self, name: &str, watch: Watch, handler: F)
    where
        F: FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static,
    {
        let owner = self.owner();
        let mut declared = self.scope.events.borrow_mut();
        let h = declared.handler(&owner, name, Box::new(handler));
        declared.events.watches.push(WatchEntry {
            handler: h,
            nodes: watch.subs.iter().map(|s| s.node).collect(),
            roots: watch.roots,
        });
    }

    /// Runs `handler` when this root is undone — after its files were
    /// put back, because it failed ([docs/transactions.md]) or by `batou
    /// rollback` — if this component or one of its sub-components was
    /// updated in the deploy undone. For what restoring files does not
    /// finish by itself: restart a service with its old configuration,
    /// install the old crontab.
    ///
    /// ```
    /// use batou_core::prelude::*;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct App;
    ///
    /// impl Component for App {
    ///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
    ///         ctx.add(File::new("app.conf").content("x = 1\n"))?;
    ///         ctx.on_revert("restart", |d, _cause| {
    ///             d.cmd("true")?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn on_revert<F>(&mut self, name: &str, handler: F)
    where
        F: FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static,
    {
        let owner = self.owner();
        let mut declared = self.scope.events.borrow_mut();
        let h = declared.handler(&owner, name, Box::new(handler));
        declared.events.reverts.push(h);
    }

    /// Publishes `key` to every subscriber, on any host, whenever this
    /// component changed (or, predicting, would) in a deploy.
    pub fn publish(&mut self, key: &str) -> Result<()> {
        check_key(key)?;
        let node = self.node;
        self.scope
            .events
            .borrow_mut()
            .events
            .publications
            .push((node, key.to_string()));
        Ok(())
    }

    /// Runs `handler` once per deploy when a component (on any host)
    /// published `key`, after the publishers' roots finished; this root
    /// deploys after theirs.
    pub fn subscribe<F>(&mut self, key: &str, name: &str, handler: F) -> Result<()>
    where
        F: FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static,
    {
        check_key(key)?;
        let owner = self.owner();
        let mut declared = self.scope.events.borrow_mut();
        let h = declared.handler(&owner, name, Box::new(handler));
        declared.events.subscriptions.push((key.to_string(), h));
        Ok(())
    }
}

/// A routing key: non-empty, no whitespace.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(Error::msg(format!(
            "invalid routing key {key:?}: must be non-empty without whitespace"
        )));
    }
    Ok(())
}
