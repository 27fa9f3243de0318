//! Revert handlers ([`crate::component::Configure::on_revert`]): run
//! after a root's files were put back, for what restoring files does not
//! finish by itself (a service still running with the new configuration).

use crate::component::EnvironmentInfo;
use crate::configure::Root;
use crate::event::EventSink;
use crate::handlers::Cause;
use crate::host::Host;
use crate::vfs::PathMapper;

use super::HandlerEnv;

/// What running a root's revert handlers did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RevertHandlers {
    /// `component: handler` of each handler run (or, predicting, due).
    pub ran: Vec<String>,
    /// Handlers that failed, each naming its component.
    pub errors: Vec<String>,
}

/// Runs (or, with `predict`, only announces) the revert handlers of
/// `root` whose component, or a component below it, is in `updated`
/// (breadcrumbs of the components updated in what was undone), in the
/// order they were declared, through `host` (which records nothing).
pub(crate) fn run_revert_handlers(
    root: &mut Root,
    host: &Host,
    (env, mapper): (&EnvironmentInfo, &PathMapper),
    sink: &dyn EventSink,
    updated: &[String],
    predict: bool,
) -> RevertHandlers {
    let mut out = RevertHandlers::default();
    if root.events.reverts.is_empty() || updated.is_empty() {
        return out;
    }
    let handler_env = HandlerEnv {
        host,
        info: &root.host_info,
        env,
        mapper,
        sink,
        predict,
        full_diff: false,
        root: &root.name,
    };
    for &h in &root.events.reverts {
        let Some(handler) = root.events.handlers.get_mut(h) else {
            continue;
        };
        let below = format!("{} > ", handler.breadcrumbs);
        let mut components: Vec<String> = updated
            .iter()
            .filter(|u| **u == handler.breadcrumbs || u.starts_with(&below))
            .cloned()
            .collect();
        components.dedup();
        if components.is_empty() {
            continue;
        }
        out.ran
            .push(format!("{}: {}", handler.breadcrumbs, handler.name));
        if let Err(e) = handler_env.call(handler, &Cause::Reverted { components }) {
            out.errors.push(format!(
                "revert handler `{}` of {} failed: {}",
                handler.name, e.component, e.source
            ));
        }
    }
    out
}
