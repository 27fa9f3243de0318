//! `DebPackage` against the real dpkg and apt, with no network: the test
//! builds a tiny `.deb` with `dpkg-deb --build`, indexes it with
//! `apt-ftparchive` into a `file:` repository in a temp dir, and points
//! apt at that repository only (its own sources list, no sources.list.d,
//! its own lists directory, so the host's apt state is left alone). The
//! package is purged again by a guard.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::accounts::sh;
use super::*;
use crate::stdlib::DebPackage;
use crate::testutil::needing_update;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// apt `-o` options, as (key, value).
type AptOptions = Vec<(String, String)>;

/// The package and the options of each scene's local repository.
static REPOS: Mutex<BTreeMap<usize, (String, AptOptions)>> = Mutex::new(BTreeMap::new());

/// A package `batou-test-PID-N` (version 1.0, one file) in a `file:`
/// repository; purged on drop.
struct Repo {
    package: String,
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(s: &Stage) -> Self {
        let package = format!(
            "batou-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let build = d.join("build");
        std::fs::create_dir_all(build.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(build.join(format!("usr/share/{package}"))).unwrap();
        std::fs::write(
            build.join(format!("usr/share/{package}/marker")),
            "installed by a batou test\n",
        )
        .unwrap();
        std::fs::write(
            build.join("DEBIAN/control"),
            format!(
                "Package: {package}\nVersion: 1.0\nArchitecture: all\n\
                 Maintainer: batou tests <test@localhost>\n\
                 Description: a throwaway package for batou's tests\n"
            ),
        )
        .unwrap();
        let repo = d.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(d.join("lists/partial")).unwrap();
        std::fs::create_dir_all(d.join("parts")).unwrap();
        // apt reads the repository as its sandbox user `_apt`.
        sh(&format!("chmod -R a+rX {}", d.display()));
        sh(&format!(
            "cd {0} && dpkg-deb --root-owner-group --build build repo/{package}_1.0_all.deb >/dev/null \
             && cd repo && apt-ftparchive packages . > Packages",
            d.display()
        ));
        sh(&format!("chmod -R a+rX {}", d.display()));
        std::fs::write(
            d.join("sources.list"),
            format!("deb [trusted=yes] file:{} ./\n", repo.display()),
        )
        .unwrap();
        let options = apt_options(d);
        REPOS
            .lock()
            .unwrap()
            .insert(s.case, (package.clone(), options));
        Repo { package, dir }
    }

    fn status(&self) -> String {
        sh(&format!(
            "dpkg-query --show --showformat='${{Status}} ${{Version}}' {} 2>/dev/null || true",
            self.package
        ))
    }
}

/// Only the test's repository, and its own lists.
fn apt_options(dir: &Path) -> AptOptions {
    vec![
        (
            "Dir::Etc::SourceList".into(),
            dir.join("sources.list").display().to_string(),
        ),
        (
            "Dir::Etc::SourceParts".into(),
            dir.join("parts").display().to_string(),
        ),
        (
            "Dir::State::Lists".into(),
            dir.join("lists").display().to_string(),
        ),
        ("APT::Get::List-Cleanup".into(), "0".into()),
    ]
}

impl Repo {
    /// `apt-get ARGS` with the test's repository, waiting for the dpkg
    /// lock (other tests and other apt runs may hold it).
    fn apt_get(&self, args: &str) -> String {
        let options: String = apt_options(self.dir.path())
            .iter()
            .map(|(k, v)| format!(" -o {k}={v}"))
            .collect();
        format!(
            "DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=120{options} {args} >/dev/null"
        )
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let line = format!(
            "dpkg-query -W {0} >/dev/null 2>&1 && {1}",
            self.package,
            self.apt_get(&format!("purge -y {}", self.package))
        );
        let _ = std::process::Command::new("sh")
            .args(["-c", &line])
            .status();
    }
}

fn package(scene: &Scene) -> DebPackage {
    let (name, options) = REPOS.lock().unwrap()[&scene.case].clone();
    options
        .into_iter()
        .fold(DebPackage::new(name), |p, (k, v)| p.apt_option(k, v))
}

#[test]
fn a_package_is_installed_once_from_a_local_repository_and_reinstalled_when_removed() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(package(scene))?;
        Ok(())
    });
    let repo = Repo::new(&s);
    let label = format!("Scene > DebPackage('{}')", repo.package);

    // Predicting lists the package and installs nothing.
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(needing_update(&events), std::slice::from_ref(&label));
    assert!(
        events.iter().any(|e| matches!(e, Event::Log { message, .. }
            if message.contains(&format!("{} is not installed", repo.package)))),
        "{events:#?}"
    );
    assert_eq!(repo.status(), "");
    assert!(!Path::new(&format!("/usr/share/{}", repo.package)).exists());

    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(repo.status(), "install ok installed 1.0");
    assert!(Path::new(&format!("/usr/share/{}/marker", repo.package)).exists());

    // Installed: apt is not even asked, so dpkg's record of the package's
    // files is untouched (the status file is shared with other apt runs).
    let list = format!("/var/lib/dpkg/info/{}.list", repo.package);
    let list_before = mtime(&list);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(mtime(&list), list_before);

    // Drift: removed by hand, installed again.
    sh(&repo.apt_get(&format!("remove -y {}", repo.package)));
    assert!(
        !repo.status().contains("installed 1.0"),
        "{}",
        repo.status()
    );
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), [label]);
    assert_eq!(repo.status(), "install ok installed 1.0");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_pinned_version_that_the_repository_lacks_fails_with_apts_message() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(package(scene).version("9.9"))?;
        Ok(())
    });
    let repo = Repo::new(&s);
    match s.run(false) {
        (Err(e), _) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("{}=9.9", repo.package)) && text.contains("return code"),
                "{text}"
            );
        }
        (Ok(r), _) => panic!("deployed: {r:?}"),
    }
    assert_eq!(repo.status(), "");
}

#[test]
fn bad_package_arguments_are_configuration_errors() {
    let cases: &[(Build, &str)] = &[
        (
            |_, ctx| {
                ctx.add(DebPackage::new("Nginx"))?;
                Ok(())
            },
            "invalid Debian package name `Nginx`",
        ),
        (
            |_, ctx| {
                ctx.add(DebPackage::new("x"))?;
                Ok(())
            },
            "invalid Debian package name `x`",
        ),
        (
            |_, ctx| {
                ctx.add(DebPackage::new("nginx").version("1.0 beta"))?;
                Ok(())
            },
            "DebPackage `nginx`: invalid version `1.0 beta`",
        ),
        (
            |_, ctx| {
                ctx.add(DebPackage::new("nginx").apt_option("", "x"))?;
                Ok(())
            },
            "invalid apt option `=x`",
        ),
    ];
    assert_config_errors(cases);
}
