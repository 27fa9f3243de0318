//! `Purge`: nothing matches a glob.

use super::*;
use crate::error::Error;
use crate::stdlib::Purge;
use crate::testutil::needing_update;

#[test]
fn purge_removes_files_trees_and_symlinks_but_not_their_targets() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Purge::new("old-*"))?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::write(dir.join("old-file"), "x").unwrap();
    std::fs::create_dir_all(dir.join("old-tree/sub")).unwrap();
    std::fs::write(dir.join("old-tree/sub/f"), "x").unwrap();
    std::fs::create_dir(dir.join("kept-dir")).unwrap();
    std::fs::write(dir.join("kept-dir/inside"), "x").unwrap();
    std::os::unix::fs::symlink(dir.join("kept-dir"), dir.join("old-link")).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("old-dangling")).unwrap();
    std::fs::write(dir.join(".old-hidden"), "x").unwrap();
    std::fs::write(dir.join("new"), "x").unwrap();

    // Predicting removes nothing.
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(needing_update(&events), ["Scene > Purge('old-*')"]);
    assert!(dir.join("old-tree/sub/f").exists());

    s.deploy();
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [".old-hidden", "kept-dir", "new"]);
    assert!(dir.join("kept-dir/inside").exists(), "followed the symlink");

    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");

    // Drift: something matching appears again.
    std::fs::write(dir.join("old-again"), "x").unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert!(!dir.join("old-again").exists());
}

#[test]
fn purge_with_a_wildcard_in_the_middle() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Purge::new("cache/*/tmp"))?;
        Ok(())
    });
    let dir = s.prepare();
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.join("cache").join(d).join("tmp")).unwrap();
        std::fs::write(dir.join("cache").join(d).join("keep"), "x").unwrap();
    }
    s.deploy();
    assert!(!dir.join("cache/a/tmp").exists());
    assert!(!dir.join("cache/b/tmp").exists());
    assert!(dir.join("cache/a/keep").exists());
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_bad_or_empty_pattern_is_a_configuration_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Purge::new("a/[b"))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.starts_with("bad pattern `a/[b`")),
        "{errors:?}"
    );
    let s = Stage::new(|_, ctx| {
        ctx.add(Purge::new(" "))?;
        Ok(())
    });
    assert!(s.try_model().is_err());
}
