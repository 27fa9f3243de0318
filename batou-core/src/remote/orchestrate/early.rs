//! Connecting to the hosts while the controller still configures the
//! model: the SSH handshakes (the largest part of a no-op deploy) overlap
//! with configuring, and the bootstrap waits at its gate, so a model with
//! errors leaves the targets untouched.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::RemoteOptions;
use crate::agent_build::Offer;
use crate::remote::bootstrap::{AgentBinary, AgentLaunch, UploadOptions, connect_gated};
use crate::transport::{Channel, Target, Transport, TransportError};

pub(crate) type Connecting = std::thread::JoinHandle<Result<Channel, TransportError>>;

/// Connections opened while the controller still configures the model
/// ([`connect_early`]): the SSH handshakes overlap with configuring, and
/// the targets are not touched until [`super::deploy_remote`] lets the bootstrap
/// go. Dropped unused (the model had errors), the connections end without
/// having done anything on the targets.
pub struct EarlyConnections {
    /// By host name.
    pending: Mutex<BTreeMap<String, Connecting>>,
}

impl EarlyConnections {
    pub(crate) fn take(&self, host: &str) -> Option<Connecting> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(host)
    }
}

impl Drop for EarlyConnections {
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|p| p.into_inner()));
        for (_, connecting) in pending {
            if let Ok(Ok(mut channel)) = connecting.join() {
                // End of input closes the gate: the script exits at once.
                channel.stdin.take();
                channel.control.kill();
                let _ = channel.control.wait();
            }
        }
    }
}

/// Starts connecting to the first `parallel_connects` hosts of `env` that
/// the deploy will need (not ignored, not left out by `selection`) in the
/// background, for [`super::deploy_remote`].
pub fn connect_early(
    env: &crate::environment::Environment,
    selection: &crate::configure::Selection,
    options: &RemoteOptions,
) -> EarlyConnections {
    let mut pending = BTreeMap::new();
    for host in env
        .hosts
        .values()
        .filter(|h| !h.ignore && selection.may_connect(h))
        .take(options.parallel_connects.max(1))
    {
        let (target, spec) = launch_parts(host, env, options);
        let transport = options.transport.clone();
        let binary = match options.agents.offer(&target.address) {
            Offer::Ready(b) | Offer::Probe(b) => b,
            // Its agent is built first; then it is connected.
            Offer::Build { .. } => continue,
        };
        pending.insert(
            host.name.clone(),
            std::thread::spawn(move || {
                connect_gated(&spec.launch(transport.as_ref(), &target, &binary))
            }),
        );
    }
    EarlyConnections {
        pending: Mutex::new(pending),
    }
}

/// What [`AgentLaunch`] needs besides the transport and the binary.
#[derive(Clone)]
pub(crate) struct LaunchSpec {
    pub cache_dir: Option<String>,
    pub service_user: Option<String>,
    pub require_sudo: Option<bool>,
    pub agent_args: Vec<String>,
    pub upload: UploadOptions,
}

impl LaunchSpec {
    /// How to start the agent with `transport` on `target`.
    pub fn launch<'a>(
        self,
        transport: &'a dyn Transport,
        target: &'a Target,
        binary: &'a AgentBinary,
    ) -> AgentLaunch<'a> {
        AgentLaunch {
            transport,
            target,
            binary,
            cache_dir: self.cache_dir,
            service_user: self.service_user,
            require_sudo: self.require_sudo,
            agent_args: self.agent_args,
            upload: self.upload,
        }
    }
}

/// The target of `host` and how to launch its agent.
pub(crate) fn launch_parts(
    host: &crate::environment::HostConfig,
    env: &crate::environment::Environment,
    options: &RemoteOptions,
) -> (Target, LaunchSpec) {
    let target = Target {
        host: host.name.clone(),
        address: env.fqdn_of(host),
        ssh_config: options.ssh_config.clone(),
        connect_timeout: options.connect_timeout,
    };
    let spec = LaunchSpec {
        cache_dir: env.settings.agent_cache.clone(),
        service_user: env.service_user_of(host),
        require_sudo: host.require_sudo.or(env.settings.require_sudo),
        agent_args: vec!["agent".into()],
        upload: UploadOptions {
            keep: env.settings.agent_cache_keep,
            store: options.agent_store.clone(),
        },
    };
    (target, spec)
}
