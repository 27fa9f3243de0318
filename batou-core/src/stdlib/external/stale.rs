//! Externals that left the environment: the record names them, the model
//! does not. The host's agent (or the local deploy) knows the host's whole
//! model, so it finds them after the last root and calls `remove`.

use std::any::Any;
use std::time::{Duration, Instant};

use super::{Called, External, call, limit, record};
use crate::component::{EnvironmentInfo, Node};
use crate::configure::Root;
use crate::error::DeployError;
use crate::event::{Event, EventSink, Timing};
use crate::host::Host;

/// `(external, name)` of every `External` in `roots` (whether selected or
/// ignored in this run: they are still in the environment).
pub(crate) fn current_externals<'r>(
    roots: impl IntoIterator<Item = &'r Root>,
) -> Vec<(String, String)> {
    fn walk(node: &Node, out: &mut Vec<(String, String)>) {
        let any: &dyn Any = node.component.as_ref();
        if let Some(e) = any.downcast_ref::<External>() {
            let (a, b) = e.key();
            out.push((a.to_string(), b.to_string()));
        }
        for child in &node.children {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    for root in roots {
        if let Some(tree) = &root.tree {
            walk(tree, &mut out);
        }
    }
    out
}

/// Calls `remove` for every recorded external of `host` that is not in
/// `current` and drops it from the record (predicting: only says so).
/// Returns how many there were.
pub(crate) fn remove_stale(
    target: &Host,
    env: &EnvironmentInfo,
    host: &str,
    current: &[(String, String)],
    predict: bool,
    sink: &dyn EventSink,
) -> Result<usize, DeployError> {
    let fail = |component: String| {
        move |source: crate::error::Error| DeployError {
            host: host.to_string(),
            component,
            source,
        }
    };
    let installed = record::load(target, env, host).map_err(fail("externals record".into()))?;
    let mut removed = 0;
    for entry in installed {
        if current.iter().any(|(e, n)| entry.is(e, n)) {
            continue;
        }
        let start = Instant::now();
        let component = format!(
            "External('{}', '{}') (left the environment)",
            entry.external, entry.name
        );
        sink.emit(Event::ComponentNeedsUpdate {
            host: host.to_string(),
            component: component.clone(),
        });
        sink.emit(Event::Log {
            host: host.to_string(),
            component: Some(component.clone()),
            message: format!("{} {}: remove", entry.external, entry.name),
        });
        removed += 1;
        let mut update = None;
        if !predict {
            let timeout = limit(entry.timeout.map(Duration::from_secs), env.command_timeout);
            let outcome = call(
                target,
                &env.externals_dir,
                (&entry.external, &entry.name),
                "remove",
                &entry.data_bytes(),
                timeout,
                entry.ignore_failure,
            )
            .map_err(fail(component.clone()))?;
            if let Called::Ignored(message) = outcome {
                sink.emit(Event::Warning {
                    host: Some(host.to_string()),
                    component: Some(component.clone()),
                    message,
                });
            }
            record::update(target, env, host, |all| {
                all.retain(|i| !i.is(&entry.external, &entry.name))
            })
            .map_err(fail(component.clone()))?;
            update = Some(start.elapsed().as_secs_f64());
        }
        sink.emit(Event::ComponentFinished {
            host: host.to_string(),
            component,
            changed: true,
            timing: Timing {
                total: start.elapsed().as_secs_f64(),
                verify: None,
                update,
                sub: None,
            },
        });
    }
    Ok(removed)
}
