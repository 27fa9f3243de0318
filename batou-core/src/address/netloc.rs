//! [`NetLoc`]: a host with an optional port.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;
use std::str::FromStr;
use std::sync::Arc;

use minijinja::value::{DynObject, Object, ObjectRepr, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AddressError;

/// A network location: a host name or IP address and an optional port.
///
/// It renders as `host`, `host:port`, or `[v6]:port` when the host is an
/// IPv6 address, so it can be pasted into configuration files as is.
/// Equality and ordering go by that rendering (as in batou), so lists of
/// locations sort predictably.
///
/// In templates a `NetLoc` renders as that string and has the attributes
/// `host` and `port`:
///
/// ```
/// use batou_core::address::NetLoc;
///
/// let loc = NetLoc::new("::1", Some(8080));
/// assert_eq!(loc.to_string(), "[::1]:8080");
///
/// let env = minijinja::Environment::new();
/// let out = env
///     .render_str("{{ l }} {{ l.host }} {{ l.port }}", minijinja::context! { l => loc })
///     .unwrap();
/// assert_eq!(out, "[::1]:8080 ::1 8080");
/// ```
#[derive(Debug, Clone)]
pub struct NetLoc {
    /// Host name or IP address, without brackets.
    pub host: String,
    /// The port, if the location has one.
    pub port: Option<u16>,
}

impl NetLoc {
    /// A location from its parts. Brackets around an IPv6 host are removed.
    pub fn new(host: impl Into<String>, port: Option<u16>) -> Self {
        NetLoc {
            host: strip_brackets(host.into()),
            port,
        }
    }

    /// Whether the host is written like an IPv6 address (contains `:`).
    pub fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

pub(super) fn strip_brackets(host: String) -> String {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => host,
    }
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
/// The port is returned as text so callers can word their own errors.
pub(super) fn split_host_port(input: &str) -> Result<(String, Option<&str>), String> {
    if let Some(rest) = input.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("missing `]` after the IPv6 address".into());
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{host:?} in brackets is not an IPv6 address"));
        }
        return match after {
            "" => Ok((host.to_string(), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host.to_string(), Some(port))),
                None => Err(format!("unexpected {after:?} after `]`")),
            },
        };
    }
    match input.matches(':').count() {
        0 => Ok((input.to_string(), None)),
        1 => {
            let (host, port) = input.split_once(':').unwrap_or((input, ""));
            Ok((host.to_string(), Some(port)))
        }
        // A bare IPv6 address is a host without a port; anything else with
        // several colons is ambiguous, so ask for the bracket form.
        _ if input.parse::<Ipv6Addr>().is_ok() => Ok((input.to_string(), None)),
        _ => Err("write IPv6 addresses in brackets, e.g. [::1]:80".into()),
    }
}

impl fmt::Display for NetLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) if self.is_ipv6() => write!(f, "[{}]:{}", self.host, port),
            Some(port) => write!(f, "{}:{}", self.host, port),
            None => f.write_str(&self.host),
        }
    }
}

impl FromStr for NetLoc {
    type Err = AddressError;

    /// Parses `host`, `host:port`, `[v6]:port`, `[v6]` or a bare IPv6
    /// address.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| AddressError::Invalid {
            input: input.to_string(),
            reason,
        };
        let (host, port) = split_host_port(input).map_err(invalid)?;
        let port = match port {
            None => None,
            Some(port) => Some(port.parse::<u16>().map_err(|_| AddressError::InvalidPort {
                input: input.to_string(),
                port: port.to_string(),
            })?),
        };
        Ok(NetLoc { host, port })
    }
}

impl PartialEq for NetLoc {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NetLoc {}

impl PartialOrd for NetLoc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NetLoc {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl Hash for NetLoc {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must agree with `Eq`, which compares renderings.
        self.to_string().hash(state);
    }
}

impl Serialize for NetLoc {
    /// The rendered string, except towards minijinja, which gets an object
    /// so templates can reach `.host` and `.port`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            Value::from_object(self.clone()).serialize(serializer)
        } else {
            serializer.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for NetLoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Object for NetLoc {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "host" => Some(Value::from(self.host.clone())),
            "port" => Some(self.port.map(Value::from).unwrap_or(Value::from(()))),
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

impl From<NetLoc> for Value {
    fn from(loc: NetLoc) -> Value {
        Value::from_object(loc)
    }
}
