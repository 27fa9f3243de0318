//! Service discovery: provide / require, host filters, optional, reverse,
//! require_one, the fixpoint and the errors it ends with.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::{probes, seen};
use crate::component::{Component, Configure, Require};
use crate::configure::ConfigureOptions;
use crate::error::{ConfigError, Error, Result, Unsatisfied, Unused};
use crate::testutil::{Project, configure_err, configure_ok, order_names};

fn errors_of(project: &Project, names: &[&str], ini: &str) -> Vec<ConfigError> {
    configure_err(project.env(ini), &probes(names), &project.options())
}

#[test]
fn provide_and_require_across_two_hosts() {
    let p = Project::new();
    let model = p.model(
        &probes(&["web", "db"]),
        "[hosts]\nh1 = web\nh2 = db\n\
         [component:web]\nrequire = db\n\
         [component:db]\nprovide = db=pg@{{ host.name }}\n",
    );
    assert_eq!(seen(&model, "h1", "web", "db"), ["pg@h2"]);
    assert_eq!(order_names(&model), ["db@h2", "web@h1"]);
    // web (root 0) depends on db (root 1).
    assert_eq!(model.edges, [(0, 1)]);
}

#[test]
fn values_from_every_host_in_root_order_unless_filtered() {
    let p = Project::new();
    let model = p.model(
        &probes(&["all", "only_h2", "app"]),
        "[hosts]\nh1 = all, app\nh2 = app, only_h2\n\
         [component:all]\nrequire = addr\n\
         [component:only_h2]\nrequire = addr\non_host = h2\n\
         [component:app]\nprovide = addr={{ host.name }}\n",
    );
    assert_eq!(seen(&model, "h1", "all", "addr"), ["h1", "h2"]);
    assert_eq!(seen(&model, "h2", "only_h2", "addr"), ["h2"]);
    // The filtered requirer depends only on the provider on h2.
    let order = order_names(&model);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("app@h2") < pos("only_h2@h2"), "{order:?}");
    assert!(!model.edges.contains(&(3, 1)), "{:?}", model.edges);
}

#[test]
fn host_filter_with_provider_on_another_host_is_unsatisfied_and_unused() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["web", "db"],
        "[hosts]\nh1 = web\nh2 = db\n\
         [component:web]\nrequire = db\non_host = h1\n\
         [component:db]\nprovide = db=pg\n",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    match &errors[0] {
        ConfigError::UnsatisfiedResources { resources } => assert_eq!(
            resources,
            &[Unsatisfied {
                key: "db".into(),
                host: Some("h1".into()),
                required_by: vec!["web@h1".into()],
            }]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        errors[0].to_string(),
        "unsatisfied resource requirements: `db` on `h1` required by web@h1"
    );
    match &errors[1] {
        ConfigError::UnusedResources { resources } => {
            assert_eq!(resources.len(), 1);
            assert_eq!(resources[0].key, "db");
            assert_eq!(resources[0].provided_by, "db@h2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn optional_require_without_provider_is_fine() {
    let p = Project::new();
    let model = p.model(
        &probes(&["a"]),
        "[hosts]\nlocalhost = a\n[component:a]\noptional = nothing\n",
    );
    assert!(seen(&model, "localhost", "a", "nothing").is_empty());
}

#[test]
fn optional_require_still_orders_and_sees_the_provider() {
    let p = Project::new();
    let model = p.model(
        &probes(&["a", "b"]),
        "[hosts]\nlocalhost = a, b\n[component:a]\noptional = k\n[component:b]\nprovide = k=v\n",
    );
    assert_eq!(seen(&model, "localhost", "a", "k"), ["v"]);
    assert_eq!(order_names(&model), ["b", "a"]);
}

#[test]
fn reverse_flips_the_deploy_order() {
    let p = Project::new();
    let ini = |hosts: &str, how: &str| {
        format!(
            "[hosts]\nlocalhost = {hosts}\n[component:a]\n{how} = k\n[component:b]\nprovide = k=v\n"
        )
    };
    let order =
        |hosts: &str, how: &str| order_names(&p.model(&probes(&["a", "b"]), &ini(hosts, how)));
    assert_eq!(order("a, b", "require"), ["b", "a"]);
    assert_eq!(order("a, b", "reverse"), ["a", "b"]);
    // Not just environment order: reverse wins over it.
    assert_eq!(order("b, a", "reverse"), ["a", "b"]);
    assert_eq!(order("b, a", "require"), ["b", "a"]);
    let model = p.model(&probes(&["a", "b"]), &ini("a, b", "reverse"));
    assert_eq!(seen(&model, "localhost", "a", "k"), ["v"]);
}

#[test]
fn require_one_waits_for_a_later_provider() {
    let p = Project::new();
    let model = p.model(
        &probes(&["a", "b"]),
        "[hosts]\nlocalhost = a, b\n[component:a]\none = k\n[component:b]\nprovide = k=v\n",
    );
    assert_eq!(seen(&model, "localhost", "a", "k"), ["v"]);
    assert_eq!(order_names(&model), ["b", "a"]);
}

#[test]
fn require_one_with_several_values_is_an_error() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a", "b", "c"],
        "[hosts]\nlocalhost = a, b, c\n[component:a]\none = k\n\
         [component:b]\nprovide = k=1\n[component:c]\nprovide = k=2\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        ConfigError::Component {
            component,
            host,
            source: Error::Resource { key, message },
        } => {
            assert_eq!((component.as_str(), host.as_str()), ("a", "localhost"));
            assert_eq!(key, "k");
            assert_eq!(message, "expected only one value, got 2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn require_one_never_provided_is_unsatisfied_not_non_convergence() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a"],
        "[hosts]\nlocalhost = a\n[component:a]\none = k\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], ConfigError::UnsatisfiedResources { resources }
            if resources[0].required_by == ["a"] && resources[0].key == "k"),
        "{errors:?}"
    );
}

#[test]
fn a_chain_declared_in_the_worst_order_converges() {
    let p = Project::new();
    let model = p.model(
        &probes(&["e", "a", "b", "c", "d"]),
        "[hosts]\nlocalhost = e, a, b, c, d\n\
         [component:e]\nrequire = a\n\
         [component:a]\nrelay = b->a\n\
         [component:b]\nrelay = c->b\n\
         [component:c]\nrelay = d->c\n\
         [component:d]\nprovide = d=D\n",
    );
    assert_eq!(seen(&model, "localhost", "e", "a"), ["a(b(c(D)))"]);
    assert_eq!(seen(&model, "localhost", "a", "b"), ["b(c(D))"]);
    assert_eq!(order_names(&model), ["d", "c", "b", "a", "e"]);
}

/// A model with several hosts, chains, fan-in, filters, optional, reverse
/// and require_one.
const TANGLED: &str = "\
[hosts]
h1 = lb, app, cfg
h2 = app, db, stats
h3 = db, backup
[component:lb]
require = backend
reverse = stats
[component:app]
relay = dsn->backend
one = secret
[component:cfg]
provide = secret=s3cr3t
[component:db]
relay = replica->dsn
optional = replica
[component:backup]
provide = replica=r
[component:stats]
provide = stats=on
optional = backend
on_host = h2
";

fn tangled_names() -> Vec<&'static str> {
    vec!["lb", "app", "cfg", "db", "backup", "stats"]
}

/// Everything the model's outcome consists of, to compare runs.
fn outcome(model: &crate::configure::Model) -> (Vec<String>, Vec<String>) {
    let mut seen_all = Vec::new();
    for r in &model.roots {
        let probe = super::probe(model, &r.host, &r.name);
        seen_all.push(format!("{}@{}: {:?}", r.name, r.host, probe.seen));
    }
    (order_names(model), seen_all)
}

#[test]
fn the_result_does_not_depend_on_iteration_order() {
    let p = Project::new();
    let reg = probes(&tangled_names());
    let forward = configure_ok(p.env(TANGLED), &reg, &p.options());
    let backward = configure_ok(
        p.env(TANGLED),
        &reg,
        &ConfigureOptions {
            reverse_iteration: true,
            ..p.options()
        },
    );
    assert_eq!(outcome(&forward), outcome(&backward));
    assert_eq!(forward.edges, backward.edges);
    // And the values are the right ones.
    let backend = "backend(dsn(r)+dsn(r))";
    assert_eq!(seen(&forward, "h1", "lb", "backend"), [backend, backend]);
    assert_eq!(seen(&forward, "h2", "stats", "backend"), [backend]);
    assert_eq!(seen(&forward, "h1", "lb", "stats"), ["on"]);
    assert_eq!(seen(&forward, "h2", "app", "secret"), ["s3cr3t"]);
    let order = order_names(&forward);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("lb@h1") < pos("stats@h2"), "reverse: {order:?}");
    assert!(pos("db@h3") < pos("app@h1"), "{order:?}");
    assert!(pos("backup@h3") < pos("db@h3"), "{order:?}");
    assert!(pos("cfg@h1") < pos("app@h2"), "{order:?}");
}

#[test]
fn a_cycle_names_its_members() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["x", "a", "b", "c"],
        "[hosts]\nh1 = x, a, b\nh2 = c\n\
         [component:x]\nrequire = a\n\
         [component:a]\nrequire = b\nprovide = a=1\n\
         [component:b]\nrequire = c\nprovide = b=2\n\
         [component:c]\nrequire = a\nprovide = c=3\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        ConfigError::Cycle { members } => {
            assert_eq!(members, &["a@h1", "b@h1", "c@h2", "a@h1"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        errors[0].to_string(),
        "found dependency cycle: a@h1 -> b@h1 -> c@h2 -> a@h1"
    );
}

#[test]
fn unsatisfied_names_every_requirer() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a", "b"],
        "[hosts]\nlocalhost = a, b\n[component:a]\nrequire = x\n[component:b]\nrequire = x, y\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        ConfigError::UnsatisfiedResources { resources } => {
            assert_eq!(resources.len(), 2);
            assert_eq!(resources[0].key, "x");
            assert_eq!(resources[0].required_by, ["a", "b"]);
            assert_eq!(resources[1].key, "y");
            assert_eq!(resources[1].required_by, ["b"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unused_resources_are_errors() {
    let p = Project::new();
    let errors = errors_of(
        &p,
        &["a"],
        "[hosts]\nlocalhost = a\n[component:a]\nprovide = x=1\n",
    );
    match &errors[..] {
        [ConfigError::UnusedResources { resources }] => assert_eq!(
            resources,
            &[Unused {
                key: "x".into(),
                provided_by: "a".into(),
                value: "\"1\"".into(),
            }]
        ),
        other => panic!("{other:?}"),
    }
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

/// Provides a different value every time it is configured, and requires
/// the other one's.
#[derive(Default, Serialize, Deserialize)]
struct Restless {
    mine: String,
    theirs: String,
    reverse: bool,
}

impl Component for Restless {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let opts = if self.reverse {
            Require::new().reverse()
        } else {
            Require::new()
        };
        let _: Vec<usize> = ctx.require_with(&self.theirs, opts)?;
        ctx.provide(&self.mine, TICKS.fetch_add(1, Ordering::SeqCst))?;
        Ok(())
    }
}

#[test]
fn a_value_that_never_settles_is_non_convergence_naming_the_components() {
    let p = Project::new();
    let mut reg = probes(&["calm"]);
    reg.component::<Restless>("ping")
        .component::<Restless>("pong");
    let ini = "[hosts]\nlocalhost = calm, ping, pong\n\
               [component:ping]\nmine = a\ntheirs = b\n\
               [component:pong]\nmine = b\ntheirs = a\nreverse = yes\n";
    let errors = configure_err(p.env(ini), &reg, &p.options());
    match &errors[..] {
        [ConfigError::NonConvergence { components }] => {
            assert_eq!(components, &["ping", "pong"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        errors[0].to_string(),
        "2 remaining unconfigured component(s): ping, pong"
    );
}

#[test]
fn a_component_that_requires_its_own_changing_value_does_not_converge() {
    let p = Project::new();
    let mut reg = probes(&["calm"]);
    reg.component::<Restless>("self");
    let ini = "[hosts]\nlocalhost = calm, self\n[component:self]\nmine = t\ntheirs = t\n";
    let errors = configure_err(p.env(ini), &reg, &p.options());
    assert!(
        matches!(&errors[..], [ConfigError::NonConvergence { components }] if components == &["self"]),
        "{errors:?}"
    );
}

/// Requires `k` as numbers.
#[derive(Default, Serialize, Deserialize)]
struct WantsNumbers;

impl Component for WantsNumbers {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let _: Vec<u16> = ctx.require("k")?;
        Ok(())
    }
}

#[test]
fn a_provided_value_of_the_wrong_shape_is_an_error_of_the_requirer() {
    let p = Project::new();
    let mut reg = probes(&["giver"]);
    reg.component::<WantsNumbers>("taker");
    let ini = "[hosts]\nh = taker, giver\n[component:giver]\nprovide = k=not-a-number\n";
    let errors = configure_err(p.env(ini), &reg, &p.options());
    match &errors[..] {
        [
            ConfigError::Component {
                component,
                source: Error::Resource { key, message },
                ..
            },
        ] => {
            assert_eq!((component.as_str(), key.as_str()), ("taker", "k"));
            assert!(message.contains("wrong shape"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
