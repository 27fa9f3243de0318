//! `batou rollback ENV`: the flags become an [`ops::RollbackPlan`],
//! [`ops::rollback`] puts the hosts back, and each host's result is
//! printed (or given as one JSON document).

use std::path::Path;

use batou_core::Registry;
use batou_core::deploy::rollback::{RollbackOutcome, RollbackReport};
use batou_core::lock::LockError;
use batou_core::ops::{self, HostResult, Rejected, RollbackFailure, RollbackPlan, RollbackSummary};
use batou_core::secrets::{Keys, Masker};

use crate::args::RollbackArgs;
use crate::exit::ExitStatus;
use crate::guard;

/// `batou rollback`.
pub fn run(registry: &Registry, project_dir: &Path, opts: &RollbackArgs) -> ExitStatus {
    let plan = RollbackPlan {
        project_dir: project_dir.to_path_buf(),
        environment: batou_core::environment::environment_name(&opts.environment),
        hosts: opts.select.hosts.clone(),
        skip_hosts: opts.select.skip_hosts.clone(),
        predict: opts.predict_only,
        force: opts.force,
        connect_timeout: opts.connect_timeout,
    };
    let mut loading = crate::exec::Loading {
        masker: Masker::default(),
    };
    match ops::rollback(registry, &plan, &mut Keys::new(), &mut loading) {
        Ok(summary) => {
            let status = status_of(&summary);
            if opts.json {
                render_json(&summary, status);
            } else {
                guard::out_raw(&render_text(&summary));
            }
            for h in &summary.hosts {
                match &h.result {
                    HostResult::Done(report) => {
                        if report.outcome == RollbackOutcome::Refused {
                            guard::err(&format!(
                                "ERROR: {}: files changed since the last deploy; nothing was rolled back (--force overrides):",
                                h.host
                            ));
                            for d in &report.drift {
                                guard::err(&format!("  {}: {}", d.path, d.how));
                            }
                        }
                        for root in &report.roots {
                            for e in &root.errors {
                                guard::err(&format!("ERROR: {}: {}: {e}", h.host, root.root));
                            }
                        }
                    }
                    HostResult::Unreachable { error }
                    | HostResult::Locked { error }
                    | HostResult::Failed { error } => {
                        guard::err(&format!("ERROR: {}: {error}", h.host));
                    }
                    HostResult::Interrupted => {}
                }
            }
            status
        }
        Err(RollbackFailure::Config(errors)) => crate::inspect::rejected(
            project_dir,
            false,
            Rejected {
                errors,
                masker: loading.masker,
            },
        ),
        Err(e @ RollbackFailure::Hosts(_)) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Usage
        }
        Err(RollbackFailure::Setup(e)) => crate::exec::setup_failed(&e),
        Err(RollbackFailure::ProjectLock(e @ LockError::Held(_))) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Locked
        }
        Err(RollbackFailure::ProjectLock(e)) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Config
        }
    }
}

/// 130 after Ctrl-C; 1 when a restore or a revert handler failed; 8 when
/// a host refused (drift); 5 when a host's deploy lock was held; 4 when a
/// host could not be reached; else 0 (also when there was nothing to
/// undo).
fn status_of(summary: &RollbackSummary) -> ExitStatus {
    let any = |pred: &dyn Fn(&HostResult) -> bool| summary.hosts.iter().any(|h| pred(&h.result));
    let outcome = |o: RollbackOutcome| move |r: &HostResult| matches!(r, HostResult::Done(rep) if rep.outcome == o);
    if any(&|r| matches!(r, HostResult::Interrupted)) {
        ExitStatus::Interrupted
    } else if any(&|r| matches!(r, HostResult::Failed { .. }))
        || any(&outcome(RollbackOutcome::Failed))
    {
        ExitStatus::DeployFailed
    } else if any(&outcome(RollbackOutcome::Refused)) {
        ExitStatus::Drift
    } else if any(&|r| matches!(r, HostResult::Locked { .. })) {
        ExitStatus::Locked
    } else if any(&|r| matches!(r, HostResult::Unreachable { .. })) {
        ExitStatus::Connection
    } else {
        ExitStatus::Success
    }
}

fn render_json(summary: &RollbackSummary, status: ExitStatus) {
    let mut value = serde_json::to_value(summary).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("exit_code".into(), status.code().into());
        map.insert("status".into(), status.name().into());
    }
    match guard::json_line(&value) {
        Some(line) => guard::out(&line),
        None => guard::err("ERROR: cannot render the rollback as JSON"),
    }
}

fn render_text(summary: &RollbackSummary) -> String {
    let mut out = String::new();
    for h in &summary.hosts {
        match &h.result {
            HostResult::Done(report) => host_text(&mut out, &h.host, report),
            HostResult::Unreachable { .. } => out.push_str(&format!("{}: unreachable\n", h.host)),
            HostResult::Locked { .. } => out.push_str(&format!("{}: locked\n", h.host)),
            HostResult::Failed { .. } => out.push_str(&format!("{}: failed\n", h.host)),
            HostResult::Interrupted => out.push_str(&format!("{}: interrupted\n", h.host)),
        }
    }
    for host in &summary.ignored {
        out.push_str(&format!("{host}: ignored\n"));
    }
    out
}

fn host_text(out: &mut String, host: &str, report: &RollbackReport) {
    let predicted = report.outcome == RollbackOutcome::Predicted;
    match report.outcome {
        RollbackOutcome::Nothing => {
            out.push_str(&format!(
                "{host}: nothing to undo (no deploy since the last rollback kept a record)\n"
            ));
            return;
        }
        RollbackOutcome::Refused => {
            out.push_str(&format!(
                "{host}: refused: {} files changed since the last deploy\n",
                report.drift.len()
            ));
            return;
        }
        _ => {}
    }
    if !report.drift.is_empty() {
        out.push_str(&format!(
            "{host}: --force: overwriting {} files changed since the deploy\n",
            report.drift.len()
        ));
        for d in &report.drift {
            out.push_str(&format!("  {}: {}\n", d.path, d.how));
        }
    }
    for root in &report.roots {
        let (doing, done) = if predicted {
            ("Would roll back", "would be restored")
        } else {
            ("Rolled back", "restored")
        };
        out.push_str(&format!(
            "↩️ {host}: {doing} component {} ({} paths {done})\n",
            root.root,
            root.restored.len(),
        ));
        for path in &root.restored {
            out.push_str(&format!("  {path}\n"));
        }
        for handler in &root.handlers {
            out.push_str(&format!(
                "  revert handler {}{handler}\n",
                if predicted { "would run: " } else { "ran: " }
            ));
        }
        for what in &root.not_reverted {
            out.push_str(&format!("  not reverted: {what}\n"));
        }
    }
    match report.outcome {
        RollbackOutcome::Predicted => out.push_str(&format!(
            "{host}: rollback predicted; nothing was changed\n"
        )),
        RollbackOutcome::RolledBack => out.push_str(&format!("{host}: rolled back\n")),
        RollbackOutcome::Failed => out.push_str(&format!("{host}: rolled back with errors\n")),
        _ => {}
    }
}
