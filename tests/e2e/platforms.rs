//! Platform variants: chosen by the host's `platform`, else the
//! environment's, else `host_domain`; `-p` overrides all of them and
//! `-p ''` means none.

use super::support::{LOCAL, Project};

#[test]
fn environment_platform_picks_the_variant() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}platform = debian\n[hosts]\nlocalhost = platformed\n"),
    );
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("Platformed > PlatformedVariant('debian') > File('platform.txt')");
    assert_eq!(p.read("work/platformed/base.txt"), "base\n");
    assert_eq!(
        p.read("work/platformed/platform.txt"),
        "debian variant of base (host platform debian)\n"
    );
}

#[test]
fn host_platform_wins_over_the_environment() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}platform = debian\n[host:localhost]\ncomponents = platformed\nplatform = alpine\n\
             [component:platformed]\nname = custom\n"
        ),
    );
    p.run(&["deploy", "local"]).success();
    // The variant is built from the configured base (overrides applied).
    assert_eq!(
        p.read("work/platformed/platform.txt"),
        "alpine variant of custom (host platform alpine)\n"
    );
}

#[test]
fn host_domain_is_the_default_platform() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}host_domain = debian\n[hosts]\nlocalhost = platformed\n"),
    );
    p.run(&["deploy", "local"]).success();
    assert_eq!(
        p.read("work/platformed/platform.txt"),
        "debian variant of base (host platform debian)\n"
    );
}

#[test]
fn command_line_platform_overrides_everything() {
    let p = Project::new().env(
        "local",
        &format!(
            "{LOCAL}platform = debian\n[host:localhost]\ncomponents = platformed\nplatform = debian\n"
        ),
    );
    p.run(&["deploy", "-p", "alpine", "local"]).success();
    assert_eq!(
        p.read("work/platformed/platform.txt"),
        "alpine variant of base (host platform alpine)\n"
    );
}

#[test]
fn empty_platform_option_removes_the_variant() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}platform = debian\n[hosts]\nlocalhost = platformed\n"),
    );
    p.run(&["deploy", "-p", "", "local"])
        .success()
        .stdout_lacks("PlatformedVariant");
    p.assert_exists("work/platformed/base.txt");
    p.assert_missing("work/platformed/platform.txt");
}

#[test]
fn unknown_platform_has_no_variant() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}platform = plan9\n[hosts]\nlocalhost = platformed\n"),
    );
    p.run(&["deploy", "local"]).success();
    p.assert_exists("work/platformed/base.txt");
    p.assert_missing("work/platformed/platform.txt");
}

#[test]
fn example_without_its_platform() {
    // The example's `localdev` variant writes platform.txt; `-p ''`
    // takes it out of the model, in a prediction and in a deploy.
    let p = Project::example();
    p.run(&["deploy", "-P", "-p", "", "local"])
        .success()
        .stdout_contains("frontend.conf +")
        .stdout_lacks("platform.txt")
        .stdout_lacks("LocalDevFrontend");
    p.run(&["deploy", "-p", "", "local"])
        .success()
        .stdout_lacks("LocalDevFrontend");
    p.assert_exists("work/frontend/frontend.conf");
    p.assert_missing("work/frontend/platform.txt");

    // With its platform the example predicts the file.
    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains("platform.txt +batou example runs on platform localdev on localhost")
        .stdout_contains("1 component would change.");
    p.assert_missing("work/frontend/platform.txt");
}
