//! `batou rollback` on one undo store: the kept record of the last
//! deploy put back, root by root, newest first, each root's revert
//! handlers run after its files; refused when a path changed since the
//! deploy (unless forced). Used by the agent and by a local rollback.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::component::EnvironmentInfo;
use crate::configure::Root;
use crate::event::{Event, EventSink};
use crate::host::Host;
use crate::host::undo::{Drift, KeptRoot, load_kept};
use crate::vfs::PathMapper;

use super::revert::run_revert_handlers;

/// How a rollback ended on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackOutcome {
    /// No kept record: nothing to undo.
    Nothing,
    /// Paths changed since the deploy; nothing was touched.
    Refused,
    /// `-P`: what would be restored; nothing was touched.
    Predicted,
    /// Put back.
    RolledBack,
    /// Put back, but some paths or handlers failed.
    Failed,
}

/// One root of a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRollback {
    pub host: String,
    pub root: String,
    /// Paths put back (predicting: that would be).
    pub restored: Vec<String>,
    /// What the deploy did that cannot be undone (commands).
    pub not_reverted: Vec<String>,
    /// `component: handler` of the revert handlers run (or due).
    pub handlers: Vec<String>,
    pub errors: Vec<String>,
}

/// What a rollback did (or would do) with one undo store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReport {
    pub outcome: RollbackOutcome,
    /// Paths changed since the deploy (refused, or overridden by
    /// `--force`).
    #[serde(default)]
    pub drift: Vec<Drift>,
    /// Newest first, the order they were put back.
    #[serde(default)]
    pub roots: Vec<RootRollback>,
}

impl RollbackReport {
    fn new(outcome: RollbackOutcome) -> Self {
        RollbackReport {
            outcome,
            drift: Vec::new(),
            roots: Vec::new(),
        }
    }
}

/// Whether to change anything, and whether drift stops it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RollbackOptions {
    pub predict: bool,
    pub force: bool,
}

/// What the revert handlers need: the configured roots (to find each
/// kept root's handlers), the environment and the path mapper.
pub struct RollbackModel<'a> {
    pub roots: &'a [Arc<Mutex<Root>>],
    pub env: &'a EnvironmentInfo,
    pub mapper: &'a PathMapper,
}

/// Events of revert handlers (their log lines) are not part of the
/// report; the list of handlers is.
struct Quiet;

impl EventSink for Quiet {
    fn emit(&self, _event: Event) {}
}

/// Rolls back the kept record in `store` through `host` (which records
/// nothing): see the module.
pub fn rollback_store(
    store: &Path,
    host: &Host,
    model: &RollbackModel<'_>,
    options: RollbackOptions,
) -> std::io::Result<RollbackReport> {
    let Some(kept) = load_kept(store)? else {
        return Ok(RollbackReport::new(RollbackOutcome::Nothing));
    };
    let drift = kept.drift(host);
    if !drift.is_empty() && !options.force {
        let mut report = RollbackReport::new(RollbackOutcome::Refused);
        report.drift = drift;
        return Ok(report);
    }
    let mut report = RollbackReport::new(if options.predict {
        RollbackOutcome::Predicted
    } else {
        RollbackOutcome::RolledBack
    });
    report.drift = drift;
    for root in kept.roots.iter().rev() {
        report
            .roots
            .push(one_root(root, host, model, options.predict)?);
    }
    if options.predict {
        return Ok(report);
    }
    let _ = host.sync();
    if report.roots.iter().any(|r| !r.errors.is_empty()) {
        report.outcome = RollbackOutcome::Failed;
    }
    // Consumed whatever happened: its saved files were moved back.
    kept.consume()?;
    Ok(report)
}

fn one_root(
    kept: &KeptRoot,
    host: &Host,
    model: &RollbackModel<'_>,
    predict: bool,
) -> std::io::Result<RootRollback> {
    let (restored, not_reverted, updated, mut errors) = if predict {
        let (not_reverted, updated) = kept.described()?;
        (kept.paths(), not_reverted, updated, Vec::new())
    } else {
        let r = kept.restore(host)?;
        (r.restored, r.not_reverted, r.updated, r.errors)
    };
    let mut handlers = Vec::new();
    let configured = model.roots.iter().find(|r| {
        let r = r.lock().unwrap_or_else(|p| p.into_inner());
        r.host == kept.key.host && r.name == kept.key.root
    });
    match configured {
        Some(root) => {
            let mut root = root.lock().unwrap_or_else(|p| p.into_inner());
            let ran = run_revert_handlers(
                &mut root,
                host,
                (model.env, model.mapper),
                &Quiet,
                &updated,
                predict,
            );
            handlers = ran.ran;
            errors.extend(ran.errors);
        }
        None if !updated.is_empty() => errors.push(format!(
            "{} is no longer in the environment: its revert handlers cannot run",
            kept.key.root
        )),
        None => {}
    }
    Ok(RootRollback {
        host: kept.key.host.clone(),
        root: kept.key.root.clone(),
        restored,
        not_reverted,
        handlers,
        errors,
    })
}
