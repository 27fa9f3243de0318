//! What ports of batou deployments meet (issue #20, points 4, 5, 7, 8, 9
//! and 12): behaviour batou 2.7.1 has that a ported deployment relies on.

use super::support::{LOCAL, Project};

fn templated(case: &str) -> Project {
    Project::new().env(
        "t",
        &format!("{LOCAL}[hosts]\nlocalhost = templated\n[component:templated]\ncase = {case}\n"),
    )
}

/// batou warns about templates above 100 KiB (its `template.py`) and
/// still renders them; so do we, naming the template and its size.
#[test]
fn a_template_above_100_kib_is_warned_about_and_rendered() {
    let p = templated("big");
    let o = p.run(&["deploy", "t"]).success();
    let o = o.stdout_contains(
        "WARN: template templated.j2 is 116021 bytes (113.3 KiB), more than 100 KiB",
    );
    // Once, though configure ran more than one pass.
    assert_eq!(
        o.stdout.matches("is 116021 bytes").count(),
        1,
        "{}",
        o.stdout
    );
    assert!(
        p.read("work/templated/out.txt")
            .ends_with("host localhost\n")
    );

    // A small template is not warned about.
    templated("ok")
        .run(&["deploy", "t"])
        .success()
        .stdout_lacks("WARN");
}

/// Who the test runs as (`id -un`).
fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id(1)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// batou's `LocalHost` ignores `service_user` without a word (host.py,
/// `LocalHost.connect`: a plain popen gateway). We say so, per host,
/// when it names someone else; the deploy itself goes on as before.
#[test]
fn service_user_with_a_local_deploy_is_said_to_be_unused() {
    let me = me();
    let other = if me == "nobody" { "daemon" } else { "nobody" };
    let env = |user: &str| {
        format!(
            "[environment]\nconnect_method = local\nservice_user = {user}\n\
             [host:localhost]\ncomponents = hello\n[host:second]\ncomponents = hello\nservice_user = {me}\n"
        )
    };
    let p = Project::new().env("l", &env(other));
    let o = p.run(&["deploy", "l"]).success().stdout_contains(&format!(
        "WARN: localhost: service_user = {other} is not used with connect_method = local; this run acts as {me} (ssh runs as {other} through sudo)"
    ));
    // `second` deploys as its own service user, who is us: nothing to say.
    assert_eq!(o.stdout.matches("WARN").count(), 1, "{}", o.stdout);
    p.assert_exists("work/hello/hello.txt");

    // The same for `-c` and `-P`, where batou users meet it with `-L`.
    p.run(&["deploy", "-c", "l"])
        .success()
        .stdout_contains(&format!(
            "WARN: localhost: service_user = {other} is not used"
        ));

    // Our own user as the service user: nothing to warn about.
    Project::new()
        .env("l", &env(&me))
        .run(&["deploy", "l"])
        .success()
        .stdout_lacks("WARN");
}

/// A custom verify running a command, predicted before the first deploy:
/// batou creates the workdir even with `-P` and its verify finds nothing
/// (component.py:384-391, `deploy`: `os.makedirs(self.workdir)`, then verify);
/// we write nothing, so the missing workdir means "would be deployed",
/// not "cannot start: No such file or directory".
#[test]
fn predicting_before_the_first_deploy_treats_a_missing_workdir_as_needing_an_update() {
    let p = Project::new().env("p", &format!("{LOCAL}[hosts]\nlocalhost = probe\n"));
    let o = p.run(&["deploy", "-P", "p"]).success();
    o.stdout_contains("🚀 localhost: Probe")
        .stdout_contains(&format!(
            "localhost: {} does not exist yet: predicted as needing an update",
            p.path().join("work/probe").display()
        ))
        .stdout_lacks("cannot start");
    p.assert_missing("work/probe");

    p.run(&["deploy", "p"]).success();
    p.assert_exists("work/probe/built");
    p.run(&["deploy", "-P", "p"])
        .success()
        .stdout_lacks("Probe")
        .stdout_lacks("does not exist");
}

/// Outside predict mode a command whose working directory is missing says
/// that, not "No such file or directory" as if the program were missing.
#[test]
fn a_missing_working_directory_is_named_as_such() {
    let p = Project::new().env(
        "p",
        &format!("{LOCAL}[hosts]\nlocalhost = probe\n[component:probe]\ncwd = not-there\n"),
    );
    p.run(&["deploy", "p"]).code(1).message(&format!(
        "test -f built: cannot start: its working directory {} does not exist",
        p.path().join("work/probe/not-there").display()
    ));
}
