//! What configure puts into the model: overrides expanded per host,
//! features, ignored roots and hosts, logs, workdirs.

use serde::{Deserialize, Serialize};

use super::{probe, probes, seen};
use crate::component::{Component, Configure};
use crate::error::Result;
use crate::testutil::{Project, as_type, order_names, root, tree};

#[test]
fn override_expansion_sees_host_and_environment() {
    let p = Project::new();
    let model = p.model(
        &probes(&["a"]),
        "[environment]\nhost_domain = example.com\n\
         [hosts]\nh1 = a\nh2 = a\n\
         [component:a]\nlabel = {{ host.name }}/{{ host.fqdn }}/{{ environment.name }}\nport = {{ 8000 + 80 }}\n",
    );
    assert_eq!(probe(&model, "h1", "a").label, "h1/h1.example.com/test");
    assert_eq!(probe(&model, "h2", "a").label, "h2/h2.example.com/test");
    assert_eq!(probe(&model, "h2", "a").port, 8080);
}

#[test]
fn override_expansion_sees_the_components_defaults() {
    #[derive(Serialize, Deserialize)]
    struct Defaults {
        port: u16,
        url: String,
    }
    impl Default for Defaults {
        fn default() -> Self {
            Defaults {
                port: 5432,
                url: String::new(),
            }
        }
    }
    impl Component for Defaults {}
    let p = Project::new();
    let mut reg = crate::Registry::new();
    reg.component::<Defaults>("d");
    let model = p.model(
        &reg,
        "[hosts]\nh = d\n[component:d]\nurl = db:{{ component.port }}\n",
    );
    assert_eq!(as_type::<Defaults>(tree(&model, "h", "d")).url, "db:5432");
}

#[test]
fn features_reach_the_component() {
    let p = Project::new();
    let model = p.model(&probes(&["a", "b"]), "[hosts]\nh1 = a:f1, b, a:f2, a:f1\n");
    assert_eq!(probe(&model, "h1", "a").features, ["f1", "f2"]);
    assert!(probe(&model, "h1", "b").features.is_empty());
    assert_eq!(root(&model, "h1", "a").features, ["f1", "f2"]);
}

#[test]
fn ignored_components_and_hosts_are_configured_but_flagged() {
    let p = Project::new();
    let model = p.model(
        &probes(&["a", "b", "c"]),
        "[hosts]\nh1 = !a, c\n!h2 = b\n\
         [component:a]\nprovide = k=from-a\n\
         [component:b]\nprovide = j=from-b\n\
         [component:c]\nrequire = k, j\n",
    );
    let a = root(&model, "h1", "a");
    assert!(a.ignored && !a.host_ignored);
    assert!(a.tree.is_some(), "ignored roots are still configured");
    let b = root(&model, "h2", "b");
    assert!(b.host_ignored && !b.ignored);
    assert!(b.host_info.ignore);
    assert!(b.tree.is_some());
    let c = root(&model, "h1", "c");
    assert!(!c.ignored && !c.host_ignored);
    // Their resources count.
    assert_eq!(seen(&model, "h1", "c", "k"), ["from-a"]);
    assert_eq!(seen(&model, "h1", "c", "j"), ["from-b"]);
    assert_eq!(order_names(&model), ["a@h1", "b@h2", "c@h1"]);
}

/// Logs in configure; fails the first time it is configured.
#[derive(Default, Serialize, Deserialize)]
struct Chatty {
    word: String,
    wait_for: String,
}

impl Component for Chatty {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.log(format!("pass with {}", self.word));
        if !self.wait_for.is_empty() {
            let v: String = ctx.require_one(&self.wait_for)?;
            ctx.log(format!("got {v}"));
        } else {
            ctx.provide("k", &self.word)?;
        }
        Ok(())
    }
}

#[test]
fn only_the_final_pass_logs_are_kept_in_deploy_order() {
    let p = Project::new();
    let mut reg = crate::Registry::new();
    reg.component::<Chatty>("late").component::<Chatty>("early");
    let model = p.model(
        &reg,
        "[hosts]\nh = late, early\n\
         [component:late]\nword = L\nwait_for = k\n\
         [component:early]\nword = E\n",
    );
    let logs: Vec<String> = model
        .configure_logs()
        .into_iter()
        .map(|(h, r, m)| format!("{h}/{r}: {m}"))
        .collect();
    assert_eq!(
        logs,
        [
            "h/early: pass with E",
            "h/late: pass with L",
            "h/late: got E"
        ]
    );
}

#[test]
fn roots_get_their_workdir_and_a_single_host_display() {
    #[derive(Default, Serialize, Deserialize)]
    struct Where {
        #[serde(skip)]
        workdir: std::path::PathBuf,
        #[serde(skip)]
        mapped: std::path::PathBuf,
        #[serde(skip)]
        crumbs: String,
    }
    impl Component for Where {
        fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
            self.workdir = ctx.workdir().to_path_buf();
            self.mapped = ctx.map("etc/../conf");
            self.crumbs = ctx.breadcrumbs().to_string();
            Ok(())
        }
    }
    let p = Project::new();
    let mut reg = crate::Registry::new();
    reg.component::<Where>("where");
    let model = p.model(&reg, "[hosts]\nlocalhost = where\n");
    let w = as_type::<Where>(tree(&model, "localhost", "where"));
    assert_eq!(w.workdir, p.workdir("where"));
    assert_eq!(w.mapped, p.workdir("where").join("conf"));
    assert_eq!(w.crumbs, "Where");
    assert_eq!(order_names(&model), ["where"]);
    assert_eq!(model.env_info.workdir_base, p.path().join("work"));
}
