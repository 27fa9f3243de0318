//! The `[environment]` section and `[vfs]`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::address::Requirement;
use crate::error::{ConfigError, Origin};

/// Where `External` components find their executables on a target unless
/// the environment's `externals` key says otherwise.
pub const DEFAULT_EXTERNALS: &str = "/usr/local/lib/batou/externals";

/// The `connect_method` that deploys in process on this machine, without
/// a transport or an agent.
pub const LOCAL_METHOD: &str = "local";

/// `[environment]`, with batou's defaults (reference §2.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub service_user: Option<String>,
    /// Unlike batou, `False` really means false here (batou quirk A.1).
    pub require_sudo: Option<bool>,
    pub host_domain: Option<String>,
    pub branch: Option<String>,
    pub update_method: Option<String>,
    pub connect_method: String,
    pub platform: Option<String>,
    pub timeout: u64,
    pub target_directory: Option<String>,
    pub repository_url: Option<String>,
    pub repository_root: Option<String>,
    pub jobs: usize,
    pub require_v4: Requirement,
    pub require_v6: Requirement,
    /// Where the agent keeps its deploy lock on the target (default
    /// `~/.batou/deploy.lock` of the user it runs as).
    pub deploy_lock: Option<String>,
    /// `revert`: a root that fails is put back as it was (default on;
    /// see docs/transactions.md).
    #[serde(default = "yes")]
    pub revert: bool,
    /// `rollback_limit`: the most old content, in MiB, a deploy's undo
    /// record may hold to be kept for `batou rollback` (default
    /// [`DEFAULT_ROLLBACK_LIMIT`]; `0`: keep none).
    #[serde(default = "default_rollback_limit")]
    pub rollback_limit: u64,
    /// Where agent binaries are cached on the target (default
    /// `~/.cache/batou/agents`).
    pub agent_cache: Option<String>,
    /// How many agents a host's cache keeps, the running one included
    /// (`agent_cache_keep`, default 3); older ones are removed. Deltas
    /// are built against the ones kept.
    pub agent_cache_keep: usize,
    /// A deployment binary built for the targets, when they differ from
    /// the controller (another OS or architecture).
    pub agent_binary: Option<String>,
    /// Seconds to wait for a connection.
    pub connect_timeout: u64,
    /// Seconds any command a component runs may take, unless the command
    /// says otherwise (`None`: no limit).
    pub command_timeout: Option<u64>,
    /// The directory on the target holding the executables `External`
    /// components call (default [`DEFAULT_EXTERNALS`]; relative to the
    /// target directory).
    pub externals: Option<String>,
    /// `serial`: deploy hosts in batches of these sizes.
    #[serde(default)]
    pub serial: Option<crate::rollout::Serial>,
    /// `max_fail`: how many failed hosts the rollout goes on after
    /// (`None`: none, batou's way).
    #[serde(default)]
    pub max_fail: Option<crate::rollout::Limit>,
    /// `batch_wait`: seconds between batches.
    #[serde(default)]
    pub batch_wait: Option<u64>,
    /// Keys we do not know; batou ignores them, we keep them for `show`
    /// and warn.
    pub extra: IndexMap<String, String>,
    /// Where each key was set.
    pub origins: IndexMap<String, Origin>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            service_user: None,
            require_sudo: None,
            host_domain: None,
            branch: None,
            update_method: None,
            connect_method: "ssh".into(),
            platform: None,
            timeout: 3,
            target_directory: None,
            repository_url: None,
            repository_root: None,
            jobs: 1,
            require_v4: Requirement::Required,
            require_v6: Requirement::Disabled,
            deploy_lock: None,
            revert: true,
            rollback_limit: DEFAULT_ROLLBACK_LIMIT,
            agent_cache: None,
            agent_cache_keep: crate::remote::bootstrap::DEFAULT_KEEP,
            agent_binary: None,
            connect_timeout: 10,
            command_timeout: None,
            externals: None,
            serial: None,
            max_fail: None,
            batch_wait: None,
            extra: IndexMap::new(),
            origins: IndexMap::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// MiB of old content a deploy's undo record may hold to be kept.
pub const DEFAULT_ROLLBACK_LIMIT: u64 = 256;

fn default_rollback_limit() -> u64 {
    DEFAULT_ROLLBACK_LIMIT
}

impl Settings {
    /// [`Settings::rollback_limit`] in bytes.
    pub fn rollback_limit_bytes(&self) -> u64 {
        self.rollback_limit.saturating_mul(1 << 20)
    }
}

impl Settings {
    /// Sets one key from its text. Returns `Ok(false)` for an unknown key
    /// (kept in `extra`), so the caller can warn.
    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &str,
        origin: &Origin,
    ) -> Result<bool, ConfigError> {
        let invalid = |expected: &str| ConfigError::InvalidValue {
            origin: origin.clone(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let text = || Some(value.to_string());
        match key {
            "service_user" => self.service_user = text(),
            "require_sudo" => {
                self.require_sudo = Some(
                    crate::convert::parse_bool(value)
                        .ok_or_else(|| invalid("a boolean (True/False/yes/no/1/0)"))?,
                )
            }
            "host_domain" => self.host_domain = text(),
            "branch" => self.branch = text(),
            "update_method" => self.update_method = text(),
            "connect_method" => {
                if value.trim().is_empty() {
                    return Err(invalid("a connect method such as `local` or `ssh`"));
                }
                self.connect_method = value.trim().to_string()
            }
            "platform" => self.platform = text(),
            "timeout" => {
                self.timeout = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("a whole number of seconds"))?
            }
            "target_directory" => self.target_directory = text(),
            "repository_url" => self.repository_url = text(),
            "repository_root" => self.repository_root = text(),
            "jobs" => {
                self.jobs = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|j| *j >= 1)
                    .ok_or_else(|| invalid("a number of jobs, at least 1"))?
            }
            "deploy_lock" => self.deploy_lock = text(),
            "revert" => {
                self.revert = crate::convert::parse_bool(value)
                    .ok_or_else(|| invalid("a boolean (True/False/yes/no/1/0)"))?
            }
            "rollback_limit" => {
                self.rollback_limit = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("a whole number of MiB (0: keep no undo record)"))?
            }
            "agent_cache" => self.agent_cache = text(),
            "agent_cache_keep" => {
                self.agent_cache_keep = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|k| *k >= 1)
                    .ok_or_else(|| invalid("a number of agents to keep, at least 1"))?
            }
            "agent_binary" => self.agent_binary = text(),
            "connect_timeout" => {
                self.connect_timeout = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|t| *t >= 1)
                    .ok_or_else(|| invalid("a whole number of seconds, at least 1"))?
            }
            "command_timeout" => {
                self.command_timeout = Some(
                    value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|t| *t >= 1)
                        .ok_or_else(|| invalid("a whole number of seconds, at least 1"))?,
                )
            }
            "externals" => {
                if value.trim().is_empty() {
                    return Err(invalid("a directory"));
                }
                self.externals = Some(value.trim().to_string())
            }
            "serial" => {
                self.serial = Some(crate::rollout::Serial::parse(value).map_err(|_| {
                    invalid("batch sizes: numbers of hosts or percentages, e.g. `1, 25%, 100%`")
                })?)
            }
            "max_fail" => {
                self.max_fail =
                    Some(crate::rollout::Limit::parse(value, 0).map_err(|_| {
                        invalid("a number of hosts or a percentage, e.g. `1` or `25%`")
                    })?)
            }
            "batch_wait" => {
                self.batch_wait = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("a whole number of seconds"))?,
                )
            }
            "require_v4" | "require_v6" => {
                let r: Requirement = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("True, False or optional"))?;
                if key == "require_v4" {
                    self.require_v4 = r
                } else {
                    self.require_v6 = r
                }
            }
            _ => {
                self.extra.insert(key.to_string(), value.to_string());
                self.origins.insert(key.to_string(), origin.clone());
                return Ok(false);
            }
        }
        self.origins.insert(key.to_string(), origin.clone());
        Ok(true)
    }
}

/// `[vfs]`: rewriting absolute paths, to run a production model locally.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Vfs {
    #[default]
    None,
    /// `sandbox = Developer`: every absolute path lives under
    /// `<project>/work/_/`.
    Developer,
    /// `sandbox = Map`: prefix rewrites, longest prefix first.
    Map(Vec<(PathBuf, PathBuf)>),
}

impl Vfs {
    /// Applies the mapping to an absolute path.
    pub fn map(&self, project_dir: &Path, path: &Path) -> PathBuf {
        match self {
            Vfs::None => path.to_path_buf(),
            Vfs::Developer => {
                let rel = path.strip_prefix("/").unwrap_or(path);
                project_dir.join("work").join("_").join(rel)
            }
            Vfs::Map(rules) => {
                for (from, to) in rules {
                    if let Ok(rest) = path.strip_prefix(from) {
                        return if rest.as_os_str().is_empty() {
                            to.clone()
                        } else {
                            to.join(rest)
                        };
                    }
                }
                path.to_path_buf()
            }
        }
    }
}
