//! Tests against a real DNS server: a private dnsmasq on 127.0.0.1.

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// The records every test server serves. `--local` makes dnsmasq answer
/// NXDOMAIN for other names under batou.test instead of forwarding them
/// (it has no upstream anyway: `--no-resolv`).
const RECORDS: &[&str] = &[
    "--local=/batou.test/",
    "--host-record=svc.batou.test,10.99.0.7,fd00::7",
    "--host-record=v4only.batou.test,10.99.0.8",
    "--host-record=ll.batou.test,10.99.0.9,fe80::9",
    // Two AAAA records: link-local first, then a usable one.
    "--host-record=mixed.batou.test,fe80::2",
    "--host-record=mixed.batou.test,fd00::2",
    "--host-record=overridden.batou.test,10.99.0.10,fd00::10",
];

/// A dnsmasq process serving [`RECORDS`] on 127.0.0.1 and a free port,
/// killed on drop.
pub(super) struct Dnsmasq {
    child: Child,
    pub(super) addr: SocketAddr,
    log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq, or panics saying why it could not: these tests
    /// must not silently pass without a DNS server.
    pub(super) fn start() -> Dnsmasq {
        let mut last_log = String::new();
        // A port that was free when probed can be taken before dnsmasq
        // binds it; try a few.
        for _ in 0..5 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "batou-address-dnsmasq-{}-{port}.log",
                std::process::id()
            ));
            let stderr = File::create(&log)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
            let mut child = Command::new(dnsmasq_binary())
                .args(Dnsmasq::args(port))
                .args(RECORDS)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start dnsmasq ({e}); these tests need it: \
                         `apt-get install -y dnsmasq`"
                    )
                });
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    let _ = std::fs::remove_file(&log);
                    if last_log.contains("in use") {
                        break;
                    }
                    panic!("dnsmasq exited with {status} on port {port}:\n{last_log}");
                }
                // dnsmasq listens on TCP as well as UDP; a TCP connect tells
                // that it is up without occupying its port.
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Dnsmasq { child, addr, log };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let _ = std::fs::remove_file(&log);
                    panic!("dnsmasq did not start listening on {addr} within 10 s:\n{text}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not find a free port for dnsmasq:\n{last_log}");
    }

    /// Everything but the records; also what the report quotes.
    fn args(port: u16) -> Vec<String> {
        vec![
            "--no-daemon".into(),
            format!("--port={port}"),
            "--listen-address=127.0.0.1".into(),
            "--bind-interfaces".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--conf-file=/dev/null".into(),
        ]
    }

    /// A resolver that asks this server only.
    pub(super) fn resolver(&self, overrides: ResolverOverrides) -> Resolver {
        Resolver::with_nameserver(self.addr, overrides, AddressDefaults::default())
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn dnsmasq_binary() -> &'static str {
    // /usr/sbin is not on every user's PATH.
    if std::path::Path::new("/usr/sbin/dnsmasq").exists() {
        "/usr/sbin/dnsmasq"
    } else {
        "dnsmasq"
    }
}

/// A port that is free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port");
        let port = udp.local_addr().expect("local address").port();
        if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Runs `f` with a resolver for `dns` (plus `overrides`) in scope.
fn in_scope<R>(dns: &Dnsmasq, overrides: ResolverOverrides, f: impl FnOnce() -> R) -> R {
    with_resolver(Arc::new(dns.resolver(overrides)), f)
}

#[test]
fn a_and_aaaa_records_come_from_the_nameserver() {
    let dns = Dnsmasq::start();
    let resolver = dns.resolver(ResolverOverrides::new());
    assert_eq!(resolver.resolve_v4("svc.batou.test"), Ok(v4("10.99.0.7")));
    assert_eq!(resolver.resolve_v6("svc.batou.test"), Ok(v6("fd00::7")));
    // DNS names are case-insensitive.
    assert_eq!(resolver.resolve_v4("SVC.Batou.Test"), Ok(v4("10.99.0.7")));
    assert_eq!(
        resolver.resolve_v6("v4only.batou.test"),
        Err(ResolveError::NoAddress {
            name: "v4only.batou.test".into(),
            family: AddressFamily::V6
        })
    );

    let addr = Address::new("svc.batou.test:8080")
        .unwrap()
        .require_v6(Requirement::Required);
    in_scope(&dns, ResolverOverrides::new(), || {
        assert_eq!(
            addr.listen().unwrap().unwrap().to_string(),
            "10.99.0.7:8080"
        );
        assert_eq!(
            addr.listen_v6().unwrap().unwrap().to_string(),
            "[fd00::7]:8080"
        );
    });
    // The connect side stays the name.
    assert_eq!(addr.connect().to_string(), "svc.batou.test:8080");
}

#[test]
fn link_local_ipv6_addresses_are_skipped() {
    let dns = Dnsmasq::start();
    // dnsmasq rotates the two AAAA records, so fresh resolvers see the
    // link-local one first about half of the time.
    for _ in 0..6 {
        let resolver = dns.resolver(ResolverOverrides::new());
        assert_eq!(resolver.resolve_v6("mixed.batou.test"), Ok(v6("fd00::2")));
    }
    let resolver = dns.resolver(ResolverOverrides::new());
    assert_eq!(
        resolver.resolve_v6("ll.batou.test"),
        Err(ResolveError::OnlyLinkLocal {
            name: "ll.batou.test".into()
        })
    );
    // Its IPv4 address is fine.
    assert_eq!(resolver.resolve_v4("ll.batou.test"), Ok(v4("10.99.0.9")));
}

#[test]
fn a_required_family_that_fails_is_an_error() {
    let dns = Dnsmasq::start();
    let addr = Address::new("nx.batou.test:80").unwrap();
    let err = in_scope(&dns, ResolverOverrides::new(), || addr.listen()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error while resolving nx.batou.test:80: the name nx.batou.test does not exist (NXDOMAIN)"
    );
    assert_eq!(
        err.resolve_error(),
        Some(&ResolveError::NoSuchName {
            name: "nx.batou.test".into()
        })
    );

    let v6_required = Address::new("v4only.batou.test:80")
        .unwrap()
        .require_v6(Requirement::Required);
    let err = in_scope(&dns, ResolverOverrides::new(), || v6_required.listen_v6()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error while resolving v4only.batou.test:80: no IPv6 address found for v4only.batou.test"
    );
}

#[test]
fn an_optional_family_that_fails_is_none() {
    let dns = Dnsmasq::start();
    let nowhere = Address::new("nx.batou.test:80")
        .unwrap()
        .require_v4(Requirement::Optional);
    let v4_only = Address::new("v4only.batou.test:80")
        .unwrap()
        .require_v6(Requirement::Optional);
    in_scope(&dns, ResolverOverrides::new(), || {
        assert_eq!(nowhere.listen(), Ok(None));
        assert_eq!(v4_only.listen_v6(), Ok(None));
        assert_eq!(
            v4_only.listen().unwrap().unwrap().to_string(),
            "10.99.0.8:80"
        );
    });
}

#[test]
fn a_disabled_family_cannot_be_used() {
    let dns = Dnsmasq::start();
    // IPv6 is disabled by the environment's default.
    let addr = Address::new("svc.batou.test:80").unwrap();
    let err = in_scope(&dns, ResolverOverrides::new(), || addr.listen_v6()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Trying to access address family IPv6 which is not configured for svc.batou.test:80."
    );
    assert!(
        err.hint().unwrap().contains("require_v6"),
        "{:?}",
        err.hint()
    );

    // And the environment can turn it on.
    let defaults = AddressDefaults {
        require_v4: Requirement::Disabled,
        require_v6: Requirement::Required,
    };
    let resolver = Resolver::with_nameserver(dns.addr, ResolverOverrides::new(), defaults);
    let addr = Address::new("svc.batou.test:80").unwrap();
    with_resolver(Arc::new(resolver), || {
        assert_eq!(
            addr.listen_v6().unwrap().unwrap().to_string(),
            "[fd00::7]:80"
        );
        assert_eq!(
            addr.listen().unwrap_err().to_string(),
            "Trying to access address family IPv4 which is not configured for svc.batou.test:80."
        );
    });
}

#[test]
fn overrides_short_circuit_dns() {
    let dns = Dnsmasq::start();
    let overrides = ResolverOverrides::parse([
        (
            "unknown.batou.test".to_string(),
            "10.1.2.3\nfd00::123".to_string(),
            3,
        ),
        (
            "overridden.batou.test".to_string(),
            "10.1.2.4".to_string(),
            5,
        ),
    ])
    .unwrap();

    // Without overrides DNS knows one name and not the other ...
    let plain = dns.resolver(ResolverOverrides::new());
    assert_eq!(
        plain.resolve_v4("overridden.batou.test"),
        Ok(v4("10.99.0.10"))
    );
    assert!(plain.resolve_v4("unknown.batou.test").is_err());

    // ... with them, the overrides answer, per family.
    let resolver = dns.resolver(overrides.clone());
    assert_eq!(
        resolver.resolve_v4("unknown.batou.test"),
        Ok(v4("10.1.2.3"))
    );
    assert_eq!(
        resolver.resolve_v6("unknown.batou.test"),
        Ok(v6("fd00::123"))
    );
    assert_eq!(
        resolver.resolve_v4("overridden.batou.test"),
        Ok(v4("10.1.2.4"))
    );
    // No IPv6 override for that name, so DNS answers.
    assert_eq!(
        resolver.resolve_v6("overridden.batou.test"),
        Ok(v6("fd00::10"))
    );

    let addr = Address::new("unknown.batou.test:443").unwrap();
    in_scope(&dns, overrides, || {
        assert_eq!(addr.listen().unwrap().unwrap().to_string(), "10.1.2.3:443");
    });
}

#[test]
fn answers_are_remembered_per_name() {
    let mut dns = Dnsmasq::start();
    let resolver = dns.resolver(ResolverOverrides::new());
    assert_eq!(resolver.resolve_v4("svc.batou.test"), Ok(v4("10.99.0.7")));
    assert!(resolver.resolve_v4("nx.batou.test").is_err());
    dns.child.kill().unwrap();
    dns.child.wait().unwrap();
    // The server is gone; only the cache can answer, and without asking
    // (asking a dead server takes seconds).
    let started = Instant::now();
    assert_eq!(resolver.resolve_v4("svc.batou.test"), Ok(v4("10.99.0.7")));
    assert_eq!(
        resolver.resolve_v4("nx.batou.test"),
        Err(ResolveError::NoSuchName {
            name: "nx.batou.test".into()
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_dead_nameserver_fails_quickly() {
    // Nothing listens on a port that was free a moment ago.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let resolver =
        Resolver::with_nameserver(addr, ResolverOverrides::new(), AddressDefaults::default());
    let started = Instant::now();
    let err = resolver.resolve_v4("svc.batou.test").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            ResolveError::Timeout { .. } | ResolveError::Lookup { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn lookups_work_inside_an_async_runtime() {
    let dns = Dnsmasq::start();
    let resolver = Arc::new(dns.resolver(ResolverOverrides::new()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inner = resolver.clone();
    let ip = runtime.block_on(async move { inner.resolve_v4("svc.batou.test") });
    assert_eq!(ip, Ok(v4("10.99.0.7")));
    // Dropping the last reference (and its runtime) in async code must not
    // panic either.
    runtime.block_on(async move { drop(resolver) });
}

#[test]
fn templates_see_listen_addresses() {
    #[derive(serde::Serialize)]
    struct Component {
        name: String,
        address: Address,
    }

    let dns = Dnsmasq::start();
    let component = Component {
        name: "web".into(),
        address: Address::new("svc.batou.test:8080")
            .unwrap()
            .require_v6(Requirement::Optional),
    };
    let env = minijinja::Environment::new();
    let template = "{{ component.address }} {{ component.address.listen }} \
                    {{ component.address.listen.host }} {{ component.address.listen.port }} \
                    {{ component.address.listen_v6 }} {{ component.address.connect.host }} \
                    {{ component.address.port }}";
    let out = in_scope(&dns, ResolverOverrides::new(), || {
        env.render_str(
            template,
            minijinja::context! { component => minijinja::value::Serde(&component) },
        )
    })
    .unwrap();
    assert_eq!(
        out,
        "svc.batou.test:8080 10.99.0.7:8080 10.99.0.7 8080 [fd00::7]:8080 svc.batou.test 8080"
    );

    // A plain `Address` value works the same.
    let a = Address::new("v4only.batou.test:25").unwrap();
    let out = in_scope(&dns, ResolverOverrides::new(), || {
        env.render_str(
            "{{ a }} {{ a.listen }} {{ a.listen.host }}",
            minijinja::context! { a },
        )
    })
    .unwrap();
    assert_eq!(out, "v4only.batou.test:25 10.99.0.8:25 10.99.0.8");
}

#[test]
fn template_errors_carry_the_address_error() {
    let dns = Dnsmasq::start();
    let env = minijinja::Environment::new();
    let a = Address::new("nx.batou.test:80").unwrap();
    let err = in_scope(&dns, ResolverOverrides::new(), || {
        env.render_str("listen {{ a.listen }}", minijinja::context! { a })
    })
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(
            "Error while resolving nx.batou.test:80: the name nx.batou.test does not exist"
        ),
        "{message}"
    );

    let disabled = Address::new("svc.batou.test:80").unwrap();
    let err = in_scope(&dns, ResolverOverrides::new(), || {
        env.render_str(
            "{{ a.listen_v6.host }}",
            minijinja::context! { a => disabled },
        )
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("Trying to access address family IPv6 which is not configured"),
        "{err}"
    );
}
