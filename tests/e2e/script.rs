//! The real `./batou` script, end to end: a copy of the workspace
//! sources in a temporary directory, built (release, shared target
//! directory) and deployed twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::workspace_root;

/// What `./batou` needs of the workspace (no `target/`, no `work/`).
const SOURCES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "batou",
    "batou-core",
    "batou-derive",
    "batou-cli",
    "components",
    "tests",
    // A workspace member (the book's doc tests); cargo reads every
    // member's manifest before building `components`.
    "book",
    "docs",
    "environments",
];

fn copy_tree(from: &Path, to: &Path) {
    let meta = std::fs::symlink_metadata(from).expect("source exists");
    if meta.is_dir() {
        let name = from.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "target" || name == "work" || name == ".git" {
            return;
        }
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).expect("readlink");
        std::os::unix::fs::symlink(target, to).expect("symlink");
    } else {
        // `copy` keeps the permission bits, so `batou` stays executable.
        std::fs::copy(from, to).expect("copy");
    }
}

/// The target directory to share with the workspace's own builds.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn batou(dir: &Path, args: &[&str]) -> (i32, String, String) {
    batou_with(dir, args, &[])
}

fn batou_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(dir.join("batou"))
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("BATOU_PROJECT_DIR")
        .output()
        .expect("run ./batou");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn batou_script_deploys_the_example() {
    let root = workspace_root();
    let tmp = tempfile::Builder::new()
        .prefix("batou-script-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path();
    for item in SOURCES {
        copy_tree(&root.join(item), &dir.join(item));
    }
    assert!(!dir.join("work").exists());

    let (code, stdout, stderr) = batou(dir, &["deploy", "local"]);
    assert_eq!(
        code, 0,
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(stdout.contains("DEPLOYMENT FINISHED"), "{stdout}");
    // A build is not silent: cargo's progress is on stderr (the copy's
    // components crate is new to the shared target directory), and it is
    // the `deploy` profile's binary that ran.
    assert!(
        stderr.contains("Compiling components v0.1.0"),
        "cargo's progress on stderr: {stderr}"
    );
    assert!(
        target_dir().join("deploy/batou-deploy").is_file(),
        "./batou builds with --profile deploy"
    );
    // The files land in the copy's work/, not in the workspace's.
    let read = |p: &str| {
        std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{stdout}"))
    };
    assert!(read("work/backend/etc/backend.conf").contains("\nlisten = 127.0.0.1:8080\n"));
    assert!(read("work/frontend/frontend.conf").contains("upstream localhost = 127.0.0.1:8080"));
    assert_eq!(
        read("work/frontend/platform.txt"),
        "batou example runs on platform localdev on localhost\n"
    );
    assert_eq!(read("work/frontend/build-id"), "localhost\n");
    assert_eq!(
        std::fs::read_link(dir.join("work/frontend/current")).unwrap(),
        dir.join("work/frontend/htdocs")
    );

    let (code, stdout, stderr) = batou(dir, &["deploy", "local"]);
    assert_eq!(
        code, 0,
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(stdout.contains("Nothing changed."), "{stdout}");
    assert!(
        !stderr.contains("Compiling"),
        "nothing to rebuild: {stderr}"
    );

    // A one-line change to a component rebuilds only the components crate
    // (batou and its dependencies stay as built); BATOU_QUIET_BUILD=1
    // silences cargo.
    let backend = dir.join("components/src/backend.rs");
    let source = std::fs::read_to_string(&backend).expect("read backend.rs");
    assert!(source.contains("#[attr(default = 4)]"), "{source}");
    std::fs::write(
        &backend,
        source.replace("#[attr(default = 4)]", "#[attr(default = 5)]"),
    )
    .expect("edit backend.rs");
    let (code, stdout, stderr) = batou(dir, &["deploy", "-P", "local"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let compiled: Vec<&str> = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling"))
        .collect();
    let expected = format!(
        "   Compiling components v0.1.0 ({})",
        dir.join("components").display()
    );
    assert_eq!(compiled, [expected.as_str()], "{stderr}");
    let (code, stdout, stderr) = batou_with(
        dir,
        &["deploy", "-P", "local"],
        &[("BATOU_QUIET_BUILD", "1")],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stderr, "", "a quiet build prints nothing");

    // Exit codes pass through the script.
    let (code, _, stderr) = batou(dir, &["deploy", "nope"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("missing environment `nope`"), "{stderr}");

    // The example is built without the `ssh2` feature: an environment
    // that asks for it is told which feature to turn on, before any
    // host is reached or any agent built.
    let local = std::fs::read_to_string(dir.join("environments/local.cfg")).expect("local.cfg");
    assert!(local.contains("connect_method = local") && local.contains("[host:localhost]"));
    std::fs::write(
        dir.join("environments/viassh2.cfg"),
        local
            .replace("connect_method = local", "connect_method = ssh2")
            .replace("[host:localhost]", "[host:web1.invalid]"),
    )
    .expect("write viassh2.cfg");
    let (code, stdout, stderr) = batou(dir, &["deploy", "viassh2"]);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(code, 4, "{all}");
    assert!(
        all.contains("web1.invalid")
            && all.contains("built without the ssh2 transport")
            && all.contains("features = [\"ssh2\"]"),
        "{all}"
    );
    assert!(!all.contains("Building the agent"), "{all}");

    // An undefined name in a template is named in the optimised build a
    // deployment runs (minijinja tracks it only in debug mode, which it
    // turns on by itself only for debug builds).
    let no_data: String = local
        .lines()
        .filter(|l| !l.starts_with("data-"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("environments/nodata.cfg"), no_data).expect("write nodata.cfg");
    let (code, stdout, stderr) = batou(dir, &["deploy", "-P", "nodata"]);
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(code, 3, "{all}");
    assert!(
        all.contains("templates/backend.conf (line 10)") && all.contains("`host.data.role`"),
        "{all}"
    );
}
