//! `[resolver]` overrides: fixed IP addresses for host names.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// A `[resolver]` value that is not an IP address (batou's
/// `InvalidIPAddressError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Not a valid IP address: {value}")]
pub struct InvalidIpAddress {
    /// The host name the value was given for.
    pub host: String,
    /// The offending text, trimmed.
    pub value: String,
    /// The line it is on (see [`ResolverOverrides::parse`]).
    pub line: usize,
}

/// Fixed addresses from `[resolver]`: per host name, one IPv4 and one IPv6
/// address. They win over DNS and exist to make names resolvable that DNS
/// does not know (yet), e.g. on fresh VMs.
///
/// Host names match case-insensitively and without a trailing dot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolverOverrides {
    v4: BTreeMap<String, Ipv4Addr>,
    v6: BTreeMap<String, Ipv6Addr>,
}

fn normalize(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl ResolverOverrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `[resolver]` entries: `(host, raw value, line)`, where the raw
    /// value holds one or more IP addresses on separate lines and `line` is
    /// the line the value starts on (the line of the key).
    ///
    /// The address on the value's n-th line (counting from 0) is reported on
    /// `line + n`, so keep the value's first line even if it is empty
    /// (`host =` followed by indented addresses). As in batou the last
    /// address of each family wins. Every invalid address is reported.
    ///
    /// ```
    /// use batou_core::address::ResolverOverrides;
    ///
    /// let overrides = ResolverOverrides::parse([
    ///     ("db".to_string(), "\n10.0.0.5\nfd00::5".to_string(), 7),
    /// ]).unwrap();
    /// assert_eq!(overrides.v4("db"), Some("10.0.0.5".parse().unwrap()));
    /// assert_eq!(overrides.v6("db"), Some("fd00::5".parse().unwrap()));
    ///
    /// let errors = ResolverOverrides::parse([
    ///     ("db".to_string(), "\n10.0.0.5\nlocalhost".to_string(), 7),
    /// ]).unwrap_err();
    /// assert_eq!(errors[0].to_string(), "Not a valid IP address: localhost");
    /// assert_eq!(errors[0].line, 9);
    /// ```
    pub fn parse(
        entries: impl IntoIterator<Item = (String, String, usize)>,
    ) -> Result<ResolverOverrides, Vec<InvalidIpAddress>> {
        let mut overrides = ResolverOverrides::new();
        let mut errors = Vec::new();
        for (host, raw, line) in entries {
            for (offset, text) in raw.lines().enumerate() {
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                // batou sorts by `.` versus `:` and never checks the value;
                // parsing catches typos before they reach a config file.
                match text.parse::<IpAddr>() {
                    Ok(IpAddr::V4(ip)) => overrides.insert_v4(&host, ip),
                    Ok(IpAddr::V6(ip)) => overrides.insert_v6(&host, ip),
                    Err(_) => errors.push(InvalidIpAddress {
                        host: host.clone(),
                        value: text.to_string(),
                        line: line + offset,
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(overrides)
        } else {
            Err(errors)
        }
    }

    /// Sets the IPv4 address for `host`, replacing an earlier one.
    pub fn insert_v4(&mut self, host: &str, ip: Ipv4Addr) {
        self.v4.insert(normalize(host), ip);
    }

    /// Sets the IPv6 address for `host`, replacing an earlier one.
    pub fn insert_v6(&mut self, host: &str, ip: Ipv6Addr) {
        self.v6.insert(normalize(host), ip);
    }

    /// Adds all of `other`'s entries; `other` wins where both have one.
    pub fn extend(&mut self, other: ResolverOverrides) {
        self.v4.extend(other.v4);
        self.v6.extend(other.v6);
    }

    /// The IPv4 override for `host`.
    pub fn v4(&self, host: &str) -> Option<Ipv4Addr> {
        self.v4.get(&normalize(host)).copied()
    }

    /// The IPv6 override for `host`.
    pub fn v6(&self, host: &str) -> Option<Ipv6Addr> {
        self.v6.get(&normalize(host)).copied()
    }

    /// All IPv4 overrides, sorted by (normalized) host name.
    pub fn iter_v4(&self) -> impl Iterator<Item = (&str, Ipv4Addr)> {
        self.v4.iter().map(|(host, ip)| (host.as_str(), *ip))
    }

    /// All IPv6 overrides, sorted by (normalized) host name.
    pub fn iter_v6(&self) -> impl Iterator<Item = (&str, Ipv6Addr)> {
        self.v6.iter().map(|(host, ip)| (host.as_str(), *ip))
    }

    /// Whether there are no overrides at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}
