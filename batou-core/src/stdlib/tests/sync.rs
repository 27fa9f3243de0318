//! `Directory::source(..).purge(..)`: syncing from a source directory.

use super::*;
use crate::error::Error;
use crate::stdlib::Directory;

fn tree(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(format!(
                    "{rel}: {}",
                    std::fs::read_to_string(&path).unwrap()
                ));
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `src/` with `a`, `sub/b` (mode 0600) and a symlink `l -> a`.
fn source(s: &Stage) -> std::path::PathBuf {
    let src = s.prepare().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), "A").unwrap();
    std::fs::write(src.join("sub/b"), "B").unwrap();
    std::fs::set_permissions(
        src.join("sub/b"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
    src
}

#[test]
fn a_directory_is_synced_from_its_source_and_then_left_alone() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("dst").source("src"))?;
        Ok(())
    });
    let src = source(&s);
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!s.path("dst").exists(), "predict wrote");

    s.deploy();
    assert_eq!(tree(&s.path("dst")), tree(&src));
    assert_eq!(mode_of(&s.path("dst/sub/b")), 0o600);
    let before = identity(&s.path("dst/sub/b"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("dst/sub/b")), before, "rewritten");

    // Drift: a changed file is copied again; an extra file stays (no purge).
    std::fs::write(s.path("dst/a"), "changed").unwrap();
    std::fs::write(s.path("dst/extra"), "mine").unwrap();
    let untouched = identity(&s.path("dst/sub/b"));
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("dst/a"), "A");
    assert_eq!(s.read("dst/extra"), "mine");
    assert_eq!(identity(&s.path("dst/sub/b")), untouched);
}

#[test]
fn purge_removes_what_is_not_in_the_source() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("dst").source("src").purge(true).mode(0o750))?;
        Ok(())
    });
    let src = source(&s);
    std::fs::create_dir_all(s.path("dst/stale/deep")).unwrap();
    std::fs::write(s.path("dst/stale/deep/f"), "x").unwrap();
    std::fs::write(s.path("dst/old"), "x").unwrap();
    // A directory where the source has a file, and a file where it has a
    // directory.
    std::fs::create_dir(s.path("dst/a")).unwrap();
    std::fs::write(s.path("dst/sub"), "x").unwrap();

    let (_, events) = s.predict();
    assert!(s.path("dst/old").exists(), "predict removed");
    let logged: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert!(
        logged
            .iter()
            .any(|m| m.starts_with("remove ") && m.ends_with("dst/old")),
        "{logged:?}"
    );

    s.deploy();
    assert_eq!(tree(&s.path("dst")), tree(&src));
    assert_eq!(mode_of(&s.path("dst")), 0o750);
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_missing_source_fails_and_purge_without_source_is_a_configuration_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("dst").source("nowhere"))?;
        Ok(())
    });
    match s.run(false) {
        (Err(e), _) => assert!(
            matches!(&e.source, Error::Usage(m) if m.contains("nowhere") && m.contains("does not exist")),
            "{e}"
        ),
        (Ok(r), _) => panic!("deployed: {r:?}"),
    }
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("dst").purge(true))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.starts_with("purge needs a source")),
        "{errors:?}"
    );
}
