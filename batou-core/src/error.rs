//! Typed errors. The library only builds them; `batou-cli` renders them with
//! source excerpts, hosts and components, and maps them to exit codes.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::address::AddressError;
use crate::convert::ConversionError;
use crate::host::{CommandError, HostError};
use crate::template::TemplateError;

/// Shorthand used throughout component code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in an environment (or secrets) file a value was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Byte range in the file, for underlining the exact text.
    pub span: Option<Range<usize>>,
}

impl Origin {
    pub fn new(file: impl Into<PathBuf>, line: usize, span: Option<Range<usize>>) -> Self {
        Origin {
            file: file.into(),
            line,
            span,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What a component's `configure`, `verify` or `update` can fail with.
///
/// Component code mostly uses `?` on host operations, templates and
/// commands; [`Error::msg`] covers the rest:
///
/// ```
/// # use batou_core::Error;
/// fn check(port: u16) -> batou_core::Result<()> {
///     if port == 0 {
///         return Err(Error::msg("port must not be 0"));
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Message(String),
    /// The component was used wrongly (batou's `ComponentUsageError`).
    #[error("component usage error: {0}")]
    Usage(String),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Conversion(#[from] ConversionError),
    #[error("resource `{key}`: {message}")]
    Resource { key: String, message: String },
    /// A required resource is not there yet; the engine configures this
    /// root again later and reports it only if it never appears
    /// (batou's `SilentConfigurationError`).
    #[error("waiting for resource `{key}`")]
    Retry { key: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A SIGINT stopped the deploy (see [`crate::interrupt`]) before
    /// these roots (`host: root`) were deployed.
    #[error("interrupted (SIGINT); not deployed: {}", .not_deployed.join(", "))]
    Interrupted { not_deployed: Vec<String> },
}

impl Error {
    /// An error with a free-form message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Message(message.into())
    }

    /// Misuse of a component, e.g. a required attribute left empty.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }
}

/// One resource requirement that nobody satisfied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsatisfied {
    pub key: String,
    pub host: Option<String>,
    pub required_by: Vec<String>,
}

/// One resource that was provided but that nobody required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unused {
    pub key: String,
    pub provided_by: String,
    pub value: String,
}

/// A problem with the environment or the model, found before any host is
/// touched. All of them are collected and reported together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment `{name}` (looked for {})", list_paths(.searched))]
    MissingEnvironment {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("environment `{name}` is defined twice: {}", list_paths(.files))]
    AmbiguousEnvironment { name: String, files: Vec<PathBuf> },
    #[error("cannot read {}: {source}", .file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{message}")]
    Syntax { origin: Origin, message: String },
    #[error("superfluous section in environment: {section}")]
    SuperfluousSection { origin: Origin, section: String },
    #[error("override section for unknown component found: {component}")]
    SuperfluousComponentSection {
        origin: Origin,
        component: String,
        known: Vec<String>,
    },
    #[error("host `{host}` has no `components` key")]
    MissingComponents { origin: Origin, host: String },
    #[error("duplicate host: {host} (first defined at {first})")]
    DuplicateHost {
        origin: Origin,
        host: String,
        first: Origin,
    },
    #[error("invalid value for `{key}`: {value:?} is not {expected}")]
    InvalidValue {
        origin: Origin,
        key: String,
        value: String,
        expected: String,
    },
    #[error("not a valid IP address for `{host}`: {value}")]
    InvalidIpAddress {
        origin: Origin,
        host: String,
        value: String,
    },
    #[error("missing component: {component}")]
    UnknownComponent {
        origin: Origin,
        host: String,
        component: String,
        known: Vec<String>,
    },
    #[error("no host found in environment")]
    NoHosts { file: PathBuf },
    #[error("override for undefined attribute `{key}` of component `{component}`")]
    UnknownAttribute {
        origin: Origin,
        host: String,
        component: String,
        key: String,
        known: Vec<String>,
    },
    #[error(
        "cannot set `{component}.{key}`: the component computes it in configure (#[attr(computed)])"
    )]
    ComputedAttribute {
        origin: Origin,
        host: String,
        component: String,
        key: String,
    },
    #[error("cannot convert `{component}.{key}`: {message}")]
    Conversion {
        origin: Origin,
        host: String,
        component: String,
        key: String,
        message: String,
    },
    #[error("error while expanding attribute `{component}.{key}`: {message}")]
    Expansion {
        origin: Origin,
        host: String,
        component: String,
        key: String,
        message: String,
    },
    #[error("{component}: {source}")]
    Component {
        host: String,
        component: String,
        source: Error,
    },
    #[error("unsatisfied resource requirements: {}", describe_unsatisfied(.resources))]
    UnsatisfiedResources { resources: Vec<Unsatisfied> },
    #[error("unused provided resources: {}", describe_unused(.resources))]
    UnusedResources { resources: Vec<Unused> },
    #[error("found dependency cycle: {}", .members.join(" -> "))]
    Cycle { members: Vec<String> },
    #[error("{} remaining unconfigured component(s): {}", .components.len(), .components.join(", "))]
    NonConvergence { components: Vec<String> },
    /// Not an error of its own but batou's summary after the others (its
    /// #342): every root left unconfigured, by name. Not counted as an
    /// error ([`ConfigError::is_summary`]).
    #[error("{} remaining unconfigured component(s): {}", .components.len(), .components.join(", "))]
    Unconfigured { components: Vec<String> },
    /// Secrets could not be found, decrypted or parsed.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("secrets section for unknown component found: {component}")]
    SuperfluousSecretsSection {
        origin: Origin,
        component: String,
        known: Vec<String>,
    },
    #[error("secrets section for unknown host found: {host}")]
    UnknownHostSecretsSection {
        origin: Origin,
        host: String,
        known: Vec<String>,
    },
    /// `origin` is the secrets file, `environment` the environment file.
    #[error(
        "A value {component}.{key} is defined both in environment and secrets. (environment: {environment}, secrets: {origin})"
    )]
    DuplicateOverride {
        origin: Origin,
        component: String,
        key: String,
        environment: Origin,
    },
    /// An error an agent reported while configuring on its host; the same
    /// error from several hosts is reported once, with all of them.
    #[error("{message}")]
    Reported {
        message: String,
        origin: Option<Origin>,
        host: Option<String>,
        component: Option<String>,
        hint: Option<String>,
        /// The hosts that reported it.
        affected: Vec<String>,
    },
}

impl ConfigError {
    /// The file and line the error is about, if it is about one.
    pub fn origin(&self) -> Option<&Origin> {
        use ConfigError::*;
        match self {
            Syntax { origin, .. }
            | SuperfluousSection { origin, .. }
            | SuperfluousComponentSection { origin, .. }
            | MissingComponents { origin, .. }
            | DuplicateHost { origin, .. }
            | InvalidValue { origin, .. }
            | InvalidIpAddress { origin, .. }
            | UnknownComponent { origin, .. }
            | UnknownAttribute { origin, .. }
            | Conversion { origin, .. }
            | ComputedAttribute { origin, .. }
            | Expansion { origin, .. }
            | SuperfluousSecretsSection { origin, .. }
            | UnknownHostSecretsSection { origin, .. }
            | DuplicateOverride { origin, .. } => Some(origin),
            Reported { origin, .. } => origin.as_ref(),
            _ => None,
        }
    }

    /// The host the error concerns, if one.
    pub fn host(&self) -> Option<&str> {
        use ConfigError::*;
        match self {
            MissingComponents { host, .. }
            | DuplicateHost { host, .. }
            | UnknownComponent { host, .. }
            | UnknownAttribute { host, .. }
            | Conversion { host, .. }
            | ComputedAttribute { host, .. }
            | Expansion { host, .. }
            | Component { host, .. }
            | UnknownHostSecretsSection { host, .. } => Some(host),
            Reported { host, .. } => host.as_deref(),
            _ => None,
        }
    }

    /// The component the error concerns, if one.
    pub fn component(&self) -> Option<&str> {
        use ConfigError::*;
        match self {
            SuperfluousComponentSection { component, .. }
            | UnknownComponent { component, .. }
            | UnknownAttribute { component, .. }
            | Conversion { component, .. }
            | ComputedAttribute { component, .. }
            | Expansion { component, .. }
            | Component { component, .. }
            | SuperfluousSecretsSection { component, .. }
            | DuplicateOverride { component, .. } => Some(component),
            Reported { component, .. } => component.as_deref(),
            _ => None,
        }
    }

    /// A suggestion for fixing the error, where one helps.
    pub fn hint(&self) -> Option<String> {
        use ConfigError::*;
        match self {
            UnknownAttribute { key, known, .. } => Some(suggest(key, known, "attributes")),
            UnknownComponent { component, known, .. }
            | SuperfluousComponentSection {
                component, known, ..
            }
            | SuperfluousSecretsSection {
                component, known, ..
            } => Some(suggest(component, known, "components")),
            UnknownHostSecretsSection { host, known, .. } => Some(suggest(host, known, "hosts")),
            DuplicateOverride { .. } => {
                Some("remove the value from either the environment or the secrets".into())
            }
            Secrets(e) => e.hint(),
            Reported { hint, .. } => hint.clone(),
            SuperfluousSection { .. } => Some(
                "allowed sections: [environment], [hosts], [host:NAME], [component:NAME], [resolver], [vfs], [provisioner:NAME]"
                    .into(),
            ),
            MissingComponents { .. } => Some(
                "add `components = ...` to the host section, or list the host in [hosts] (then the section adds its keys to it)"
                    .into(),
            ),
            NoHosts { .. } => Some("list hosts in [hosts] or in [host:NAME] sections".into()),
            Cycle { .. } => Some(
                "break the cycle with `reverse` on one of the requirements, or provide the value from another component"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Whether this sums up the other errors rather than being one (one
    /// mistake is one error: a summary is shown, not counted).
    pub fn is_summary(&self) -> bool {
        matches!(self, ConfigError::Unconfigured { .. })
    }

    /// The hosts that reported this error (for errors from agents).
    pub fn affected_hosts(&self) -> &[String] {
        match self {
            ConfigError::Reported { affected, .. } => affected,
            _ => &[],
        }
    }

    /// A key to report errors in a stable order: by file position, then by
    /// kind of problem.
    pub fn sort_key(&self) -> (usize, PathBuf, usize, String) {
        let rank = match self {
            ConfigError::Component { .. } => 2,
            ConfigError::UnsatisfiedResources { .. }
            | ConfigError::UnusedResources { .. }
            | ConfigError::Cycle { .. }
            | ConfigError::NonConvergence { .. } => 3,
            // batou's summary of what is left comes last.
            ConfigError::Unconfigured { .. } => 4,
            _ => 1,
        };
        match self.origin() {
            Some(o) => (rank, o.file.clone(), o.line, self.to_string()),
            None => (rank, PathBuf::new(), 0, self.to_string()),
        }
    }
}

/// A component failed while deploying.
#[derive(Debug, thiserror::Error)]
#[error("{host}: {component}: {source}")]
pub struct DeployError {
    pub host: String,
    /// Breadcrumbs of the failing component, e.g. `Hello > File('x')`.
    pub component: String,
    pub source: Error,
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_unsatisfied(list: &[Unsatisfied]) -> String {
    list.iter()
        .map(|u| match &u.host {
            Some(h) => format!(
                "`{}` on `{h}` required by {}",
                u.key,
                u.required_by.join(", ")
            ),
            None => format!("`{}` required by {}", u.key, u.required_by.join(", ")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_unused(list: &[Unused]) -> String {
    list.iter()
        .map(|u| {
            format!(
                "`{}` provided by {} with value {}",
                u.key, u.provided_by, u.value
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The known name closest to a misspelt `name`, if one is close enough.
pub(crate) fn closest<'k>(name: &str, known: &'k [String]) -> Option<&'k String> {
    known
        .iter()
        .filter(|k| edit_distance(name, k) <= 2.max(name.len() / 4))
        .min_by_key(|k| edit_distance(name, k))
}

/// "did you mean" for a misspelt name, else the list of known names.
fn suggest(name: &str, known: &[String], what: &str) -> String {
    let close = closest(name, known);
    match close {
        Some(k) => format!("did you mean `{k}`?"),
        None if known.is_empty() => format!("there are no {what}"),
        None => format!("known {what}: {}", known.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_finds_close_names() {
        let known = vec!["port".to_string(), "address".to_string()];
        assert_eq!(
            suggest("prot", &known, "attributes"),
            "did you mean `port`?"
        );
        assert_eq!(
            suggest("zzzzzz", &known, "attributes"),
            "known attributes: port, address"
        );
    }
}
