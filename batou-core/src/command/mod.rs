//! Registered commands: typed fleet-wide operations a deployment adds to
//! its binary (`registry.command("disk-usage", ...)`) and `batou run`
//! calls by name on every selected host.
//!
//! A command runs where a component's `verify` runs: in the agent on the
//! target (or in process for `connect_method = local`), with the same
//! [`Host`] handle, after the agent configured the model. It sees that
//! model read-only ([`CommandHost::info`], [`CommandHost::hosts`],
//! [`CommandHost::env`]; addresses resolve with the environment's
//! resolver) and answers with a JSON value, which `batou run --json`
//! passes through. The stdlib registers [`facts`] and [`verify`].

mod facts;
mod verify;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use crate::address::Resolver;
use crate::component::{EnvironmentInfo, HostInfo};
use crate::configure::Root;
use crate::host::Host;
use crate::vfs::PathMapper;

/// A command's body: the host it runs on and the arguments after its
/// name on the command line.
pub type CommandFn =
    dyn Fn(&CommandHost<'_>, &[String]) -> Result<serde_json::Value, CommandFailed> + Send + Sync;

/// Why a command gave no answer on a host. Its message is shown as the
/// host's error (masked like everything else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandFailed(pub String);

impl CommandFailed {
    pub fn new(message: impl Into<String>) -> Self {
        CommandFailed(message.into())
    }
}

impl From<crate::host::HostError> for CommandFailed {
    fn from(e: crate::host::HostError) -> Self {
        CommandFailed(e.to_string())
    }
}

impl From<crate::host::CommandError> for CommandFailed {
    fn from(e: crate::host::CommandError) -> Self {
        CommandFailed(e.to_string())
    }
}

impl From<crate::error::Error> for CommandFailed {
    fn from(e: crate::error::Error) -> Self {
        CommandFailed(e.to_string())
    }
}

impl From<std::io::Error> for CommandFailed {
    fn from(e: std::io::Error) -> Self {
        CommandFailed(e.to_string())
    }
}

/// The commands of a registry, by name, in registration order.
#[derive(Clone, Default)]
pub(crate) struct Commands {
    by_name: indexmap::IndexMap<String, Arc<CommandFn>>,
}

impl Commands {
    /// The stdlib's commands: `facts` and `verify`.
    pub(crate) fn stdlib() -> Commands {
        let mut commands = Commands::default();
        commands.insert("facts", Arc::new(facts::facts));
        commands.insert("verify", Arc::new(verify::verify));
        commands
    }

    pub(crate) fn insert(&mut self, name: &str, command: Arc<CommandFn>) {
        self.by_name.insert(name.to_string(), command);
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<CommandFn>> {
        self.by_name.get(name).cloned()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

/// What a command sees: the target through [`Host`] (it derefs to it:
/// `host.read(..)`, `host.run(..)`), and the configured model, read-only.
pub struct CommandHost<'a> {
    host: &'a Host,
    info: &'a HostInfo,
    env: &'a EnvironmentInfo,
    hosts: &'a [HostInfo],
    roots: &'a [Arc<Mutex<Root>>],
    mapper: &'a PathMapper,
}

impl std::ops::Deref for CommandHost<'_> {
    type Target = Host;
    fn deref(&self) -> &Host {
        self.host
    }
}

impl CommandHost<'_> {
    /// The host's name in the environment.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// This host as the model has it: fqdn, platform, `data-*`, service
    /// user.
    pub fn info(&self) -> &HostInfo {
        self.info
    }

    /// The environment's settings as the agent sees them.
    pub fn env(&self) -> &EnvironmentInfo {
        self.env
    }

    /// Every host of the environment, in its order.
    pub fn hosts(&self) -> &[HostInfo] {
        self.hosts
    }
}

/// The configured model a command runs against (on the agent: the one it
/// configured; locally: the controller's).
pub(crate) struct CommandModel<'a> {
    pub host: &'a Host,
    pub env: &'a EnvironmentInfo,
    pub hosts: &'a [HostInfo],
    pub roots: &'a [Arc<Mutex<Root>>],
    pub mapper: &'a PathMapper,
    pub resolver: Arc<Resolver>,
}

/// Runs `command` for host `host` of `model`: an `Err` when the host is
/// not in the model, the command fails or panics (a panic is reported as
/// a bug in the command, masked by the caller).
pub(crate) fn invoke(
    command: &CommandFn,
    model: &CommandModel<'_>,
    host: &str,
    args: &[String],
) -> Result<serde_json::Value, Invoked> {
    let Some(info) = model.hosts.iter().find(|h| h.name == host) else {
        return Err(Invoked::Failed(format!(
            "host `{host}` is not in the environment"
        )));
    };
    let ctx = CommandHost {
        host: model.host,
        info,
        env: model.env,
        hosts: model.hosts,
        roots: model.roots,
        mapper: model.mapper,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        crate::address::with_resolver(model.resolver.clone(), || command(&ctx, args))
    }));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Invoked::Failed(e.0)),
        Err(payload) => Err(Invoked::Panicked(crate::remote::watched::panic_message(
            &*payload,
        ))),
    }
}

/// Why [`invoke`] gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invoked {
    Failed(String),
    /// The command panicked: a bug in its code.
    Panicked(String),
}

/// Every host's [`HostInfo`] in `env`, as configuring builds it.
pub(crate) fn host_infos(
    env: &crate::environment::Environment,
    platform: Option<&str>,
) -> Vec<HostInfo> {
    env.hosts
        .values()
        .map(|host| HostInfo {
            name: host.name.clone(),
            fqdn: env.fqdn_of(host),
            platform: env.platform_of(host, platform),
            data: host.data.clone(),
            service_user: env.service_user_of(host),
            ignore: host.ignore,
        })
        .collect()
}
