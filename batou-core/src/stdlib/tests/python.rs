//! `VirtualEnv`, `Requirements` and `Package` with a real `python3 -m
//! venv` (Debian's python3 and python3-venv) and pip installing wheels the
//! test writes into a local directory (no index, no network). pip logs
//! every run to a file (`PIP_LOG`): a deploy that leaves it alone started
//! no pip.

use std::path::Path;
use std::process::Command as Proc;
use std::sync::Mutex;

use super::*;
use crate::stdlib::{Package, Requirements, VirtualEnv};
use crate::testutil::needing_update;

pub(super) const PYTHON: &str = "/usr/bin/python3";

/// Writes a pure-Python wheel of module `name` (`VERSION = "version"`)
/// into `dir`, with Python's zipfile (a wheel is a zip with metadata).
pub(super) fn wheel(dir: &Path, name: &str, version: &str) {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: install Debian's python3 and python3-venv (./test does)"
    );
    std::fs::create_dir_all(dir).unwrap();
    let script = r#"
import sys, zipfile
d, name, version = sys.argv[1:]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f'VERSION = "{version}"\n',
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: batou-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(f"{d}/{name}-{version}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
    z.writestr(f"{info}/RECORD", record)
"#;
    let out = Proc::new(PYTHON)
        .args(["-c", script])
        .arg(dir)
        .args([name, version])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `import NAME; NAME.VERSION` says in the environment (or the
/// error).
pub(super) fn imported(python: &Path, name: &str) -> String {
    // A broken environment's python does not even start.
    let Ok(out) = Proc::new(python)
        .args(["-c", &format!("import {name}; print({name}.VERSION)")])
        .output()
    else {
        return "not importable".into();
    };
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        "not importable".into()
    }
}

pub(super) fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

static DEMO: Mutex<&str> = Mutex::new("1.0");

#[test]
fn requirements_install_once_skip_pip_when_unchanged_and_upgrade_a_changed_pin() {
    let s = Stage::new(|_, ctx| {
        let demo = *DEMO.lock().unwrap();
        ctx.add(
            VirtualEnv::new("3.11")
                .executable(PYTHON)
                .dir("venv")
                .requirements(
                    Requirements::new("requirements.lock")
                        .content(format!(
                            "# locked\ndemo=={demo}\nhelper==1.0 ; python_version >= '3'\n"
                        ))
                        .find_links(ctx.map("wheels").display().to_string())
                        .no_index()
                        .env("PIP_LOG", ctx.map("pip.log").display().to_string()),
                )
                .package(
                    Package::new("extra")
                        .version("0.5")
                        .find_links(ctx.map("wheels").display().to_string())
                        .no_index()
                        .env("PIP_LOG", ctx.map("pip.log").display().to_string()),
                ),
        )?;
        Ok(())
    });
    let wheels = s.prepare().join("wheels");
    for (name, version) in [
        ("demo", "1.0"),
        ("demo", "2.0"),
        ("helper", "1.0"),
        ("extra", "0.5"),
    ] {
        wheel(&wheels, name, version);
    }
    let python = s.path("venv/bin/python");
    let log = s.path("pip.log");

    // Predicting makes nothing and runs no pip.
    let (report, events) = s.predict();
    assert!(report.changed >= 3, "{events:#?}");
    assert!(!s.path("venv").exists(), "predict made the environment");
    assert!(!s.path("requirements.lock").exists());
    assert!(!log.exists(), "predict ran pip");

    let (_, events) = s.deploy();
    let needing = needing_update(&events);
    assert!(
        needing.iter().any(|c| c.contains("Requirements(")),
        "{needing:?}"
    );
    assert_eq!(imported(&python, "demo"), "1.0");
    assert_eq!(imported(&python, "helper"), "1.0");
    assert_eq!(imported(&python, "extra"), "0.5");
    let ran = size(&log);
    assert!(ran > 0, "pip logged nothing");

    // Nothing changed: no pip process, the environment untouched.
    let cfg = identity(&s.path("venv/pyvenv.cfg"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(size(&log), ran, "pip ran on a no-op deploy");
    assert_eq!(identity(&s.path("venv/pyvenv.cfg")), cfg);

    // A changed pin: predicting installs nothing, deploying upgrades.
    *DEMO.lock().unwrap() = "2.0";
    let (_, events) = s.predict();
    assert!(
        needing_update(&events)
            .iter()
            .any(|c| c.contains("Requirements(")),
        "{events:#?}"
    );
    assert_eq!(size(&log), ran);
    assert!(s.read("requirements.lock").contains("demo==1.0"));
    s.deploy();
    assert_eq!(imported(&python, "demo"), "2.0");
    assert!(size(&log) > ran);
    assert_eq!(identity(&s.path("venv/pyvenv.cfg")), cfg, "not recreated");
    let ran = size(&log);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(size(&log), ran);

    // Drift: a package removed by hand is installed again.
    let out = Proc::new(&python)
        .args(["-m", "pip", "uninstall", "-y", "-q", "demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(imported(&python, "demo"), "not importable");
    let (_, events) = s.deploy();
    let logged: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        logged.contains(&"demo: 2.0 wanted, missing installed"),
        "{logged:?}"
    );
    assert_eq!(imported(&python, "demo"), "2.0");
    assert_eq!(s.deploy().0.changed, 0);
}

static INTERPRETER: Mutex<String> = Mutex::new(String::new());

#[test]
fn the_environment_is_made_once_and_again_only_for_another_or_a_broken_interpreter() {
    let s = Stage::new(|_, ctx| {
        let exe = INTERPRETER.lock().unwrap().clone();
        ctx.add(
            VirtualEnv::new("3").executable(exe).package(
                Package::new("demo")
                    .version("1.0")
                    .find_links(ctx.map("wheels").display().to_string())
                    .no_index(),
            ),
        )?;
        Ok(())
    });
    let wheels = s.prepare().join("wheels");
    wheel(&wheels, "demo", "1.0");
    let python = s.path("bin/python");
    let cfg = s.path("pyvenv.cfg");
    let home = |cfg: &Path| {
        std::fs::read_to_string(cfg)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("home = ").map(str::to_string))
            .unwrap()
    };

    *INTERPRETER.lock().unwrap() = PYTHON.into();
    s.deploy();
    assert_eq!(imported(&python, "demo"), "1.0");
    assert_eq!(home(&cfg), "/usr/bin");
    let made = identity(&cfg);

    // The same interpreter by another name: nothing to do.
    *INTERPRETER.lock().unwrap() = std::fs::canonicalize(PYTHON).unwrap().display().to_string();
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&cfg), made);

    // Another interpreter (a copy of the same release installed
    // elsewhere): made again from it, the package installed again.
    let other = s.project.path().join("python");
    std::fs::create_dir_all(other.join("bin")).unwrap();
    std::fs::create_dir_all(other.join("lib")).unwrap();
    let real = std::fs::canonicalize(PYTHON).unwrap();
    let exe = other.join("bin").join(real.file_name().unwrap());
    std::fs::copy(&real, &exe).unwrap();
    let stdlib = format!("/usr/lib/{}", real.file_name().unwrap().to_string_lossy());
    std::os::unix::fs::symlink(&stdlib, other.join("lib").join(real.file_name().unwrap())).unwrap();
    *INTERPRETER.lock().unwrap() = exe.display().to_string();
    let (_, events) = s.deploy();
    assert!(
        needing_update(&events)
            .iter()
            .any(|c| c.contains("Python(")),
        "{events:#?}"
    );
    assert_eq!(home(&cfg), other.join("bin").display().to_string());
    assert_eq!(imported(&python, "demo"), "1.0");
    assert_eq!(s.deploy().0.changed, 0);

    // That interpreter is gone (an upgrade removed it): the broken
    // environment is made again from the wanted one.
    std::fs::remove_dir_all(&other).unwrap();
    assert_eq!(imported(&python, "demo"), "not importable");
    *INTERPRETER.lock().unwrap() = PYTHON.into();
    s.deploy();
    assert_eq!(home(&cfg), "/usr/bin");
    assert_eq!(imported(&python, "demo"), "1.0");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn bad_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("2.7"))?;
                Ok(())
            },
            "VirtualEnv: invalid Python version `2.7`",
        ),
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("3.x"))?;
                Ok(())
            },
            "invalid Python version `3.x`",
        ),
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("3").package(Package::new("demo")))?;
                Ok(())
            },
            "Package('demo=='): an exact version is required",
        ),
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("3").package(Package::new("de mo").version("1")))?;
                Ok(())
            },
            "a package name of letters",
        ),
        (
            |_, ctx| {
                ctx.add(
                    VirtualEnv::new("3")
                        .requirements(Requirements::new("r.txt").option("--pre\n-e x")),
                )?;
                Ok(())
            },
            "pip settings must be non-empty and on one line",
        ),
    ]);
    // Found on the target: a missing interpreter, the wrong release, a
    // missing requirements file.
    let cases: &[(Build, &str)] = &[
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("3").executable("/nonexistent/python3"))?;
                Ok(())
            },
            "cannot run the interpreter `/nonexistent/python3`: install Python 3",
        ),
        (
            |_, ctx| {
                ctx.add(VirtualEnv::new("3.4").executable(PYTHON))?;
                Ok(())
            },
            "`/usr/bin/python3` is Python 3.",
        ),
        (
            |_, ctx| {
                ctx.add(
                    VirtualEnv::new("3")
                        .executable(PYTHON)
                        .requirements(Requirements::new("missing.txt")),
                )?;
                Ok(())
            },
            "missing.txt does not exist",
        ),
    ];
    for (build, expected) in cases {
        let s = Stage::new(*build);
        let (result, _) = s.run(false);
        let text = result.expect_err(expected).to_string();
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
    }
}

#[test]
fn an_index_password_stays_off_command_lines_and_out_of_errors() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            VirtualEnv::new("3").executable(PYTHON).dir("venv").package(
                Package::new("demo")
                    .version("1.0")
                    .index_url("http://deploy:s3cret-pw@127.0.0.1:9/simple")
                    .option("--retries=0")
                    .timeout(2),
            ),
        )?;
        Ok(())
    });
    let (result, events) = s.run(false);
    let text = result
        .expect_err("installed from a closed port")
        .to_string();
    assert!(text.contains("pip install"), "{text}");
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(!format!("{events:?}").contains("s3cret-pw"));
}
