//! The [`Resolver`]: `[resolver]` overrides, then DNS; and the ambient
//! resolver scope that [`Address::listen`](super::Address::listen) uses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use super::AddressDefaults;
use super::dns::Dns;
use super::overrides::ResolverOverrides;

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AddressFamily {
    /// IPv4 (A records).
    V4,
    /// IPv6 (AAAA records).
    V6,
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::V4 => "IPv4",
            AddressFamily::V6 => "IPv6",
        })
    }
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The DNS says the name does not exist (NXDOMAIN).
    #[error("the name {name} does not exist (NXDOMAIN)")]
    NoSuchName {
        /// The name looked up.
        name: String,
    },
    /// The name exists but has no address of the family (NODATA).
    #[error("no {family} address found for {name}")]
    NoAddress {
        /// The name looked up.
        name: String,
        /// The family asked for.
        family: AddressFamily,
    },
    /// Only link-local IPv6 addresses, which services cannot listen on
    /// without naming an interface.
    #[error("only link-local (fe80::/10) IPv6 addresses found for {name}")]
    OnlyLinkLocal {
        /// The name looked up.
        name: String,
    },
    /// An IP address literal of the other family.
    #[error("{name} is an {actual} address, not {family}")]
    WrongFamily {
        /// The literal.
        name: String,
        /// The family asked for.
        family: AddressFamily,
        /// The literal's family.
        actual: AddressFamily,
    },
    /// No answer within the time limit.
    #[error("timed out waiting for the DNS server to answer for {name} ({family})")]
    Timeout {
        /// The name looked up.
        name: String,
        /// The family asked for.
        family: AddressFamily,
    },
    /// Any other lookup failure.
    #[error("DNS lookup of {name} ({family}) failed: {message}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The family asked for.
        family: AddressFamily,
        /// The DNS library's message.
        message: String,
    },
    /// The name cannot be a DNS name.
    #[error("{name:?} is not a valid host name: {message}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why not.
        message: String,
    },
    /// The system's DNS configuration could not be used.
    #[error("cannot set up DNS resolution: {message}")]
    Setup {
        /// What went wrong.
        message: String,
    },
    /// The resolver was created with [`Resolver::offline`].
    #[error("DNS lookups are disabled; add {name} to [resolver] to give it an address")]
    Offline {
        /// The name looked up.
        name: String,
    },
}

/// Where names go that are neither IP literals nor overridden.
enum Backend {
    /// /etc/resolv.conf and /etc/hosts.
    System,
    /// One nameserver over UDP, hosts file ignored.
    Nameserver(SocketAddr),
    /// No DNS at all.
    Offline,
}

type Cached<T> = HashMap<String, Result<T, ResolveError>>;

/// Resolves host names to listen addresses for [`Address`](super::Address):
/// IP literals stand for themselves, `[resolver]` overrides come next, then
/// DNS. Answers (and failures) are remembered per name for the life of the
/// resolver, so one deployment sees one consistent answer.
///
/// It also carries the environment's `require_v4`/`require_v6` defaults.
/// Create one per environment, wrap it in an [`Arc`] and install it with
/// [`with_resolver`] while configuring.
///
/// DNS lookups use hickory-resolver, which has no blocking API: the
/// resolver owns a single-threaded tokio runtime, created on the first
/// lookup that needs DNS. Each query times out after 3 s and is tried
/// twice, so a dead server shows up as an error, not a hang.
pub struct Resolver {
    overrides: ResolverOverrides,
    defaults: AddressDefaults,
    backend: Backend,
    dns: OnceLock<Result<Dns, ResolveError>>,
    v4: Mutex<Cached<Ipv4Addr>>,
    v6: Mutex<Cached<Ipv6Addr>>,
    lenient: bool,
}

// hickory's caches are not marked unwind-safe, but a panic cannot leave
// anything here half-updated that later callers would trust: our own
// caches sit behind mutexes and only ever gain complete entries. Engines
// that catch panics from component code can thus capture a resolver.
impl std::panic::UnwindSafe for Resolver {}
impl std::panic::RefUnwindSafe for Resolver {}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.backend {
            Backend::System => "system".to_string(),
            Backend::Nameserver(addr) => format!("nameserver {addr}"),
            Backend::Offline => "offline".to_string(),
        };
        f.debug_struct("Resolver")
            .field("overrides", &self.overrides)
            .field("defaults", &self.defaults)
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    fn with_backend(
        backend: Backend,
        overrides: ResolverOverrides,
        defaults: AddressDefaults,
    ) -> Resolver {
        Resolver {
            overrides,
            defaults,
            backend,
            dns: OnceLock::new(),
            v4: Mutex::default(),
            v6: Mutex::default(),
            lenient: false,
        }
    }

    /// Names DNS cannot resolve resolve to the unspecified address
    /// (`0.0.0.0`, `::`) instead of failing. The controller configures a
    /// remote model this way, only to check it and to order it: names that
    /// exist only in the targets' networks are resolved for real by the
    /// agents, on the targets.
    pub fn lenient(mut self) -> Resolver {
        self.lenient = true;
        self
    }

    /// Uses the system's DNS configuration: /etc/resolv.conf (nameservers,
    /// search domains) and /etc/hosts. Unlike getaddrinfo it does not follow
    /// nsswitch.conf.
    ///
    /// Reading the configuration is deferred to the first DNS lookup, so a
    /// machine without /etc/resolv.conf can still deploy addresses that are
    /// IP literals or overridden.
    pub fn system(overrides: ResolverOverrides, defaults: AddressDefaults) -> Resolver {
        Resolver::with_backend(Backend::System, overrides, defaults)
    }

    /// Asks exactly one nameserver, over UDP, and ignores /etc/hosts.
    /// Meant for tests against a local DNS server.
    pub fn with_nameserver(
        nameserver: SocketAddr,
        overrides: ResolverOverrides,
        defaults: AddressDefaults,
    ) -> Resolver {
        Resolver::with_backend(Backend::Nameserver(nameserver), overrides, defaults)
    }

    /// Never queries DNS: only IP literals and overrides resolve; every
    /// other name fails with [`ResolveError::Offline`].
    pub fn offline(overrides: ResolverOverrides, defaults: AddressDefaults) -> Resolver {
        Resolver::with_backend(Backend::Offline, overrides, defaults)
    }

    /// The `[resolver]` overrides.
    pub fn overrides(&self) -> &ResolverOverrides {
        &self.overrides
    }

    /// The environment's `require_v4`/`require_v6` defaults.
    pub fn defaults(&self) -> &AddressDefaults {
        &self.defaults
    }

    /// The host's IPv4 address: the literal itself, the override, or the
    /// first A record.
    pub fn resolve_v4(&self, host: &str) -> Result<Ipv4Addr, ResolveError> {
        let host = unbracket(host);
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => return Ok(ip),
            Ok(IpAddr::V6(_)) => {
                return Err(ResolveError::WrongFamily {
                    name: host.to_string(),
                    family: AddressFamily::V4,
                    actual: AddressFamily::V6,
                });
            }
            Err(_) => {}
        }
        if let Some(ip) = self.overrides.v4(host) {
            return Ok(ip);
        }
        cached(&self.v4, host, || {
            let found = self.dns(host)?.lookup_v4(host)?;
            found
                .first()
                .copied()
                .ok_or_else(|| ResolveError::NoAddress {
                    name: host.to_string(),
                    family: AddressFamily::V4,
                })
        })
        .or_else(|e| {
            if self.lenient {
                Ok(Ipv4Addr::UNSPECIFIED)
            } else {
                Err(e)
            }
        })
    }

    /// The host's IPv6 address: the literal itself, the override, or the
    /// first AAAA record that is not link-local (fe80::/10).
    pub fn resolve_v6(&self, host: &str) -> Result<Ipv6Addr, ResolveError> {
        let host = unbracket(host);
        let usable = |ip: Ipv6Addr| {
            if is_link_local(ip) {
                Err(ResolveError::OnlyLinkLocal {
                    name: host.to_string(),
                })
            } else {
                Ok(ip)
            }
        };
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => return usable(ip),
            Ok(IpAddr::V4(_)) => {
                return Err(ResolveError::WrongFamily {
                    name: host.to_string(),
                    family: AddressFamily::V6,
                    actual: AddressFamily::V4,
                });
            }
            Err(_) => {}
        }
        // batou drops a link-local override too: services cannot bind it.
        if let Some(ip) = self.overrides.v6(host) {
            return usable(ip);
        }
        cached(&self.v6, host, || {
            let found = self.dns(host)?.lookup_v6(host)?;
            match found.iter().find(|ip| !is_link_local(**ip)) {
                Some(ip) => Ok(*ip),
                None if found.is_empty() => Err(ResolveError::NoAddress {
                    name: host.to_string(),
                    family: AddressFamily::V6,
                }),
                None => Err(ResolveError::OnlyLinkLocal {
                    name: host.to_string(),
                }),
            }
        })
        .or_else(|e| {
            if self.lenient {
                Ok(Ipv6Addr::UNSPECIFIED)
            } else {
                Err(e)
            }
        })
    }

    fn dns(&self, host: &str) -> Result<&Dns, ResolveError> {
        let dns = self.dns.get_or_init(|| match &self.backend {
            Backend::System => Dns::system(),
            Backend::Nameserver(addr) => Dns::nameserver(*addr),
            Backend::Offline => Err(ResolveError::Offline {
                name: String::new(),
            }),
        });
        match dns {
            Ok(dns) => Ok(dns),
            Err(ResolveError::Offline { .. }) => Err(ResolveError::Offline {
                name: host.to_string(),
            }),
            Err(err) => Err(err.clone()),
        }
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// Looks `host` up in `cache`, running `lookup` (without holding the lock,
/// since it may take seconds) on a miss.
fn cached<T: Copy>(
    cache: &Mutex<Cached<T>>,
    host: &str,
    lookup: impl FnOnce() -> Result<T, ResolveError>,
) -> Result<T, ResolveError> {
    // DNS names are case-insensitive.
    let key = host.to_ascii_lowercase();
    // A panic elsewhere while holding the lock leaves the map intact.
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some(hit) = lock().get(&key) {
        return hit.clone();
    }
    let result = lookup();
    lock().entry(key).or_insert(result).clone()
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Resolver>>> = const { RefCell::new(None) };
}

/// Restores the previous resolver when a scope ends, also on unwinding.
struct ScopeGuard(Option<Arc<Resolver>>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        // `try_with`: during thread teardown the slot may already be gone,
        // and there is nothing left to restore then.
        let _ = CURRENT.try_with(|current| *current.borrow_mut() = previous);
    }
}

/// Runs `f` with `resolver` as this thread's current resolver, which
/// [`Address::listen`](super::Address::listen) and templates use. Scopes
/// nest; the previous resolver comes back when `f` returns or panics.
///
/// The scope is per thread: code that hands addresses to another thread
/// must install the resolver there too.
///
/// ```
/// use std::sync::Arc;
/// use batou_core::address::{AddressDefaults, Resolver, ResolverOverrides,
///     current_resolver, with_resolver};
///
/// let resolver = Arc::new(Resolver::offline(ResolverOverrides::new(), AddressDefaults::default()));
/// assert!(current_resolver().is_none());
/// with_resolver(resolver, || assert!(current_resolver().is_some()));
/// assert!(current_resolver().is_none());
/// ```
pub fn with_resolver<R>(resolver: Arc<Resolver>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|current| current.borrow_mut().replace(resolver));
    let _restore = ScopeGuard(previous);
    f()
}

/// This thread's current resolver, if inside [`with_resolver`].
pub fn current_resolver() -> Option<Arc<Resolver>> {
    CURRENT
        .try_with(|current| current.borrow().clone())
        .ok()
        .flatten()
}
