//! stdlib `Releases` end to end (issue #22 points 1, 3, 4): `current`
//! stays on the previous release while a release fails to build, is
//! switched back when the root fails after the switch, and by `batou
//! rollback`; a release removed on another file system than the undo
//! store is kept there as 0600 copies and comes back with its modes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::support::{LOCAL, Project};

/// A local environment deploying `release` with `settings`; the deploy
/// lock (and so the undo store) under the project.
fn env(p: &Project, settings: &str) {
    p.write(
        "environments/local.cfg",
        &format!(
            "{LOCAL}deploy_lock = {}/lock/deploy.lock\n[hosts]\nlocalhost = release\n[component:release]\n{settings}",
            p.path().display()
        ),
    );
}

/// The release `current` points at.
fn current(p: &Project) -> String {
    let target = std::fs::read_link(p.path().join("work/release/current")).unwrap();
    target.file_name().unwrap().to_string_lossy().into_owned()
}

fn released(p: &Project, id: &str) -> bool {
    p.path()
        .join(format!("work/release/releases/{id}"))
        .exists()
}

#[test]
fn current_goes_back_when_a_release_fails_after_the_switch_and_on_rollback() {
    let p = Project::new();
    env(&p, "id = r1\n");
    p.run(&["deploy", "local"]).success();
    assert_eq!(current(&p), "r1");

    // The build fails: `current` never moved; the new release is gone.
    env(&p, "id = r2\nfail_build = true\n");
    p.run(&["deploy", "local"]).code(1);
    assert_eq!(current(&p), "r1");
    assert!(!released(&p, "r2"));

    // The root fails after the switch: the revert points `current` back.
    env(&p, "id = r2\nfail_after = true\n");
    p.run(&["deploy", "local"])
        .code(1)
        .stdout_contains("↩️ localhost: Reverted component release")
        .stdout_contains("/work/release/current");
    assert_eq!(current(&p), "r1");
    assert!(!released(&p, "r2"));

    // A good release 2, then a rollback: back to release 1.
    env(&p, "id = r2\n");
    p.run(&["deploy", "local"]).success();
    assert_eq!(current(&p), "r2");
    p.run(&["rollback", "local"])
        .success()
        .stdout_contains("↩️ localhost: Rolled back component release");
    assert_eq!(current(&p), "r1");
    assert!(!released(&p, "r2"));
    assert_eq!(
        p.read("work/release/releases/r1/app.conf"),
        "release = r1\n"
    );
}

/// Unmounts the tmpfs a test mounted (before its project is removed).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Every regular file below `dir` whose content is `text`.
fn files_holding(dir: &Path, text: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            files_holding(&e.path(), text, out);
        } else if ft.is_file() && std::fs::read(e.path()).unwrap() == text.as_bytes() {
            out.push(e.path());
        }
    }
}

#[test]
fn a_release_removed_on_another_file_system_is_kept_as_private_copies_and_restored() {
    let p = Project::new();
    let work = p.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs"])
        .arg(&work)
        .status()
        .expect("mount(8)");
    assert!(
        status.success(),
        "cannot mount a tmpfs on {}",
        work.display()
    );
    // Declared after the project: dropped (unmounted) before it.
    let _mounted = Mounted(work.clone());

    env(&p, "id = r1\nkeep = 1\n");
    p.run(&["deploy", "local"]).success();
    let conf = work.join("release/releases/r1/app.conf");
    let mode = |path: &Path| {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&conf), 0o644);
    let r1_dir_mode = mode(conf.parent().unwrap());

    // Release 2 with keep = 1 removes release 1, a tree on the tmpfs: the
    // undo store (on the project's file system) keeps it as copies.
    env(&p, "id = r2\nkeep = 1\n");
    p.run(&["deploy", "local"]).success();
    assert!(!released(&p, "r1"));
    let mut kept = Vec::new();
    files_holding(
        &p.path().join("lock/undo/last"),
        "release = r1\n",
        &mut kept,
    );
    assert_eq!(kept.len(), 1, "{kept:?}");
    let meta = std::fs::symlink_metadata(&kept[0]).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600, "a private copy");
    assert_ne!(
        meta.dev(),
        std::fs::metadata(&work).unwrap().dev(),
        "on another file system"
    );
    assert_eq!(mode(kept[0].parent().unwrap()), 0o700);

    p.run(&["rollback", "local"]).success();
    assert_eq!(current(&p), "r1");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "release = r1\n");
    assert_eq!(mode(&conf), 0o644, "its own mode back, not the copy's");
    assert_eq!(mode(conf.parent().unwrap()), r1_dir_mode);
    assert!(!released(&p, "r2"));
}
