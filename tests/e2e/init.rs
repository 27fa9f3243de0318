//! `batou init`: a new project, scaffolded into a temporary directory,
//! built by its own `./batou` script and deployed locally; refusals leave
//! everything as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::{Project, workspace_root};

/// The scaffolded project's own target directory: under this workspace's
/// target (so its dependencies compile once per checkout, e.g. once in
/// CI), apart from the workspace's own artifacts, so nothing it builds
/// can overwrite the workspace's binaries.
fn scaffold_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("init-project")
}

/// `./batou ARGS` in `dir`: (exit code, stdout, stderr).
fn batou_script(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(dir.join("batou"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        // Tests check that the project builds and deploys, not how fast
        // its binary is: an unoptimised release build compiles far faster.
        .env("CARGO_PROFILE_DEPLOY_OPT_LEVEL", "0")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("BATOU_PROJECT_DIR")
        .env_remove("BATOU_SOURCE")
        .output()
        .expect("run the scaffolded ./batou");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn init_scaffolds_a_project_that_deploys_locally() {
    let p = Project::new();
    p.run(&["init", "site"])
        .success()
        .stdout_contains("Created a batou deployment in ")
        .stdout_contains("./batou deploy local");
    let dir = p.path().join("site");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "components/Cargo.toml",
        "components/src/main.rs",
        "components/src/lib.rs",
        "components/src/hello.rs",
        "components/templates/hello.txt",
        "environments/local.cfg",
        ".gitignore",
        "batou",
    ] {
        assert!(dir.join(file).is_file(), "site/{file} is missing");
    }
    let mode = std::fs::metadata(dir.join("batou"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "./batou is executable: {mode:o}");
    let manifest = p.read("site/Cargo.toml");
    let checkout = workspace_root().join("batou-core");
    assert!(
        manifest.contains(&format!("path = \"{}\"", checkout.display())),
        "depends on this checkout: {manifest}"
    );
    let gitignore = p.read("site/.gitignore");
    assert!(
        gitignore.contains("target/") && gitignore.contains("work/"),
        "{gitignore}"
    );

    let (code, stdout, stderr) = batou_script(&dir, &["deploy", "local"]);
    assert_eq!(
        code,
        Some(0),
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(stdout.contains("DEPLOYMENT FINISHED"), "{stdout}");
    // The build shows cargo's progress, with the scaffold's `deploy`
    // profile (its components crate unoptimised for a quick edit loop).
    assert!(
        stderr.contains("Compiling components v0.1.0"),
        "cargo's progress on stderr: {stderr}"
    );
    assert!(
        scaffold_target_dir()
            .join("deploy/batou-deployment")
            .is_file(),
        "built with --profile deploy"
    );
    assert!(
        manifest.contains("[profile.deploy.package.components]\nopt-level = 0"),
        "{manifest}"
    );
    assert_eq!(
        p.read("site/work/hello/hello.txt"),
        "Hello, batou from localhost (local).\n"
    );
    let (code, stdout, stderr) = batou_script(&dir, &["deploy", "local"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Nothing changed."), "{stdout}");
    assert!(
        !stderr.contains("Compiling"),
        "nothing to rebuild: {stderr}"
    );
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let p = Project::new().file("site/notes.txt", "mine\n");
    let before = p.states();
    p.run(&["init", "site"])
        .code(2)
        .stderr_contains("site is not empty");
    // The current directory (the project, which is not empty) by default.
    p.run(&["init"]).code(2).stderr_contains("is not empty");
    p.run(&["init", "site/notes.txt"])
        .code(2)
        .stderr_contains("exists and is not a directory");
    assert_eq!(p.states(), before, "nothing was written");
}

#[test]
fn init_takes_the_batou_checkout_from_a_flag_or_the_environment() {
    let p = Project::new();
    p.run(&["init", "--batou-path", "/nonexistent/batou", "a"])
        .code(2)
        .stderr_contains("/nonexistent/batou is not a batou checkout");
    p.run_with(&["init", "b"], &[("BATOU_SOURCE", "/nonexistent/batou")])
        .code(2)
        .stderr_contains("--batou-path or BATOU_SOURCE");
    p.assert_missing("a");
    p.assert_missing("b");
    // A checkout given either way ends up in the manifest.
    let root = workspace_root();
    p.run_with(&["init", "c"], &[("BATOU_SOURCE", root.to_str().unwrap())])
        .success();
    assert!(
        p.read("c/Cargo.toml")
            .contains(&format!("path = \"{}/batou-cli\"", root.display()))
    );
    p.run(&["init", "--batou-path", root.to_str().unwrap(), "d"])
        .success();
    p.assert_exists("d/components/src/hello.rs");
}
