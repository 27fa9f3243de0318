//! `#[component]` (defaults, computed fields, names), what templates see
//! as `component` (the component that added the file, with what it
//! computed), batou's component methods in templates, and a platform
//! variant that acts only when its base changed.

use crate::component::{Component, Configure, Deploy, Registry, Verdict, component};
use crate::error::{ConfigError, Result};
use crate::stdlib::File;
use crate::testutil::{Project, configure_err, deploy_ok, line_of, messages};

#[component]
struct Web {
    #[attr(default = 8080)]
    port: u16,
    #[attr(default = "Hello")]
    greeting: String,
    debug: bool,
    /// Computed in configure, read only by the template.
    #[attr(computed)]
    upstreams: Vec<String>,
}

impl Component for Web {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("web.conf").template((
            "web.conf",
            "{{ component.greeting }} {{ component.port }} {{ component.debug }}\n\
             @@ for u in component.upstreams\nupstream {{ u }}\n@@ endfor\n",
        )))?;
        // Assigned after the file was added: the template still sees it.
        self.upstreams = vec!["a:1".into(), "b:2".into()];
        ctx.add(Part)?;
        Ok(())
    }
}

/// An unregistered sub-component: its files see the root above it.
struct Part;

impl Component for Part {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("part.conf").template((
            "part.conf",
            "{{ component.port }} {{ component.upstreams | length }}\n\
             {{ component.map('x/y') }} {{ component.workdir }}\n\
             {{ expand('{{ host.name }}') }} {{ component.expand('{{ component.greeting }}!') }}\n",
        )))?;
        Ok(())
    }
}

#[component(name = "nested-owner")]
struct Owner {
    #[attr(default = "outer")]
    label: String,
}

impl Component for Owner {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Inner {
            label: "inner".into(),
        })?;
        Ok(())
    }
}

/// A sub-component registered with `Registry::nested`.
#[derive(serde::Serialize)]
struct Inner {
    label: String,
}

impl Component for Inner {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("inner.conf").template(("inner.conf", "{{ component.label }}\n")))?;
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add::<Web>().add::<Owner>().nested::<Inner>();
    r
}

fn env(extra: &str) -> String {
    format!(
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = web, nested-owner\n{extra}"
    )
}

#[test]
fn the_attribute_declares_defaults_and_the_name_once() {
    let web = Web::default();
    assert_eq!(
        (web.port, web.greeting.as_str(), web.debug),
        (8080, "Hello", false)
    );
    assert!(web.upstreams.is_empty());
    let r = registry();
    assert_eq!(r.names(), ["web", "nested-owner"]);
    // A computed field is not an attribute an environment may set.
    assert_eq!(r.attributes("web").unwrap(), ["port", "greeting", "debug"]);
}

#[test]
fn a_computed_list_renders_in_a_template_without_context() {
    let p = Project::new();
    let mut model = p.model(&registry(), &env("[component:web]\nport = 9000\n"));
    deploy_ok(&mut model, false);
    let web = std::fs::read_to_string(p.workdir("web").join("web.conf")).unwrap();
    assert_eq!(web, "Hello 9000 False\nupstream a:1\nupstream b:2\n");
    // A file of an unregistered sub-component sees the root, and batou's
    // component methods and `expand`.
    let part = std::fs::read_to_string(p.workdir("web").join("part.conf")).unwrap();
    let workdir = p.workdir("web");
    assert_eq!(
        part,
        format!(
            "9000 2\n{}/x/y {}\nlocalhost Hello!\n",
            workdir.display(),
            workdir.display()
        )
    );
    // `Registry::nested`: its own attributes, not the root's.
    let inner = std::fs::read_to_string(p.workdir("nested-owner").join("inner.conf")).unwrap();
    assert_eq!(inner, "inner\n");
}

#[test]
fn a_computed_attribute_set_by_the_environment_is_an_error_naming_its_line() {
    let p = Project::new();
    let ini = env("[component:web]\nupstreams = x:1\n");
    let errors = configure_err(p.env(&ini), &registry(), &p.options());
    let [
        ConfigError::ComputedAttribute {
            origin,
            host,
            component,
            key,
        },
    ] = &errors[..]
    else {
        panic!("{}", messages(&errors));
    };
    assert_eq!(
        (host.as_str(), component.as_str(), key.as_str()),
        ("localhost", "web", "upstreams")
    );
    assert_eq!(origin.line, line_of(&ini, "upstreams = x:1"));
    assert!(
        messages(&errors).contains("computes it in configure"),
        "{}",
        messages(&errors)
    );
}

/// The base of a platform variant: one file from its attribute.
#[component]
struct App {
    #[attr(default = "v1")]
    version: String,
}

impl Component for App {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("app.conf").template(("app.conf", "{{ component.version }}\n")))?;
        Ok(())
    }
}

/// Restarts (appends a line to `restarts`) only when the base changed.
struct DebianApp;

impl Component for DebianApp {
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::update_if(ctx.base_changed()))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.cmd("echo restart >> restarts")?;
        Ok(())
    }
}

#[test]
fn a_variant_restarts_only_when_its_base_changed() {
    let p = Project::new();
    let mut r = Registry::new();
    r.add::<App>().platform("debian", |_: &App| DebianApp);
    let ini = |version: &str| {
        format!(
            "[environment]\nconnect_method = local\nplatform = debian\n[hosts]\nlocalhost = app\n\
             [component:app]\nversion = {version}\n"
        )
    };
    let restarts = p.workdir("app").join("restarts");
    let count = || {
        std::fs::read_to_string(&restarts)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // First deploy: the file is new, so the variant restarts.
    deploy_ok(&mut p.model(&r, &ini("v1")), false);
    assert_eq!(count(), 1);
    // Nothing changed: no restart.
    let (report, _) = deploy_ok(&mut p.model(&r, &ini("v1")), false);
    assert_eq!((report.changed, count()), (0, 1));
    // The base's file changed: one restart more.
    let (report, _) = deploy_ok(&mut p.model(&r, &ini("v2")), false);
    assert_eq!(count(), 2);
    assert_eq!(report.changed, 2, "{report:?}");
    // Predicting a change says the variant would restart, and runs nothing.
    let (report, _) = deploy_ok(&mut p.model(&r, &ini("v3")), true);
    assert_eq!(report.changed, 2, "{report:?}");
    assert_eq!(count(), 2);
}

#[component]
struct Facts {}

impl Component for Facts {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("facts").template((
            "facts",
            "{{ host.name }} {{ host.fqdn }} {{ host.platform }} {{ host.data.role }}\n\
             {{ environment.name }} {{ environment.host_domain }} {{ environment.platform }}\n\
             {{ environment.base_dir }} {{ environment.workdir_base }}\n",
        )))?;
        Ok(())
    }
}

#[test]
fn templates_see_host_and_environment_as_batou_exposes_them() {
    let p = Project::new();
    let mut r = Registry::new();
    r.add::<Facts>();
    let ini = "[environment]\nconnect_method = local\nhost_domain = example.com\nplatform = debian\n\
               [host:localhost]\ncomponents = facts\ndata-role = primary\n";
    deploy_ok(&mut p.model(&r, ini), false);
    let root = p.path().display();
    assert_eq!(
        std::fs::read_to_string(p.workdir("facts").join("facts")).unwrap(),
        format!(
            "localhost localhost.example.com debian primary\n\
             test example.com debian\n{root} {root}/work\n"
        )
    );
}
