//! The deploy operation on temp-dir projects, without a command line:
//! which steps it reports, what it returns, and how it fails.

use serde::{Deserialize, Serialize};

use super::*;
use crate::component::{Component, Configure, Registry};
use crate::error::Result;
use crate::event::{Collected, Event, EventSink};
use crate::lock::{LockError, ProjectLock};
use crate::secrets::Keys;
use crate::stdlib::File;

#[derive(Default, Serialize, Deserialize)]
struct Note {
    text: String,
}

impl Component for Note {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("note.txt").content(format!("{}\n", self.text)))?;
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Note>("note");
    r
}

/// Keeps the names of the steps and every event.
#[derive(Default)]
struct Recorder {
    steps: Vec<&'static str>,
    events: Collected,
}

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        self.events.emit(event)
    }
}

impl Observer for Recorder {
    fn step(&mut self, step: Step<'_>) {
        self.steps.push(match step {
            Step::Loading { .. } => "loading",
            Step::LoadingSecrets => "secrets",
            Step::Secrets(_) => "masker",
            Step::Settled(_) => "settled",
            Step::Configuring => "configuring",
            Step::Configured { .. } => "configured",
            Step::Agent(_) => "agent",
            Step::Deploying => "deploying",
        });
    }
}

/// A project whose environment `test` has host `localhost` with `note`.
fn project(settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("environments")).unwrap();
    std::fs::write(
        dir.path().join("environments/test.cfg"),
        format!(
            "[environment]\n{settings}\n[hosts]\nlocalhost = note\n[component:note]\ntext = hi\n"
        ),
    )
    .unwrap();
    dir
}

fn run(dir: &tempfile::TempDir, mode: Mode) -> (std::result::Result<Report, Failure>, Recorder) {
    let plan = Plan::new(dir.path(), "test.cfg", mode);
    let mut recorder = Recorder::default();
    let result = deploy(&registry(), &plan, &mut Keys::new(), &mut recorder);
    (result, recorder)
}

#[test]
fn a_check_configures_and_stops() {
    let dir = project("connect_method = local");
    let (result, recorder) = run(&dir, Mode::Check(Reach::Environment));
    assert!(matches!(result, Ok(Report::Checked)), "{result:?}");
    assert_eq!(
        recorder.steps,
        ["loading", "secrets", "settled", "configuring", "configured"]
    );
    assert!(!dir.path().join("work").exists(), "a check wrote files");
}

#[test]
fn a_local_prediction_of_an_ssh_environment_runs_here_and_writes_nothing() {
    let dir = project("connect_method = ssh");
    let (result, recorder) = run(&dir, Mode::Predict(Reach::ThisMachine));
    let Ok(Report::Local(report)) = result else {
        panic!("{result:?}");
    };
    assert_eq!(report.changed, 1, "{:#?}", recorder.events.events());
    assert_eq!(recorder.steps.last(), Some(&"deploying"));
    assert!(recorder.events.events().contains(&Event::HostConnecting {
        host: "localhost".into(),
        method: "local".into(),
        index: 1,
        total: 1,
    }));
    assert!(!dir.path().join("work/note/note.txt").exists());
}

#[test]
fn a_deploy_writes_and_an_unknown_transport_fails_before_configuring() {
    let dir = project("connect_method = local");
    let (result, _) = run(&dir, Mode::Deploy);
    assert!(matches!(result, Ok(Report::Local(r)) if r.changed == 1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("work/note/note.txt")).unwrap(),
        "hi\n"
    );

    let dir = project("connect_method = carrier-pigeon");
    let (result, recorder) = run(&dir, Mode::Deploy);
    let Err(failure) = result else {
        panic!("deployed through an unknown transport");
    };
    assert_eq!(failure.stage(), Some(Stage::Connect));
    assert!(
        matches!(&failure, Failure::Setup(SetupError::UnknownConnectMethod { method, .. }) if method == "carrier-pigeon"),
        "{failure:?}"
    );
    assert!(!recorder.steps.contains(&"configuring"));
    // A check needs no transport.
    assert!(matches!(
        run(&dir, Mode::Check(Reach::Environment)).0,
        Ok(Report::Checked)
    ));
}

#[test]
fn errors_of_loading_and_configuring_come_together() {
    let dir = project("connect_method = local");
    std::fs::write(
        dir.path().join("environments/test.cfg"),
        "[environment]\nconnect_method = local\njobs = many\n[hosts]\nlocalhost = note\n[component:note]\ntxt = hi\n",
    )
    .unwrap();
    let (result, _) = run(&dir, Mode::Deploy);
    let Err(Failure::Config { stage, errors }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(stage, Stage::Load);
    let text = crate::testutil::messages(&errors);
    assert!(text.contains("invalid value for `jobs`"), "{text}");
    assert!(text.contains("undefined attribute `txt`"), "{text}");
}

#[test]
fn a_held_project_lock_stops_the_run_before_loading() {
    let dir = project("connect_method = local");
    let _held = ProjectLock::acquire(dir.path()).unwrap();
    // flock is per open file description: a second acquire in this
    // process conflicts like another process would.
    let (result, recorder) = run(&dir, Mode::Deploy);
    assert!(
        matches!(result, Err(Failure::ProjectLock(LockError::Held(_)))),
        "{result:?}"
    );
    assert!(recorder.steps.is_empty());
}
