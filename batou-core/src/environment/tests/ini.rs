//! Every section and key of the INI form.

use super::*;
use crate::address::Requirement;
use crate::testutil::line_of;

const FULL: &str = "\
[environment]
service_user = svc
require_sudo = False
host_domain = example.com
branch = production
update_method = git-bundle
connect_method = local
platform = debian
timeout = 30
target_directory = /srv/deploy
repository_url = https://example.com/repo.git
repository_root = ../..
jobs = 4
agent_cache_keep = 5
require_v4 = optional
require_v6 = True
develop = /opt/batou

[hosts]
web1 = nginx, app:ssl
!web2 = nginx

[host:db1]
components =
    postgres:replica
    !backup
    postgres:wal
platform = centos
data-role = replica
data-weight = 3
ignore = yes
service_user = postgres
require_sudo = 0
provisioner = none
colour = blue

[component:nginx]
port = 8080
server_name = {{ host.fqdn }}

[resolver]
db.internal = 10.0.0.5
cache =
    10.0.0.6
    fd00::6

[vfs]
sandbox = Map
/srv = /tmp/srv
/srv/www = /tmp/www

[provisioner:default]
method = fc-nixos-dev-vm
";

#[test]
fn every_environment_key() {
    let env = ok(FULL);
    let s = &env.settings;
    assert_eq!(s.service_user.as_deref(), Some("svc"));
    // Unlike batou (quirk A.1), False is false.
    assert_eq!(s.require_sudo, Some(false));
    assert_eq!(s.host_domain.as_deref(), Some("example.com"));
    assert_eq!(s.branch.as_deref(), Some("production"));
    assert_eq!(s.update_method.as_deref(), Some("git-bundle"));
    assert_eq!(s.connect_method, "local");
    assert_eq!(s.platform.as_deref(), Some("debian"));
    assert_eq!(s.timeout, 30);
    assert_eq!(s.target_directory.as_deref(), Some("/srv/deploy"));
    assert_eq!(
        s.repository_url.as_deref(),
        Some("https://example.com/repo.git")
    );
    assert_eq!(s.repository_root.as_deref(), Some("../.."));
    assert_eq!(s.jobs, 4);
    assert_eq!(s.agent_cache_keep, 5);
    assert_eq!(s.require_v4, Requirement::Optional);
    assert_eq!(s.require_v6, Requirement::Required);
    assert_eq!(s.origins["jobs"].line, line_of(FULL, "jobs ="));
    assert_eq!(s.origins["jobs"].file, Path::new("/p/environments/t.cfg"));
}

#[test]
fn defaults_when_environment_is_empty() {
    let s = ok("[hosts]\nh = a\n").settings;
    assert_eq!(s, Settings::default());
    assert_eq!(s.connect_method, "ssh");
    assert_eq!((s.timeout, s.jobs), (3, 1));
    assert_eq!(s.agent_cache_keep, 3);
    assert_eq!(s.require_v4, Requirement::Required);
    assert_eq!(s.require_v6, Requirement::Disabled);
    assert_eq!(s.require_sudo, None);
}

#[test]
fn unknown_environment_keys_are_kept_and_warned_about() {
    let env = ok(FULL);
    assert_eq!(env.settings.extra["develop"], "/opt/batou");
    let w = env
        .warnings
        .iter()
        .find(|w| w.message.contains("develop"))
        .expect("a warning for `develop`");
    assert_eq!(w.origin.line, line_of(FULL, "develop ="));
    assert_eq!(
        w.message,
        "unknown key `develop` in [environment] is ignored"
    );
}

#[test]
fn compact_hosts_and_ignored_hosts() {
    let env = ok(FULL);
    let names: Vec<_> = env.hosts.keys().cloned().collect();
    assert_eq!(names, ["web1", "web2", "db1"]);
    let web1 = &env.hosts["web1"];
    assert_eq!(
        entries(web1),
        [entry("nginx", &[], false), entry("app", &["ssl"], false)]
    );
    assert!(!web1.ignore);
    assert_eq!(web1.origin.line, line_of(FULL, "web1 ="));
    assert_eq!(web1.components[1].origin.line, line_of(FULL, "web1 ="));
    let web2 = &env.hosts["web2"];
    assert!(web2.ignore);
    assert_eq!(entries(web2), [entry("nginx", &[], false)]);
    assert_eq!(
        (web2.platform.clone(), web2.service_user.clone()),
        (None, None)
    );
}

#[test]
fn full_host_sections() {
    let env = ok(FULL);
    let db = &env.hosts["db1"];
    // A newline list, features collected, `!` marks the whole root.
    assert_eq!(
        entries(db),
        [
            entry("postgres", &["replica", "wal"], false),
            entry("backup", &[], true)
        ]
    );
    assert_eq!(db.platform.as_deref(), Some("centos"));
    assert_eq!(db.data["role"], serde_json::json!("replica"));
    // INI data is text.
    assert_eq!(db.data["weight"], serde_json::json!("3"));
    assert!(db.ignore);
    assert_eq!(db.service_user.as_deref(), Some("postgres"));
    assert_eq!(db.require_sudo, Some(false));
    assert_eq!(db.origin.line, line_of(FULL, "[host:db1]"));
    let messages: Vec<_> = env.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        messages.contains(&"`provisioner`: provisioning is not supported and is ignored"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"unknown key `colour` in [host:db1] is ignored"),
        "{messages:?}"
    );
}

#[test]
fn component_overrides_are_text_with_their_lines() {
    let env = ok(FULL);
    let nginx = &env.overrides["nginx"];
    assert_eq!(nginx.origin.line, line_of(FULL, "[component:nginx]"));
    let port = &nginx.values["port"];
    assert_eq!(port.value, OverrideValue::Text("8080".into()));
    assert_eq!(port.origin.line, line_of(FULL, "port = 8080"));
    assert_eq!(
        nginx.values["server_name"].value,
        OverrideValue::Text("{{ host.fqdn }}".into())
    );
    // The span underlines the value.
    let span = port.origin.span.clone().unwrap();
    assert_eq!(&FULL[span], "8080");
}

#[test]
fn resolver_entries() {
    let env = ok(FULL);
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
    assert_eq!(overrides.v4("cache"), Some("10.0.0.6".parse().unwrap()));
    assert_eq!(overrides.v6("cache"), Some("fd00::6".parse().unwrap()));
    assert_eq!(overrides.v6("db.internal"), None);
    for e in &env.resolver {
        assert!(
            e.origin.line >= line_of(FULL, "[resolver]")
                && e.origin.line <= line_of(FULL, "fd00::6"),
            "{e:?}"
        );
    }
}

#[test]
fn the_line_of_a_bad_resolver_address() {
    let src = "[hosts]\nh = a\n[resolver]\ndb =\n    10.0.0.1\n# a comment\n    nonsense\nweb = also-bad\n";
    let env = ok(src);
    let bad = crate::address::ResolverOverrides::parse(
        env.resolver
            .iter()
            .map(|e| (e.host.clone(), e.value.clone(), e.origin.line)),
    )
    .unwrap_err();
    let lines: Vec<_> = bad.iter().map(|b| (b.value.as_str(), b.line)).collect();
    assert_eq!(lines, [("nonsense", 7), ("also-bad", 8)]);
}

#[test]
fn vfs_map_rules_longest_prefix_first() {
    let env = ok(FULL);
    assert_eq!(
        env.vfs,
        Vfs::Map(vec![
            ("/srv/www".into(), "/tmp/www".into()),
            ("/srv".into(), "/tmp/srv".into()),
        ])
    );
}

#[test]
fn vfs_developer_and_none() {
    let env = ok("[hosts]\nh = a\n[vfs]\nsandbox = Developer\n");
    assert_eq!(env.vfs, Vfs::Developer);
    let env = ok("[hosts]\nh = a\n");
    assert_eq!(env.vfs, Vfs::None);
    // Rules without a sandbox do nothing.
    let env = ok("[hosts]\nh = a\n[vfs]\n/srv = /tmp\n");
    assert_eq!(env.vfs, Vfs::None);
    let env = ok("[hosts]\nh = a\n[vfs]\nsandbox = Map\nfoo = bar\n");
    assert_eq!(env.vfs, Vfs::Map(vec![]));
    assert_eq!(
        env.warnings[0].message,
        "unknown key `foo` in [vfs] is ignored"
    );
    assert_eq!(env.warnings[0].origin.line, 5);
}

#[test]
fn provisioner_sections_are_warned_about() {
    let env = ok(FULL);
    let w = env
        .warnings
        .iter()
        .find(|w| w.message.contains("provisioner:default"))
        .expect("warning");
    assert_eq!(w.origin.line, line_of(FULL, "[provisioner:default]"));
}

#[test]
fn list_forms() {
    let env = ok("[hosts]\n\
         comma = a,b , c:f ,, !d\n\
         lines =\n    a\n    b:f\n\n    !c\n\
         one = single\n\
         empty =\n");
    assert_eq!(
        entries(&env.hosts["comma"]),
        [
            entry("a", &[], false),
            entry("b", &[], false),
            entry("c", &["f"], false),
            entry("d", &[], true)
        ]
    );
    assert_eq!(
        entries(&env.hosts["lines"]),
        [
            entry("a", &[], false),
            entry("b", &["f"], false),
            entry("c", &[], true)
        ]
    );
    assert_eq!(entries(&env.hosts["one"]), [entry("single", &[], false)]);
    assert!(env.hosts["empty"].components.is_empty());
}

#[test]
fn a_comma_wins_over_newlines_in_lists() {
    // batou: if there is a comma, split on commas only.
    let env = ok("[hosts]\nh =\n    a,\n    b\n");
    assert_eq!(
        entries(&env.hosts["h"]),
        [entry("a", &[], false), entry("b", &[], false)]
    );
}

#[test]
fn keys_are_case_sensitive_and_continuations_work() {
    let env = ok("[environment]\nTimeout = 9\n[hosts]\nWeb = A\n");
    assert_eq!(env.settings.timeout, 3);
    assert_eq!(env.settings.extra["Timeout"], "9");
    assert_eq!(entries(&env.hosts["Web"]), [entry("A", &[], false)]);
}

#[test]
fn rollout_settings_and_max_parallel_load() {
    use crate::rollout::{Limit, Serial};
    let env = ok(
        "[environment]\nserial = 1, 25%, 100%\nmax_fail = 50%\n\n[hosts]\nh = web\n\n[component:web]\nmax_parallel = 25%\nworkers = 2\n",
    );
    assert_eq!(
        env.settings.serial,
        Some(Serial::parse("1,25%,100%").unwrap())
    );
    assert_eq!(env.settings.max_fail, Some(Limit::Percent(50)));
    assert_eq!(env.max_parallel.get("web"), Some(&Limit::Percent(25)));
    let keys: Vec<&String> = env.overrides["web"].values.keys().collect();
    assert_eq!(keys, ["workers"], "max_parallel is no attribute override");
}
