//! `batou run ENV verify`: every root of the host verified as `deploy -P`
//! does — nothing is updated, no work directory created, no handler run —
//! and what differs reported per root: a fleet-wide drift report.

use std::sync::Mutex;

use serde_json::{Value, json};

use super::{CommandFailed, CommandHost};
use crate::deploy::{RootContext, deploy_root};
use crate::event::{Event, EventSink};
use crate::handlers::RootInputs;

/// The `verify` command (takes no arguments).
pub(super) fn verify(host: &CommandHost<'_>, args: &[String]) -> Result<Value, CommandFailed> {
    if let Some(extra) = args.first() {
        return Err(CommandFailed::new(format!(
            "verify takes no arguments (got `{extra}`)"
        )));
    }
    let mut roots = Vec::new();
    let mut drift = false;
    let mut failed = false;
    for root in host.roots {
        let mut root = root.lock().unwrap_or_else(|p| p.into_inner());
        if root.host != host.name() || root.ignored || root.host_ignored {
            continue;
        }
        let sink = Collect::default();
        let inputs = RootInputs::default();
        let ctx = RootContext {
            host: host.host,
            env: host.env,
            mapper: host.mapper,
            sink: &sink,
            predict: true,
            inputs: &inputs,
            full_diff: false,
            undo: None,
        };
        let outcome = deploy_root(&mut root, &ctx);
        let Collect { components, diffs } = sink;
        let components = components.into_inner().unwrap_or_else(|p| p.into_inner());
        let diffs = diffs.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut entry = json!({
            "root": root.name,
            "drift": !components.is_empty(),
            "components": components,
            "diffs": diffs,
        });
        drift |= !components.is_empty();
        if let Err(e) = outcome {
            failed = true;
            entry["error"] = json!(format!("{}: {}", e.component, e.source));
        }
        roots.push(entry);
    }
    Ok(json!({
        "drift": drift,
        "verified": !failed,
        "roots": roots,
    }))
}

/// What a predicted root says: the components that would be updated and
/// their diffs (a hidden diff is named with its reason, not shown).
#[derive(Default)]
struct Collect {
    components: Mutex<Vec<String>>,
    diffs: Mutex<Vec<Value>>,
}

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        match event {
            Event::ComponentNeedsUpdate { component, .. } => {
                let mut seen = self.components.lock().unwrap_or_else(|p| p.into_inner());
                if !seen.contains(&component) {
                    seen.push(component);
                }
            }
            Event::Diff {
                component,
                label,
                lines,
                ..
            } => self
                .diffs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(json!({"component": component, "label": label, "lines": lines})),
            Event::DiffHidden {
                component,
                label,
                reason,
                ..
            } => self
                .diffs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(json!({"component": component, "label": label, "hidden": reason})),
            _ => {}
        }
    }
}
