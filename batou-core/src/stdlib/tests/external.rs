//! `External` against real executables (shell scripts written by the
//! tests) on this machine: install, unchanged, changed data, removal of an
//! external that left the environment, failures, an external that does not
//! read its stdin, script-generated data, timeouts, predicting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Registry};
use crate::deploy::DeployReport;
use crate::error::{DeployError, Result};
use crate::event::Event;
use crate::stdlib::External;
use crate::testutil::{Project, deploy, needing_update};

/// Adds one `External` per `;`-separated `external:name=data` in
/// `entries`; `script` (if set) gives the data of `gen:generated`.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Ext {
    entries: String,
    script: String,
    ignore: bool,
    timeout: u64,
}

impl Component for Ext {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        for entry in self.entries.split(';').filter(|e| !e.trim().is_empty()) {
            let (key, data) = entry.split_once('=').unwrap_or((entry, ""));
            let (external, name) = key.split_once(':').unwrap_or((key, key));
            let data = data.replace("BIG", &"x".repeat(1 << 20));
            let mut e = External::new(external.trim(), name.trim()).data(data);
            if self.ignore {
                e = e.ignore_failure();
            }
            if self.timeout > 0 {
                e = e.timeout(Duration::from_secs(self.timeout));
            }
            ctx.add(e)?;
        }
        if !self.script.is_empty() {
            ctx.add(External::new("gen", "generated").data_script(self.script.clone()))?;
        }
        Ok(())
    }
}

/// Another root, so a host can lose `ext` and keep something.
#[derive(Default, Serialize, Deserialize)]
struct Other;
impl Component for Other {}

struct Externals {
    project: Project,
    dir: PathBuf,
}

impl Externals {
    /// A project with an externals directory of scripts that log their
    /// calls to `calls.log` (`NAME ACTION [DATA]`).
    fn new() -> Self {
        let project = Project::new();
        let dir = project.path().join("externals");
        std::fs::create_dir_all(&dir).unwrap();
        let log = project.path().join("calls.log");
        let log = log.display();
        let scripts = [
            (
                "user",
                format!("data=$(cat)\nprintf '%s %s [%s]\\n' \"$1\" \"$2\" \"$data\" >> {log}\n"),
            ),
            (
                "gen",
                format!(
                    "data=$(cat)\nprintf 'gen %s %s [%s]\\n' \"$1\" \"$2\" \"$data\" >> {log}\n"
                ),
            ),
            // Exits without reading stdin (the data is 1 MiB: the write
            // gets EPIPE).
            (
                "noread",
                format!("printf 'noread %s %s\\n' \"$1\" \"$2\" >> {log}\nexit 0\n"),
            ),
            (
                "failing",
                "echo 'out: cannot add user'\necho 'err: permission denied' >&2\nexit 3\n".into(),
            ),
            ("sleepy", "sleep 30\n".into()),
        ];
        for (name, body) in scripts {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Externals { project, dir }
    }

    fn ini(&self, components: &str, section: &str) -> String {
        format!(
            "[environment]\nconnect_method = local\nexternals = {}\n\
             [host:localhost]\ncomponents = {components}\n[component:ext]\n{section}\n",
            self.dir.display()
        )
    }

    fn run(
        &self,
        components: &str,
        section: &str,
        predict: bool,
    ) -> (std::result::Result<DeployReport, DeployError>, Vec<Event>) {
        let mut registry = Registry::new();
        registry.component::<Ext>("ext").component::<Other>("other");
        let mut model = self
            .project
            .model(&registry, &self.ini(components, section));
        deploy(&mut model, predict)
    }

    #[track_caller]
    fn ok(&self, components: &str, section: &str, predict: bool) -> Vec<Event> {
        match self.run(components, section, predict) {
            (Ok(_), events) => events,
            (Err(e), events) => panic!("deploy failed: {e}\n{events:#?}"),
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.project.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn record(&self) -> serde_json::Value {
        let path = record_path(self.project.path());
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }
}

fn record_path(project: &Path) -> PathBuf {
    project.join("work/.batou/externals-localhost.json")
}

fn recorded(record: &serde_json::Value) -> Vec<String> {
    record["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["external"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn install_unchanged_changed_and_left_the_environment() {
    let x = Externals::new();
    // Predicting an install calls nothing.
    let events = x.ok("ext", "entries = user:alice=v1", true);
    assert_eq!(needing_update(&events), ["Ext > External('user', 'alice')"]);
    assert!(x.calls().is_empty());

    x.ok("ext", "entries = user:alice=v1", false);
    assert_eq!(x.calls(), ["alice install [v1]"]);
    assert_eq!(recorded(&x.record()), ["user:alice"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(record_path(x.project.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the record may hold sensitive data");

    // Unchanged data: not called.
    let events = x.ok("ext", "entries = user:alice=v1", false);
    assert!(needing_update(&events).is_empty());
    assert_eq!(x.calls().len(), 1);

    // Changed data: remove the old, install the new.
    x.ok("ext", "entries = user:alice=v2;user:bob=b", false);
    assert_eq!(
        x.calls()[1..],
        ["alice remove [v1]", "alice install [v2]", "bob install [b]"]
    );

    // `ext` left the environment: predicting names both removals and
    // calls nothing, the deploy removes them with their recorded data.
    let events = x.ok("other", "", true);
    assert_eq!(
        needing_update(&events),
        [
            "External('user', 'alice') (left the environment)",
            "External('user', 'bob') (left the environment)"
        ]
    );
    assert_eq!(x.calls().len(), 4);
    x.ok("other", "", false);
    assert_eq!(x.calls()[4..], ["alice remove [v2]", "bob remove [b]"]);
    assert!(recorded(&x.record()).is_empty());
    let events = x.ok("other", "", false);
    assert!(needing_update(&events).is_empty());
    assert_eq!(x.calls().len(), 6);
}

#[test]
fn an_ignored_root_keeps_its_externals() {
    let x = Externals::new();
    x.ok("ext, other", "entries = user:alice=v1", false);
    x.ok("!ext, other", "entries = user:alice=v1", false);
    assert_eq!(x.calls(), ["alice install [v1]"]);
    assert_eq!(recorded(&x.record()), ["user:alice"]);
}

#[test]
fn a_failing_external_fails_with_its_output_unless_ignored() {
    let x = Externals::new();
    let (result, _) = x.run("ext", "entries = failing:carol=d", false);
    let message = result.expect_err("the external failed").to_string();
    for needle in [
        "external `failing` install `carol` failed",
        "return code 3",
        "out: cannot add user",
        "err: permission denied",
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert!(!record_path(x.project.path()).exists());

    let events = x.ok("ext", "entries = failing:carol=d\nignore = true", false);
    let warned = events.iter().any(|e| {
        matches!(e, Event::Warning { message, .. } if message.contains("err: permission denied"))
    });
    assert!(warned, "{events:#?}");
    assert_eq!(recorded(&x.record()), ["failing:carol"]);
}

#[test]
fn an_external_that_does_not_read_its_stdin_is_fine() {
    let x = Externals::new();
    x.ok("ext", "entries = noread:dave=BIG", false);
    assert_eq!(x.calls(), ["noread dave install"]);
    assert_eq!(recorded(&x.record()), ["noread:dave"]);
}

#[test]
fn script_generated_data_is_run_on_the_target() {
    let x = Externals::new();
    x.ok("ext", "script = echo generated-$((20 + 22))", false);
    assert_eq!(x.calls(), ["gen generated install [generated-42]"]);
    let events = x.ok("ext", "script = echo generated-$((20 + 22))", false);
    assert!(needing_update(&events).is_empty());
    x.ok("ext", "script = echo generated-43", false);
    assert_eq!(
        x.calls()[1..],
        [
            "gen generated remove [generated-42]",
            "gen generated install [generated-43]"
        ]
    );
}

#[test]
fn every_call_has_a_timeout_and_a_missing_external_is_named() {
    let x = Externals::new();
    let (result, _) = x.run("ext", "entries = sleepy:eve=d\ntimeout = 1", false);
    let message = result.expect_err("timed out").to_string();
    assert!(message.contains("timed out after 1s"), "{message}");
    let (result, _) = x.run("ext", "entries = nosuch:frank=d", false);
    let message = result.expect_err("missing").to_string();
    assert!(
        message.contains("the external `nosuch` is not installed")
            && message.contains("`externals` key"),
        "{message}"
    );
}
