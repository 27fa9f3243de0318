//! Stdlib components driven through the real engine: a one-root
//! environment with `connect_method = local` in a temp-dir project,
//! configured and deployed on this machine.

mod account;
mod accounts;
mod appenv;
mod build;
mod buildout;
mod command;
mod container;
mod cron;
mod db_servers;
mod diffs;
mod dirs;
mod download;
mod ensure;
mod external;
mod extract;
mod file;
mod fixture;
mod git;
mod health;
mod helpers;
mod logrotate;
mod mysql;
mod nagios;
mod owner;
mod package;
mod postgres;
mod program_cold;
mod purge;
mod python;
mod releases;
mod scanhost;
mod ssl;
mod structured;
mod supervisor;
mod sync;
mod systemd;
mod user_manager;

use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Registry};
use crate::configure::{Model, configure};
use crate::deploy::DeployReport;
use crate::error::{ConfigError, DeployError, Result};
use crate::event::Event;
use crate::testutil::{Project, deploy};

/// What a scene's root adds in `configure`.
type Build = fn(&Scene, &mut Configure<'_>) -> Result<()>;

/// Every scene's build function; a scene finds its own by index.
static BUILDS: Mutex<Vec<Build>> = Mutex::new(Vec::new());

/// The root component of every stdlib test.
#[derive(Default, Serialize, Deserialize)]
struct Scene {
    case: usize,
    greeting: String,
    port: u16,
}

impl Component for Scene {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let build = BUILDS.lock().unwrap()[self.case];
        build(self, ctx)
    }
}

/// A project whose single root runs `build`.
struct Stage {
    project: Project,
    case: usize,
    extra: String,
}

impl Stage {
    fn new(build: Build) -> Self {
        Self::with(build, "")
    }

    /// `extra` is appended to the environment (e.g. a `[vfs]` section).
    fn with(build: Build, extra: &str) -> Self {
        let mut builds = BUILDS.lock().unwrap();
        builds.push(build);
        Stage {
            project: Project::new(),
            case: builds.len() - 1,
            extra: extra.to_string(),
        }
    }

    fn ini(&self) -> String {
        format!(
            "[environment]\nconnect_method = local\n[hosts]\nlocalhost = scene\n\
             [component:scene]\ncase = {}\ngreeting = hello\nport = 8080\n{}",
            self.case, self.extra
        )
    }

    /// The model, or its errors (without the summary of the roots left
    /// unconfigured, which the configure tests cover).
    fn try_model(&self) -> std::result::Result<Model, Vec<ConfigError>> {
        let mut registry = Registry::new();
        registry.component::<Scene>("scene");
        configure(
            self.project.env(&self.ini()),
            &registry,
            &self.project.options(),
        )
        .map_err(|errors| errors.into_iter().filter(|e| !e.is_summary()).collect())
    }

    fn model(&self) -> Model {
        self.try_model()
            .unwrap_or_else(|e| panic!("{}", crate::testutil::show(&e)))
    }

    /// Configures afresh (as every run does) and deploys.
    fn run(&self, predict: bool) -> (std::result::Result<DeployReport, DeployError>, Vec<Event>) {
        deploy(&mut self.model(), predict)
    }

    fn deploy(&self) -> (DeployReport, Vec<Event>) {
        match self.run(false) {
            (Ok(r), events) => (r, events),
            (Err(e), events) => panic!("deploy failed: {e}\n{events:#?}"),
        }
    }

    fn predict(&self) -> (DeployReport, Vec<Event>) {
        match self.run(true) {
            (Ok(r), events) => (r, events),
            (Err(e), events) => panic!("predict failed: {e}\n{events:#?}"),
        }
    }

    /// A path in the root's workdir.
    fn path(&self, rel: &str) -> PathBuf {
        self.project.workdir("scene").join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Creates the workdir, to set up what a test finds there.
    fn prepare(&self) -> PathBuf {
        let dir = self.project.workdir("scene");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// `(label, lines)` of the diffs among `events`.
fn diffs(events: &[Event]) -> Vec<(String, Vec<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Diff { label, lines, .. } => Some((label.clone(), lines.clone())),
            _ => None,
        })
        .collect()
}

/// `(label, reason)` of the hidden diffs among `events`.
fn hidden(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DiffHidden { label, reason, .. } => Some((label.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

/// `(mtime, inode)` of a file.
fn identity(path: &std::path::Path) -> (std::time::SystemTime, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.modified().unwrap(), m.ino())
}

/// When a file was last modified.
fn mtime(path: impl AsRef<std::path::Path>) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Configuring each case's scene fails with an error that contains the
/// case's text.
#[track_caller]
fn assert_config_errors(cases: &[(Build, &str)]) {
    for (build, expected) in cases {
        let s = Stage::new(*build);
        let text = match s.try_model() {
            Ok(_) => panic!("configured, expected `{expected}`"),
            Err(errors) => crate::testutil::messages(&errors),
        };
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
    }
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}
