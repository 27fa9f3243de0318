//! Deploying a configured model: roots in dependency order, each tree
//! depth-first (sub-components before their parent), verify then update.

use std::cell::RefCell;
use std::time::Instant;

use crate::component::{Deploy, EnvironmentInfo, HostInfo, Node, Verdict};
use crate::configure::{Model, Root};
use crate::error::{DeployError, Error};
use crate::event::{Event, EventSink, SkipReason, Timing};
use crate::handlers::{Cause, Dispatch, DispatchStats, Handler, Ledger, RootInputs};
use crate::host::Host;
use crate::host::undo::UndoLog;
use crate::vfs::PathMapper;

/// How to deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Verify only: show what would change, write nothing.
    pub predict: bool,
    /// The roots whose long diffs are shown whole.
    pub full_diff: crate::diff::FullDiff,
    /// Where roots keep their undo records; `None`: a failed root is not
    /// reverted (see [`crate::host::undo`]).
    pub undo: Option<std::path::PathBuf>,
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeployReport {
    /// Components that were updated (or, predicting, would be).
    pub changed: usize,
    pub seconds: f64,
    /// What dispatching event handlers cost, over all roots.
    pub dispatch: DispatchStats,
}

/// Deploys every root of `model` on this machine through `host`.
///
/// Once an interrupt is requested ([`crate::interrupt`]), no new root
/// starts: the running one finishes (as an agent finishes its running
/// roots), and the deploy fails with [`Error::Interrupted`] naming the
/// roots not deployed.
pub fn deploy_local(
    model: &mut Model,
    host: &Host,
    sink: &dyn EventSink,
    options: DeployOptions,
) -> Result<DeployReport, DeployError> {
    let start = Instant::now();
    let resolver = model.resolver();
    let order = model.order.clone();
    let env_info = model.env_info.clone();
    let mapper = model.mapper.clone();
    let mut changed = 0;
    let mut dispatch = DispatchStats::default();
    let mut ledger = Ledger::new(model.roots.len());
    crate::address::with_resolver(resolver, || {
        for (at, &id) in order.iter().enumerate() {
            let inputs = ledger.inputs(&model.roots, id);
            let root = &mut model.roots[id];
            if root.host_ignored {
                sink.emit(Event::RootSkipped {
                    host: root.host.clone(),
                    root: root.name.clone(),
                    reason: SkipReason::HostIgnored,
                });
                continue;
            }
            if root.ignored {
                sink.emit(Event::RootSkipped {
                    host: root.host.clone(),
                    root: root.name.clone(),
                    reason: SkipReason::ComponentIgnored,
                });
                continue;
            }
            if !root.selected {
                sink.emit(Event::RootSkipped {
                    host: root.host.clone(),
                    root: root.name.clone(),
                    reason: SkipReason::NotSelected,
                });
                continue;
            }
            sink.emit(Event::RootScheduled {
                host: root.host.clone(),
                root: root.name.clone(),
            });
            let ctx = RootContext {
                host,
                env: &env_info,
                mapper: &mapper,
                sink,
                predict: options.predict,
                full_diff: options.full_diff.covers(&root.name),
                inputs: &inputs,
                undo: options.undo.as_deref(),
            };
            let outcome = match interrupted(root) {
                Some(e) => Err(e),
                None => deploy_root(root, &ctx),
            }
            .map_err(|mut e| {
                if let Error::Interrupted { not_deployed } = &mut e.source {
                    *not_deployed = undeployed(&model.roots, &order[at..]);
                }
                e
            })?;
            ledger.record(id, outcome.changed > 0, &outcome.published);
            changed += outcome.changed;
            dispatch += outcome.dispatch;
        }
        changed += remove_stale_externals(model, host, sink, options.predict)?;
        Ok(())
    })?;
    Ok(DeployReport {
        changed,
        seconds: start.elapsed().as_secs_f64(),
        dispatch,
    })
}

/// The error that stops a deploy after an interrupt, at `root`'s start;
/// `None` while none was requested.
fn interrupted(root: &Root) -> Option<DeployError> {
    crate::interrupt::requested().then(|| DeployError {
        host: root.host.clone(),
        component: root.name.clone(),
        source: Error::Interrupted {
            not_deployed: Vec::new(),
        },
    })
}

/// `host: root` of the roots in `rest` that were to be deployed.
fn undeployed(roots: &[Root], rest: &[usize]) -> Vec<String> {
    rest.iter()
        .map(|&id| &roots[id])
        .filter(|r| r.selected && !r.ignored && !r.host_ignored)
        .map(|r| format!("{}: {}", r.host, r.name))
        .collect()
}

/// After every root: on each deployed host, `remove` the externals that
/// left the environment. A host is skipped when the run left out all its
/// roots (`--hosts`, `--components`).
fn remove_stale_externals(
    model: &Model,
    host: &Host,
    sink: &dyn EventSink,
    predict: bool,
) -> Result<usize, DeployError> {
    let mut removed = 0;
    // Each host's roots, found in one pass (not one pass per host).
    let mut by_host: std::collections::HashMap<&str, Vec<&Root>> = Default::default();
    for r in &model.roots {
        by_host.entry(r.host.as_str()).or_default().push(r);
    }
    for h in model.env.hosts.values() {
        if h.ignore {
            continue;
        }
        let roots = by_host.remove(h.name.as_str()).unwrap_or_default();
        if !roots.is_empty() && !roots.iter().any(|r| r.selected) {
            continue;
        }
        let current = crate::stdlib::external::current_externals(roots);
        removed += crate::stdlib::external::remove_stale(
            host,
            &model.env_info,
            &h.name,
            &current,
            predict,
            sink,
        )?;
    }
    Ok(removed)
}

/// What deploying one root needs besides the root itself.
pub(crate) struct RootContext<'a> {
    pub host: &'a Host,
    pub env: &'a EnvironmentInfo,
    pub mapper: &'a PathMapper,
    pub sink: &'a dyn EventSink,
    pub predict: bool,
    /// Show this root's long diffs whole (`--full-diff`).
    pub full_diff: bool,
    /// Routed events and watched roots' changes for this root.
    pub inputs: &'a RootInputs,
    /// The undo store: a root that fails is reverted (`None`: not).
    pub undo: Option<&'a std::path::Path>,
}

/// What deploying one root did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RootOutcome {
    /// Components that needed an update.
    pub changed: usize,
    /// Routing keys the root published.
    pub published: Vec<String>,
    pub dispatch: DispatchStats,
}

/// Deploys one root (its workdir created first unless predicting), then
/// runs the handlers its changes and `ctx.inputs` trigger. The caller
/// installs the resolver scope.
pub(crate) fn deploy_root(
    root: &mut Root,
    ctx: &RootContext<'_>,
) -> Result<RootOutcome, DeployError> {
    let Some(tree) = root.tree.as_mut() else {
        return Ok(RootOutcome::default());
    };
    // Each root records how to undo its changes in a log of its own
    // (roots of one agent deploy on threads at once).
    let log = match ctx.undo.filter(|_| !ctx.predict) {
        Some(store) => Some(std::sync::Arc::new(
            UndoLog::begin(store, next_log(), &root.name).map_err(|e| DeployError {
                host: root.host.clone(),
                component: tree.breadcrumbs.clone(),
                source: crate::host::HostError {
                    op: "create the undo record in",
                    path: store.to_path_buf(),
                    source: e,
                }
                .into(),
            })?,
        )),
        None => None,
    };
    let host = match &log {
        Some(log) => ctx.host.with_undo(log.clone()),
        None => ctx.host.clone(),
    };
    let result = deploy_tree(root, ctx, &host);
    let Some(log) = log else {
        return result;
    };
    match result {
        Ok(outcome) => {
            // Kept for `batou rollback` (see `undo::finish_deploy`); a
            // failure to keep it costs that, nothing else.
            let key = crate::host::undo::RootKey {
                host: root.host.clone(),
                root: root.name.clone(),
            };
            let plain = ctx.host.without_undo();
            if let Err(e) = log.commit(Some((&key, &plain))) {
                ctx.sink.emit(Event::Warning {
                    host: Some(root.host.clone()),
                    component: Some(root.name.clone()),
                    message: format!(
                        "the undo record of {} could not be kept ({e}); batou rollback cannot undo this deploy",
                        root.name
                    ),
                });
            }
            Ok(outcome)
        }
        Err(e) => {
            let plain = ctx.host.without_undo();
            let mut reverted = log.revert(&plain);
            let handlers = revert::run_revert_handlers(
                root,
                &plain,
                (ctx.env, ctx.mapper),
                ctx.sink,
                &reverted.updated,
                false,
            );
            reverted.errors.extend(handlers.errors);
            let _ = plain.sync();
            ctx.sink.emit(Event::RootReverted {
                host: root.host.clone(),
                root: root.name.clone(),
                restored: reverted.restored,
                not_reverted: reverted.not_reverted,
                failed: reverted.errors,
                recovered: false,
            });
            Err(e)
        }
    }
}

/// A number for each undo log this process starts.
fn next_log() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// [`deploy_root`] through `host`.
fn deploy_tree(
    root: &mut Root,
    ctx: &RootContext<'_>,
    host: &Host,
) -> Result<RootOutcome, DeployError> {
    let Some(tree) = root.tree.as_mut() else {
        return Ok(RootOutcome::default());
    };
    if !ctx.predict {
        host.mkdir(&tree.workdir, true).map_err(|e| DeployError {
            host: root.host.clone(),
            component: tree.breadcrumbs.clone(),
            source: e.into(),
        })?;
    }
    let run = Run {
        env: HandlerEnv {
            host,
            info: &root.host_info,
            env: ctx.env,
            mapper: ctx.mapper,
            sink: ctx.sink,
            predict: ctx.predict,
            full_diff: ctx.full_diff,
            root: &root.name,
        },
        dispatch: RefCell::new(Dispatch::new(&mut root.events, ctx.inputs)),
        // Only a root that can be put back stops halfway; without revert
        // it finishes, as it always did.
        stop_on_interrupt: ctx.undo.is_some() && !ctx.predict,
    };
    let finished = run.node(tree, false).and_then(|changed| {
        let Run { env, dispatch, .. } = run;
        let (published, dispatch) = dispatch
            .into_inner()
            .root_finished(ctx.inputs, &mut |h, c| env.call(h, c))?;
        Ok((changed, published, dispatch))
    });
    // What this root (and its handlers) wrote is durable before it counts
    // as deployed (a no-op with a batched host; see `Host::local_batched`).
    // Synced after a failure too, so what was written stays written.
    let synced = host.sync().map_err(|e| DeployError {
        host: root.host.clone(),
        component: tree.breadcrumbs.clone(),
        source: e.into(),
    });
    let (changed, published, dispatch) = finished?;
    synced?;
    for key in &published {
        ctx.sink.emit(Event::EventPublished {
            host: root.host.clone(),
            root: root.name.clone(),
            key: key.clone(),
        });
    }
    Ok(RootOutcome {
        changed,
        published,
        dispatch,
    })
}

/// What running a component or a handler needs.
struct HandlerEnv<'a> {
    host: &'a Host,
    info: &'a HostInfo,
    env: &'a EnvironmentInfo,
    mapper: &'a PathMapper,
    sink: &'a dyn EventSink,
    predict: bool,
    full_diff: bool,
    /// The root's registered name (for the note under a cut diff).
    root: &'a str,
}

impl HandlerEnv<'_> {
    /// Announces a handler and, unless predicting, runs it in the context
    /// of the component that declared it.
    fn call(&self, handler: &mut Handler, cause: &Cause) -> Result<(), DeployError> {
        self.sink.emit(Event::HandlerTriggered {
            host: self.info.name.clone(),
            component: handler.breadcrumbs.clone(),
            handler: handler.name.clone(),
            trigger: cause.kind().to_string(),
            cause: cause.describe(),
            predicted: self.predict,
        });
        if self.predict {
            return Ok(());
        }
        self.host.set_updating(true);
        let mut ctx = Deploy {
            host: self.host,
            info: self.info,
            env: self.env,
            predicting: false,
            children: &[],
            earlier_changed: false,
            breadcrumbs: &handler.breadcrumbs,
            workdir: &handler.workdir,
            mapper: self.mapper,
            full_diff: self.full_diff,
            root: self.root,
            pending: Vec::new(),
        };
        let result = (handler.run)(&mut ctx, cause);
        self.host.set_updating(false);
        for e in ctx.pending.drain(..) {
            self.sink.emit(e);
        }
        result.map_err(|source| DeployError {
            host: self.info.name.clone(),
            component: handler.breadcrumbs.clone(),
            source,
        })
    }
}

struct Run<'a> {
    env: HandlerEnv<'a>,
    dispatch: RefCell<Dispatch<'a>>,
    /// Ctrl-C stops the root before its next component (which fails it,
    /// so it is reverted like any failed root).
    stop_on_interrupt: bool,
}

impl Run<'_> {
    /// At a component boundary (before a component, and before a parent
    /// whose sub-components are done): after Ctrl-C, fails the root so
    /// that it is reverted. Nothing is half-written here. A command that
    /// runs when Ctrl-C comes is let finish, not signalled: what it did
    /// cannot be undone anyway, and cut off it would leave its own work
    /// half-done; a second Ctrl-C kills it.
    fn stop_if_interrupted(&self, node: &Node) -> Result<(), DeployError> {
        if self.stop_on_interrupt && crate::interrupt::requested() {
            return Err(DeployError {
                host: self.env.info.name.clone(),
                component: node.breadcrumbs.clone(),
                source: Error::Interrupted {
                    // This root (a local deploy names the rest too).
                    not_deployed: vec![format!("{}: {}", self.env.info.name, self.env.root)],
                },
            });
        }
        Ok(())
    }

    /// Deploys `node` and its sub-components; returns how many components
    /// needed an update. `earlier_changed`: whether a sub-component of the
    /// same parent deployed before it changed.
    fn node(&self, node: &mut Node, earlier_changed: bool) -> Result<usize, DeployError> {
        self.stop_if_interrupted(node)?;
        let start = Instant::now();
        let mut updated = 0;
        // `changed` describes this run only; a model deployed again (or
        // predicted, then deployed) starts clean.
        node.changed = false;
        let mut earlier = false;
        for child in node.children.iter_mut() {
            updated += self.node(child, earlier)?;
            earlier |= child.changed;
        }
        if !node.children.is_empty() {
            self.stop_if_interrupted(node)?;
        }
        let sub = (!node.children.is_empty()).then(|| start.elapsed().as_secs_f64());
        if node.children.iter().any(|c| c.changed) {
            node.changed = true;
        }
        let Node {
            component,
            children,
            breadcrumbs,
            workdir,
            changed,
            id,
        } = node;
        let mut ctx = Deploy {
            host: self.env.host,
            info: self.env.info,
            env: self.env.env,
            predicting: self.env.predict,
            children,
            earlier_changed,
            breadcrumbs,
            workdir,
            mapper: self.env.mapper,
            full_diff: self.env.full_diff,
            root: self.env.root,
            pending: Vec::new(),
        };
        let fail = |source| DeployError {
            host: self.env.info.name.clone(),
            component: breadcrumbs.clone(),
            source,
        };
        let verify_start = Instant::now();
        let verdict = component.verify(&mut ctx);
        let verify = verify_start.elapsed().as_secs_f64();
        let verdict = match verdict {
            Ok(v) => v,
            // batou creates workdirs even when predicting, so such a verify
            // runs (and finds nothing deployed); we write nothing, so its
            // command cannot start: it would be deployed, which is the
            // prediction.
            Err(Error::Command(e)) if self.env.predict && e.no_working_directory().is_some() => {
                if let Some(dir) = e.no_working_directory() {
                    ctx.log(format!(
                        "{} does not exist yet: predicted as needing an update",
                        dir.display()
                    ));
                }
                Verdict::NeedsUpdate
            }
            Err(e) => {
                self.flush(breadcrumbs, &mut ctx.pending);
                return Err(fail(e));
            }
        };
        let needs_update = verdict == Verdict::NeedsUpdate;
        if needs_update || !ctx.pending.is_empty() {
            self.flush(breadcrumbs, &mut ctx.pending);
        }
        let mut update = None;
        if needs_update {
            updated += 1;
            *changed = true;
            self.dispatch
                .borrow_mut()
                .before_update(*id, breadcrumbs, &mut |h, c| self.env.call(h, c))?;
            if !self.env.predict {
                let update_start = Instant::now();
                self.env.host.note_update(breadcrumbs);
                self.env.host.set_updating(true);
                let result = component.update(&mut ctx);
                self.env.host.set_updating(false);
                update = Some(update_start.elapsed().as_secs_f64());
                self.emit_pending(&mut ctx.pending);
                result.map_err(fail)?;
            }
        }
        self.env.sink.emit(Event::ComponentFinished {
            host: self.env.info.name.clone(),
            component: breadcrumbs.clone(),
            changed: needs_update,
            timing: Timing {
                total: start.elapsed().as_secs_f64(),
                verify: Some(verify),
                update,
                sub,
            },
        });
        self.dispatch
            .borrow_mut()
            .finished(*id, *changed, breadcrumbs, &mut |h, c| self.env.call(h, c))?;
        Ok(updated)
    }

    /// The component's line, then what it held back.
    fn flush(&self, breadcrumbs: &str, pending: &mut Vec<Event>) {
        self.env.sink.emit(Event::ComponentNeedsUpdate {
            host: self.env.info.name.clone(),
            component: breadcrumbs.to_string(),
        });
        self.emit_pending(pending);
    }

    fn emit_pending(&self, pending: &mut Vec<Event>) {
        for e in pending.drain(..) {
            self.env.sink.emit(e);
        }
    }
}

pub(crate) mod revert;
pub mod rollback;
#[cfg(test)]
mod tests;
