//! Rendering a remote deploy's outcome: the per-host summary, and why it
//! failed.

use batou_core::remote::orchestrate::{HostFailure, RemoteFailure, RemoteReport, RootFailure};

use crate::exit::ExitStatus;
use crate::json::ErrorEvent;
use crate::output::format_duration;
use crate::run::Run;

/// The summary of a remote deploy that worked: per host, then per root.
pub(crate) fn summary(run: &mut Run<'_>, report: &RemoteReport) -> ExitStatus {
    run.deploy_seconds = Some(report.deploy_seconds);
    run.out.section("Summary", None);
    for h in &report.hosts {
        run.out.line(&format!(
            "{}: connect={}, deploy={}, changed={}{}{} (as {})",
            h.host,
            format_duration(Some(h.connect_seconds)),
            format_duration(Some(h.deploy_seconds)),
            h.changed,
            assets_sent(h),
            if h.uploaded { ", agent uploaded" } else { "" },
            h.user
        ));
        for r in report.roots.iter().filter(|r| r.host == h.host) {
            run.out.line(&format!(
                "    {} {} changed={}",
                r.root,
                format_duration(Some(r.seconds)),
                r.changed
            ));
        }
    }
    run.finish(
        report.changed,
        report.connect_seconds,
        report.deploy_seconds,
    )
}

/// `, 2 assets sent (1234 bytes)` when the host lacked some templates or
/// files; nothing when its cache had them all.
fn assets_sent(h: &batou_core::remote::orchestrate::HostReport) -> String {
    match h.assets_sent {
        0 => String::new(),
        1 => format!(", 1 asset sent ({} bytes)", h.asset_bytes),
        n => format!(", {n} assets sent ({} bytes)", h.asset_bytes),
    }
}

/// Every error of a failed remote deploy, and its exit status; `step` is where the run stopped.
pub(crate) fn failed(run: &mut Run<'_>, failure: RemoteFailure, step: &str) -> ExitStatus {
    match failure {
        RemoteFailure::Config(errors) => run.config_errors(errors, step),
        RemoteFailure::Connect(failures) => {
            for f in &failures {
                run.error(
                    &host_message(&f.host, &f.message),
                    host_error(&f.host, &f.message),
                );
            }
            run.fail(step, ExitStatus::Connection)
        }
        RemoteFailure::Locked(held) => {
            let hint = "wait for it, or if it hangs, run again with --break-lock";
            for (host, holder) in &held {
                let message = format!("another deploy is running: {holder}");
                run.error(
                    &format!("ERROR: {host}: {message}"),
                    ErrorEvent {
                        hint: Some(hint.into()),
                        ..host_error(host, &message)
                    },
                );
            }
            run.out
                .suspend(|| crate::guard::err(&format!("  hint: {hint}")));
            run.fail(step, ExitStatus::Locked)
        }
        RemoteFailure::Interrupted {
            undone,
            roots,
            lost,
        } => {
            deploy_failures(run, &roots, &lost);
            let list = undone
                .iter()
                .map(|(host, root)| format!("{host}: {root}"))
                .collect::<Vec<_>>()
                .join(", ");
            let message = format!("interrupted (SIGINT); not deployed: {list}");
            run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
            run.fail(step, ExitStatus::Interrupted)
        }
        RemoteFailure::Deploy { roots, lost } => {
            deploy_failures(run, &roots, &lost);
            // A panicking component is a bug, as it is in a local deploy.
            let status = if roots.iter().any(|r| r.panicked) {
                ExitStatus::Internal
            } else if roots.is_empty() {
                ExitStatus::Connection
            } else {
                ExitStatus::DeployFailed
            };
            run.fail(step, status)
        }
    }
}

/// One error per failed root and per host lost during the deploy.
fn deploy_failures(run: &mut Run<'_>, roots: &[RootFailure], lost: &[HostFailure]) {
    for f in roots {
        let text = format!(
            "ERROR: {}\n  (host: {}, component: {})",
            f.message, f.host, f.component
        );
        run.error(
            &text,
            ErrorEvent {
                component: Some(f.component.clone()),
                ..host_error(&f.host, &f.message)
            },
        );
    }
    for f in lost {
        run.error(
            &host_message(&f.host, &f.message),
            host_error(&f.host, &f.message),
        );
    }
}

/// `ERROR: host: message`, without repeating the host when the message
/// (e.g. a transport error) already starts with it.
fn host_message(host: &str, message: &str) -> String {
    if message.starts_with(&format!("{host}: ")) {
        format!("ERROR: {message}")
    } else {
        format!("ERROR: {host}: {message}")
    }
}

/// An `error` event about `host`.
fn host_error(host: &str, message: &str) -> ErrorEvent {
    ErrorEvent {
        host: Some(host.to_string()),
        ..ErrorEvent::message(message)
    }
}
