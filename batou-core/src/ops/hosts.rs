//! The hosts a command acts on: the environment's hosts narrowed by a
//! [`HostPattern`], as `--list-hosts` shows them without connecting.

use std::path::Path;

use serde::Serialize;

use crate::environment::{Environment, HostPattern, PatternError};
use crate::error::ConfigError;

/// A host a selection picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedHost {
    pub name: String,
    /// What the transport connects to (`name.host_domain`).
    pub address: String,
    pub tags: Vec<String>,
    /// `ignore = True`: selected but not acted on.
    pub ignored: bool,
}

/// Why no host list came out.
#[derive(Debug, thiserror::Error)]
pub enum ListFailure {
    /// The environment does not load.
    #[error("the environment does not load")]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Hosts(#[from] PatternError),
}

/// The hosts of `env` that `hosts` (terms) minus `skip_hosts` select.
pub fn select_hosts(
    env: &Environment,
    hosts: &[String],
    skip_hosts: &[String],
) -> Result<Vec<SelectedHost>, PatternError> {
    let pattern = HostPattern::parse(hosts)?.excluding(HostPattern::parse(skip_hosts)?);
    let names = pattern.select(env)?;
    Ok(names
        .iter()
        .filter_map(|n| env.hosts.get(n))
        .map(|h| SelectedHost {
            name: h.name.clone(),
            address: env.fqdn_of(h),
            tags: h.tags.clone(),
            ignored: h.ignore,
        })
        .collect())
}

/// `--list-hosts`: reads environment `name` (no secrets, no model) and
/// returns the hosts the selection picks; connects nowhere.
pub fn list_hosts(
    project_dir: &Path,
    name: &str,
    hosts: &[String],
    skip_hosts: &[String],
) -> Result<Vec<SelectedHost>, ListFailure> {
    let env = Environment::load(project_dir, name).map_err(ListFailure::Config)?;
    Ok(select_hosts(&env, hosts, skip_hosts)?)
}
