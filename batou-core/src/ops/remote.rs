//! From a settled plan to the options of a remote deploy: the one place
//! that decides the transport, the agent binary and the timeouts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::agent_build::{AgentSource, Agents};
use crate::component::Registry;
use crate::remote::agent::{current_user, hostname};
use crate::remote::bootstrap::AgentBinary;
use crate::remote::orchestrate::RemoteOptions;
use crate::remote::platform;
use crate::remote::protocol::Holder;
use crate::transport::ssh_config_for;

use super::failure::SetupError;
use super::plan::{EventDetail, Plan, Settled};

/// A host silent for this long is taken as lost (agents beat every 2 s).
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);

/// How to reach the hosts of environment `env_name` through the transport
/// `method`: the transport, the agent binary and the deploy's options.
pub fn remote_options(
    registry: &Registry,
    plan: &Plan,
    settled: &Settled,
    method: &str,
    env_name: &str,
) -> Result<RemoteOptions, SetupError> {
    let transport =
        registry
            .transport_for(method)
            .ok_or_else(|| SetupError::UnknownConnectMethod {
                method: method.to_string(),
                known: registry.transport_names(),
            })?;
    let agents = agents(settled.agent_binary.as_deref(), &plan.project_dir)?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(RemoteOptions {
        transport,
        agents: Arc::new(agents),
        jobs: settled.jobs,
        rollout: settled.rollout.clone(),
        predict: plan.mode.predicts(),
        quiet_events: plan.events == EventDetail::Transcript,
        full_diff: plan.full_diff.clone(),
        break_lock: plan.break_lock,
        platform: plan.platform.clone(),
        ssh_config: ssh_config_for(&plan.project_dir, env_name),
        connect_timeout: settled.connect_timeout,
        heartbeat_timeout: HEARTBEAT_TIMEOUT,
        // Connecting is mostly waiting on the network: at least as many
        // at once as roots may deploy at once, so `-j 20` on 20 hosts does
        // not wait for connections in waves.
        parallel_connects: settled.jobs.max(8),
        // The agents shipped from this project, to send the next build
        // as a delta against one a host still has.
        agent_store: Some(plan.project_dir.join(".batou").join("agents")),
        // Predictions change nothing and are not recorded.
        deploy: (!plan.mode.predicts())
            .then(|| crate::history::DeployMeta::start(&plan.project_dir, env_name)),
        controller: Holder {
            controller: hostname(),
            user: current_user(),
            pid: std::process::id(),
            started,
            agent_pid: 0,
        },
    })
}

/// The agents for the hosts: the environment's `agent_binary` (the
/// platform read from its header) if set; else static builds of this
/// deployment for each host's platform, built from the project's cargo
/// workspace (see [`AgentSource::from_vars`]); else, with no workspace to
/// build from, this executable.
fn agents(configured: Option<&Path>, project_dir: &Path) -> Result<Agents, SetupError> {
    let Some(path) = configured else {
        let controller = AgentBinary::current().map_err(SetupError::CurrentExecutable)?;
        let source =
            AgentSource::from_vars(|name| std::env::var_os(name), &controller.path, project_dir);
        return Ok(match source {
            Some(source) => Agents::built_from(source, &controller),
            None => Agents::controller_only(controller),
        });
    };
    let (os, arch) =
        platform::of_binary(path).ok_or_else(|| SetupError::NotAnExecutable(path.to_path_buf()))?;
    AgentBinary::from_path(path, &os, &arch)
        .map(Agents::fixed)
        .map_err(|source| SetupError::AgentBinary {
            path: path.to_path_buf(),
            source,
        })
}
