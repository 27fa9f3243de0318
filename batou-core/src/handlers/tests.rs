//! Handlers in local deploys of temp-dir projects: before-update scopes,
//! change notifications (by handle and by root name), routed events between
//! hosts, predicting, and the cost of dispatch.

use serde::{Deserialize, Serialize};

use super::{UpdateScope, Watch};
use crate::component::{Component, Configure, Registry};
use crate::error::{ConfigError, Result};
use crate::event::Event;
use crate::stdlib::File;
use crate::testutil::{Project, configure_err, deploy_ok, order_names, triggered};

fn names(events: &[Event]) -> Vec<String> {
    triggered(events)
        .into_iter()
        .map(|(c, h, t, cause, _)| format!("{c}.{h} [{t}] {cause}"))
        .collect()
}

/// A "program" whose precursor handler stops it (appends to `stops.log`
/// in its workdir), as batou's supervisor `Program` does.
struct Program;

impl Component for Program {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("program.conf").content("conf\n"))?;
        ctx.before_update("stop", UpdateScope::Precursor, |d, cause| {
            d.cmd(&format!(
                "echo 'stop for {}' >> stops.log",
                super::Cause::describe(cause).replace('\'', "")
            ))?;
            Ok(())
        });
        Ok(())
    }
}

/// `before.txt`, a `Program`, then `after.txt`; a `*` handler on the root.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Cold {
    version: String,
}

impl Component for Cold {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("before.txt").content(format!("{}\n", self.version)))?;
        ctx.add(Program)?;
        ctx.add(File::new("after.txt").content(format!("{}\n", self.version)))?;
        ctx.before_update("note", UpdateScope::All, |_, _| Ok(()));
        Ok(())
    }
}

/// `count` site files, watched by one reload handler (which appends to
/// `reloads.log`).
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Sites {
    count: usize,
    content: String,
    /// Also a precursor handler on the root (every file precedes it).
    stop: bool,
}

impl Component for Sites {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let mut subs = Vec::new();
        for i in 0..self.count {
            subs.push(ctx.add(File::new(format!("site{i}.conf")).content(self.content.clone()))?);
        }
        ctx.on_change("reload", Watch::new().subs(subs), |d, _| {
            let log = d.workdir().join("reloads.log");
            let mut text = std::fs::read_to_string(&log).unwrap_or_default();
            text.push_str("reload\n");
            d.host().write(&log, text.as_bytes(), None)?;
            Ok(())
        });
        if self.stop {
            ctx.before_update("stop", UpdateScope::Precursor, |_, _| Ok(()));
        }
        Ok(())
    }
}

/// Watches the root `sites` on its host by name.
#[derive(Default, Serialize, Deserialize)]
struct Nginx;

impl Component for Nginx {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.on_change("reload", Watch::new().root("sites"), |_, _| Ok(()));
        Ok(())
    }
}

/// Publishes `backend.changed` when its file changes.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Backend {
    version: String,
}

impl Component for Backend {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("backend.txt").content(format!("{}\n", self.version)))?;
        ctx.publish("backend.changed")?;
        Ok(())
    }
}

/// Subscribes to `backend.changed`.
#[derive(Default, Serialize, Deserialize)]
struct Balancer;

impl Component for Balancer {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.subscribe("backend.changed", "reload", |_, _| Ok(()))?;
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Cold>("cold")
        .component::<Sites>("sites")
        .component::<Nginx>("nginx")
        .component::<Backend>("backend")
        .component::<Balancer>("balancer");
    r
}

#[test]
fn before_update_scopes_follow_batou() {
    let p = Project::new();
    let env = "[environment]\nconnect_method = local\n[host:localhost]\ncomponents = cold\n\
               [component:cold]\nversion = 1\n";
    let mut model = p.model(&registry(), env);
    let (report, events) = deploy_ok(&mut model, false);
    // before.txt precedes the Program: `stop` (precursor) and `note` (*);
    // program.conf is the Program's own sub-component, also a precursor;
    // after.txt follows it: only `note`.
    assert_eq!(
        names(&events),
        [
            "Cold.note [before_update] Cold > File('before.txt') > Content('before.txt')",
            "Cold > Program.stop [before_update] Cold > File('before.txt') > Content('before.txt')",
            "Cold.note [before_update] Cold > Program > File('program.conf') > Content('program.conf')",
            "Cold > Program.stop [before_update] Cold > Program > File('program.conf') > Content('program.conf')",
            "Cold.note [before_update] Cold > File('after.txt') > Content('after.txt')",
        ]
    );
    assert_eq!(report.dispatch.handler_calls, 5);
    let stops = std::fs::read_to_string(p.workdir("cold").join("stops.log")).unwrap();
    assert_eq!(stops.lines().count(), 2, "{stops}");
    assert!(
        stops.starts_with("stop for Cold > File(before.txt)"),
        "{stops}"
    );

    // Nothing changes: nothing triggers.
    let (report, events) = deploy_ok(&mut model, false);
    assert!(triggered(&events).is_empty());
    assert_eq!(report.dispatch.handler_calls, 0);

    // Predicting a change lists the handlers and runs none.
    let mut model = p.model(&registry(), &env.replace("version = 1", "version = 2"));
    let (_, events) = deploy_ok(&mut model, true);
    let t = triggered(&events);
    // Only the two version files change (program.conf does not).
    assert_eq!(t.len(), 3, "{t:?}");
    assert!(t.iter().all(|x| x.4), "all predicted: {t:?}");
    let stops = std::fs::read_to_string(p.workdir("cold").join("stops.log")).unwrap();
    assert_eq!(stops.lines().count(), 2, "predicting ran nothing: {stops}");
}

#[test]
fn a_change_notification_runs_once_after_its_components_and_only_on_change() {
    let p = Project::new();
    let env = "[environment]\nconnect_method = local\n[host:localhost]\ncomponents = sites\n\
               [component:sites]\ncount = 3\ncontent = a\n";
    let mut model = p.model(&registry(), env);
    let (_, events) = deploy_ok(&mut model, false);
    assert_eq!(
        names(&events),
        [
            "Sites.reload [change] Sites > File('site0.conf'), Sites > File('site1.conf'), Sites > File('site2.conf')"
        ]
    );
    // The handler ran after the last watched component finished.
    let pos = |pred: &dyn Fn(&Event) -> bool| events.iter().position(pred).unwrap();
    let last_file = pos(
        &|e| matches!(e, Event::ComponentFinished { component, .. } if component == "Sites > File('site2.conf')"),
    );
    let handler = pos(&|e| matches!(e, Event::HandlerTriggered { .. }));
    assert!(handler > last_file);
    let log = p.workdir("sites").join("reloads.log");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "reload\n");

    let (_, events) = deploy_ok(&mut model, false);
    assert!(triggered(&events).is_empty());

    // One site changed behind our back: one reload naming it.
    std::fs::write(p.workdir("sites").join("site1.conf"), "tampered").unwrap();
    let (_, events) = deploy_ok(&mut model, false);
    assert_eq!(
        names(&events),
        ["Sites.reload [change] Sites > File('site1.conf')"]
    );
    std::fs::write(p.workdir("sites").join("site1.conf"), "tampered").unwrap();
    let (_, events) = deploy_ok(&mut model, true);
    assert_eq!(triggered(&events).len(), 1);
    assert!(triggered(&events)[0].4, "predicted");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "reload\nreload\n",
        "the predicted reload did not run"
    );
}

#[test]
fn watching_a_root_by_name_orders_after_it() {
    let p = Project::new();
    let env = "[environment]\nconnect_method = local\n[host:localhost]\ncomponents = nginx, sites\n\
               [component:sites]\ncount = 2\ncontent = a\n";
    let mut model = p.model(&registry(), env);
    assert_eq!(order_names(&model), ["sites", "nginx"]);
    let (_, events) = deploy_ok(&mut model, false);
    assert_eq!(
        names(&events),
        [
            "Sites.reload [change] Sites > File('site0.conf'), Sites > File('site1.conf')",
            "Nginx.reload [change] sites",
        ]
    );
    let (_, events) = deploy_ok(&mut model, false);
    assert!(triggered(&events).is_empty());
}

#[test]
fn watching_a_root_that_is_not_on_the_host_is_an_error() {
    let p = Project::new();
    let env = p.env(
        "[environment]\nconnect_method = local\n[host:a]\ncomponents = nginx\n\
         [host:b]\ncomponents = sites\n[component:sites]\ncount = 1\n",
    );
    let errors = configure_err(env, &registry(), &p.options());
    let text: Vec<String> = errors.iter().map(ConfigError::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("watches the component `sites`, which is not on host `a`")),
        "{text:?}"
    );
}

#[test]
fn routed_events_reach_subscribers_on_other_hosts_after_the_publisher() {
    let p = Project::new();
    // The balancer is listed first; the subscription orders it after the
    // backend anyway.
    let env = "[environment]\nconnect_method = local\n[host:lb]\ncomponents = balancer\n\
               [host:app]\ncomponents = backend\n[component:backend]\nversion = 1\n";
    let mut model = p.model(&registry(), env);
    assert_eq!(order_names(&model), ["backend@app", "balancer@lb"]);
    let (_, events) = deploy_ok(&mut model, false);
    assert!(events.contains(&Event::EventPublished {
        host: "app".into(),
        root: "backend".into(),
        key: "backend.changed".into(),
    }));
    assert_eq!(
        names(&events),
        ["Balancer.reload [routed] backend.changed from app:backend"]
    );
    let (_, events) = deploy_ok(&mut model, false);
    assert!(triggered(&events).is_empty());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::EventPublished { .. }))
    );
}

/// Dispatch cost for a change notification over `n` changed files, and
/// the handler calls.
fn dispatch_for(n: usize) -> super::DispatchStats {
    let p = Project::new();
    let env = format!(
        "[environment]\nconnect_method = local\n[host:localhost]\ncomponents = sites\n\
         [component:sites]\ncount = {n}\ncontent = a\nstop = true\n"
    );
    let mut model = p.model(&registry(), &env);
    let (report, events) = deploy_ok(&mut model, false);
    assert_eq!(report.changed, n, "every file's content changed");
    // `stop` before each of the n updates, `reload` once.
    assert_eq!(triggered(&events).len(), n + 1);
    assert_eq!(
        std::fs::read_to_string(p.workdir("sites").join("reloads.log")).unwrap(),
        "reload\n"
    );
    report.dispatch
}

#[test]
fn dispatch_over_5000_changed_files_is_linear() {
    let small = dispatch_for(1000);
    let large = dispatch_for(5000);
    assert_eq!(small.handler_calls, 1000 + 1);
    assert_eq!(large.handler_calls, 5000 + 1);
    // The watch: one index entry per watched file to build the index, one
    // when it finishes. The precursor handler: one lookup per update plus
    // the handler it finds. 4n in all, not n × tree size as in batou.
    assert_eq!(small.visits, 4 * 1000);
    assert_eq!(large.visits, 4 * 5000);
}
