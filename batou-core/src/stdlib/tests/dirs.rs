//! `Directory` and `Symlink`.

use super::*;
use crate::stdlib::{Directory, Symlink};
use crate::testutil::needing_update;

#[test]
fn directory_is_created_once() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("logs"))?;
        Ok(())
    });
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(needing_update(&events), ["Scene > Directory('logs')"]);
    assert!(s.path("logs").is_dir());
    std::fs::write(s.path("logs/keep"), "x").unwrap();
    assert_eq!(s.deploy().0.changed, 0);
    assert!(s.path("logs/keep").is_file());
}

#[test]
fn directory_with_leading_and_mode() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("var/lib/app").leading(true).mode(0o750))?;
        Ok(())
    });
    s.deploy();
    assert!(s.path("var/lib/app").is_dir());
    assert_eq!(mode_of(&s.path("var/lib/app")), 0o750);
    assert_eq!(s.deploy().0.changed, 0);
    std::fs::set_permissions(
        s.path("var/lib/app"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(mode_of(&s.path("var/lib/app")), 0o750);
}

#[test]
fn directory_without_leading_needs_its_parent() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("a/b"))?;
        Ok(())
    });
    let (result, _) = s.run(false);
    let err = result.unwrap_err();
    assert_eq!(err.component, "Scene > Directory('a/b')");
    assert!(!s.path("a").exists());
}

#[test]
fn a_file_or_symlink_in_the_way_of_a_directory_is_replaced() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("d"))?;
        ctx.add(Directory::new("l"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::write(dir.join("d"), "file").unwrap();
    std::fs::create_dir(dir.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("l")).unwrap();
    assert_eq!(s.deploy().0.changed, 2);
    assert!(s.path("d").is_dir());
    let l = std::fs::symlink_metadata(s.path("l")).unwrap();
    assert!(l.is_dir(), "a symlink to a directory is not the directory");
    assert!(s.path("elsewhere").is_dir());
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn symlink_is_created_and_then_left_alone() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Symlink::new("current", "releases/2"))?;
        Ok(())
    });
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(needing_update(&events), ["Scene > Symlink('current')"]);
    assert_eq!(
        std::fs::read_link(s.path("current")).unwrap(),
        s.path("releases/2")
    );
    let before = identity(&s.path("current"));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&s.path("current")), before);
}

#[test]
fn a_wrong_symlink_is_corrected() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Symlink::new("current", "releases/2"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::os::unix::fs::symlink(dir.join("releases/1"), dir.join("current")).unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(
        std::fs::read_link(s.path("current")).unwrap(),
        s.path("releases/2")
    );
}

#[test]
fn a_directory_or_file_in_the_way_of_a_symlink_is_replaced() {
    // A directory holding files only when asked (#15: no silent deletion
    // of a tree).
    let s = Stage::new(|_, ctx| {
        ctx.add(Symlink::new("d", "/tmp"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::create_dir_all(dir.join("d/sub")).unwrap();
    let err = s.run(false).0.unwrap_err();
    assert!(err.to_string().contains("refusing to replace it"), "{err}");
    assert!(dir.join("d/sub").is_dir());
    let s = Stage::new(|_, ctx| {
        ctx.add(Symlink::new("d", "/tmp").replace_directory())?;
        ctx.add(Symlink::new("f", "/tmp"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::create_dir_all(dir.join("d/sub")).unwrap();
    std::fs::write(dir.join("d/sub/x"), "x").unwrap();
    std::fs::write(dir.join("f"), "x").unwrap();
    assert_eq!(s.deploy().0.changed, 2);
    assert_eq!(
        std::fs::read_link(s.path("d")).unwrap(),
        std::path::Path::new("/tmp")
    );
    assert_eq!(
        std::fs::read_link(s.path("f")).unwrap(),
        std::path::Path::new("/tmp")
    );
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn predicting_a_symlink_changes_nothing() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Symlink::new("current", "releases/2"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::os::unix::fs::symlink("releases/1", dir.join("current")).unwrap();
    assert_eq!(s.predict().0.changed, 1);
    assert_eq!(
        std::fs::read_link(s.path("current")).unwrap(),
        std::path::Path::new("releases/1")
    );
}
