//! `-c/--consistency-only` (configure only, touch nothing) and
//! `-P/--predict-only` (verify only: show what would change, write
//! nothing).

use super::support::{LOCAL, Project};

#[test]
fn consistency_check_creates_nothing() {
    let p = Project::example();
    p.run(&["deploy", "-c", "local"])
        .success()
        .stdout_contains("Connecting hosts and configuring model ...")
        .stdout_contains("Consistency check took total=")
        .stdout_contains("CONSISTENCY CHECK FINISHED")
        .stdout_lacks("Deploying")
        .stdout_lacks("Scheduling")
        .stdout_lacks("🚀");
    p.assert_untouched();
}

#[test]
fn consistency_check_after_a_deploy_changes_nothing() {
    let p = Project::example();
    p.run(&["deploy", "local"]).success();
    let before = p.states_under("work");
    // A tampered file stays tampered: -c does not even verify.
    p.write("work/frontend/platform.txt", "tampered\n");
    let tampered = p.states_under("work");
    assert_ne!(before, tampered);
    p.run(&["deploy", "--consistency-only", "local"])
        .success()
        .stdout_lacks("platform.txt");
    assert_eq!(p.states_under("work"), tampered);
}

#[test]
fn local_consistency_check() {
    let p = Project::example();
    p.run(&["deploy", "-c", "-L", "local"])
        .success()
        .stdout_contains("LOCAL CONSISTENCY CHECK")
        .stdout_lacks("Connecting hosts")
        .stdout_contains("CONSISTENCY CHECK (local) FINISHED");
    p.assert_untouched();
}

#[test]
fn predict_on_a_fresh_project_writes_nothing() {
    let p = Project::example();
    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains("Predicting deployment actions")
        .stdout_contains(
            "🚀 localhost: Backend > File('etc/backend.conf') > Content('backend.conf')",
        )
        .stdout_contains("  backend.conf +listen = 127.0.0.1:8080")
        .stdout_contains("  frontend.conf +upstream localhost = 127.0.0.1:8080")
        .stdout_contains("would change.")
        .stdout_contains("DEPLOYMENT PREDICTION FINISHED")
        .stdout_lacks("DEPLOYMENT FINISHED");
    p.assert_untouched();
}

#[test]
fn predict_after_an_override_change_shows_the_diff_and_writes_nothing() {
    let p = Project::example();
    p.run(&["deploy", "local"]).success();
    let before = p.states_under("work");
    let backend = p.read("work/backend/etc/backend.conf");

    // Edit the environment: the INI is what a test can edit.
    let edited = super::support::example_env()
        .replace("workers = 2", "workers = 5")
        .replace("title = batou example", "title = renamed");
    p.write("environments/local.cfg", &edited);
    std::thread::sleep(std::time::Duration::from_millis(20));

    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains(
            "🚀 localhost: Backend > File('etc/backend.conf') > Content('backend.conf')",
        )
        .stdout_contains("  backend.conf -workers = 2")
        .stdout_contains("  backend.conf +workers = 5")
        .stdout_contains("  index.html -<title>batou example</title>")
        .stdout_contains("  index.html +<title>renamed</title>")
        .stdout_contains("  platform.txt +renamed runs on platform localdev on localhost")
        .stdout_contains("3 components would change.")
        .stdout_contains("DEPLOYMENT PREDICTION FINISHED");
    // Nothing was written: same contents, inodes and mtimes.
    assert_eq!(p.states_under("work"), before);
    assert_eq!(p.read("work/backend/etc/backend.conf"), backend);

    // A real deploy then does what was predicted ...
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("3 components changed.");
    assert!(
        p.read("work/backend/etc/backend.conf")
            .contains("\nworkers = 5\n")
    );
    // ... and after it nothing would change.
    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains("Nothing would change.");
}

#[test]
fn predict_does_not_run_commands() {
    let p = Project::example();
    p.run(&["deploy", "local"]).success();
    std::fs::remove_file(p.path().join("work/frontend/build-id")).unwrap();
    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains("🚀 localhost: Frontend > Command('echo '{{ host.name }}' > build-id')")
        .stdout_contains("1 component would change.");
    p.assert_missing("work/frontend/build-id");
}

#[test]
fn predict_skips_update_so_update_failures_do_not_happen() {
    let p = Project::new().env("local", &format!("{LOCAL}[hosts]\nlocalhost = failing\n"));
    p.run(&["deploy", "-P", "local"])
        .success()
        .stdout_contains("🚀 localhost: Failing > Exploder('update')")
        .stdout_contains("2 components would change.");
    p.assert_untouched();
}

#[test]
fn predict_reports_verify_failures() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}[hosts]\nlocalhost = failing\n[component:failing]\nphase = verify\n"),
    );
    p.run(&["deploy", "-P", "local"])
        .code(1)
        .stderr_contains("ERROR: boom in verify")
        .stdout_contains("DEPLOYMENT PREDICTION FAILED (during deploy)");
    p.assert_untouched();
}

#[test]
fn predict_and_check_report_configuration_errors() {
    let p = Project::new().env(
        "local",
        &format!("{LOCAL}[hosts]\nlocalhost = typed\n[component:typed]\nport = -1\n"),
    );
    p.run(&["deploy", "-P", "local"])
        .code(3)
        .message("cannot convert `typed.port`")
        .stdout_contains("DEPLOYMENT PREDICTION FAILED (during connect)");
    p.run(&["deploy", "-c", "local"])
        .code(3)
        .message("cannot convert `typed.port`")
        .stdout_contains("CONSISTENCY CHECK FAILED (during connect)");
    p.assert_untouched();
}
