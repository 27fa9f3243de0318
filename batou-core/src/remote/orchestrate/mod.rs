//! The controller of a remote deploy: start an agent on every host
//! (bounded concurrency, [`connect`]), let each configure the model and
//! merge their errors ([`configure`]), deploy the roots along the
//! cross-host graph with up to `jobs` at once ([`schedule`]), and let each
//! host remove what left the environment ([`finish`]). What the agents say
//! reaches every phase through one message pump ([`pump`]), the only place
//! that gives up on a host.

pub mod command;
mod configure;
mod connect;
pub mod early;
pub(crate) mod finish;
mod outcome;
mod platform_launch;
mod pump;
mod schedule;
pub(crate) mod session;
mod sessions;
mod untrusted;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use early::{EarlyConnections, connect_early};
pub use outcome::{HostFailure, HostReport, RemoteFailure, RemoteReport, RootFailure, RootReport};

use pump::Pump;
use schedule::Scheduled;
use session::Inbox;

use super::protocol::Holder;
use crate::agent_build::Agents;
use crate::configure::Model;
use crate::event::{Event, EventSink};
use crate::transport::Transport;

/// How to deploy remotely.
#[derive(Clone)]
pub struct RemoteOptions {
    pub transport: Arc<dyn Transport>,
    /// The agents for the hosts' platforms (built as needed, or the
    /// environment's `agent_binary`).
    pub agents: Arc<Agents>,
    pub jobs: usize,
    /// Batches and the failed hosts tolerated (`serial`, `max_fail`).
    pub rollout: crate::rollout::RolloutSettings,
    pub predict: bool,
    /// Ask agents for only the events a transcript shows (see
    /// `Request::Deploy`); `false` for the `--json` stream.
    pub quiet_events: bool,
    /// The roots whose long diffs are shown whole (`--full-diff`).
    pub full_diff: crate::diff::FullDiff,
    pub break_lock: bool,
    pub platform: Option<String>,
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// A host silent for this long is taken as lost.
    pub heartbeat_timeout: Duration,
    /// Agents started at the same time.
    pub parallel_connects: usize,
    pub controller: Holder,
    /// The deploy the agents record in their hosts' history (`None` when
    /// predicting).
    pub deploy: Option<crate::history::DeployMeta>,
    /// Where the controller keeps the agents it shipped, to send the next
    /// build as a delta (`None`: always whole).
    pub agent_store: Option<PathBuf>,
}

/// Deploys `model` (configured by the controller, for ordering) through
/// agents on its hosts, using the connections of [`connect_early`] where
/// there are some.
pub fn deploy_remote(
    model: &Model,
    options: &RemoteOptions,
    early: Option<EarlyConnections>,
    sink: &dyn EventSink,
) -> Result<RemoteReport, RemoteFailure> {
    let (tx, inbox) = Inbox::new();
    let connect_start = Instant::now();
    let wanted = connect::wanted_hosts(model, sink);
    let connected = connect::start_agents(&wanted, &model.env, options, early, tx, sink)?;
    let sessions = connected.sessions;
    let mut pump = Pump::new(&sessions, &inbox, options.heartbeat_timeout);
    configure::await_configured(&mut pump, model, sink)?;
    let connect_seconds = connect_start.elapsed().as_secs_f64();

    sink.emit(Event::Phase {
        phase: if options.predict {
            crate::event::Phase::Predicting
        } else {
            crate::event::Phase::Deploying
        },
    });
    let deploy_start = Instant::now();
    let Scheduled {
        mut reports,
        mut failed,
        undone,
    } = schedule::run_roots(&mut pump, model, options, sink);
    if failed.is_empty() && !pump.any_lost() && !crate::interrupt::requested() {
        let finished = finish::finish_hosts(&mut pump, model, options, sink);
        reports.extend(finished.reports);
        failed.extend(finished.failed);
    }
    let lost = pump.take_lost();
    let hosts: Vec<HostReport> = sessions
        .all()
        .map(|s| HostReport {
            host: s.host.clone(),
            user: s.user.clone(),
            uploaded: s.uploaded,
            upload_bytes: s.sent_bytes,
            assets_sent: s.assets_sent.load(std::sync::atomic::Ordering::Relaxed),
            asset_bytes: s.asset_bytes.load(std::sync::atomic::Ordering::Relaxed),
            connect_seconds: connected.seconds[s.index],
            deploy_seconds: 0.0,
            changed: 0,
        })
        .collect();
    drop(sessions);
    // A root Ctrl-C stopped (and its agent reverted) failed of it.
    if crate::interrupt::requested() && (!undone.is_empty() || !failed.is_empty()) {
        return Err(RemoteFailure::Interrupted {
            undone,
            roots: failed,
            lost,
        });
    }
    if !failed.is_empty() || !lost.is_empty() {
        return Err(RemoteFailure::Deploy {
            roots: failed,
            lost,
        });
    }
    let deploy_seconds = deploy_start.elapsed().as_secs_f64();
    Ok(RemoteReport {
        changed: reports
            .iter()
            .fold(0usize, |n, r| n.saturating_add(r.changed)),
        connect_seconds,
        deploy_seconds,
        hosts: with_root_totals(hosts, &reports),
        roots: reports,
    })
}

/// Each host's report with the time and changes of its roots added up.
fn with_root_totals(mut hosts: Vec<HostReport>, roots: &[RootReport]) -> Vec<HostReport> {
    let mut per_host: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for r in roots {
        let total = per_host.entry(r.host.as_str()).or_default();
        total.0 += r.seconds;
        // Counts come from agents; a hostile one must not overflow ours.
        total.1 = total.1.saturating_add(r.changed);
    }
    for h in &mut hosts {
        (h.deploy_seconds, h.changed) = per_host.get(h.host.as_str()).copied().unwrap_or_default();
    }
    hosts
}
