//! Local deploys of configured models in temp-dir projects.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Deploy, Registry, Sub, Verdict};
use crate::error::{Error, Result};
use crate::event::{Event, SkipReason};
use crate::stdlib::File;
use crate::testutil::{Project, as_type, deploy, deploy_ok, needing_update, tree};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, line: String) {
    log.lock().unwrap().push(line);
}

/// Needs an update while its marker file is missing; the update writes it.
struct Leaf {
    name: String,
    log: Log,
    children: Vec<String>,
    marker: PathBuf,
}

impl Leaf {
    fn new(name: &str, log: &Log, children: &[&str]) -> Self {
        Leaf {
            name: name.into(),
            log: log.clone(),
            children: children.iter().map(|c| c.to_string()).collect(),
            marker: PathBuf::new(),
        }
    }
}

impl Component for Leaf {
    fn label(&self) -> String {
        format!("Leaf({})", self.name)
    }
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.marker = ctx.map(&self.name);
        for c in self.children.clone() {
            ctx.add(Leaf::new(&c, &self.log, &[]))?;
        }
        Ok(())
    }
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        push(&self.log, format!("verify {}", self.name));
        Ok(Verdict::update_if(ctx.host().stat(&self.marker)?.is_none()))
    }
    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        push(&self.log, format!("update {}", self.name));
        ctx.host().write(&self.marker, b"x", None)?;
        Ok(())
    }
}

/// Adds `one` and `two` (which has `two.a`); records what it sees of them.
#[derive(Default, Serialize, Deserialize)]
struct Parent {
    #[serde(skip)]
    log: Log,
    #[serde(skip)]
    subs: Vec<Sub>,
}

impl Component for Parent {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.log = Log::default();
        self.subs = vec![
            ctx.add(Leaf::new("one", &self.log, &[]))?,
            ctx.add(Leaf::new("two", &self.log, &["two.a"]))?,
        ];
        Ok(())
    }
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        push(
            &self.log,
            format!(
                "verify parent: any={} one={} two={}",
                ctx.any_sub_changed(),
                ctx.changed(self.subs[0]),
                ctx.changed(self.subs[1])
            ),
        );
        Ok(Verdict::update_if(ctx.any_sub_changed()))
    }
    fn update(&mut self, _ctx: &mut Deploy<'_>) -> Result<()> {
        push(&self.log, "update parent".into());
        Ok(())
    }
}

fn log_of(model: &crate::configure::Model) -> Vec<String> {
    let parent = as_type::<Parent>(tree(model, "localhost", "parent"));
    std::mem::take(&mut *parent.log.lock().unwrap())
}

fn parent_registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Parent>("parent");
    r
}

const LOCAL: &str = "[environment]\nconnect_method = local\n[hosts]\nlocalhost = parent\n";

#[test]
fn sub_components_deploy_first_in_order_and_parents_see_changes() {
    let p = Project::new();
    let mut model = p.model(&parent_registry(), LOCAL);
    let (report, _) = deploy_ok(&mut model, false);
    assert_eq!(
        log_of(&model),
        [
            "verify one",
            "update one",
            "verify two.a",
            "update two.a",
            "verify two",
            "update two",
            "verify parent: any=true one=true two=true",
            "update parent",
        ]
    );
    assert_eq!(report.changed, 4);
    assert!(p.workdir("parent").join("two.a").is_file());

    // The same model again: nothing changed, and parents see that.
    let (report, events) = deploy_ok(&mut model, false);
    assert_eq!(
        log_of(&model),
        [
            "verify one",
            "verify two.a",
            "verify two",
            "verify parent: any=false one=false two=false"
        ]
    );
    assert_eq!(report.changed, 0);
    assert!(needing_update(&events).is_empty(), "{events:?}");
}

#[test]
fn a_parent_sees_which_sub_component_changed() {
    let p = Project::new();
    // `one` is already there; only `two` (through `two.a`) changes.
    std::fs::create_dir_all(p.workdir("parent")).unwrap();
    std::fs::write(p.workdir("parent").join("one"), "x").unwrap();
    std::fs::write(p.workdir("parent").join("two"), "x").unwrap();
    let mut model = p.model(&parent_registry(), LOCAL);
    deploy_ok(&mut model, false);
    assert_eq!(
        log_of(&model),
        [
            "verify one",
            "verify two.a",
            "update two.a",
            "verify two",
            "verify parent: any=true one=false two=true",
            "update parent",
        ]
    );
}

#[test]
fn predicting_never_updates_and_writes_nothing_but_reports() {
    let p = Project::new();
    let mut model = p.model(&parent_registry(), LOCAL);
    let (report, events) = deploy_ok(&mut model, true);
    assert_eq!(
        log_of(&model),
        [
            "verify one",
            "verify two.a",
            "verify two",
            "verify parent: any=true one=true two=true",
        ]
    );
    assert_eq!(report.changed, 4);
    assert_eq!(
        needing_update(&events),
        [
            "Parent > Leaf(one)",
            "Parent > Leaf(two) > Leaf(two.a)",
            "Parent > Leaf(two)",
            "Parent"
        ]
    );
    assert!(
        !p.path().join("work").exists(),
        "predict created the workdir"
    );
}

/// Fails in verify or update, as its `at` says; records that it ran.
#[derive(Default, Serialize, Deserialize)]
struct Failing {
    at: String,
}

struct Step;
impl Component for Step {
    fn verify(&mut self, _ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::NeedsUpdate)
    }
}

impl Component for Failing {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Step)?;
        Ok(())
    }
    fn verify(&mut self, _ctx: &mut Deploy<'_>) -> Result<Verdict> {
        if self.at == "verify" {
            return Err(Error::msg("verify broke"));
        }
        Ok(Verdict::NeedsUpdate)
    }
    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        if self.at == "update" {
            let path = ctx.map("missing-dir/file");
            ctx.host().write(&path, b"x", None)?;
        }
        Ok(())
    }
}

fn failing_model(p: &Project, at: &str) -> crate::configure::Model {
    let mut r = Registry::new();
    r.component::<Failing>("failing")
        .component::<Parent>("parent");
    p.model(
        &r,
        &format!(
            "[environment]\nconnect_method = local\n[hosts]\nlocalhost = failing, parent\n\
             [component:failing]\nat = {at}\n"
        ),
    )
}

#[test]
fn a_failing_verify_stops_the_deploy_and_names_host_and_component() {
    let p = Project::new();
    let mut model = failing_model(&p, "verify");
    let (result, events) = deploy(&mut model, false);
    let err = result.unwrap_err();
    assert_eq!(err.host, "localhost");
    assert_eq!(err.component, "Failing");
    assert!(matches!(&err.source, Error::Message(m) if m == "verify broke"));
    assert_eq!(err.to_string(), "localhost: Failing: verify broke");
    // The later root never ran.
    assert!(log_of(&model).is_empty());
    let scheduled: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RootScheduled { root, .. } => Some(root.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(scheduled, ["failing"]);
    // The sub-component before it did run.
    assert!(needing_update(&events).contains(&"Failing > Step".to_string()));
}

#[test]
fn a_failing_update_stops_the_deploy_with_the_cause() {
    let p = Project::new();
    let mut model = failing_model(&p, "update");
    let (result, events) = deploy(&mut model, false);
    let err = result.unwrap_err();
    assert_eq!(
        (err.host.as_str(), err.component.as_str()),
        ("localhost", "Failing")
    );
    let text = err.to_string();
    assert!(text.contains("missing-dir"), "{text}");
    assert!(matches!(err.source, Error::Host(_)), "{:?}", err.source);
    assert!(log_of(&model).is_empty());
    // The component's line came before the failure; it never finished.
    assert!(needing_update(&events).contains(&"Failing".to_string()));
    assert!(!events.iter().any(|e| matches!(e,
        Event::ComponentFinished { component, .. } if component == "Failing")));
}

#[derive(Default, Serialize, Deserialize)]
struct Conf {
    text: String,
}

impl Component for Conf {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("app.conf").content(self.text.clone()))?;
        Ok(())
    }
}

#[test]
fn events_come_in_order_and_a_second_deploy_changes_nothing() {
    let p = Project::new();
    let mut r = Registry::new();
    r.component::<Conf>("conf");
    let ini = "[environment]\nconnect_method = local\n[hosts]\nlocalhost = conf\n\
               [component:conf]\ntext = hello\n";
    let mut model = p.model(&r, ini);
    let (report, events) = deploy_ok(&mut model, false);
    assert_eq!(report.changed, 1);
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::RootScheduled { root, .. } => format!("scheduled {root}"),
            Event::ComponentNeedsUpdate { component, .. } => format!("needs {component}"),
            Event::Diff { label, lines, .. } => format!("diff {label} {}", lines.join("|")),
            Event::ComponentFinished {
                component, changed, ..
            } => format!("finished {component} {changed}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "scheduled conf",
            "needs Conf > File('app.conf') > Content('app.conf')",
            "diff app.conf ---|+++|@@ -0,0 +1 @@|+hello|\\ No newline at end of file",
            "finished Conf > File('app.conf') > Content('app.conf') true",
            "finished Conf > File('app.conf') false",
            "finished Conf false",
        ]
    );
    let file = p.workdir("conf").join("app.conf");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello");
    let before = std::fs::metadata(&file).unwrap();

    // Configure afresh, as a new run would.
    let mut model = p.model(&r, ini);
    let (report, events) = deploy_ok(&mut model, false);
    assert_eq!(report.changed, 0);
    assert!(needing_update(&events).is_empty());
    assert!(!events.iter().any(|e| matches!(e, Event::Diff { .. })));
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino());
}

#[test]
fn ignored_roots_and_hosts_are_skipped() {
    let p = Project::new();
    let mut r = Registry::new();
    r.component::<Conf>("conf").component::<Parent>("parent");
    let mut model = p.model(
        &r,
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = !conf\n!other = parent\n",
    );
    let (report, events) = deploy_ok(&mut model, false);
    assert_eq!(report.changed, 0);
    let skipped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RootSkipped { root, reason, .. } => Some((root.clone(), *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        [
            ("conf".to_string(), SkipReason::ComponentIgnored),
            ("parent".to_string(), SkipReason::HostIgnored)
        ]
    );
    assert!(!p.path().join("work").exists());
    assert!(log_of_host(&model, "other").is_empty());
}

fn log_of_host(model: &crate::configure::Model, host: &str) -> Vec<String> {
    let parent = as_type::<Parent>(tree(model, host, "parent"));
    parent.log.lock().unwrap().clone()
}
