//! Deploying a configured model: roots in dependency order, each tree
//! depth-first (sub-components before their parent), verify then update.

use std::time::Instant;

use crate::component::{Deploy, EnvironmentInfo, HostInfo, Node, Verdict};
use crate::configure::{Model, Root};
use crate::error::DeployError;
use crate::event::{Event, EventSink, SkipReason, Timing};
use crate::host::Host;
use crate::vfs::PathMapper;

/// How to deploy.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployOptions {
    /// Verify only: show what would change, write nothing.
    pub predict: bool,
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeployReport {
    /// Components that were updated (or, predicting, would be).
    pub changed: usize,
    pub seconds: f64,
}

/// Deploys every root of `model` on this machine through `host`.
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
    crate::address::with_resolver(resolver, || {
        for id in order {
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
            };
            changed += deploy_root(root, &ctx)?;
        }
        Ok(())
    })?;
    Ok(DeployReport {
        changed,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What deploying one root needs besides the root itself.
pub(crate) struct RootContext<'a> {
    pub host: &'a Host,
    pub env: &'a EnvironmentInfo,
    pub mapper: &'a PathMapper,
    pub sink: &'a dyn EventSink,
    pub predict: bool,
}

/// Deploys one root (its workdir created first unless predicting); returns
/// how many components needed an update. The caller installs the resolver
/// scope.
pub(crate) fn deploy_root(root: &mut Root, ctx: &RootContext<'_>) -> Result<usize, DeployError> {
    let Some(tree) = root.tree.as_mut() else {
        return Ok(0);
    };
    if !ctx.predict {
        ctx.host
            .mkdir(&tree.workdir, true)
            .map_err(|e| DeployError {
                host: root.host.clone(),
                component: tree.breadcrumbs.clone(),
                source: e.into(),
            })?;
    }
    let run = Run {
        host: ctx.host,
        info: &root.host_info,
        env: ctx.env,
        mapper: ctx.mapper,
        sink: ctx.sink,
        predict: ctx.predict,
    };
    let result = run.node(tree);
    // What this root wrote is durable before it counts as deployed (a
    // no-op with a batched host; see `Host::local_batched`). Synced after
    // a failure too, so what was written stays written.
    let synced = ctx.host.sync().map_err(|e| DeployError {
        host: root.host.clone(),
        component: tree.breadcrumbs.clone(),
        source: e.into(),
    });
    let changed = result?;
    synced?;
    Ok(changed)
}

struct Run<'a> {
    host: &'a Host,
    info: &'a HostInfo,
    env: &'a EnvironmentInfo,
    mapper: &'a PathMapper,
    sink: &'a dyn EventSink,
    predict: bool,
}

impl Run<'_> {
    /// Deploys `node` and its sub-components; returns how many components
    /// needed an update.
    fn node(&self, node: &mut Node) -> Result<usize, DeployError> {
        let start = Instant::now();
        let mut updated = 0;
        // `changed` describes this run only; a model deployed again (or
        // predicted, then deployed) starts clean.
        node.changed = false;
        for child in node.children.iter_mut() {
            updated += self.node(child)?;
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
        } = node;
        let mut ctx = Deploy {
            host: self.host,
            info: self.info,
            env: self.env,
            predicting: self.predict,
            children,
            breadcrumbs,
            workdir,
            mapper: self.mapper,
            pending: Vec::new(),
        };
        let fail = |source| DeployError {
            host: self.info.name.clone(),
            component: breadcrumbs.clone(),
            source,
        };
        let verify_start = Instant::now();
        let verdict = component.verify(&mut ctx);
        let verify = verify_start.elapsed().as_secs_f64();
        let verdict = match verdict {
            Ok(v) => v,
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
            if !self.predict {
                let update_start = Instant::now();
                let result = component.update(&mut ctx);
                update = Some(update_start.elapsed().as_secs_f64());
                self.emit_pending(&mut ctx.pending);
                result.map_err(fail)?;
            }
        }
        self.sink.emit(Event::ComponentFinished {
            host: self.info.name.clone(),
            component: breadcrumbs.clone(),
            changed: needs_update,
            timing: Timing {
                total: start.elapsed().as_secs_f64(),
                verify: Some(verify),
                update,
                sub,
            },
        });
        Ok(updated)
    }

    /// The component's line, then what it held back.
    fn flush(&self, breadcrumbs: &str, pending: &mut Vec<Event>) {
        self.sink.emit(Event::ComponentNeedsUpdate {
            host: self.info.name.clone(),
            component: breadcrumbs.to_string(),
        });
        self.emit_pending(pending);
    }

    fn emit_pending(&self, pending: &mut Vec<Event>) {
        for e in pending.drain(..) {
            self.sink.emit(e);
        }
    }
}

#[cfg(test)]
mod tests;
