//! `Build` (configure, make, make install) of a tiny autotools-free
//! project that the test packs into a tar.gz and serves over real HTTP.
//! Its configure script and Makefile append to a log outside the workdir,
//! so the log tells exactly which build steps ran.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::fixture::{Server, param, run, set_params, sha256_of};
use super::*;
use crate::stdlib::Build as Cmmi;

const MAKEFILE: &str = "-include config.mk\n\
all: hello\n\
\t@echo make >> $(LOG)\n\
hello: hello.in $(wildcard config.mk)\n\
\tsed -e 's/@GREETING@/$(GREETING)/' -e 's/@FLAGS@/$(FLAGS)/' hello.in > hello\n\
\tchmod +x hello\n\
install: hello\n\
\t@echo install >> $(LOG)\n\
\tmkdir -p $(PREFIX)/bin\n\
\tcp hello $(PREFIX)/bin/hello\n";

/// A configure script without autotools: knows `--prefix`,
/// `--greeting=`, and `--fail` (exits non-zero).
fn configure_script(log: &Path) -> String {
    format!(
        "#!/bin/sh\nset -e\n\
         echo \"configure $*\" >> '{log}'\n\
         prefix=; greeting=hello\n\
         for a in \"$@\"; do\n  case \"$a\" in\n\
         \x20   --prefix=*) prefix=${{a#--prefix=}};;\n\
         \x20   --greeting=*) greeting=${{a#--greeting=}};;\n\
         \x20   --fail) echo 'configure: asked to fail' >&2; exit 3;;\n\
         \x20   *) echo \"configure: unknown option $a\" >&2; exit 2;;\n  esac\ndone\n\
         printf 'PREFIX=%s\\nGREETING=%s\\nFLAGS=%s\\nLOG=%s\\n' \"$prefix\" \"$greeting\" \"$CFLAGS\" '{log}' > config.mk\n",
        log = log.display()
    )
}

/// The served project: `www/hello-1.0.tar.gz` with one top directory.
struct Project {
    tmp: tempfile::TempDir,
    server: Server,
    checksum: String,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src/hello-1.0");
        std::fs::create_dir_all(&src).unwrap();
        let log = tmp.path().join("build.log");
        let configure = src.join("configure");
        std::fs::write(&configure, configure_script(&log)).unwrap();
        std::fs::set_permissions(&configure, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(src.join("Makefile"), MAKEFILE).unwrap();
        std::fs::write(
            src.join("hello.in"),
            "#!/bin/sh\necho '@GREETING@ @FLAGS@'\n",
        )
        .unwrap();
        let www = tmp.path().join("www");
        std::fs::create_dir(&www).unwrap();
        let archive = www.join("hello-1.0.tar.gz");
        run(
            tmp.path(),
            "tar",
            &[
                "czf",
                archive.to_str().unwrap(),
                "-C",
                tmp.path().join("src").to_str().unwrap(),
                "hello-1.0",
            ],
        );
        let checksum = sha256_of(&www, "hello-1.0.tar.gz");
        let server = Server::http(&www);
        Project {
            tmp,
            server,
            checksum,
        }
    }

    /// The build steps that ran so far, one per line.
    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("build.log")).unwrap_or_default()
    }

    /// Parameters: URL, checksum, a configure argument, CFLAGS.
    fn params(&self, s: &Stage, arg: &str, cflags: &str) {
        set_params(
            s.case,
            &[
                &self.server.url("hello-1.0.tar.gz"),
                &self.checksum,
                arg,
                cflags,
            ],
        );
    }
}

fn hello(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Cmmi::new(param(s, 0))
            .checksum(param(s, 1))
            .prefix("inst")
            .configure_args([param(s, 2)])
            .env("CFLAGS", param(s, 3))
            .creates("bin/hello"),
    )?;
    Ok(())
}

/// What the installed program prints.
fn greeting(s: &Stage) -> String {
    let out = std::process::Command::new(s.path("inst/bin/hello"))
        .output()
        .expect("the installed program runs");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_build_runs_once_and_again_only_when_its_inputs_change() {
    let p = Project::new();
    let s = Stage::new(hello);
    p.params(&s, "--greeting=hi", "-O1");

    let (report, _) = s.predict();
    assert_eq!(report.changed, 3, "download, extract, build");
    assert!(!s.path("hello-1.0").exists(), "predict extracted");
    assert!(!s.path("inst").exists(), "predict installed");
    assert_eq!(p.log(), "", "predict ran a build step");
    assert_eq!(p.server.gets(), 0, "predict downloaded");

    let (report, _) = s.deploy();
    assert_eq!(report.changed, 3);
    let prefix = s.path("inst");
    assert_eq!(
        p.log(),
        format!(
            "configure --prefix={} --greeting=hi\nmake\ninstall\n",
            prefix.display()
        )
    );
    assert_eq!(greeting(&s), "hi -O1\n");

    // No-op: nothing downloaded, nothing run, the stamp untouched.
    let stamp = identity(&s.path("hello-1.0/.batou-build"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(p.log().lines().count(), 3, "a build step ran again");
    assert_eq!(identity(&s.path("hello-1.0/.batou-build")), stamp);
    assert_eq!(p.server.gets(), 1);

    // Another configure argument: predicted, not run; then built.
    p.params(&s, "--greeting=moin", "-O1");
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(p.log().lines().count(), 3, "predict ran a build step");
    assert_eq!(greeting(&s), "hi -O1\n");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(greeting(&s), "moin -O1\n");
    assert_eq!(p.log().lines().count(), 6);

    // Another environment: built again.
    p.params(&s, "--greeting=moin", "-O2");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(greeting(&s), "moin -O2\n");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(p.log().lines().count(), 9);
    assert_eq!(p.server.gets(), 1, "the archive was fetched again");
}

#[test]
fn drift_of_the_install_the_sources_or_the_stamp_is_repaired() {
    let p = Project::new();
    let s = Stage::new(hello);
    p.params(&s, "--greeting=hi", "");
    s.deploy();
    assert_eq!(p.log().lines().count(), 3);

    // An installed file removed.
    std::fs::remove_file(s.path("inst/bin/hello")).unwrap();
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(greeting(&s), "hi \n");
    assert_eq!(p.log().lines().count(), 6);

    // A source file changed: extracted again, then built again.
    std::fs::write(s.path("hello-1.0/hello.in"), "#!/bin/sh\necho tampered\n").unwrap();
    let (report, _) = s.deploy();
    assert_eq!(report.changed, 2, "extract and build");
    assert_eq!(greeting(&s), "hi \n");
    assert_eq!(p.log().lines().count(), 9);

    // The stamp removed: built again.
    std::fs::remove_file(s.path("hello-1.0/.batou-build")).unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(p.log().lines().count(), 12);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(p.log().lines().count(), 12);
}

#[test]
fn a_failed_build_leaves_no_stamp_and_is_tried_again() {
    let p = Project::new();
    let s = Stage::new(hello);
    p.params(&s, "--fail", "");
    let (result, _) = s.run(false);
    let error = result.expect_err("configure fails").to_string();
    assert!(error.contains("asked to fail"), "{error}");
    assert!(!s.path("hello-1.0/.batou-build").exists());
    assert_eq!(p.log().lines().count(), 1);

    // The same inputs: tried again, not taken as built.
    assert!(s.run(false).0.is_err());
    assert_eq!(p.log().lines().count(), 2);
    assert!(!s.path("inst/bin/hello").exists());

    p.params(&s, "--greeting=ok", "");
    s.deploy();
    assert_eq!(greeting(&s), "ok \n");
    assert!(s.path("hello-1.0/.batou-build").exists());
}

fn creates_nothing(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Cmmi::new(param(s, 0))
            .checksum(param(s, 1))
            .prefix("inst")
            .creates("bin/other"),
    )?;
    Ok(())
}

#[test]
fn an_install_without_the_promised_file_fails_and_is_tried_again() {
    let p = Project::new();
    let s = Stage::new(creates_nothing);
    p.params(&s, "", "");
    let (result, _) = s.run(false);
    let error = result
        .expect_err("the promised file is missing")
        .to_string();
    assert!(
        error.contains("make install did not create") && error.contains("bin/other"),
        "{error}"
    );
    assert!(!s.path("hello-1.0/.batou-build").exists());
    assert!(s.run(false).0.is_err());
    assert_eq!(p.log().lines().count(), 6, "{}", p.log());
}

fn plain_make(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Cmmi::new(param(s, 0))
            .checksum(param(s, 1))
            .prefix("inst")
            .without_configure()
            .make_args([param(s, 2), param(s, 3)])
            .creates("bin/hello"),
    )?;
    Ok(())
}

#[test]
fn a_project_without_configure_gets_the_prefix_and_arguments_from_make() {
    let p = Project::new();
    let s = Stage::new(plain_make);
    let log = p.tmp.path().join("build.log");
    p.params(&s, "GREETING=plain", &format!("LOG={}", log.display()));
    s.deploy();
    assert_eq!(p.log(), "make\ninstall\n", "configure ran");
    assert_eq!(greeting(&s), "plain \n");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(p.log().lines().count(), 2);
}

#[test]
fn bad_arguments_are_configuration_errors() {
    const SUM: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_config_errors(&[
        (
            |_, ctx| {
                ctx.add(Cmmi::new("http://127.0.0.1:9/x-1.tar.gz"))?;
                Ok(())
            },
            "a checksum is required",
        ),
        (
            |_, ctx| {
                ctx.add(Cmmi::new("ftp://127.0.0.1/x-1.tar.gz").checksum(SUM))?;
                Ok(())
            },
            "only http and https URLs are supported",
        ),
        (
            |_, ctx| {
                ctx.add(Cmmi::new("http://127.0.0.1:9/download?id=3").checksum(SUM))?;
                Ok(())
            },
            "does not end in an archive name",
        ),
        (
            |_, ctx| {
                ctx.add(Cmmi::new("not a url").checksum(SUM))?;
                Ok(())
            },
            "is not a valid URL",
        ),
        (
            |_, ctx| {
                ctx.add(
                    Cmmi::new("http://127.0.0.1:9/x-1.tar.gz")
                        .checksum(SUM)
                        .env("C FLAGS", "-O2"),
                )?;
                Ok(())
            },
            "invalid environment variable name `C FLAGS`",
        ),
        (
            |_, ctx| {
                ctx.add(
                    Cmmi::new("http://127.0.0.1:9/x-1.tar.gz")
                        .checksum(SUM)
                        .configure_args([""]),
                )?;
                Ok(())
            },
            "invalid argument \"\"",
        ),
        (
            |_, ctx| {
                ctx.add(Cmmi::new("http://127.0.0.1:9/x-1.tar.gz").checksum("sha256:abc"))?;
                Ok(())
            },
            "sha256",
        ),
    ]);
}
