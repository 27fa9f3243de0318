//! Service discovery across roots and hosts: values, deploy order,
//! options (host filter, optional, reverse, require_one) and the model
//! errors (unsatisfied, unused, cycle, non-convergence).

use super::support::{LOCAL, Project};

fn env(rest: &str) -> String {
    format!("{LOCAL}{rest}")
}

#[test]
fn required_values_arrive_and_providers_deploy_first() {
    // The requirer is listed first but depends on the provider.
    let p = Project::new().env(
        "local",
        &env("[hosts]\nlocalhost = requirer, provider\n[component:provider]\nvalue = 42\n"),
    );
    p.run(&["deploy", "local"]).success().stdout_in_order(&[
        "Scheduling component provider ...",
        "Scheduling component requirer ...",
    ]);
    assert_eq!(p.read("work/requirer/required.txt"), "42\n");
}

#[test]
fn reverse_puts_the_requirer_first() {
    let p = Project::new().env(
        "local",
        &env("[hosts]\nlocalhost = provider, requirer\n[component:requirer]\nreverse = true\n"),
    );
    p.run(&["deploy", "local"]).success().stdout_in_order(&[
        "Scheduling component requirer ...",
        "Scheduling component provider ...",
    ]);
    assert_eq!(p.read("work/requirer/required.txt"), "provided\n");
}

#[test]
fn values_from_every_host_in_a_stable_order() {
    // One component per host, so every root has its own workdir.
    let p = Project::new().env(
        "local",
        &env("[hosts]\nweb = requirer\ndb1 = provider\n\
             [component:provider]\nvalue = from {{ host.name }}\n"),
    );
    p.run(&["deploy", "local"]).success().stdout_in_order(&[
        "⚪ db1: Scheduling component provider",
        "⚪ web: Scheduling component requirer",
    ]);
    assert_eq!(p.read("work/requirer/required.txt"), "from db1\n");
}

#[test]
fn host_filter_selects_one_host() {
    let text = env("[hosts]\ndb1 = provider\nweb = requirer\n[component:requirer]\nhost = db1\n");
    let p = Project::new().env("local", &text);
    p.run(&["deploy", "local"]).success();
    assert_eq!(p.read("work/requirer/required.txt"), "provided\n");

    // Nothing provides `thing` on `web`.
    let text = env("[hosts]\ndb1 = provider\nweb = requirer\n[component:requirer]\nhost = web\n");
    let p = Project::new().env("local", &text);
    p.run(&["deploy", "local"])
        .code(3)
        .message("unsatisfied resource requirements: `thing` on `web` required by requirer@web")
        .message("unused provided resources: `thing` provided by provider@db1");
    p.assert_untouched();
}

#[test]
fn optional_requirement_without_provider() {
    let p = Project::new().env(
        "local",
        &env("[hosts]\nlocalhost = requirer\n[component:requirer]\noptional = true\n"),
    );
    p.run(&["deploy", "local"]).success();
    assert_eq!(p.read("work/requirer/required.txt"), "\n");
}

#[test]
fn require_one_with_two_providers_is_an_error() {
    let p = Project::new().env(
        "local",
        &env(
            "[hosts]\na = provider\nb = provider\nc = requirer\n[component:requirer]\none = true\n",
        ),
    );
    p.run(&["deploy", "local"])
        .code(3)
        .message("ERROR: requirer: resource `thing`: expected only one value, got 2")
        .stderr_contains("host: c, component: requirer");
    p.assert_untouched();
}

#[test]
fn require_one_with_one_provider() {
    let p = Project::new().env(
        "local",
        &env("[hosts]\na = provider\nc = requirer\n[component:requirer]\none = true\n"),
    );
    p.run(&["deploy", "local"]).success();
    assert_eq!(p.read("work/requirer/required.txt"), "provided\n");
}

#[test]
fn unsatisfied_requirement() {
    let p = Project::new().env("local", &env("[hosts]\nlocalhost = requirer, hello\n"));
    p.run(&["deploy", "local"])
        .code(3)
        .message("unsatisfied resource requirements: `thing` required by requirer")
        .stdout_contains("1 ERROR - CONFIGURATION FAILED")
        .stdout_contains("DEPLOYMENT FAILED (during connect)");
    p.assert_untouched();
}

#[test]
fn unused_resource() {
    let p = Project::new().env(
        "local",
        &env("[hosts]\nlocalhost = provider\n[component:provider]\nvalue = lonely\n"),
    );
    p.run(&["deploy", "local"])
        .code(3)
        .message("unused provided resources: `thing` provided by provider with value \"lonely\"");
    p.assert_untouched();
}

#[test]
fn dependency_cycle_names_its_members() {
    let p = Project::new().env("local", &env("[hosts]\nlocalhost = hello, ping, pong\n"));
    p.run(&["deploy", "local"])
        .code(3)
        .message("found dependency cycle: ping -> pong -> ping")
        .message("break the cycle with `reverse`");
    p.assert_untouched();
}

#[test]
fn dependency_cycle_across_hosts() {
    let p = Project::new().env("local", &env("[hosts]\na = ping\nb = pong\n"));
    p.run(&["deploy", "local"])
        .code(3)
        .message("found dependency cycle: ping@a -> pong@b -> ping@a");
    p.assert_untouched();
}

#[test]
fn non_convergence_names_the_components() {
    let p = Project::new().env("local", &env("[hosts]\nlocalhost = ticker, tocker\n"));
    let o = p
        .run(&["deploy", "local"])
        .code(3)
        .message("remaining unconfigured component(s): ");
    let text = o.stderr_unwrapped();
    assert!(text.contains("ticker"), "{text}");
    p.assert_untouched();
}

#[test]
fn model_errors_are_reported_together() {
    let p = Project::new().env(
        "local",
        &env("[hosts]\na = requirer\nb = provider\n[component:provider]\nkey = other\n"),
    );
    let o = p
        .run(&["deploy", "local"])
        .code(3)
        .message("unsatisfied resource requirements: `thing` required by requirer@a")
        .message("unused provided resources: `other` provided by provider@b")
        .stdout_contains("2 ERRORS - CONFIGURATION FAILED");
    assert_eq!(o.error_count(), 2, "{}", o.stderr);
    p.assert_untouched();
}
