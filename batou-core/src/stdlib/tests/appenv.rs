//! `AppEnv` with a real `python3 -m venv` and pip installing wheels the
//! test writes (see `python.rs`): built beside the environment in use,
//! switched to atomically, the old one kept when a build fails.

use std::path::PathBuf;
use std::sync::Mutex;

use super::python::{PYTHON, imported, size, wheel};
use super::*;
use crate::stdlib::{AppEnv, Requirements};

static LOCK: Mutex<&str> = Mutex::new("demo==1.0\n");

#[test]
fn a_new_lock_builds_a_new_environment_and_switches_to_it_only_when_ready() {
    let s = Stage::new(|_, ctx| {
        let lock = *LOCK.lock().unwrap();
        ctx.add(
            AppEnv::new("3").executable(PYTHON).lock(
                Requirements::new("requirements.lock")
                    .content(lock)
                    .find_links(ctx.map("wheels").display().to_string())
                    .no_index()
                    .env("PIP_LOG", ctx.map("pip.log").display().to_string()),
            ),
        )?;
        Ok(())
    });
    let wheels = s.prepare().join("wheels");
    wheel(&wheels, "demo", "1.0");
    wheel(&wheels, "demo", "2.0");
    let python = s.path("bin/python");
    let log = s.path("pip.log");
    let current = || std::fs::read_link(s.path(".appenv/current")).unwrap();
    // The environments in `.appenv`, sorted, and what they should be.
    let only = |hash: &PathBuf| {
        let mut names = vec![hash.display().to_string(), "current".to_string()];
        names.sort();
        names
    };
    let envs = || {
        let mut names: Vec<String> = std::fs::read_dir(s.path(".appenv"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let (report, _) = s.predict();
    assert!(report.changed >= 1);
    assert!(!s.path(".appenv").exists(), "predict built an environment");
    assert!(!log.exists());

    s.deploy();
    assert_eq!(imported(&python, "demo"), "1.0");
    for name in ["bin", "lib", "pyvenv.cfg"] {
        assert_eq!(
            std::fs::read_link(s.path(name)).unwrap(),
            PathBuf::from(".appenv/current").join(name)
        );
    }
    let first = current();
    assert!(s.path(".appenv").join(&first).join("appenv.ready").exists());
    let ran = size(&log);
    assert!(ran > 0);

    // Nothing changed: no pip, the same environment.
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(size(&log), ran, "pip ran on a no-op deploy");
    assert_eq!(current(), first);

    // A new lock: predicting builds nothing; deploying builds a second
    // environment, switches, and removes the first.
    *LOCK.lock().unwrap() = "demo==2.0\n";
    s.predict();
    assert_eq!(envs(), only(&first));
    assert_eq!(size(&log), ran);
    s.deploy();
    let second = current();
    assert_ne!(second, first);
    assert_eq!(imported(&python, "demo"), "2.0");
    assert_eq!(envs(), only(&second));

    // A lock that cannot be installed: the deploy fails, the application
    // keeps the environment it had.
    *LOCK.lock().unwrap() = "demo==3.0\n";
    let (result, _) = s.run(false);
    let text = result.expect_err("installed a missing version").to_string();
    assert!(text.contains("pip install"), "{text}");
    assert_eq!(current(), second);
    assert_eq!(imported(&python, "demo"), "2.0");

    // Back to the good lock: the half-built environment is cleared away.
    *LOCK.lock().unwrap() = "demo==2.0\n";
    s.deploy();
    assert_eq!(current(), second);
    assert_eq!(envs(), only(&second));
    assert_eq!(s.deploy().0.changed, 0);

    // Drift: a link removed by hand comes back.
    std::fs::remove_file(s.path("bin")).unwrap();
    let ran = size(&log);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(imported(&python, "demo"), "2.0");
    assert_eq!(size(&log), ran, "relinking ran pip");
}

#[test]
fn an_appenv_needs_a_lock_file_and_a_free_place_for_its_links() {
    assert_config_errors(&[(
        |_, ctx| {
            ctx.add(AppEnv::new("3"))?;
            Ok(())
        },
        "AppEnv: a lock file is required",
    )]);
    let s = Stage::new(|_, ctx| {
        ctx.add(
            AppEnv::new("3")
                .executable(PYTHON)
                .lock(Requirements::new("requirements.lock").content("\n")),
        )?;
        Ok(())
    });
    std::fs::create_dir_all(s.prepare().join("bin")).unwrap();
    let (result, _) = s.run(false);
    let text = result.expect_err("replaced a directory").to_string();
    assert!(text.contains("bin is a directory"), "{text}");
    assert!(!s.path(".appenv").exists());
}
