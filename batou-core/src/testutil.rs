//! Helpers shared by the crate's unit tests: a project in a temp dir, an
//! environment written into it, configure and a local deploy, and ways to
//! look into the configured model.

use std::any::Any;
use std::path::{Path, PathBuf};

use crate::component::{Node, Registry};
use crate::configure::{ConfigureOptions, Model, Root};
use crate::deploy::{DeployOptions, DeployReport, deploy_local};
use crate::environment::Environment;
use crate::error::{ConfigError, DeployError};
use crate::event::{Collected, Event};
use crate::host::Host;
use crate::ops::configure_loaded;

/// A deployment project in a temp dir.
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<project>/environments/test.cfg` (the file errors point at).
    pub fn env_file(&self) -> PathBuf {
        self.path().join("environments").join("test.cfg")
    }

    /// `<project>/work/<root>`.
    pub fn workdir(&self, root: &str) -> PathBuf {
        self.path().join("work").join(root)
    }

    /// Parses `ini` as environment `test` of this project.
    pub fn try_env(&self, ini: &str) -> Result<Environment, Vec<ConfigError>> {
        Environment::from_source(self.path(), "test", &self.env_file(), ini)
    }

    pub fn env(&self, ini: &str) -> Environment {
        match self.try_env(ini) {
            Ok(env) => env,
            Err(errors) => panic!("environment does not load: {}", show(&errors)),
        }
    }

    /// Options with `~` mapped into the project, so nothing escapes it.
    pub fn options(&self) -> ConfigureOptions {
        ConfigureOptions {
            home: Some(self.path().join("home")),
            ..Default::default()
        }
    }

    /// Loads `ini` and configures it.
    pub fn model(&self, registry: &Registry, ini: &str) -> Model {
        configure_ok(self.env(ini), registry, &self.options())
    }
}

pub(crate) fn show(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every error's message, one a line.
pub(crate) fn messages(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn configure_ok(
    env: Environment,
    registry: &Registry,
    opts: &ConfigureOptions,
) -> Model {
    match configure_loaded(env.into(), registry, opts) {
        Ok(model) => model,
        Err(errors) => panic!("configure failed:\n{}", show(&errors)),
    }
}

pub(crate) fn configure_err(
    env: Environment,
    registry: &Registry,
    opts: &ConfigureOptions,
) -> Vec<ConfigError> {
    match configure_loaded(env.into(), registry, opts) {
        Ok(model) => panic!(
            "configure succeeded, deploy order {:?}",
            order_names(&model)
        ),
        Err(errors) => errors,
    }
}

/// Deploys on this machine; returns the outcome and every event.
pub(crate) fn deploy(
    model: &mut Model,
    predict: bool,
) -> (Result<DeployReport, DeployError>, Vec<Event>) {
    let sink = Collected::new();
    let result = deploy_local(
        model,
        &Host::local(),
        &sink,
        DeployOptions {
            predict,
            undo: None,
        },
    );
    (result, sink.events())
}

/// Deploys and expects success.
pub(crate) fn deploy_ok(model: &mut Model, predict: bool) -> (DeployReport, Vec<Event>) {
    let (result, events) = deploy(model, predict);
    match result {
        Ok(report) => (report, events),
        Err(e) => panic!("deploy failed: {e}\nevents: {events:#?}"),
    }
}

/// Root names (`name@host` when there are several hosts) in deploy order.
pub(crate) fn order_names(model: &Model) -> Vec<String> {
    let many = model.env.hosts.len() > 1;
    model
        .order
        .iter()
        .map(|i| model.roots[*i].display(many))
        .collect()
}

/// The root `name` on `host`.
pub(crate) fn root<'m>(model: &'m Model, host: &str, name: &str) -> &'m Root {
    model
        .roots
        .iter()
        .find(|r| r.host == host && r.name == name)
        .unwrap_or_else(|| panic!("no root {name} on {host}"))
}

/// The configured tree of a root.
pub(crate) fn tree<'m>(model: &'m Model, host: &str, name: &str) -> &'m Node {
    root(model, host, name)
        .tree
        .as_ref()
        .unwrap_or_else(|| panic!("root {name} on {host} is not configured"))
}

/// The component of `node` as its concrete type.
pub(crate) fn as_type<T: Any>(node: &Node) -> &T {
    let any: &dyn Any = node.component.as_ref();
    any.downcast_ref::<T>().unwrap_or_else(|| {
        panic!(
            "{} is not a {}",
            node.breadcrumbs,
            std::any::type_name::<T>()
        )
    })
}

/// Breadcrumbs of `node`'s direct children.
pub(crate) fn child_crumbs(node: &Node) -> Vec<String> {
    node.children
        .iter()
        .map(|c| c.breadcrumbs.clone())
        .collect()
}

/// The events that say a component changed (`ComponentNeedsUpdate`).
pub(crate) fn needing_update(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ComponentNeedsUpdate { component, .. } => Some(component.clone()),
            _ => None,
        })
        .collect()
}

/// `(component, handler, trigger, cause, predicted)` of every handler
/// event.
pub(crate) fn triggered(events: &[Event]) -> Vec<(String, String, String, String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::HandlerTriggered {
                component,
                handler,
                trigger,
                cause,
                predicted,
                ..
            } => Some((
                component.clone(),
                handler.clone(),
                trigger.clone(),
                cause.clone(),
                *predicted,
            )),
            _ => None,
        })
        .collect()
}

/// 1-based line of the first line of `source` containing `needle`.
pub(crate) fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in source"))
        + 1
}
