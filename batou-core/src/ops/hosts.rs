//! The hosts a command acts on: the environment's hosts narrowed by a
//! [`HostPattern`], as `--list-hosts` shows them without connecting.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// `each` on every one of `hosts`, at most `jobs` at once (one thread
/// each), the answers in `hosts`' order whatever order they finish in;
/// a host `each` answers `None` for is left out. Each call is a whole
/// session with its host, so a slow or unreachable host holds up only
/// its own thread.
pub(super) fn on_each_host<R: Send>(
    hosts: &[SelectedHost],
    jobs: usize,
    each: impl Fn(&SelectedHost) -> Option<R> + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(hosts.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, hosts.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(host) = hosts.get(i) else { break };
                    if let Some(answer) = each(host) {
                        answers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((i, answer));
                    }
                }
            });
        }
    });
    let mut answers = answers.into_inner().unwrap_or_else(|p| p.into_inner());
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}
