//! `batou deploy` to remote hosts: agents over a transport.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use batou_core::Registry;
use batou_core::agent_build::{AgentSource, Agents};
use batou_core::configure::Model;
use batou_core::remote::agent::{current_user, hostname};
use batou_core::remote::bootstrap::AgentBinary;
use batou_core::remote::early::EarlyConnections;
use batou_core::remote::orchestrate::{
    HostFailure, RemoteFailure, RemoteOptions, RootFailure, deploy_remote,
};
use batou_core::remote::platform;
use batou_core::remote::protocol::Holder;
use batou_core::transport::ssh_config_for;

use crate::args::DeployArgs;
use crate::deploy::Run;
use crate::exit::ExitStatus;
use crate::json::ErrorEvent;
use crate::output::format_duration;

/// How to reach the hosts of an environment with these settings: the
/// transport, the agent binary, and the options of `deploy`. `Err` says
/// what is wrong (an unknown `connect_method`, an unreadable binary).
pub fn options(
    registry: &Registry,
    settings: &batou_core::environment::Settings,
    env_name: &str,
    opts: &DeployArgs,
    project_dir: &Path,
) -> Result<RemoteOptions, String> {
    let Some(transport) = registry.transport_for(&settings.connect_method) else {
        return Err(format!(
            "unknown connect_method `{}`",
            settings.connect_method
        ));
    };
    let agents = agents(settings.agent_binary.as_deref(), project_dir)?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(RemoteOptions {
        transport,
        agents: Arc::new(agents),
        jobs: settings.jobs,
        predict: opts.predict_only,
        // The transcript shows only changed or slow components; the JSON
        // stream every one.
        quiet_events: !opts.json,
        break_lock: opts.break_lock,
        platform: opts.platform.clone(),
        ssh_config: ssh_config_for(project_dir, env_name),
        connect_timeout: Duration::from_secs(
            opts.connect_timeout.unwrap_or(settings.connect_timeout),
        ),
        heartbeat_timeout: Duration::from_secs(15),
        // Connecting is mostly waiting on the network: at least as many
        // at once as roots may deploy at once, so `-j 20` on 20 hosts does
        // not wait for connections in waves.
        parallel_connects: settings.jobs.max(8),
        controller: Holder {
            controller: hostname(),
            user: current_user(),
            pid: std::process::id(),
            started,
            agent_pid: 0,
        },
    })
}

/// Connections made while the controller configures (see
/// `early::connect_early`), with the options they were made with.
pub struct Early {
    options: RemoteOptions,
    connections: EarlyConnections,
}

/// Starts connecting before the model is configured, when the options can
/// be made; otherwise [`run`] makes them and reports what is wrong.
pub fn connect_early(
    registry: &Registry,
    env: &batou_core::environment::Environment,
    selection: &batou_core::configure::Selection,
    opts: &DeployArgs,
    project_dir: &Path,
) -> Option<Early> {
    let options = options(registry, &env.settings, &env.name, opts, project_dir).ok()?;
    let connections = batou_core::remote::early::connect_early(env, selection, &options);
    Some(Early {
        options,
        connections,
    })
}

/// Deploys (or predicts) `model` through agents; prints the summary.
pub fn run(
    run: &mut Run<'_>,
    registry: &Registry,
    model: &Model,
    opts: &DeployArgs,
    project_dir: &Path,
    debug: bool,
    early: Option<Early>,
) -> ExitStatus {
    let (options, connections) = match early {
        Some(Early {
            options,
            connections,
        }) => (options, Some(connections)),
        None => match options(
            registry,
            &model.env.settings,
            &model.env.name,
            opts,
            project_dir,
        ) {
            Ok(o) => (o, None),
            Err(message) => {
                run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
                return run.fail("connect", ExitStatus::Config);
            }
        },
    };
    if debug {
        for binary in options.agents.ready() {
            run.out.line(&format!(
                "Agent binary: {} ({} {}, sha256 {})",
                binary.path.display(),
                binary.os,
                binary.arch,
                &binary.hash[..12]
            ));
        }
    }
    // Ctrl-C from here on winds the deploy down (see batou_core::interrupt).
    batou_core::interrupt::install();
    let result = deploy_remote(model, &options, connections, &run.sink());
    let report = match result {
        Ok(r) => r,
        Err(RemoteFailure::Config(errors)) => return run.config_errors(errors, "connect"),
        Err(RemoteFailure::Connect(failures)) => {
            for f in &failures {
                run.error(
                    &host_message(&f.host, &f.message),
                    host_error(&f.host, &f.message),
                );
            }
            return run.fail("connect", ExitStatus::Connection);
        }
        Err(RemoteFailure::Locked(held)) => {
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
            run.out.suspend(|| eprintln!("  hint: {hint}"));
            return run.fail("connect", ExitStatus::Locked);
        }
        Err(RemoteFailure::Interrupted {
            undone,
            roots,
            lost,
        }) => {
            report_deploy_failures(run, &roots, &lost);
            let list = undone
                .iter()
                .map(|(host, root)| format!("{host}: {root}"))
                .collect::<Vec<_>>()
                .join(", ");
            let message = format!("interrupted (SIGINT); not deployed: {list}");
            run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
            return run.fail("deploy", ExitStatus::Interrupted);
        }
        Err(RemoteFailure::Deploy { roots, lost }) => {
            report_deploy_failures(run, &roots, &lost);
            let status = if roots.is_empty() {
                ExitStatus::Connection
            } else {
                ExitStatus::DeployFailed
            };
            return run.fail("deploy", status);
        }
    };
    run.deploy_seconds = Some(report.deploy_seconds);
    run.out.section("Summary", None);
    for h in &report.hosts {
        run.out.line(&format!(
            "{}: connect={}, deploy={}, changed={}{} (as {})",
            h.host,
            format_duration(Some(h.connect_seconds)),
            format_duration(Some(h.deploy_seconds)),
            h.changed,
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
        opts,
        report.changed,
        report.connect_seconds,
        report.deploy_seconds,
    )
}

/// One error per failed root and per host lost during the deploy.
fn report_deploy_failures(run: &mut Run<'_>, roots: &[RootFailure], lost: &[HostFailure]) {
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

/// The agents for the hosts: the environment's `agent_binary` (relative
/// paths are under the project, the platform read from its header) if
/// set; else static builds of this deployment for each host's platform,
/// built from the project's cargo workspace (see
/// `batou_core::agent_build::AgentSource::from_vars`); else, with no
/// workspace to build from, this executable.
fn agents(configured: Option<&str>, project_dir: &Path) -> Result<Agents, String> {
    let Some(path) = configured else {
        let controller = AgentBinary::current()
            .map_err(|e| format!("cannot read this executable to upload it: {e}"))?;
        let source =
            AgentSource::from_vars(|name| std::env::var_os(name), &controller.path, project_dir);
        return Ok(match source {
            Some(source) => Agents::built_from(source, &controller),
            None => Agents::controller_only(controller),
        });
    };
    let path = project_dir.join(path);
    let (os, arch) = platform::of_binary(&path).ok_or_else(|| {
        format!(
            "agent_binary {} is not an executable this batou understands (expected an ELF binary)",
            path.display()
        )
    })?;
    AgentBinary::from_path(&path, &os, &arch)
        .map(Agents::fixed)
        .map_err(|e| format!("cannot read agent_binary {}: {e}", path.display()))
}
