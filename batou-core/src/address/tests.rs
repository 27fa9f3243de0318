//! Tests that need no DNS server: parsing, rendering, serde, overrides,
//! literals, scopes and the system resolver's `localhost`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::*;

fn offline(overrides: ResolverOverrides) -> Arc<Resolver> {
    Arc::new(Resolver::offline(overrides, AddressDefaults::default()))
}

fn overrides(entries: &[(&str, &str)]) -> ResolverOverrides {
    ResolverOverrides::parse(
        entries
            .iter()
            .enumerate()
            .map(|(i, (host, ip))| (host.to_string(), ip.to_string(), i + 1)),
    )
    .unwrap()
}

#[test]
fn addresses_parse_host_and_port() {
    let a = Address::new("db.example.com:5432").unwrap();
    assert_eq!(a.host(), "db.example.com");
    assert_eq!(a.port(), 5432);
    assert_eq!(a.connect(), &NetLoc::new("db.example.com", Some(5432)));
    assert_eq!(a.to_string(), "db.example.com:5432");

    let b = Address::with_port("localhost", 22);
    assert_eq!(b.to_string(), "localhost:22");
}

#[test]
fn ipv6_literals_need_brackets() {
    let a = Address::new("[::1]:80").unwrap();
    assert_eq!(a.host(), "::1");
    assert_eq!(a.port(), 80);
    assert_eq!(a.to_string(), "[::1]:80");
    assert_eq!(Address::with_port("[fd00::1]", 80).host(), "fd00::1");

    for input in ["::1", "fd00::1:80", "[::1", "[localhost]:80", "[::1]80"] {
        let err = Address::new(input).unwrap_err();
        assert!(
            matches!(err, AddressError::Invalid { .. }),
            "{input}: {err:?}"
        );
    }
    assert_eq!(
        Address::new("fd00::1:80").unwrap_err().to_string(),
        "Invalid service address \"fd00::1:80\": write IPv6 addresses in brackets, e.g. [::1]:80."
    );
}

#[test]
fn an_address_needs_a_port() {
    for input in ["db.example.com", "db.example.com:", "[::1]", " "] {
        let err = Address::new(input).unwrap_err();
        assert_eq!(err.to_string(), "Need port for service address.", "{input}");
        assert!(err.hint().is_some());
    }
    let err = Address::new("db:http").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid port in service address \"db:http\": \"http\" is not a number from 0 to 65535."
    );
    assert!(matches!(
        Address::new("db:65536"),
        Err(AddressError::InvalidPort { .. })
    ));
    assert!(matches!(
        Address::new(":80"),
        Err(AddressError::Invalid { .. })
    ));
}

#[test]
fn netlocs_render_like_batou() {
    assert_eq!(NetLoc::new("example.com", None).to_string(), "example.com");
    assert_eq!(
        NetLoc::new("example.com", Some(80)).to_string(),
        "example.com:80"
    );
    assert_eq!(NetLoc::new("fd00::1", Some(80)).to_string(), "[fd00::1]:80");
    assert_eq!(
        NetLoc::new("[fd00::1]", Some(80)).to_string(),
        "[fd00::1]:80"
    );
    assert_eq!(NetLoc::new("fd00::1", None).to_string(), "fd00::1");

    for text in [
        "example.com",
        "example.com:80",
        "[fd00::1]:80",
        "fd00::1",
        "[::1]",
    ] {
        let loc: NetLoc = text.parse().unwrap();
        let expected = if text == "[::1]" { "::1" } else { text };
        assert_eq!(loc.to_string(), expected);
    }
    assert!("host:port".parse::<NetLoc>().is_err());
}

#[test]
fn netlocs_and_addresses_compare_by_rendering() {
    let mut locs = [
        NetLoc::new("b", Some(1)),
        NetLoc::new("a", Some(2)),
        NetLoc::new("::1", Some(3)),
    ];
    locs.sort();
    let rendered: Vec<String> = locs.iter().map(ToString::to_string).collect();
    assert_eq!(rendered, ["[::1]:3", "a:2", "b:1"]);
    // Same rendering, different parts: equal, as in batou.
    assert_eq!(NetLoc::new("a:80", None), NetLoc::new("a", Some(80)));

    // Requirements do not take part in equality.
    let a = Address::new("a:1").unwrap();
    let b = Address::new("a:1")
        .unwrap()
        .require_v6(Requirement::Optional);
    assert_eq!(a, b);
    assert!(Address::new("a:2").unwrap() > a);
    // Hash agrees with equality. (Not via a HashSet: clippy's
    // mutable_key_type objects to the lookup cache inside `Address`.)
    let hash = |a: &Address| {
        let mut hasher = DefaultHasher::new();
        a.hash(&mut hasher);
        hasher.finish()
    };
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&Address::new("a:2").unwrap()));
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Settings {
    address: Address,
    peers: Vec<NetLoc>,
    require_v6: Requirement,
}

#[test]
fn serde_round_trips_through_strings() {
    let settings = Settings {
        address: Address::new("[fd00::1]:8080").unwrap(),
        peers: vec![NetLoc::new("a", Some(1)), NetLoc::new("b", None)],
        require_v6: Requirement::Optional,
    };
    let json = serde_json::to_string(&settings).unwrap();
    assert_eq!(
        json,
        r#"{"address":"[fd00::1]:8080","peers":["a:1","b"],"require_v6":"optional"}"#
    );
    let back: Settings = serde_json::from_str(&json).unwrap();
    assert_eq!(back, settings);

    // What an `[component:x] address = ...` override looks like.
    let overridden: Address = serde_json::from_value("db.example.com:5432".into()).unwrap();
    assert_eq!(overridden.port(), 5432);
    let err = serde_json::from_str::<Address>(r#""db.example.com""#).unwrap_err();
    assert!(
        err.to_string().contains("Need port for service address."),
        "{err}"
    );
}

#[test]
fn requirements_accept_batous_spellings() {
    for text in ["True", "true", "yes", "1", " TRUE "] {
        assert_eq!(
            text.parse::<Requirement>(),
            Ok(Requirement::Required),
            "{text}"
        );
    }
    for text in ["False", "false", "no", "0"] {
        assert_eq!(
            text.parse::<Requirement>(),
            Ok(Requirement::Disabled),
            "{text}"
        );
    }
    assert_eq!("optional".parse::<Requirement>(), Ok(Requirement::Optional));
    let err = "maybe".parse::<Requirement>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid address family requirement \"maybe\": expected True, False or optional."
    );

    let parsed: Vec<Requirement> =
        serde_json::from_str(r#"[true, false, "optional", "True", 0, 1]"#).unwrap();
    use Requirement::*;
    assert_eq!(
        parsed,
        [Required, Disabled, Optional, Required, Disabled, Required]
    );
    assert!(serde_json::from_str::<Requirement>("2").is_err());
    assert_eq!(
        serde_json::to_string(&[Required, Optional, Disabled]).unwrap(),
        r#"[true,"optional",false]"#
    );
    let defaults: AddressDefaults = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults, AddressDefaults::default());
    assert_eq!(defaults.require_v4, Required);
    assert_eq!(defaults.require_v6, Disabled);
}

#[test]
fn both_families_disabled_is_an_error() {
    let addr = Address::new("a:1")
        .unwrap()
        .require_v4(Requirement::Disabled);
    // IPv6 is disabled by default, so this is decided by the resolver's
    // defaults.
    with_resolver(offline(ResolverOverrides::new()), || {
        let err = addr.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "At least one of `require_v4` or `require_v6` is required. None were selected."
        );
        assert_eq!(addr.listen().unwrap_err(), err);
    });
    let explicit = addr.clone().require_v6(Requirement::Disabled);
    assert!(matches!(
        explicit.validate(),
        Err(AddressError::NoFamilyRequired { .. })
    ));
    let fine = addr.require_v6(Requirement::Optional);
    assert_eq!(fine.validate(), Ok(()));
}

#[test]
fn listen_outside_a_scope_is_an_error_not_a_panic() {
    assert!(current_resolver().is_none());
    let addr = Address::new("db.example.com:5432").unwrap();
    let err = addr.listen().unwrap_err();
    assert!(matches!(err, AddressError::NoResolver { .. }), "{err:?}");
    assert!(err.to_string().contains("no resolver in scope"), "{err}");
    assert!(addr.listen_v6().is_err());

    // The failure is not remembered: inside a scope it works.
    let resolver = offline(overrides(&[("db.example.com", "10.0.0.5")]));
    let listen = with_resolver(resolver, || addr.listen());
    assert_eq!(listen.unwrap().unwrap().to_string(), "10.0.0.5:5432");
}

#[test]
fn clones_share_the_lookup() {
    let addr = Address::new("db.example.com:5432").unwrap();
    let copy = addr.clone();
    let resolver = offline(overrides(&[("db.example.com", "10.0.0.5")]));
    with_resolver(resolver, || addr.listen()).unwrap();
    // Out of scope, only a remembered answer can be returned.
    assert_eq!(copy.listen().unwrap().unwrap().to_string(), "10.0.0.5:5432");
    // A changed requirement starts over.
    let changed = copy.require_v4(Requirement::Optional);
    assert!(matches!(
        changed.listen(),
        Err(AddressError::NoResolver { .. })
    ));
}

#[test]
fn scopes_nest_and_unwind() {
    let outer = offline(overrides(&[("h", "10.0.0.1")]));
    let inner = offline(overrides(&[("h", "10.0.0.2")]));
    let current = || current_resolver().map(|r| r.resolve_v4("h").unwrap());
    with_resolver(outer, || {
        assert_eq!(current(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        with_resolver(inner.clone(), || {
            assert_eq!(current(), Some(Ipv4Addr::new(10, 0, 0, 2)));
        });
        assert_eq!(current(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let unwound = std::panic::catch_unwind(|| {
            with_resolver(inner.clone(), || panic!("component failed"));
        });
        assert!(unwound.is_err());
        assert_eq!(current(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    });
    assert_eq!(current(), None);

    // Per thread: another thread does not see this one's scope.
    with_resolver(inner, || {
        let elsewhere = std::thread::spawn(|| current_resolver().is_none());
        assert!(elsewhere.join().unwrap());
    });
}

#[test]
fn overrides_parse_per_family_and_last_wins() {
    let parsed = ResolverOverrides::parse([
        (
            "Web.Example.com".to_string(),
            "\n  10.0.0.1\n10.0.0.2\n\n  fd00::1  \n".to_string(),
            4,
        ),
        ("mapped".to_string(), "::ffff:10.0.0.3".to_string(), 9),
    ])
    .unwrap();
    assert_eq!(
        parsed.v4("web.example.com"),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(
        parsed.v4("WEB.example.com."),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(
        parsed.v6("web.example.com"),
        Some("fd00::1".parse().unwrap())
    );
    // Contains a `.` but is an IPv6 address; batou would have filed it as v4.
    assert_eq!(parsed.v4("mapped"), None);
    assert_eq!(
        parsed.v6("mapped"),
        Some("::ffff:10.0.0.3".parse().unwrap())
    );
    assert_eq!(
        parsed.iter_v4().collect::<Vec<_>>(),
        [("web.example.com", Ipv4Addr::new(10, 0, 0, 2))]
    );
    assert!(!parsed.is_empty());
    assert!(ResolverOverrides::new().is_empty());
}

#[test]
fn invalid_override_ips_are_reported_with_their_line() {
    let errors = ResolverOverrides::parse([
        ("a".to_string(), "10.0.0.1".to_string(), 3),
        (
            "b".to_string(),
            "\n10.0.0.300\nfd00::1\nlocalhost".to_string(),
            5,
        ),
    ])
    .unwrap_err();
    assert_eq!(
        errors,
        [
            InvalidIpAddress {
                host: "b".into(),
                value: "10.0.0.300".into(),
                line: 6
            },
            InvalidIpAddress {
                host: "b".into(),
                value: "localhost".into(),
                line: 8
            },
        ]
    );
    assert_eq!(errors[0].to_string(), "Not a valid IP address: 10.0.0.300");
}

#[test]
fn ip_literals_resolve_to_themselves_without_dns() {
    let resolver = offline(ResolverOverrides::new());
    assert_eq!(
        resolver.resolve_v4("192.0.2.1"),
        Ok(Ipv4Addr::new(192, 0, 2, 1))
    );
    assert_eq!(
        resolver.resolve_v6("fd00::1"),
        Ok("fd00::1".parse().unwrap())
    );
    assert_eq!(
        resolver.resolve_v6("[fd00::1]"),
        Ok("fd00::1".parse().unwrap())
    );
    assert_eq!(
        resolver.resolve_v6("192.0.2.1"),
        Err(ResolveError::WrongFamily {
            name: "192.0.2.1".into(),
            family: AddressFamily::V6,
            actual: AddressFamily::V4,
        })
    );
    assert!(matches!(
        resolver.resolve_v4("::1"),
        Err(ResolveError::WrongFamily { .. })
    ));
    assert!(matches!(
        resolver.resolve_v6("fe80::1"),
        Err(ResolveError::OnlyLinkLocal { .. })
    ));
    // Names need DNS, which this resolver refuses.
    let err = resolver.resolve_v4("db.example.com").unwrap_err();
    assert_eq!(
        err.to_string(),
        "DNS lookups are disabled; add db.example.com to [resolver] to give it an address"
    );

    let addr = Address::new("[fd00::1]:80")
        .unwrap()
        .require_v4(Requirement::Disabled)
        .require_v6(Requirement::Required);
    let listen = with_resolver(resolver, || addr.listen_v6());
    assert_eq!(listen.unwrap().unwrap().to_string(), "[fd00::1]:80");
}

#[test]
fn link_local_overrides_are_not_used() {
    let resolver = offline(overrides(&[("h", "fe80::1")]));
    assert_eq!(
        resolver.resolve_v6("h"),
        Err(ResolveError::OnlyLinkLocal { name: "h".into() })
    );
}

#[test]
fn the_system_resolver_knows_localhost() {
    let resolver = Resolver::system(ResolverOverrides::new(), AddressDefaults::default());
    assert_eq!(resolver.resolve_v4("localhost"), Ok(Ipv4Addr::LOCALHOST));
    assert_eq!(resolver.resolve_v6("localhost"), Ok(Ipv6Addr::LOCALHOST));
    let addr = Address::new("localhost:8080").unwrap();
    let listen = with_resolver(Arc::new(resolver), || addr.listen());
    assert_eq!(listen.unwrap().unwrap().to_string(), "127.0.0.1:8080");
}

#[test]
fn invalid_names_are_errors() {
    let resolver = Resolver::system(ResolverOverrides::new(), AddressDefaults::default());
    for name in ["", "a..b", &"x".repeat(300)] {
        let err = resolver.resolve_v4(name).unwrap_err();
        assert!(
            matches!(err, ResolveError::InvalidName { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn resolvers_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Resolver>();
    shareable::<Address>();
    shareable::<AddressError>();
    shareable::<ResolveError>();
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Resolver>();
    unwind_safe::<Arc<Resolver>>();
    unwind_safe::<Address>();
}

#[test]
fn templates_compare_and_sort_by_rendering() {
    let env = minijinja::Environment::new();
    let out = env
        .render_str(
            "{{ a == b }} {{ a == c }} {{ [c, a] | sort | join(',') }} {{ l.host }}",
            minijinja::context! {
                a => Address::new("a:1").unwrap(),
                b => Address::new("a:1").unwrap().require_v6(Requirement::Optional),
                c => Address::new("c:1").unwrap(),
                l => NetLoc::new("fd00::1", Some(1)),
            },
        )
        .unwrap();
    assert_eq!(out, "True False a:1,c:1 fd00::1");
}
