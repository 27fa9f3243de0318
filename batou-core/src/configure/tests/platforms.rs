//! Platform variants (reference §3.13): chosen by the host's platform, else
//! the environment's, else `host_domain`; `-p` overrides; the variant is the
//! last sub-component; variants of sub-component types are added too.

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Registry};
use crate::configure::ConfigureOptions;
use crate::error::Result;
use crate::testutil::{Project, as_type, child_crumbs, configure_ok, tree};

#[derive(Default, Serialize, Deserialize)]
struct Base {
    name: String,
}

struct Part;
impl Component for Part {}

impl Component for Base {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Part)?;
        ctx.add(Inner)?;
        Ok(())
    }
}

/// A sub-component type with variants of its own.
struct Inner;
impl Component for Inner {}

struct Variant {
    platform: &'static str,
    base_name: String,
    #[allow(dead_code)]
    seen_platform: Option<String>,
}

impl Component for Variant {
    fn label(&self) -> String {
        format!("Variant({})", self.platform)
    }
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.seen_platform = ctx.platform().map(str::to_string);
        Ok(())
    }
}

struct InnerVariant;
impl Component for InnerVariant {}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Base>("base");
    for platform in ["debian", "centos", "example.com"] {
        r.platform(platform, move |b: &Base| Variant {
            platform,
            base_name: b.name.clone(),
            seen_platform: None,
        });
    }
    r.platform("debian", |_: &Inner| InnerVariant);
    r
}

/// The label of the last child of `base` on `host`, if it is a variant.
fn variant_on(model: &crate::configure::Model, host: &str) -> Option<String> {
    let node = tree(model, host, "base");
    let last = node.children.last()?;
    let any: &dyn std::any::Any = last.component.as_ref();
    any.downcast_ref::<Variant>()
        .map(|v| v.platform.to_string())
}

const ENV: &str = "\
[environment]
platform = debian
host_domain = example.com
[host:own]
components = base
platform = centos
[host:inherits]
components = base
";

#[test]
fn host_platform_wins_over_environment_platform() {
    let p = Project::new();
    let model = p.model(&registry(), ENV);
    assert_eq!(variant_on(&model, "own").as_deref(), Some("centos"));
    assert_eq!(variant_on(&model, "inherits").as_deref(), Some("debian"));
    assert_eq!(root_platform(&model, "own"), Some("centos".to_string()));
}

fn root_platform(model: &crate::configure::Model, host: &str) -> Option<String> {
    crate::testutil::root(model, host, "base")
        .host_info
        .platform
        .clone()
}

#[test]
fn host_domain_is_the_last_resort() {
    let p = Project::new();
    let model = p.model(
        &registry(),
        "[environment]\nhost_domain = example.com\n[hosts]\nh = base\n",
    );
    assert_eq!(variant_on(&model, "h").as_deref(), Some("example.com"));
    let model = p.model(&registry(), "[hosts]\nh = base\n");
    assert_eq!(variant_on(&model, "h"), None);
    assert_eq!(
        child_crumbs(tree(&model, "h", "base")),
        ["Base > Part", "Base > Inner"]
    );
}

#[test]
fn the_variant_is_the_last_child_and_sees_the_base() {
    let p = Project::new();
    let model = p.model(&registry(), &format!("{ENV}[component:base]\nname = B\n"));
    let node = tree(&model, "own", "base");
    assert_eq!(
        child_crumbs(node),
        ["Base > Part", "Base > Inner", "Base > Variant(centos)"]
    );
    let v = as_type::<Variant>(node.children.last().unwrap());
    assert_eq!(v.base_name, "B");
    assert_eq!(v.seen_platform.as_deref(), Some("centos"));
}

#[test]
fn a_variant_of_a_sub_component_type_is_added_to_it() {
    let p = Project::new();
    let model = p.model(&registry(), ENV);
    let inner = &tree(&model, "inherits", "base").children[1];
    assert_eq!(child_crumbs(inner), ["Base > Inner > InnerVariant"]);
    // No variant for centos.
    let inner = &tree(&model, "own", "base").children[1];
    assert!(inner.children.is_empty());
}

#[test]
fn the_cli_platform_overrides_every_host() {
    let p = Project::new();
    let opts = ConfigureOptions {
        platform: Some("debian".into()),
        ..p.options()
    };
    let model = configure_ok(p.env(ENV), &registry(), &opts);
    assert_eq!(variant_on(&model, "own").as_deref(), Some("debian"));
    assert_eq!(variant_on(&model, "inherits").as_deref(), Some("debian"));

    let none = ConfigureOptions {
        platform: Some(String::new()),
        ..p.options()
    };
    let model = configure_ok(p.env(ENV), &registry(), &none);
    assert_eq!(variant_on(&model, "own"), None);
    assert_eq!(variant_on(&model, "inherits"), None);
    assert_eq!(root_platform(&model, "own"), None);
    assert_eq!(tree(&model, "own", "base").children.len(), 2);
}

#[test]
fn an_unknown_platform_adds_nothing() {
    let p = Project::new();
    let model = p.model(
        &registry(),
        "[environment]\nplatform = plan9\n[hosts]\nh = base\n",
    );
    assert_eq!(tree(&model, "h", "base").children.len(), 2);
    assert_eq!(root_platform(&model, "h").as_deref(), Some("plan9"));
}
