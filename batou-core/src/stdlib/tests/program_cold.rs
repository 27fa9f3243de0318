//! `Program` with `Deployment::Cold` against a real `systemd --user`
//! manager: stopped before a sibling deployed before it changes, started
//! again afterwards; a hot program next to it keeps running; a deploy that
//! changes nothing stops nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::systemd::{manager, register};
use super::user_manager::UserManager;
use super::*;
use crate::stdlib::{Deployment, File, Program};
use crate::testutil::needing_update;

/// The version of the sibling file the next deploy writes.
static SIBLING_VERSION: AtomicUsize = AtomicUsize::new(1);

/// A service that appends what the sibling file says when it starts and
/// when it is stopped (SIGTERM) to `NAME.log`, all in its working
/// directory.
const SERVICE: &str = "#!/bin/sh\n\
    log=\"$1.log\"\n\
    IFS= read -r seen < sibling.conf\n\
    echo \"start $seen\" >> \"$log\"\n\
    trap 'IFS= read -r seen < sibling.conf; echo \"stop $seen\" >> \"$log\"; exit 0' TERM\n\
    sleep 100000 &\n\
    wait\n";

fn log_of(m: &UserManager, name: &str) -> String {
    std::fs::read_to_string(m.home.join(format!("{name}.log"))).unwrap_or_default()
}

/// `(component.handler, trigger, cause, predicted)` of the handlers
/// triggered.
fn triggered(events: &[Event]) -> Vec<(String, String, String, bool)> {
    crate::testutil::triggered(events)
        .into_iter()
        .map(|(component, handler, trigger, cause, predicted)| {
            (format!("{component}.{handler}"), trigger, cause, predicted)
        })
        .collect()
}

#[test]
fn a_cold_program_is_stopped_before_an_earlier_sibling_changes_and_started_after() {
    let m = UserManager::start();
    std::fs::write(m.home.join("service.sh"), SERVICE).unwrap();
    let s = Stage::new(|scene, ctx| {
        let m = manager(scene);
        let version = SIBLING_VERSION.load(Ordering::SeqCst);
        ctx.add(File::new(m.home.join("sibling.conf")).content(format!("v{version}\n")))?;
        for (name, deployment) in [("cold", Deployment::Cold), ("hot", Deployment::Hot)] {
            ctx.add(
                Program::new(name)
                    .command(format!("/bin/sh {}/service.sh {name}", m.home.display()))
                    .cwd(&m.home)
                    .deployment(deployment)
                    .user_unit_of(&m.user)
                    .runtime_dir(&m.runtime_dir),
            )?;
        }
        Ok(())
    });
    register(&s, &m);

    // First deploy: nothing runs yet, so the handler finds nothing to stop.
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 3, "{events:#?}");
    assert!(m.is_active("cold.service") && m.is_active("hot.service"));
    assert_eq!(log_of(&m, "cold"), "start v1\n");
    assert_eq!(log_of(&m, "hot"), "start v1\n");
    let cold_pid = m.main_pid("cold.service");
    let hot_pid = m.main_pid("hot.service");

    // Nothing changed: no handler, nothing stopped or restarted.
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(triggered(&events), []);
    assert_eq!(log_of(&m, "cold"), "start v1\n");
    assert_eq!(m.main_pid("cold.service"), cold_pid);
    assert_eq!(m.main_pid("hot.service"), hot_pid);

    SIBLING_VERSION.store(2, Ordering::SeqCst);
    let sibling = m.home.join("sibling.conf").display().to_string();
    let content = format!("Scene > File('{sibling}') > Content('sibling.conf')");
    let unit = "Scene > Program('cold') > SystemdUnit('cold.service')";
    let stop = |cause: &str, predicted: bool| {
        (
            "Scene > Program('cold').stop".to_string(),
            "before_update".to_string(),
            cause.to_string(),
            predicted,
        )
    };
    // Predicting lists the stop and stops nothing.
    let (_, events) = s.predict();
    assert_eq!(needing_update(&events), [content.as_str()]);
    assert_eq!(triggered(&events), [stop(&content, true)]);
    assert_eq!(m.main_pid("cold.service"), cold_pid);
    assert_eq!(log_of(&m, "cold"), "start v1\n");

    // The sibling changes: the cold program saw the old content when it
    // was stopped and the new one when it started again (its unit, found
    // stopped, is a precursor too: the handler finds nothing left to
    // stop); the hot one never noticed.
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), [content.as_str(), unit]);
    assert_eq!(
        triggered(&events),
        [stop(&content, false), stop(unit, false)]
    );
    assert_eq!(log_of(&m, "cold"), "start v1\nstop v1\nstart v2\n");
    assert!(m.is_active("cold.service"));
    let restarted = m.main_pid("cold.service");
    assert!(
        restarted != 0 && restarted != cold_pid,
        "{cold_pid} -> {restarted}"
    );
    assert_eq!(log_of(&m, "hot"), "start v1\n");
    assert_eq!(m.main_pid("hot.service"), hot_pid);

    // And a deploy after it changes nothing again.
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(m.main_pid("cold.service"), restarted);
    assert_eq!(log_of(&m, "cold"), "start v1\nstop v1\nstart v2\n");

    // Only the unit's enablement drifted: its own update is a precursor
    // too, so the program is stopped, and it is started again although
    // verify had found it running.
    assert!(m.systemctl(&["disable", "cold.service"]).status.success());
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), [unit]);
    assert_eq!(triggered(&events), [stop(unit, false)]);
    assert_eq!(m.is_enabled("cold.service"), "enabled");
    assert!(m.is_active("cold.service"));
    assert_eq!(
        log_of(&m, "cold"),
        "start v1\nstop v1\nstart v2\nstop v2\nstart v2\n"
    );
    assert_eq!(s.deploy().0.changed, 0);
}
