//! `File` modes in all spellings, `ensure` directory / symlink, and the
//! implicit-source rule.

use super::*;
use crate::convert;
use crate::error::Error;
use crate::stdlib::{Assets, File, FileMode};
use crate::template::Template;
use crate::testutil::needing_update;

/// The single configuration error of a stage that must not configure.
fn usage_error(s: &Stage) -> String {
    let errors = s.try_model().err().expect("configure fails");
    match &errors[..] {
        [
            ConfigError::Component {
                source: Error::Usage(m),
                ..
            },
        ] => m.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn modes_as_integer_octal_string_ls_string_and_convert_mode() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("int").content("").mode(0o640))?;
        ctx.add(File::new("octal").content("").mode("0750"))?;
        ctx.add(File::new("ls").content("").mode("rw-------"))?;
        ctx.add(File::new("conv").content("").mode(convert::Mode(0o604)))?;
        ctx.add(FileMode::new("int", 0o640u32))?;
        Ok(())
    });
    s.deploy();
    assert_eq!(mode_of(&s.path("int")), 0o640);
    assert_eq!(mode_of(&s.path("octal")), 0o750);
    assert_eq!(mode_of(&s.path("ls")), 0o600);
    assert_eq!(mode_of(&s.path("conv")), 0o604);
    let before = identity(&s.path("ls"));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&s.path("ls")), before);

    // Drift is repaired by the Mode part alone.
    std::fs::set_permissions(
        s.path("ls"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), ["Scene > File('ls') > Mode('ls')"]);
    assert_eq!(mode_of(&s.path("ls")), 0o600);
}

#[test]
fn a_bad_mode_string_is_a_configuration_error_in_batous_words() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("f").content("").mode("rwxrwxrwt"))?;
        Ok(())
    });
    assert_eq!(
        usage_error(&s),
        "Mode-string should be between `---------` and `rwxrwxrwx`."
    );
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("d").ensure_directory().mode("rwx"))?;
        Ok(())
    });
    assert_eq!(
        usage_error(&s),
        "Mode-string should be between `---------` and `rwxrwxrwx`."
    );
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("f").content("").mode(-1))?;
        Ok(())
    });
    assert!(usage_error(&s).contains("negative"));
    assert!(!s.project.path().join("work").exists());
}

#[test]
fn ensure_directory_creates_fixes_and_keeps_a_directory() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            File::new("a/b")
                .ensure_directory()
                .leading(true)
                .mode("rwxr-x---"),
        )?;
        Ok(())
    });
    let (_, events) = s.predict();
    assert_eq!(
        needing_update(&events),
        ["Scene > File('a/b') > Directory('a/b')"]
    );
    assert!(!s.project.path().join("work").exists(), "predict wrote");

    s.deploy();
    assert!(s.path("a/b").is_dir());
    assert_eq!(mode_of(&s.path("a/b")), 0o750);
    let before = identity(&s.path("a/b"));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&s.path("a/b")), before);

    // A file in the way is replaced.
    std::fs::remove_dir(s.path("a/b")).unwrap();
    std::fs::write(s.path("a/b"), "in the way").unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert!(s.path("a/b").is_dir());
    assert_eq!(mode_of(&s.path("a/b")), 0o750);
}

#[test]
fn ensure_symlink_points_and_is_repaired() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("current").symlink_to("releases/1"))?;
        Ok(())
    });
    let dir = s.prepare();
    s.predict();
    assert!(std::fs::symlink_metadata(dir.join("current")).is_err());
    s.deploy();
    assert_eq!(
        std::fs::read_link(dir.join("current")).unwrap(),
        dir.join("releases/1")
    );
    let before = identity(&dir.join("current"));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&dir.join("current")), before);
    std::fs::remove_file(dir.join("current")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", dir.join("current")).unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(
        std::fs::read_link(dir.join("current")).unwrap(),
        dir.join("releases/1")
    );
}

#[test]
fn directories_and_symlinks_take_no_content_and_symlinks_no_mode() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("d").ensure_directory().content("x"))?;
        Ok(())
    });
    assert!(usage_error(&s).starts_with("a directory has no content"));
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("l").symlink_to("t").mode(0o644))?;
        Ok(())
    });
    assert!(usage_error(&s).starts_with("a symlink has no mode"));
}

#[test]
fn a_file_without_content_is_the_implicit_template_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("etc/app.conf"))?;
        Ok(())
    });
    let message = usage_error(&s);
    assert!(
        message.starts_with("Missing implicit template file app.conf"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "Or did you want to create an empty file? Then use File::new(\"etc/app.conf\").content(\"\")."
        ),
        "{message}"
    );
}

const ASSETS: Assets = &[
    Template::inline("templates/app.conf", "port = {{ component.port }}\n"),
    Template::inline("templates/other.conf", "other\n"),
];

#[test]
fn the_implicit_template_is_the_asset_with_the_files_base_name() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("app.conf").assets(ASSETS))?;
        ctx.add(File::new("empty").empty())?;
        Ok(())
    });
    std::fs::write(s.prepare().join("empty"), "old").unwrap();
    s.deploy();
    assert_eq!(s.read("app.conf"), "port = 8080\n");
    assert_eq!(s.read("empty"), "");
    assert_eq!(s.deploy().0.changed, 0);

    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("missing.conf").assets(ASSETS))?;
        Ok(())
    });
    let message = usage_error(&s);
    assert!(
        message.starts_with(
            "Missing implicit template file missing.conf among the assets \
             [templates/app.conf, templates/other.conf]."
        ),
        "{message}"
    );
}
