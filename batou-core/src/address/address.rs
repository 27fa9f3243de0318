//! [`Address`]: a service address that is connected to by name and
//! listened on by IP.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use minijinja::value::{DynObject, Object, ObjectRepr, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::netloc::{split_host_port, strip_brackets};
use super::resolver::{AddressFamily, ResolveError, Resolver, current_resolver};
use super::{AddressDefaults, NetLoc, Requirement};

/// Why an [`Address`] could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// `Address::new("host")` without a port.
    #[error("Need port for service address.")]
    MissingPort {
        /// The text as given.
        input: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("Invalid port in service address {input:?}: {port:?} is not a number from 0 to 65535.")]
    InvalidPort {
        /// The text as given.
        input: String,
        /// The port part of it.
        port: String,
    },
    /// The text is not `host:port` or `[v6]:port`.
    #[error("Invalid service address {input:?}: {reason}.")]
    Invalid {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Both families are disabled, explicitly or by the environment's
    /// defaults.
    #[error("At least one of `require_v4` or `require_v6` is required. None were selected.")]
    NoFamilyRequired {
        /// The connect address.
        address: String,
    },
    /// `listen` or `listen_v6` was used for a disabled family.
    #[error("Trying to access address family {family} which is not configured for {address}.")]
    FamilyNotConfigured {
        /// The connect address.
        address: String,
        /// The family that was accessed.
        family: AddressFamily,
    },
    /// The family is required and its lookup failed.
    #[error("Error while resolving {address}: {cause}")]
    Resolve {
        /// The connect address.
        address: String,
        /// What the resolver said.
        cause: ResolveError,
    },
    /// `listen`/`listen_v6` was used outside [`with_resolver`](super::with_resolver).
    #[error(
        "Cannot resolve {address}: no resolver in scope \
         (listen addresses are only available while configuring a host)."
    )]
    NoResolver {
        /// The connect address.
        address: String,
    },
}

impl AddressError {
    /// A suggestion to show next to the message, as batou does for a
    /// disabled family.
    pub fn hint(&self) -> Option<String> {
        match self {
            AddressError::FamilyNotConfigured { family, .. } => {
                let key = match family {
                    AddressFamily::V4 => "require_v4",
                    AddressFamily::V6 => "require_v6",
                };
                Some(format!(
                    "Use `.{key}(Requirement::Required)` when creating the Address, \
                     or set `{key} = True` in [environment]."
                ))
            }
            AddressError::MissingPort { .. } => {
                Some("Write the address as `host:port` or `[v6-address]:port`.".into())
            }
            _ => None,
        }
    }

    /// The resolver's error, for [`AddressError::Resolve`].
    pub fn resolve_error(&self) -> Option<&ResolveError> {
        match self {
            AddressError::Resolve { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

type Resolution = Result<Option<NetLoc>, AddressError>;

/// Lookup results, shared by all clones of one address so that a lookup
/// happens at most once however often the address is copied around.
#[derive(Debug, Default)]
struct Resolved {
    v4: OnceLock<Resolution>,
    v6: OnceLock<Resolution>,
}

/// An internet service address: connected to by name, listened on by IP.
///
/// `connect` is the address as written; clients get it in their
/// configuration. `listen` (IPv4) and `listen_v6` are looked up lazily, on
/// first use, through the [`Resolver`] in scope (see
/// [`with_resolver`](super::with_resolver)); `[resolver]` overrides apply.
/// Whether each family must resolve is a [`Requirement`]; if an address
/// does not say, the environment's `require_v4` (default: required) and
/// `require_v6` (default: disabled) apply.
///
/// ```
/// use std::sync::Arc;
/// use batou_core::address::{Address, AddressDefaults, Requirement, Resolver,
///     ResolverOverrides, with_resolver};
///
/// let addr = Address::new("db.example.com:5432")?.require_v6(Requirement::Optional);
/// assert_eq!(addr.to_string(), "db.example.com:5432");
///
/// let mut overrides = ResolverOverrides::new();
/// overrides.insert_v4("db.example.com", "192.0.2.10".parse()?);
/// let resolver = Arc::new(Resolver::offline(overrides, AddressDefaults::default()));
/// with_resolver(resolver, || -> Result<(), Box<dyn std::error::Error>> {
///     assert_eq!(addr.listen()?.unwrap().to_string(), "192.0.2.10:5432");
///     // No IPv6 override and lookups are offline: optional, so `None`.
///     assert_eq!(addr.listen_v6()?, None);
///     Ok(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// In templates an address renders as the connect string and has the
/// attributes `connect`, `listen`, `listen_v6`, `host` and `port`, e.g.
/// `listen {{ component.address.listen }}`.
#[derive(Debug, Clone)]
pub struct Address {
    connect: NetLoc,
    port: u16,
    require_v4: Option<Requirement>,
    require_v6: Option<Requirement>,
    resolved: Arc<Resolved>,
}

impl Address {
    /// Parses `host:port` or `[v6-address]:port`.
    ///
    /// A missing port fails with batou's `Need port for service address.`
    pub fn new(input: &str) -> Result<Address, AddressError> {
        let input = input.trim();
        let invalid = |reason: &str| AddressError::Invalid {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (host, port) = split_host_port(input).map_err(|r| invalid(&r))?;
        if host.contains(':') && !input.starts_with('[') {
            return Err(invalid("write IPv6 addresses in brackets, e.g. [::1]:80"));
        }
        let port = match port {
            Some(port) if !port.is_empty() => port,
            _ => {
                return Err(AddressError::MissingPort {
                    input: input.to_string(),
                });
            }
        };
        let port = port.parse::<u16>().map_err(|_| AddressError::InvalidPort {
            input: input.to_string(),
            port: port.to_string(),
        })?;
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        Ok(Address::with_port(host, port))
    }

    /// An address from a host name (or IP address) and a port.
    pub fn with_port(host: impl Into<String>, port: u16) -> Address {
        Address {
            connect: NetLoc::new(strip_brackets(host.into()), Some(port)),
            port,
            require_v4: None,
            require_v6: None,
            resolved: Arc::default(),
        }
    }

    /// Sets whether an IPv4 listen address is needed, instead of the
    /// environment's `require_v4`.
    pub fn require_v4(mut self, requirement: Requirement) -> Address {
        self.require_v4 = Some(requirement);
        // What was looked up under the old setting may no longer apply.
        self.resolved = Arc::default();
        self
    }

    /// Sets whether an IPv6 listen address is needed, instead of the
    /// environment's `require_v6`.
    pub fn require_v6(mut self, requirement: Requirement) -> Address {
        self.require_v6 = Some(requirement);
        self.resolved = Arc::default();
        self
    }

    /// The address as given, for clients to connect to.
    pub fn connect(&self) -> &NetLoc {
        &self.connect
    }

    /// The host as given (without brackets for IPv6 literals).
    pub fn host(&self) -> &str {
        &self.connect.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The IPv4 address to listen on: the host's first A record (or its
    /// `[resolver]` override), with the port.
    ///
    /// Looked up on first use and then remembered. `Ok(None)` only when
    /// IPv4 is [`Requirement::Optional`] and the lookup failed.
    pub fn listen(&self) -> Result<Option<NetLoc>, AddressError> {
        self.resolve(AddressFamily::V4)
    }

    /// The IPv6 address to listen on: the host's first AAAA record that is
    /// not link-local (or its `[resolver]` override), with the port.
    ///
    /// Like [`listen`](Self::listen); IPv6 is disabled unless the address
    /// or the environment asks for it.
    pub fn listen_v6(&self) -> Result<Option<NetLoc>, AddressError> {
        self.resolve(AddressFamily::V6)
    }

    /// Checks that at least one family is enabled, taking unset
    /// requirements from the resolver in scope. batou does this when the
    /// address is created; call it where the address is configured.
    pub fn validate(&self) -> Result<(), AddressError> {
        self.requirements(current_resolver().as_deref()).map(|_| ())
    }

    fn requirements(
        &self,
        resolver: Option<&Resolver>,
    ) -> Result<(Requirement, Requirement), AddressError> {
        let defaults: Option<AddressDefaults> = resolver.map(|r| *r.defaults());
        let no_resolver = || AddressError::NoResolver {
            address: self.to_string(),
        };
        let v4 = match self.require_v4 {
            Some(r) => r,
            None => defaults.ok_or_else(no_resolver)?.require_v4,
        };
        let v6 = match self.require_v6 {
            Some(r) => r,
            None => defaults.ok_or_else(no_resolver)?.require_v6,
        };
        if v4 == Requirement::Disabled && v6 == Requirement::Disabled {
            return Err(AddressError::NoFamilyRequired {
                address: self.to_string(),
            });
        }
        Ok((v4, v6))
    }

    fn resolve(&self, family: AddressFamily) -> Resolution {
        let cell = match family {
            AddressFamily::V4 => &self.resolved.v4,
            AddressFamily::V6 => &self.resolved.v6,
        };
        if let Some(done) = cell.get() {
            return done.clone();
        }
        let resolver = current_resolver();
        let (v4, v6) = self.requirements(resolver.as_deref())?;
        let requirement = match family {
            AddressFamily::V4 => v4,
            AddressFamily::V6 => v6,
        };
        if requirement == Requirement::Disabled {
            return Err(AddressError::FamilyNotConfigured {
                address: self.to_string(),
                family,
            });
        }
        // Not cached: the same address may well be used inside a scope later.
        let resolver = resolver.ok_or_else(|| AddressError::NoResolver {
            address: self.to_string(),
        })?;
        let looked_up = match family {
            AddressFamily::V4 => resolver.resolve_v4(self.host()).map(IpAddr::V4),
            AddressFamily::V6 => resolver.resolve_v6(self.host()).map(IpAddr::V6),
        };
        let result = match looked_up {
            Ok(ip) => Ok(Some(NetLoc::new(ip.to_string(), Some(self.port)))),
            Err(_) if requirement == Requirement::Optional => Ok(None),
            Err(cause) => Err(AddressError::Resolve {
                address: self.to_string(),
                cause,
            }),
        };
        // Another clone may have won the race; keep its answer so all
        // clones agree.
        cell.get_or_init(|| result).clone()
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Address::new(input)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressError;

    fn try_from(input: &str) -> Result<Self, Self::Error> {
        Address::new(input)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.connect, f)
    }
}

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        self.connect == other.connect
    }
}

impl Eq for Address {}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Address {
    fn cmp(&self, other: &Self) -> Ordering {
        self.connect.cmp(&other.connect)
    }
}

impl Hash for Address {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.connect.hash(state);
    }
}

impl Serialize for Address {
    /// The connect string, so addresses round-trip through JSON and can be
    /// overridden by a string in an environment file. Towards minijinja it
    /// is an object instead, so templates can use `.listen` and friends.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            Value::from_object(self.clone()).serialize(serializer)
        } else {
            serializer.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A listen lookup as a template value. Failures become invalid values,
/// which minijinja turns into a render error carrying our message.
fn template_value(resolution: Resolution) -> Value {
    match resolution {
        Ok(Some(loc)) => Value::from_object(loc),
        Ok(None) => Value::from(()),
        Err(err) => Value::from(
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, err.to_string())
                .with_source(err),
        ),
    }
}

impl Object for Address {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "connect" => Some(Value::from_object(self.connect.clone())),
            "host" => Some(Value::from(self.host())),
            "port" => Some(Value::from(self.port)),
            "listen" => Some(template_value(self.listen())),
            "listen_v6" => Some(template_value(self.listen_v6())),
            _ => None,
        }
    }

    /// Lets `==` and `|sort` in templates agree with Rust's comparison.
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some((**self).cmp(other.downcast_ref::<Self>()?))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl From<Address> for Value {
    fn from(address: Address) -> Value {
        Value::from_object(address)
    }
}
