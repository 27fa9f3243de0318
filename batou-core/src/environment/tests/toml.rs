//! The TOML form: the same model, with typed data and overrides.

use super::*;
use crate::address::Requirement;
use crate::testutil::line_of;
use serde_json::json;

const FULL: &str = r#"
[environment]
connect_method = "local"
host_domain = "example.com"
platform = "debian"
service_user = "svc"
require_sudo = true
timeout = 30
jobs = 2
require_v4 = "optional"
require_v6 = false
develop = "/opt/batou"

[hosts]
web1 = ["nginx", "app:ssl"]
"!web2" = "nginx, app"

[host.db1]
components = ["postgres:replica", "!backup"]
platform = "centos"
data = { role = "replica", weight = 3, tags = ["a", "b"] }
data-extra = 1.5
ignore = true
service_user = "postgres"
require_sudo = "no"

[component.nginx]
port = 8080
server_name = "{{ host.fqdn }}"
workers = [1, 2]
enabled = true

[resolver]
"db.internal" = ["10.0.0.5", "fd00::5"]
cache = "10.0.0.6"

[vfs]
sandbox = "Map"
"/srv" = "/tmp/srv"
"/srv/www" = "/tmp/www"
"#;

#[test]
fn environment_keys_from_typed_values() {
    let env = ok_toml(FULL);
    let s = &env.settings;
    assert_eq!(s.connect_method, "local");
    assert_eq!(s.host_domain.as_deref(), Some("example.com"));
    assert_eq!(s.platform.as_deref(), Some("debian"));
    assert_eq!(s.service_user.as_deref(), Some("svc"));
    assert_eq!(s.require_sudo, Some(true));
    assert_eq!((s.timeout, s.jobs), (30, 2));
    assert_eq!(s.require_v4, Requirement::Optional);
    assert_eq!(s.require_v6, Requirement::Disabled);
    assert_eq!(s.origins["jobs"].line, line_of(FULL, "jobs ="));
    let w = &env.warnings[0];
    assert_eq!(
        w.message,
        "unknown key `develop` in [environment] is ignored"
    );
    assert_eq!(w.origin.line, line_of(FULL, "develop ="));
}

#[test]
fn hosts_with_arrays_strings_and_ignore() {
    let env = ok_toml(FULL);
    assert_eq!(
        entries(&env.hosts["web1"]),
        [entry("nginx", &[], false), entry("app", &["ssl"], false)]
    );
    assert_eq!(env.hosts["web1"].origin.line, line_of(FULL, "web1 ="));
    let web2 = &env.hosts["web2"];
    assert!(web2.ignore);
    assert_eq!(
        entries(web2),
        [entry("nginx", &[], false), entry("app", &[], false)]
    );
}

#[test]
fn host_tables_with_typed_data() {
    let env = ok_toml(FULL);
    let db = &env.hosts["db1"];
    assert_eq!(
        entries(db),
        [
            entry("postgres", &["replica"], false),
            entry("backup", &[], true)
        ]
    );
    assert_eq!(db.platform.as_deref(), Some("centos"));
    assert_eq!(db.data["role"], json!("replica"));
    assert_eq!(db.data["weight"], json!(3));
    assert!(db.data["weight"].is_u64());
    assert_eq!(db.data["tags"], json!(["a", "b"]));
    assert_eq!(db.data["extra"], json!(1.5));
    assert!(db.ignore);
    assert_eq!(db.service_user.as_deref(), Some("postgres"));
    assert_eq!(db.require_sudo, Some(false));
    assert_eq!(db.origin.line, line_of(FULL, "[host.db1]"));
}

#[test]
fn overrides_are_typed_unless_strings() {
    let env = ok_toml(FULL);
    let nginx = &env.overrides["nginx"];
    assert_eq!(
        nginx.values["port"].value,
        OverrideValue::Typed(json!(8080))
    );
    assert_eq!(
        nginx.values["server_name"].value,
        OverrideValue::Text("{{ host.fqdn }}".into())
    );
    assert_eq!(
        nginx.values["workers"].value,
        OverrideValue::Typed(json!([1, 2]))
    );
    assert_eq!(
        nginx.values["enabled"].value,
        OverrideValue::Typed(json!(true))
    );
    assert_eq!(
        nginx.values["port"].origin.line,
        line_of(FULL, "port = 8080")
    );
    assert_eq!(
        nginx.values["enabled"].origin.line,
        line_of(FULL, "enabled = true")
    );
    assert_eq!(
        nginx.values["port"].origin.file,
        Path::new("/p/environments/t.toml")
    );
}

#[test]
fn resolver_and_vfs() {
    let env = ok_toml(FULL);
    let hosts: Vec<_> = env.resolver.iter().map(|e| e.host.as_str()).collect();
    assert!(hosts.contains(&"db.internal") && hosts.contains(&"cache"));
    for e in &env.resolver {
        let needle = if e.host == "cache" {
            "cache ="
        } else {
            "\"db.internal\""
        };
        assert_eq!(e.origin.line, line_of(FULL, needle), "{e:?}");
    }
    let overrides = crate::address::ResolverOverrides::parse(
        env.resolver
            .iter()
            .map(|e| (e.host.clone(), e.value.clone(), e.origin.line)),
    )
    .unwrap();
    assert_eq!(
        overrides.v4("db.internal"),
        Some("10.0.0.5".parse().unwrap())
    );
    assert_eq!(
        overrides.v6("db.internal"),
        Some("fd00::5".parse().unwrap())
    );
    assert_eq!(overrides.v4("cache"), Some("10.0.0.6".parse().unwrap()));
    assert_eq!(
        env.vfs,
        Vfs::Map(vec![
            ("/srv/www".into(), "/tmp/www".into()),
            ("/srv".into(), "/tmp/srv".into()),
        ])
    );
    let env = ok_toml("[hosts]\nh = [\"a\"]\n[vfs]\nsandbox = \"Developer\"\n");
    assert_eq!(env.vfs, Vfs::Developer);
}

#[test]
fn the_line_of_a_bad_resolver_address_in_an_array() {
    let src = "[hosts]\nh = [\"a\"]\n[resolver]\ndb = [\"10.0.0.1\", \"nonsense\"]\nweb = [\n  \"::1\",\n  \"bad\",\n]\n";
    let env = ok_toml(src);
    let bad = crate::address::ResolverOverrides::parse(
        env.resolver
            .iter()
            .map(|e| (e.host.clone(), e.value.clone(), e.origin.line)),
    )
    .unwrap_err();
    let lines: Vec<_> = bad.iter().map(|b| (b.value.as_str(), b.line)).collect();
    assert_eq!(lines, [("nonsense", 4), ("bad", 7)]);
}

#[test]
fn errors_with_lines() {
    let cases: &[(&str, &str)] = &[
        (
            "[hosts]\nh = [\"a\"]\n[environment]\njobs = \"many\"\n",
            "jobs",
        ),
        (
            "[hosts]\nh = [\"a\"]\n[environment]\ntimeout = 1.5\n",
            "timeout",
        ),
        (
            "[hosts]\nh = [\"a\"]\n[environment]\nrequire_v4 = 3\n",
            "require_v4",
        ),
        (
            "[hosts]\nh = [\"a\"]\n[host.x]\nignore = \"perhaps\"\n",
            "ignore",
        ),
        (
            "[hosts]\nh = [\"a\"]\n[vfs]\nsandbox = \"Sandbox\"\n",
            "sandbox",
        ),
    ];
    for (src, key) in cases {
        let errs = toml_errors(src);
        let e = errs
            .iter()
            .find(|e| matches!(e, ConfigError::InvalidValue { key: k, .. } if k == key))
            .unwrap_or_else(|| panic!("{src}: {errs:?}"));
        assert_eq!(e.origin().unwrap().line, 4, "{src}");
    }
}

#[test]
fn structural_errors() {
    let errs = toml_errors("[hosts]\nh = [\"a\"\n");
    assert!(
        matches!(&errs[..], [ConfigError::Syntax { origin, .. }] if origin.line >= 2),
        "{errs:?}"
    );
    let errs = toml_errors("[hosts]\nh = [\"a\"]\n\n[hots]\nx = 1\n");
    assert!(
        matches!(&errs[..], [ConfigError::SuperfluousSection { origin, section }]
            if section == "hots" && origin.line == 4),
        "{errs:?}"
    );
    let errs = toml_errors("[hosts]\nh = [\"a\"]\n[host.h]\ncomponents = [\"b\"]\n");
    assert!(
        matches!(&errs[..], [ConfigError::DuplicateHost { first, .. }] if first.line == 2),
        "{errs:?}"
    );
    let errs = toml_errors("[host.db]\nplatform = \"x\"\n");
    assert!(
        matches!(&errs[..], [ConfigError::MissingComponents { host, .. }] if host == "db"),
        "{errs:?}"
    );
    let errs = toml_errors("[environment]\nconnect_method = \"local\"\n");
    assert!(
        matches!(&errs[..], [ConfigError::NoHosts { .. }]),
        "{errs:?}"
    );
}

#[test]
fn toml_overrides_reach_typed_fields() {
    use crate::testutil::{Project, configure_ok, tree};
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Typed {
        port: u16,
        workers: Vec<u8>,
        enabled: bool,
        name: String,
    }
    impl crate::Component for Typed {}
    let p = Project::new();
    let env = Environment::from_source(
        p.path(),
        "t",
        &p.path().join("environments/t.toml"),
        "[hosts]\nh = [\"typed\"]\n[component.typed]\nport = 8080\nworkers = [1, 2]\nenabled = true\nname = \"{{ host.name }}-x\"\n",
    )
    .unwrap();
    let mut reg = crate::Registry::new();
    reg.component::<Typed>("typed");
    let model = configure_ok(env, &reg, &p.options());
    let t = crate::testutil::as_type::<Typed>(tree(&model, "h", "typed"));
    assert_eq!(
        (t.port, t.workers.clone(), t.enabled),
        (8080, vec![1, 2], true)
    );
    assert_eq!(t.name, "h-x");
}

#[test]
fn a_typed_override_that_does_not_fit_points_at_its_line() {
    use crate::testutil::{Project, configure_err};
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Port {
        port: u16,
    }
    impl crate::Component for Port {}
    let p = Project::new();
    let env = Environment::from_source(
        p.path(),
        "t",
        &p.path().join("environments/t.toml"),
        "[hosts]\nh = [\"port\"]\n[component.port]\n\nport = 70000\n",
    )
    .unwrap();
    let mut reg = crate::Registry::new();
    reg.component::<Port>("port");
    let errs = configure_err(env, &reg, &p.options());
    assert!(
        matches!(&errs[..], [ConfigError::Conversion { origin, key, .. }] if key == "port" && origin.line == 5),
        "{errs:?}"
    );
}
