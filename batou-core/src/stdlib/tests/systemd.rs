//! `SystemdUnit` and `Program` against a real `systemd --user` manager
//! (see `user_manager.rs`), driven as root for a service user.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::user_manager::UserManager;
use super::*;
use crate::stdlib::{File, Program, SystemdUnit};
use crate::testutil::needing_update;

/// What a scene's build function needs to know about its manager.
#[derive(Clone)]
pub(super) struct Manager {
    pub user: String,
    pub runtime_dir: PathBuf,
    pub home: PathBuf,
}

/// Managers by scene case.
static MANAGERS: Mutex<BTreeMap<usize, Manager>> = Mutex::new(BTreeMap::new());

pub(super) fn register(s: &Stage, m: &UserManager) {
    MANAGERS.lock().unwrap().insert(
        s.case,
        Manager {
            user: m.user.clone(),
            runtime_dir: m.runtime_dir.clone(),
            home: m.home.clone(),
        },
    );
}

pub(super) fn manager(scene: &Scene) -> Manager {
    MANAGERS.lock().unwrap()[&scene.case].clone()
}

const SLEEPER: &str = "[Unit]\nDescription=test sleeper\n\n[Service]\nExecStart=/bin/sleep 1000\n\n\
                       [Install]\nWantedBy=default.target\n";

#[test]
fn a_user_unit_is_written_loaded_enabled_started_and_kept() {
    let m = UserManager::start();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        ctx.add(
            SystemdUnit::new("sleeper.service")
                .content(SLEEPER)
                .user_unit_of(m.user)
                .runtime_dir(m.runtime_dir),
        )?;
        Ok(())
    });
    register(&s, &m);
    let unit = m.unit_dir().join("sleeper.service");

    // Predicting writes nothing and starts nothing.
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert!(!unit.exists(), "predict wrote the unit");
    assert!(!m.unit_dir().exists(), "predict made directories");
    assert!(!m.is_active("sleeper.service"));

    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), SLEEPER);
    assert_eq!(diffs(&events)[0].0, "sleeper.service");
    let uid = crate::host::Host::local()
        .user(&m.user)
        .unwrap()
        .unwrap()
        .uid;
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&unit).unwrap().uid(), uid);
    assert_eq!(std::fs::metadata(m.unit_dir()).unwrap().uid(), uid);
    assert!(m.is_active("sleeper.service"));
    assert_eq!(m.is_enabled("sleeper.service"), "enabled");
    let pid = m.main_pid("sleeper.service");
    assert_ne!(pid, 0);

    // A no-op deploy: nothing rewritten, nothing restarted.
    let before = identity(&unit);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&unit), before);
    assert_eq!(m.main_pid("sleeper.service"), pid);

    // Drift in the file: rewritten, reloaded, restarted.
    std::fs::write(&unit, SLEEPER.replace("1000", "2000")).unwrap();
    let (_, events) = s.deploy();
    assert_eq!(
        needing_update(&events),
        ["Scene > SystemdUnit('sleeper.service')"]
    );
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), SLEEPER);
    assert_eq!(m.property("sleeper.service", "NeedDaemonReload"), "no");
    let restarted = m.main_pid("sleeper.service");
    assert!(restarted != 0 && restarted != pid, "{pid} -> {restarted}");

    // Drift in the manager: stopped and disabled by hand.
    assert!(m.systemctl(&["stop", "sleeper.service"]).status.success());
    assert!(
        m.systemctl(&["disable", "sleeper.service"])
            .status
            .success()
    );
    assert!(!m.is_active("sleeper.service"));
    let before = identity(&unit);
    assert_eq!(s.deploy().0.changed, 1);
    assert!(m.is_active("sleeper.service"));
    assert_eq!(m.is_enabled("sleeper.service"), "enabled");
    assert_eq!(
        identity(&unit),
        before,
        "an unchanged unit is not rewritten"
    );
    assert_eq!(s.deploy().0.changed, 0);

    // A deploy that stopped half-way: the right file is on disk, but the
    // manager still runs what it loaded before. Reloaded and restarted.
    let pid = m.main_pid("sleeper.service");
    std::fs::write(&unit, SLEEPER.replace("1000", "3000")).unwrap();
    assert!(m.systemctl(&["daemon-reload"]).status.success());
    std::fs::write(&unit, SLEEPER).unwrap();
    assert_eq!(m.property("sleeper.service", "NeedDaemonReload"), "yes");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(m.property("sleeper.service", "NeedDaemonReload"), "no");
    let restarted = m.main_pid("sleeper.service");
    assert!(restarted != 0 && restarted != pid, "{pid} -> {restarted}");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_changed_dependency_restarts_the_service_and_nothing_else_does() {
    let m = UserManager::start();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        ctx.add(
            SystemdUnit::new("dep.service")
                .content(SLEEPER)
                .user_unit_of(m.user)
                .runtime_dir(m.runtime_dir)
                .depends_on(File::new("dep.conf").content("v1\n")),
        )?;
        Ok(())
    });
    register(&s, &m);
    s.deploy();
    let pid = m.main_pid("dep.service");
    assert_ne!(pid, 0);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(m.main_pid("dep.service"), pid);

    std::fs::write(s.path("dep.conf"), "drift\n").unwrap();
    // Predicting says it would restart, and does not.
    let (_, events) = s.predict();
    assert_eq!(
        needing_update(&events),
        [
            "Scene > SystemdUnit('dep.service') > File('dep.conf') > Content('dep.conf')",
            "Scene > SystemdUnit('dep.service')",
        ]
    );
    assert_eq!(m.main_pid("dep.service"), pid);
    assert_eq!(s.read("dep.conf"), "drift\n");

    s.deploy();
    assert_eq!(s.read("dep.conf"), "v1\n");
    let restarted = m.main_pid("dep.service");
    assert!(restarted != 0 && restarted != pid, "{pid} -> {restarted}");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(m.main_pid("dep.service"), restarted);
}

#[test]
fn a_stopped_and_disabled_unit_is_kept_that_way() {
    let m = UserManager::start();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        ctx.add(
            SystemdUnit::new("off.service")
                .content(SLEEPER)
                .user_unit_of(m.user)
                .runtime_dir(m.runtime_dir)
                .enable(false)
                .running(false),
        )?;
        Ok(())
    });
    register(&s, &m);
    assert_eq!(s.deploy().0.changed, 1);
    assert!(!m.is_active("off.service"));
    assert_eq!(m.is_enabled("off.service"), "disabled");
    assert!(m.systemctl(&["start", "off.service"]).status.success());
    assert_eq!(s.deploy().0.changed, 1);
    assert!(!m.is_active("off.service"));
    assert_eq!(s.deploy().0.changed, 0);
}

/// Which environment the program of the next scene gets.
static SECOND_VERSION: AtomicBool = AtomicBool::new(false);

#[test]
fn a_program_becomes_a_running_service_restarted_when_its_settings_change() {
    let m = UserManager::start();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        let greeting = if SECOND_VERSION.load(Ordering::SeqCst) {
            "bye 100%"
        } else {
            "hello \"world\""
        };
        ctx.add(
            Program::new("greeter")
                .command("sleep 1000")
                .cwd(&m.home)
                .env("GREETING", greeting)
                .restart("always")
                .user_unit_of(m.user)
                .runtime_dir(m.runtime_dir),
        )?;
        Ok(())
    });
    register(&s, &m);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(
        needing_update(&events),
        ["Scene > Program('greeter') > SystemdUnit('greeter.service')"]
    );
    let unit = std::fs::read_to_string(m.unit_dir().join("greeter.service")).unwrap();
    assert_eq!(
        unit,
        format!(
            "[Unit]\nDescription=greeter (deployed by batou)\n\n[Service]\nType=simple\n\
             ExecStart=sleep 1000\nWorkingDirectory={}\n\
             Environment=\"GREETING=hello \\\"world\\\"\"\nRestart=always\nRestartSec=1000ms\n\n\
             [Install]\nWantedBy=default.target\n",
            m.home.display()
        )
    );
    assert!(m.is_active("greeter.service"));
    assert_eq!(
        m.property("greeter.service", "Environment"),
        "\"GREETING=hello \\\"world\\\"\""
    );
    let pid = m.main_pid("greeter.service");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(m.main_pid("greeter.service"), pid);

    SECOND_VERSION.store(true, Ordering::SeqCst);
    s.deploy();
    assert_eq!(
        m.property("greeter.service", "Environment"),
        "\"GREETING=bye 100%\""
    );
    let restarted = m.main_pid("greeter.service");
    assert!(restarted != 0 && restarted != pid, "{pid} -> {restarted}");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_unit_that_does_not_start_is_an_error_with_its_status() {
    let m = UserManager::start();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        ctx.add(
            SystemdUnit::new("broken.service")
                .content("[Service]\nType=oneshot\nRemainAfterExit=no\nExecStart=/bin/false\n")
                .user_unit_of(m.user)
                .runtime_dir(m.runtime_dir),
        )?;
        Ok(())
    });
    register(&s, &m);
    match s.run(false) {
        (Err(e), _) => {
            assert_eq!(e.component, "Scene > SystemdUnit('broken.service')");
            let text = e.to_string();
            assert!(
                text.contains("systemctl start -- broken.service failed"),
                "{text}"
            );
            // What `systemctl status` says comes with it.
            assert!(text.contains("Active: failed"), "{text}");
        }
        (Ok(r), _) => panic!("deployed: {r:?}"),
    }
}

#[test]
fn an_unreachable_manager_is_an_error_naming_it() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            SystemdUnit::new("x.service")
                .content(SLEEPER)
                .user_unit_of("root")
                .unit_dir("units")
                .runtime_dir("/nonexistent/batou-run"),
        )?;
        Ok(())
    });
    match s.run(true) {
        (Err(e), _) => {
            let text = format!("{e}");
            assert!(
                text.contains("XDG_RUNTIME_DIR=/nonexistent/batou-run"),
                "{text}"
            );
        }
        (Ok(r), _) => panic!("predicted: {r:?}"),
    }
    assert!(!s.path("units").exists());
}

fn configure_error(build: Build) -> String {
    let s = Stage::new(build);
    match s.try_model() {
        Ok(_) => panic!("configured"),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn bad_arguments_are_configuration_errors() {
    let cases: &[(Build, &str)] = &[
        (
            |_, ctx| {
                ctx.add(SystemdUnit::new("app").content(SLEEPER))?;
                Ok(())
            },
            "invalid systemd unit name `app`: it needs a type suffix",
        ),
        (
            |_, ctx| {
                ctx.add(SystemdUnit::new("app.servce").content(SLEEPER))?;
                Ok(())
            },
            "unknown unit type `.servce`",
        ),
        (
            |_, ctx| {
                ctx.add(SystemdUnit::new("a/b.service").content(SLEEPER))?;
                Ok(())
            },
            "invalid systemd unit name `a/b.service`",
        ),
        (
            |_, ctx| {
                ctx.add(SystemdUnit::new("app.service"))?;
                Ok(())
            },
            "app.service: a unit needs content",
        ),
        (
            |_, ctx| {
                ctx.add(
                    SystemdUnit::new("app.service")
                        .content(SLEEPER)
                        .user_unit_of(""),
                )?;
                Ok(())
            },
            "user_unit_of(..) needs a user name",
        ),
        (
            |_, ctx| {
                ctx.add(Program::new("app"))?;
                Ok(())
            },
            "Program `app`: a command is required",
        ),
        (
            |_, ctx| {
                ctx.add(Program::new("app").command("x").restart("sometimes"))?;
                Ok(())
            },
            "unknown restart policy `sometimes`",
        ),
        (
            |_, ctx| {
                ctx.add(
                    Program::new("app")
                        .command("x")
                        .user_unit()
                        .run_as("nobody"),
                )?;
                Ok(())
            },
            "run_as/run_as_group do not apply to a user unit",
        ),
        (
            |_, ctx| {
                ctx.add(Program::new("app").command("x").env("BAD-KEY", "v"))?;
                Ok(())
            },
            "invalid environment variable `BAD-KEY`",
        ),
        (
            |_, ctx| {
                ctx.add(Program::new("my app").command("x"))?;
                Ok(())
            },
            "invalid systemd unit name `my app.service`",
        ),
    ];
    for (build, expected) in cases {
        let text = configure_error(*build);
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
    }
}

#[test]
fn a_program_maps_a_relative_program_path_into_the_workdir() {
    // Rendering only: no manager needed to see the unit that would be
    // written. Predicting against an unreachable manager fails before
    // writing, so the model is inspected instead.
    let s = Stage::new(|_, ctx| {
        ctx.add(Program::new("app").command("bin/app --port 8080"))?;
        Ok(())
    });
    let model = s.model();
    let tree = crate::testutil::tree(&model, "localhost", "scene");
    let unit = &tree.children[0].children[0];
    assert_eq!(
        unit.breadcrumbs,
        "Scene > Program('app') > SystemdUnit('app.service')"
    );
    let content = String::from_utf8(
        crate::testutil::as_type::<SystemdUnit>(unit)
            .rendered()
            .to_vec(),
    )
    .unwrap();
    let workdir = s.project.workdir("scene");
    assert!(
        content.contains(&format!(
            "ExecStart={}/bin/app --port 8080\nWorkingDirectory={}\n",
            workdir.display(),
            workdir.display()
        )),
        "{content}"
    );
    assert!(
        content.contains("WantedBy=multi-user.target\n"),
        "{content}"
    );
}

#[test]
fn a_system_unit_asks_the_system_manager_and_predicting_writes_nothing() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            SystemdUnit::new("batou-test-system.service")
                .content(SLEEPER)
                .unit_dir("units"),
        )?;
        Ok(())
    });
    // A system manager only runs as PID 1: where it does, predicting
    // reports the missing unit; where it does not (this container), the
    // deploy fails saying which manager it could not reach.
    let booted = std::path::Path::new("/run/systemd/system").is_dir();
    match s.run(true) {
        (Ok(report), _) if booted => assert_eq!(report.changed, 1),
        (Err(e), _) if !booted => {
            let text = e.to_string();
            assert!(
                text.contains("systemctl show") && text.contains("failed on the system manager"),
                "{text}"
            );
        }
        (result, _) => panic!("booted with systemd: {booted}; predict: {result:?}"),
    }
    assert!(!s.path("units").exists());
}
