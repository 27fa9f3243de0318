//! `Extract` on real archives made by the tar and zip CLIs (and, for the
//! malicious ones no CLI writes, Python's tarfile / zipfile).

use std::path::Path;

use super::fixture::{param, run, set_params};
use super::*;
use crate::error::Error;
use crate::stdlib::{ArchiveFormat, Extract};

/// `src/pkg-1.0/` with a script, a text file, a nested file, a symlink and
/// a macOS resource fork; archived as `name` in the workdir.
fn make_archive(dir: &Path, name: &str) {
    let src = dir.join("src");
    if !src.exists() {
        let pkg = src.join("pkg-1.0");
        std::fs::create_dir_all(pkg.join("bin")).unwrap();
        std::fs::create_dir_all(pkg.join("lib")).unwrap();
        std::fs::write(pkg.join("README"), "read me\n").unwrap();
        std::fs::write(pkg.join("bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
        std::fs::set_permissions(
            pkg.join("bin/tool"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(pkg.join("lib/data.txt"), "data\n").unwrap();
        std::fs::write(pkg.join("lib/other.txt"), "other\n").unwrap();
        std::fs::write(pkg.join("._README"), "resource fork").unwrap();
        std::os::unix::fs::symlink("README", pkg.join("current")).unwrap();
    }
    let out = dir.join(name);
    let out = out.to_str().unwrap();
    let flag = match format_of(name) {
        ArchiveFormat::Zip => {
            run(&src, "zip", &["-q", "-r", "-y", out, "pkg-1.0"]);
            return;
        }
        ArchiveFormat::Tar => "-cf",
        ArchiveFormat::TarGz => "-czf",
        ArchiveFormat::TarXz => "-cJf",
        ArchiveFormat::TarBz2 => "-cjf",
    };
    run(&src, "tar", &[flag, out, "pkg-1.0"]);
}

fn format_of(name: &str) -> ArchiveFormat {
    ArchiveFormat::from_name(name).unwrap().0
}

fn extract_stripped(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(Extract::new(param(s, 0)).strip(1))?;
    Ok(())
}

#[test]
fn every_format_extracts_stripped_and_a_second_run_changes_nothing() {
    for name in [
        "app.tar",
        "app.tar.gz",
        "app.tgz",
        "app.tar.xz",
        "app.tar.bz2",
        "app.zip",
    ] {
        let s = Stage::new(extract_stripped);
        set_params(s.case, &[name]);
        make_archive(&s.prepare(), name);
        let (report, _) = s.deploy();
        assert_eq!(report.changed, 1, "{name}");
        assert_eq!(s.read("app/README"), "read me\n", "{name}");
        assert_eq!(s.read("app/lib/data.txt"), "data\n", "{name}");
        assert_eq!(mode_of(&s.path("app/bin/tool")), 0o755, "{name}");
        assert_eq!(
            std::fs::read_link(s.path("app/current")).unwrap(),
            Path::new("README"),
            "{name}"
        );
        assert!(!s.path("app/._README").exists(), "{name}: ._* extracted");
        assert!(!s.path("app/pkg-1.0").exists(), "{name}: not stripped");

        let before = identity(&s.path("app/README"));
        let (report, events) = s.deploy();
        assert_eq!(report.changed, 0, "{name}: {events:#?}");
        assert_eq!(identity(&s.path("app/README")), before, "{name}: rewritten");
    }
}

#[test]
fn drift_is_repaired_member_by_member_and_predict_writes_nothing() {
    let s = Stage::new(|s, ctx| {
        ctx.add(Extract::new(param(s, 0)).target("opt/tool").strip(1))?;
        Ok(())
    });
    set_params(s.case, &["app.tar.gz"]);
    make_archive(&s.prepare(), "app.tar.gz");

    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!s.path("opt").exists(), "predict wrote");

    s.deploy();
    let untouched = identity(&s.path("opt/tool/lib/other.txt"));
    std::fs::write(s.path("opt/tool/README"), "changed").unwrap();
    std::fs::remove_file(s.path("opt/tool/lib/data.txt")).unwrap();
    std::fs::set_permissions(
        s.path("opt/tool/bin/tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    std::fs::remove_file(s.path("opt/tool/current")).unwrap();
    std::fs::create_dir(s.path("opt/tool/current")).unwrap();
    std::fs::write(s.path("opt/tool/mine"), "kept").unwrap();

    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(s.read("opt/tool/README"), "changed", "predict wrote");
    assert!(!s.path("opt/tool/lib/data.txt").exists(), "predict wrote");
    let logged = format!("{events:?}");
    assert!(logged.contains("update README"), "{logged}");
    assert!(logged.contains("write lib/data.txt"), "{logged}");

    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("opt/tool/README"), "read me\n");
    assert_eq!(s.read("opt/tool/lib/data.txt"), "data\n");
    assert_eq!(mode_of(&s.path("opt/tool/bin/tool")), 0o755);
    assert_eq!(
        std::fs::read_link(s.path("opt/tool/current")).unwrap(),
        Path::new("README")
    );
    assert_eq!(s.read("opt/tool/mine"), "kept");
    assert_eq!(identity(&s.path("opt/tool/lib/other.txt")), untouched);
    assert_eq!(s.deploy().0.changed, 0);
}

const EVIL: &str = r#"
import io, sys, tarfile, zipfile
def tar(name, member, kind=tarfile.REGTYPE, link=""):
    with tarfile.open(name, "w") as t:
        info = tarfile.TarInfo(member)
        info.type, info.linkname = kind, link
        data = b"" if link else b"evil"
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
tar("dotdot.tar", "pkg/../../escaped")
tar("absolute.tar", "/tmp/batou-extract-absolute-escape")
tar("link.tar", "pkg/l", tarfile.SYMTYPE, "../../outside")
tar("through.tar", "sub/file")
with tarfile.open("twice.tar", "w") as t:
    for text in (b"first", b"second"):
        info = tarfile.TarInfo("same")
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))
with zipfile.ZipFile("dotdot.zip", "w") as z:
    z.writestr("../escaped", "evil")
"#;

#[test]
fn members_escaping_the_target_are_refused() {
    let cases = [
        ("dotdot.tar", "the path contains `..`"),
        ("absolute.tar", "the path is absolute"),
        ("link.tar", "it is a symlink to ../../outside"),
        ("dotdot.zip", "the path contains `..`"),
    ];
    for (name, why) in cases {
        let s = Stage::new(|s, ctx| {
            ctx.add(Extract::new(param(s, 0)).target("x/y"))?;
            Ok(())
        });
        set_params(s.case, &[name]);
        let dir = s.prepare();
        run(&dir, "python3", &["-c", EVIL]);
        let message = match s.run(false) {
            (Err(e), _) => e.to_string(),
            (Ok(r), _) => panic!("{name}: extracted: {r:?}"),
        };
        assert!(message.contains("refusing to extract"), "{name}: {message}");
        assert!(message.contains(why), "{name}: {message}");
        assert!(!dir.join("escaped").exists() && !dir.join("x/escaped").exists());
        assert!(!Path::new("/tmp/batou-extract-absolute-escape").exists());
        assert!(!dir.join("outside").exists());
    }

    // A symlink planted in the target is not written through.
    let s = Stage::new(|s, ctx| {
        ctx.add(Extract::new(param(s, 0)).target("t"))?;
        Ok(())
    });
    set_params(s.case, &["through.tar"]);
    let dir = s.prepare();
    run(&dir, "python3", &["-c", EVIL]);
    std::fs::create_dir_all(dir.join("t")).unwrap();
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("t/sub")).unwrap();
    let message = s.run(false).0.expect_err("refused").to_string();
    assert!(message.contains("is a symlink"), "{message}");
    assert!(!dir.join("elsewhere/file").exists());
}

#[test]
fn a_missing_archive_is_predicted_but_fails_a_deploy() {
    let s = Stage::new(extract_stripped);
    set_params(s.case, &["later.tar.gz"]);
    s.prepare();
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(format!("{events:?}").contains("does not exist yet"));
    let message = s.run(false).0.expect_err("fails").to_string();
    assert!(message.contains("later.tar.gz does not exist"), "{message}");
    assert!(!s.path("later").exists());
}

#[test]
fn bad_arguments_are_configuration_errors() {
    for (name, expected) in [
        ("data.rar", "cannot tell the format of \"data.rar\""),
        (".tar.gz", "cannot derive a target directory"),
    ] {
        let s = Stage::new(extract_stripped);
        set_params(s.case, &[name]);
        let errors = s.try_model().err().expect("configure fails");
        assert!(
            matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.contains(expected)),
            "{name}: {errors:?}"
        );
    }
    // An explicit format makes any name work.
    let s = Stage::new(|_, ctx| {
        ctx.add(
            Extract::new("blob")
                .format(ArchiveFormat::TarGz)
                .target("out")
                .strip(1),
        )?;
        Ok(())
    });
    let dir = s.prepare();
    make_archive(&dir, "app.tar.gz");
    std::fs::rename(dir.join("app.tar.gz"), dir.join("blob")).unwrap();
    s.deploy();
    assert_eq!(s.read("out/README"), "read me\n");
}

#[test]
fn a_path_archived_twice_ends_as_its_last_member_and_stays_put() {
    let s = Stage::new(|s, ctx| {
        ctx.add(Extract::new(param(s, 0)))?;
        Ok(())
    });
    set_params(s.case, &["twice.tar"]);
    run(&s.prepare(), "python3", &["-c", EVIL]);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("twice/same"), "second");
    assert_eq!(s.deploy().0.changed, 0);
}
