//! What a component can know about its host and environment (also what
//! templates see as `host` and `environment`).

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The host a component is deployed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The name in the environment, e.g. `web1`.
    pub name: String,
    /// `name.host_domain`, what ssh connects to.
    pub fqdn: String,
    pub platform: Option<String>,
    /// `data-*` keys (and secrets' `[host:NAME]`).
    pub data: IndexMap<String, serde_json::Value>,
    pub service_user: Option<String>,
    pub ignore: bool,
}

/// The environment being deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentInfo {
    pub name: String,
    pub host_domain: Option<String>,
    pub connect_method: String,
    pub platform: Option<String>,
    pub service_user: Option<String>,
    pub timeout: u64,
    /// The environment's `command_timeout`, applied to commands that set
    /// none themselves.
    pub command_timeout: Option<u64>,
    pub jobs: usize,
    /// The deployment project's directory.
    pub base_dir: PathBuf,
    /// `<project>/work`, where root workdirs live.
    pub workdir_base: PathBuf,
    /// Where `External` components find their executables (the
    /// environment's `externals`, relative to the project or target
    /// directory).
    pub externals_dir: PathBuf,
    /// Whole-file secrets and the masker; not visible to templates.
    #[serde(skip)]
    pub secrets: crate::secrets::SecretData,
    /// Where templates' project files are read from; not visible to
    /// templates.
    #[serde(skip)]
    pub assets: crate::assets::AssetSource,
}

impl EnvironmentInfo {
    pub(crate) fn from_environment(env: &crate::environment::Environment) -> Self {
        EnvironmentInfo {
            name: env.name.clone(),
            host_domain: env.settings.host_domain.clone(),
            connect_method: env.settings.connect_method.clone(),
            platform: env.settings.platform.clone(),
            service_user: env.settings.service_user.clone(),
            timeout: env.settings.timeout,
            command_timeout: env.settings.command_timeout,
            jobs: env.settings.jobs,
            base_dir: env.project_dir.clone(),
            workdir_base: env.project_dir.join("work"),
            externals_dir: env.project_dir.join(
                env.settings
                    .externals
                    .as_deref()
                    .unwrap_or(crate::environment::DEFAULT_EXTERNALS),
            ),
            secrets: env.secrets.clone(),
            assets: env.assets.clone(),
        }
    }
}
