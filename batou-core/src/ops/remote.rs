//! From a settled plan to the options of a remote deploy: the one place
//! that decides the transport, the agent binary and the timeouts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    let binary = agent_binary(settled.agent_binary.as_deref())?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(RemoteOptions {
        transport,
        binary: Arc::new(binary),
        jobs: settled.jobs,
        predict: plan.mode.predicts(),
        quiet_events: plan.events == EventDetail::Transcript,
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
        controller: Holder {
            controller: hostname(),
            user: current_user(),
            pid: std::process::id(),
            started,
            agent_pid: 0,
        },
    })
}

/// This executable, or the environment's `agent_binary`, with the
/// platform read from its header.
fn agent_binary(configured: Option<&Path>) -> Result<AgentBinary, SetupError> {
    let Some(path) = configured else {
        return AgentBinary::current().map_err(SetupError::CurrentExecutable);
    };
    let (os, arch) =
        platform::of_binary(path).ok_or_else(|| SetupError::NotAnExecutable(path.to_path_buf()))?;
    AgentBinary::from_path(path, &os, &arch).map_err(|source| SetupError::AgentBinary {
        path: path.to_path_buf(),
        source,
    })
}
