//! Environments: which hosts run which components, with which overrides.
//!
//! Written in batou's INI format (`environments/NAME.cfg` or
//! `environments/NAME/environment.cfg`) or as TOML (`NAME.toml`, where host
//! data and overrides can be typed). Both load into [`Environment`], which
//! keeps the file and line of every value so errors can point at it.

mod component_list;
mod from_ini;
mod from_toml;
mod locate;
mod pattern;
mod settings;

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::convert::OverrideValue;
use crate::error::{ConfigError, Origin};

pub use component_list::{RootEntry, parse_component_list};
pub use locate::{environment_names, locate};
pub use pattern::{HostPattern, PatternError};
pub use settings::{DEFAULT_EXTERNALS, LOCAL_METHOD, Settings, Vfs};

/// One `key = value` of a `[component:NAME]` section (or of the secrets).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeOverride {
    pub value: OverrideValue,
    pub origin: Origin,
    /// From the secrets: its value is never shown (`Debug` included).
    #[serde(default)]
    pub secret: bool,
}

impl std::fmt::Debug for AttributeOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("AttributeOverride");
        if self.secret {
            d.field("value", &"<secret>");
        } else {
            d.field("value", &self.value);
        }
        d.field("origin", &self.origin)
            .field("secret", &self.secret)
            .finish()
    }
}

/// The overrides for one component, from its `[component:NAME]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentOverrides {
    pub origin: Origin,
    pub values: IndexMap<String, AttributeOverride>,
}

/// One host of the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    pub name: String,
    pub origin: Origin,
    pub components: Vec<RootEntry>,
    /// Per-host platform; see [`Environment::platform_of`].
    pub platform: Option<String>,
    /// From `data-KEY` (INI: strings) or `data = {...}` (TOML: typed).
    pub data: IndexMap<String, serde_json::Value>,
    /// Configured with everything else, but not deployed.
    pub ignore: bool,
    pub service_user: Option<String>,
    pub require_sudo: Option<bool>,
    /// `tags = web, eu`: groups for host patterns (`--hosts @web`); see
    /// [`HostPattern`]. batou 2.7.1 silently ignores the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl HostConfig {
    /// A host with nothing but its name and where it was defined; the
    /// loaders fill in the rest.
    pub fn new(name: impl Into<String>, origin: Origin) -> HostConfig {
        HostConfig {
            name: name.into(),
            origin,
            components: Vec::new(),
            platform: None,
            data: IndexMap::new(),
            ignore: false,
            service_user: None,
            require_sudo: None,
            tags: Vec::new(),
        }
    }
}

/// One `[resolver]` entry: a host name and the IPs it resolves to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolverEntry {
    pub host: String,
    pub value: String,
    pub origin: Origin,
}

/// Something odd but not fatal in the environment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadWarning {
    pub origin: Origin,
    pub message: String,
}

/// A loaded environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    /// The deployment project's root (the directory holding `environments/`).
    pub project_dir: PathBuf,
    /// The file the environment was read from.
    pub file: PathBuf,
    pub settings: Settings,
    pub hosts: IndexMap<String, HostConfig>,
    pub overrides: IndexMap<String, ComponentOverrides>,
    /// `max_parallel` of `[component:NAME]` sections: a rollout setting,
    /// taken out of the overrides (it is no attribute of the component).
    #[serde(default)]
    pub max_parallel: IndexMap<String, crate::rollout::Limit>,
    pub resolver: Vec<ResolverEntry>,
    pub vfs: Vfs,
    pub warnings: Vec<LoadWarning>,
    /// Decrypted whole-file secrets and the masker, once
    /// [`crate::secrets::apply`] merged them; never serialised.
    #[serde(skip)]
    pub secrets: crate::secrets::SecretData,
    /// Where `asset!` files are read from: the project (the default), or
    /// what the controller shipped (an agent); never serialised.
    #[serde(skip)]
    pub assets: crate::assets::AssetSource,
}

/// An environment name as given on the command line: a trailing `.cfg`
/// or `.toml` (as shell completion leaves it) is dropped.
///
/// ```
/// use batou_core::environment::environment_name;
/// assert_eq!(environment_name("production.cfg"), "production");
/// assert_eq!(environment_name("my.cfg.d"), "my.cfg.d");
/// ```
pub fn environment_name(given: &str) -> String {
    given
        .strip_suffix(".cfg")
        .or_else(|| given.strip_suffix(".toml"))
        .unwrap_or(given)
        .to_string()
}

impl Environment {
    /// Adds `host`, or returns the error for defining it a second time.
    pub(super) fn add_host(&mut self, host: HostConfig) -> Result<(), ConfigError> {
        if let Some(first) = self.hosts.get(&host.name) {
            return Err(ConfigError::DuplicateHost {
                origin: host.origin.clone(),
                host: host.name.clone(),
                first: first.origin.clone(),
            });
        }
        self.hosts.insert(host.name.clone(), host);
        Ok(())
    }

    /// Adds the keys of a host section without `components` to the host
    /// of `[hosts]` with its name; without one, the section lacks its
    /// `components`. batou 2.7.1 refuses such a section
    /// (`KeyError('components')`, and `Duplicate host` with them); keys
    /// it sets win.
    pub(super) fn add_to_host(
        &mut self,
        addition: HostConfig,
        sets_ignore: bool,
    ) -> Result<(), ConfigError> {
        let Some(host) = self.hosts.get_mut(&addition.name) else {
            return Err(ConfigError::MissingComponents {
                origin: addition.origin,
                host: addition.name,
            });
        };
        if sets_ignore {
            host.ignore = addition.ignore;
        }
        if addition.platform.is_some() {
            host.platform = addition.platform;
        }
        if addition.service_user.is_some() {
            host.service_user = addition.service_user;
        }
        if addition.require_sudo.is_some() {
            host.require_sudo = addition.require_sudo;
        }
        if !addition.tags.is_empty() {
            host.tags = addition.tags;
        }
        host.data.extend(addition.data);
        Ok(())
    }

    /// Moves `max_parallel` out of the `[component:NAME]` sections into
    /// [`Environment::max_parallel`]; returns the values that are no
    /// limit.
    fn take_max_parallel(&mut self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (name, section) in &mut self.overrides {
            let Some(value) = section.values.shift_remove("max_parallel") else {
                continue;
            };
            let text = match &value.value {
                crate::convert::OverrideValue::Text(t)
                | crate::convert::OverrideValue::Typed(serde_json::Value::String(t)) => t.clone(),
                crate::convert::OverrideValue::Typed(v) => v.to_string(),
            };
            match crate::rollout::Limit::parse(&text, 1) {
                Ok(limit) => {
                    self.max_parallel.insert(name.clone(), limit);
                }
                Err(_) => errors.push(ConfigError::InvalidValue {
                    origin: value.origin.clone(),
                    key: "max_parallel".into(),
                    value: text,
                    expected: format!(
                        "a number of instances of {name} deployed at once (at least 1) or a percentage of its hosts (1% to 100%)"
                    ),
                }),
            }
        }
        errors
    }

    /// Loads environment `name` of the project at `project_dir`.
    pub fn load(
        project_dir: impl Into<PathBuf>,
        name: &str,
    ) -> Result<Environment, Vec<ConfigError>> {
        match Self::load_partial(project_dir, name) {
            (Some(env), errors) if errors.is_empty() => Ok(env),
            (_, errors) => Err(errors),
        }
    }

    /// Like [`Environment::load`], but also returns what could be loaded
    /// despite errors, so that later checks (unknown components, overrides,
    /// resources) can report their problems in the same run. `None` when
    /// nothing usable was read (missing file, syntax error).
    pub fn load_partial(
        project_dir: impl Into<PathBuf>,
        name: &str,
    ) -> (Option<Environment>, Vec<ConfigError>) {
        let project_dir = project_dir.into();
        let name = environment_name(name);
        let file = match locate(&project_dir, &name) {
            Ok(f) => f,
            Err(e) => return (None, vec![e]),
        };
        let source = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(source) => return (None, vec![ConfigError::Read { file, source }]),
        };
        Self::from_source_partial(&project_dir, &name, &file, &source)
    }

    /// Parses an environment from text; `file`'s extension picks the format.
    pub fn from_source(
        project_dir: &std::path::Path,
        name: &str,
        file: &std::path::Path,
        source: &str,
    ) -> Result<Environment, Vec<ConfigError>> {
        match Self::from_source_partial(project_dir, name, file, source) {
            (Some(env), errors) if errors.is_empty() => Ok(env),
            (_, errors) => Err(errors),
        }
    }

    /// [`Environment::from_source`], keeping what loaded despite errors.
    pub fn from_source_partial(
        project_dir: &std::path::Path,
        name: &str,
        file: &std::path::Path,
        source: &str,
    ) -> (Option<Environment>, Vec<ConfigError>) {
        let mut env = Environment {
            name: name.to_string(),
            project_dir: project_dir.to_path_buf(),
            file: file.to_path_buf(),
            settings: Settings::default(),
            hosts: IndexMap::new(),
            overrides: IndexMap::new(),
            max_parallel: IndexMap::new(),
            resolver: Vec::new(),
            vfs: Vfs::None,
            warnings: Vec::new(),
            secrets: Default::default(),
            assets: Default::default(),
        };
        let mut errors = if file.extension().is_some_and(|e| e == "toml") {
            from_toml::load(&mut env, source)
        } else {
            from_ini::load(&mut env, source)
        };
        errors.extend(env.take_max_parallel());
        let unreadable = errors
            .iter()
            .any(|e| matches!(e, ConfigError::Syntax { .. }));
        if unreadable {
            return (None, errors);
        }
        if env.hosts.is_empty() && errors.is_empty() {
            return (
                None,
                vec![ConfigError::NoHosts {
                    file: file.to_path_buf(),
                }],
            );
        }
        (Some(env), errors)
    }

    /// The platform for `host`: the CLI's choice wins (an empty string means
    /// "no platform"), then the host's `platform`, the environment's
    /// `platform`, and finally `host_domain` (batou §3.13).
    pub fn platform_of(&self, host: &HostConfig, cli: Option<&str>) -> Option<String> {
        if let Some(p) = cli {
            return (!p.is_empty()).then(|| p.to_string());
        }
        host.platform
            .clone()
            .or_else(|| self.settings.platform.clone())
            .or_else(|| self.settings.host_domain.clone())
    }

    /// The user `host` deploys as: its own `service_user`, else the
    /// environment's.
    pub fn service_user_of(&self, host: &HostConfig) -> Option<String> {
        host.service_user
            .clone()
            .or_else(|| self.settings.service_user.clone())
    }

    /// The name ssh connects to: `name.host_domain`, or the name itself.
    pub fn fqdn_of(&self, host: &HostConfig) -> String {
        match &self.settings.host_domain {
            Some(d) if !d.is_empty() => format!("{}.{d}", host.name),
            _ => host.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
