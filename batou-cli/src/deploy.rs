//! `batou deploy`: the flags become a [`Plan`], [`ops::deploy`] runs it,
//! and what it reports is rendered as batou's transcript (or, with
//! `--json`, its event stream).

use std::path::Path;
use std::time::Instant;

use batou_core::Registry;
use batou_core::configure::Selection;
use batou_core::diff::FullDiff;
use batou_core::lock::LockError;
use batou_core::ops::{self, EventDetail, Failure, Mode, Plan, Report, SetupError};
use batou_core::secrets::Masker;

use crate::args::DeployArgs;
use crate::diagnostics::Diagnostics;
use crate::exit::ExitStatus;
use crate::json::{ErrorEvent, JsonStream, Timings};
use crate::output::{Color, Output};
use crate::progress::Progress;
use crate::run::Run;

/// Runs `deploy`; with `--json`, the stream's `start` and `summary` frame
/// whatever happens in between.
pub fn run(
    registry: &Registry,
    project_dir: &Path,
    opts: &DeployArgs,
    color: bool,
    debug: bool,
) -> ExitStatus {
    if opts.list_hosts {
        return crate::exec::list_hosts(
            project_dir,
            &opts.environment,
            &opts.select.hosts,
            &opts.select.skip_hosts,
            color,
        );
    }
    let mode = Mode::from_flags(opts.consistency_only, opts.predict_only, opts.local);
    let json = opts.json.then(JsonStream::stdout);
    if let Some(json) = &json {
        let action = match mode {
            Ok(Mode::Check(_)) => "consistency",
            Ok(Mode::Predict(_)) => "predict",
            _ => "deploy",
        };
        json.start(
            &batou_core::environment::environment_name(&opts.environment),
            action,
        );
    }
    let progress = Progress::wanted(opts.no_progress, opts.json)
        .then(|| Progress::new(color, opts.predict_only));
    let mut out = if json.is_some() {
        Output::discard()
    } else {
        Output::stdout(color)
    };
    if let Some(p) = &progress {
        out = out.with_progress(p.multi());
    }
    let mut run = Run {
        out,
        diagnostics: Diagnostics::new(project_dir, color),
        mode: *mode.as_ref().unwrap_or(&Mode::Deploy),
        exit_code: opts.exit_code,
        debug,
        start: Instant::now(),
        masker: Masker::default(),
        json,
        project_dir,
        configure_seconds: None,
        deploy_seconds: None,
        progress,
        failed_during: Default::default(),
    };
    let status = match mode {
        Ok(mode) => deploy(&mut run, registry, plan(project_dir, opts, mode)),
        Err(e) => {
            run.error(&format!("ERROR: {e}"), ErrorEvent::message(e.to_string()));
            ExitStatus::Usage
        }
    };
    if let Some(progress) = &run.progress {
        progress.clear();
    }
    run.notify(&opts.environment, status);
    if let Some(json) = &run.json {
        json.summary(
            status,
            Timings {
                total: run.start.elapsed().as_secs_f64(),
                configure: run.configure_seconds,
                deploy: run.deploy_seconds,
            },
        );
    }
    status
}

/// The command line's flags as a plan.
fn plan(project_dir: &Path, opts: &DeployArgs, mode: Mode) -> Plan {
    Plan {
        platform: opts.platform.clone(),
        selection: Selection {
            hosts: opts.select.hosts.clone(),
            skip_hosts: opts.select.skip_hosts.clone(),
            components: opts.components.clone(),
            skip_components: opts.skip_components.clone(),
        },
        jobs: opts.jobs.map(|j| j as usize),
        timeout: opts.timeout,
        connect_timeout: opts.connect_timeout,
        command_timeout: opts.command_timeout,
        serial: opts.serial.clone(),
        max_fail: opts.max_fail,
        batch_wait: opts.batch_wait,
        break_lock: opts.break_lock,
        full_diff: match &opts.full_diff {
            None => FullDiff::None,
            Some(names) if names.iter().all(|n| n.is_empty()) => FullDiff::All,
            Some(names) => {
                FullDiff::Roots(names.iter().filter(|n| !n.is_empty()).cloned().collect())
            }
        },
        no_revert: opts.no_revert,
        // The transcript shows only changed or slow components; the JSON
        // stream every one.
        events: if opts.json {
            EventDetail::All
        } else {
            EventDetail::Transcript
        },
        ..Plan::new(project_dir, &opts.environment, mode)
    }
}

fn deploy(run: &mut Run<'_>, registry: &Registry, plan: Plan) -> ExitStatus {
    run.out.line(&format!(
        "batou/{} (rust, {} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    ));
    match ops::deploy(registry, &plan, &mut crate::prompt::keys(), run) {
        Ok(report) => summary(run, report),
        Err(failure) => failed(run, failure),
    }
}

fn summary(run: &mut Run<'_>, report: Report) -> ExitStatus {
    match report {
        Report::Checked => {
            run.out.section("Summary", None);
            run.out.line(&format!(
                "Consistency check took total={:.2}s",
                run.start.elapsed().as_secs_f64()
            ));
            run.out
                .section(&format!("{} FINISHED", run.action()), Some(Color::Cyan));
            ExitStatus::Success
        }
        Report::Local(report) => {
            run.deploy_seconds = Some(report.seconds);
            run.out.section("Summary", None);
            let configure = run.configure_seconds.unwrap_or_default();
            run.finish(report.changed, configure, report.seconds)
        }
        Report::Remote(report) => crate::remote::summary(run, &report),
    }
}

fn failed(run: &mut Run<'_>, failure: Failure) -> ExitStatus {
    let step = failure.stage().map_or("", |s| s.as_str());
    match failure {
        Failure::ProjectLock(e @ LockError::Held(_)) => {
            run.error(
                &format!("ERROR: {e}\nExiting."),
                ErrorEvent::message(e.to_string()),
            );
            ExitStatus::Locked
        }
        Failure::ProjectLock(e) => {
            run.error(&format!("ERROR: {e}"), ErrorEvent::message(e.to_string()));
            ExitStatus::Config
        }
        Failure::Config { errors, .. } => run.config_errors(errors, step),
        Failure::Setup(e) => {
            let text = match &e {
                SetupError::UnknownConnectMethod { known, .. } => {
                    format!("ERROR: {e}\n  (known: {})", known.join(", "))
                }
                _ => format!("ERROR: {e}"),
            };
            run.error(
                &text,
                ErrorEvent {
                    hint: e.hint(),
                    ..ErrorEvent::message(e.to_string())
                },
            );
            run.fail(step, ExitStatus::Config)
        }
        Failure::Selection(unknown) => {
            for u in &unknown {
                run.error(&format!("ERROR: {u}"), ErrorEvent::message(u.to_string()));
            }
            run.fail(step, ExitStatus::Usage)
        }
        Failure::Remote(f) => crate::remote::failed(run, f, step),
        Failure::Deploy(e) if matches!(e.source, batou_core::Error::Interrupted { .. }) => {
            let message = e.source.to_string();
            run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
            run.fail(step, ExitStatus::Interrupted)
        }
        Failure::Deploy(e) => {
            let text = run.diagnostics.deploy_error(&e);
            run.error(&text, ErrorEvent::deploy(&e));
            run.fail(step, ExitStatus::DeployFailed)
        }
    }
}
