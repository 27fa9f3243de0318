//! Loading environments: every section and key of the INI and TOML forms,
//! and the errors with their file and line.

mod ini;
mod ini_errors;
mod locate;
mod toml;

use super::*;
use std::path::Path;

fn load(src: &str) -> Result<Environment, Vec<ConfigError>> {
    Environment::from_source(
        Path::new("/p"),
        "t",
        Path::new("/p/environments/t.cfg"),
        src,
    )
}

fn load_toml(src: &str) -> Result<Environment, Vec<ConfigError>> {
    Environment::from_source(
        Path::new("/p"),
        "t",
        Path::new("/p/environments/t.toml"),
        src,
    )
}

/// The errors of a source that must not load.
fn errors(src: &str) -> Vec<ConfigError> {
    match load(src) {
        Ok(env) => panic!("loaded: {env:#?}"),
        Err(e) => e,
    }
}

fn toml_errors(src: &str) -> Vec<ConfigError> {
    match load_toml(src) {
        Ok(env) => panic!("loaded: {env:#?}"),
        Err(e) => e,
    }
}

fn ok(src: &str) -> Environment {
    load(src).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn ok_toml(src: &str) -> Environment {
    load_toml(src).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// `(name, features, ignored)` of a host's components.
fn entries(host: &HostConfig) -> Vec<(String, Vec<String>, bool)> {
    host.components
        .iter()
        .map(|e| (e.name.clone(), e.features.clone(), e.ignored))
        .collect()
}

fn entry(name: &str, features: &[&str], ignored: bool) -> (String, Vec<String>, bool) {
    (
        name.to_string(),
        features.iter().map(|f| f.to_string()).collect(),
        ignored,
    )
}

#[test]
fn hosts_and_components() {
    let env = load("[hosts]\nlocalhost = a, b:x\n").unwrap();
    let h = &env.hosts["localhost"];
    assert_eq!(h.components.len(), 2);
    assert_eq!(h.components[1].features, ["x"]);
}

fn host(name: &str, platform: Option<&str>) -> HostConfig {
    HostConfig {
        name: name.into(),
        origin: Origin::new("/p/environments/t.cfg", 1, None),
        components: Vec::new(),
        platform: platform.map(str::to_string),
        data: IndexMap::new(),
        ignore: false,
        service_user: None,
        require_sudo: None,
        tags: Vec::new(),
    }
}

#[test]
fn platform_precedence() {
    let mut env = ok("[hosts]\nh = a\n");
    let plain = host("h", None);
    let own = host("h", Some("centos"));
    assert_eq!(env.platform_of(&plain, None), None);
    env.settings.host_domain = Some("example.com".into());
    assert_eq!(
        env.platform_of(&plain, None).as_deref(),
        Some("example.com")
    );
    env.settings.platform = Some("debian".into());
    assert_eq!(env.platform_of(&plain, None).as_deref(), Some("debian"));
    assert_eq!(env.platform_of(&own, None).as_deref(), Some("centos"));
    assert_eq!(
        env.platform_of(&own, Some("nixos")).as_deref(),
        Some("nixos")
    );
    assert_eq!(env.platform_of(&own, Some("")), None);
}

#[test]
fn fqdn_appends_the_host_domain() {
    let mut env = ok("[hosts]\nh = a\n");
    assert_eq!(env.fqdn_of(&host("web1", None)), "web1");
    env.settings.host_domain = Some("example.com".into());
    assert_eq!(env.fqdn_of(&host("web1", None)), "web1.example.com");
    env.settings.host_domain = Some(String::new());
    assert_eq!(env.fqdn_of(&host("web1", None)), "web1");
}

#[test]
fn debug_output_never_shows_a_secret_override() {
    let secret = AttributeOverride {
        value: OverrideValue::Text("hunter2-very-secret".into()),
        origin: Origin::new("environments/prod/secrets.cfg.age", 4, None),
        secret: true,
    };
    let plain = AttributeOverride {
        secret: false,
        ..secret.clone()
    };
    let shown = format!("{secret:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<secret>"), "{shown}");
    assert!(format!("{plain:?}").contains("hunter2-very-secret"));
}
