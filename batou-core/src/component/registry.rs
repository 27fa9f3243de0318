//! The registry: component names as environments use them, and platform
//! variants. A deployment's `main` fills one and hands it to the CLI.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use indexmap::IndexMap;
use minijinja::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Component;
use crate::convert::{self, Override, OverrideError, OverrideErrorKind, OverrideValue};
use crate::transport::Transport;

/// A freshly built root component, overrides applied.
pub(crate) struct Built {
    pub component: Box<dyn Component>,
    /// Its attributes, as templates see `component`.
    pub context: Value,
}

/// Expands an override's text in the component's context:
/// `(key, text, component attributes) -> expanded text`.
pub(crate) type Expand<'a> = &'a dyn Fn(&str, &str, &Value) -> Result<String, String>;

type BuildFn = dyn Fn(&[Override], Expand<'_>) -> Result<Built, Vec<OverrideError>> + Send + Sync;
type VariantFn = dyn Fn(&dyn Any) -> Option<Box<dyn Component>> + Send + Sync;
/// A component's attributes as templates see them (`component`).
type ContextFn = fn(&dyn Any) -> Option<Value>;

fn context_of<C: Serialize + 'static>(component: &dyn Any) -> Option<Value> {
    component
        .downcast_ref::<C>()
        .map(|c| Value::from(minijinja::value::Serde(c)))
}

struct Entry {
    build: Box<BuildFn>,
    attributes: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

/// Names the components an environment can assign to hosts.
///
/// ```
/// use batou_core::prelude::*;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Nginx { port: u16 }
/// impl Component for Nginx {}
///
/// struct DebianNginx { port: u16 }
/// impl Component for DebianNginx {}
///
/// let mut registry = Registry::new();
/// registry
///     .component::<Nginx>("nginx")
///     // On hosts whose platform is `debian`, every `Nginx` gets a
///     // `DebianNginx` as its last sub-component.
///     .platform("debian", |base: &Nginx| DebianNginx { port: base.port });
/// assert_eq!(registry.names(), ["nginx"]);
/// ```
pub struct Registry {
    components: IndexMap<String, Entry>,
    variants: HashMap<(TypeId, String), Box<VariantFn>>,
    /// Types whose attributes the templates of their sub-components see.
    contexts: HashMap<TypeId, ContextFn>,
    transports: IndexMap<String, std::sync::Arc<dyn Transport>>,
    /// Commands `batou run` calls by name (see [`crate::command`]).
    commands: crate::command::Commands,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry with the built-in transports (`ssh`, `ssh2`; `local` is
    /// handled in process and needs none).
    pub fn new() -> Self {
        let mut registry = Registry {
            components: IndexMap::new(),
            variants: HashMap::new(),
            contexts: HashMap::new(),
            transports: IndexMap::new(),
            commands: crate::command::Commands::stdlib(),
        };
        registry.transport("ssh", crate::transport::SshTransport::new());
        #[cfg(all(feature = "ssh2", not(target_env = "musl")))]
        registry.transport("ssh2", crate::transport::Ssh2Transport::new());
        #[cfg(all(not(feature = "ssh2"), not(target_env = "musl")))]
        registry.transport(
            "ssh2",
            crate::transport::Unavailable::new(
                "this deployment was built without the ssh2 transport: turn it on with `batou-cli = { workspace = true, features = [\"ssh2\"] }` in components/Cargo.toml, or use connect_method = ssh",
            ),
        );
        #[cfg(target_env = "musl")]
        registry.transport(
            "ssh2",
            crate::transport::Unavailable::new(
                "this is a static (musl) build of batou, which has no libssh2: use connect_method = ssh, or a controller built for this machine (./batou)",
            ),
        );
        registry
    }

    /// Registers a transport under the `connect_method` name that selects
    /// it (replacing a built-in of the same name).
    pub fn transport(&mut self, name: &str, transport: impl Transport + 'static) -> &mut Self {
        self.transports
            .insert(name.to_string(), std::sync::Arc::new(transport));
        self
    }

    /// The transport for `connect_method = name`.
    pub fn transport_for(&self, name: &str) -> Option<std::sync::Arc<dyn Transport>> {
        self.transports.get(name).cloned()
    }

    /// Names of the registered transports (plus `local`).
    pub fn transport_names(&self) -> Vec<String> {
        std::iter::once(crate::environment::LOCAL_METHOD.to_string())
            .chain(self.transports.keys().cloned())
            .collect()
    }

    /// Registers a command that `batou run ENV name [ARGS...]` calls on
    /// every selected host (replacing one of the same name, the stdlib's
    /// `facts` and `verify` too). It runs in the agent, with the host's
    /// [`crate::command::CommandHost`] and the arguments, and answers with
    /// JSON:
    ///
    /// ```
    /// # use batou_core::Registry;
    /// # use batou_core::command::CommandFailed;
    /// # use batou_core::host::CommandSpec;
    /// let mut registry = Registry::new();
    /// registry.command("disk-usage", |host, args| {
    ///     let path = args.first().map_or("/", String::as_str);
    ///     let out = host.run(&CommandSpec::argv(["df", "-Pk", path]))?;
    ///     Ok(serde_json::json!({ "host": host.name(), "df": out.stdout }))
    /// });
    /// ```
    pub fn command<F>(&mut self, name: &str, command: F) -> &mut Self
    where
        F: Fn(
                &crate::command::CommandHost<'_>,
                &[String],
            ) -> Result<serde_json::Value, crate::command::CommandFailed>
            + Send
            + Sync
            + 'static,
    {
        self.commands.insert(name, std::sync::Arc::new(command));
        self
    }

    /// The command registered as `name`.
    pub fn command_for(&self, name: &str) -> Option<std::sync::Arc<crate::command::CommandFn>> {
        self.commands.get(name)
    }

    /// Names of the registered commands, in registration order.
    pub fn command_names(&self) -> Vec<String> {
        self.commands.names()
    }

    /// Registers `C` as a root component named `name` (batou used the
    /// lowercased class name; here the name is explicit).
    pub fn component<C>(&mut self, name: &str) -> &mut Self
    where
        C: Component + Default + Serialize + DeserializeOwned,
    {
        self.root::<C>(name, &[])
    }

    /// Registers a `#[component]` under its name (see
    /// [`super::component`]).
    ///
    /// ```
    /// use batou_core::prelude::*;
    ///
    /// #[component(name = "web")]
    /// struct Nginx { #[attr(default = 80)] port: u16 }
    /// impl Component for Nginx {}
    ///
    /// let mut registry = Registry::new();
    /// registry.add::<Nginx>();
    /// assert_eq!(registry.names(), ["web"]);
    /// ```
    pub fn add<C>(&mut self) -> &mut Self
    where
        C: Component + super::Attributes + Default + Serialize + DeserializeOwned,
    {
        self.root::<C>(C::NAME, C::COMPUTED)
    }

    /// Makes a component that is not a root (one another component adds)
    /// what the templates of *its* sub-components see as `component`, as
    /// roots are. Without this, they see the nearest registered component
    /// above it.
    pub fn nested<C: Component + Serialize>(&mut self) -> &mut Self {
        self.contexts.insert(TypeId::of::<C>(), context_of::<C>);
        self
    }

    fn root<C>(&mut self, name: &str, computed: &'static [&'static str]) -> &mut Self
    where
        C: Component + Default + Serialize + DeserializeOwned,
    {
        let build = move |overrides: &[Override], expand: Expand<'_>| {
            build::<C>(overrides, expand, computed)
        };
        let attributes = move || {
            let mut names = convert::attribute_names(&C::default()).unwrap_or_default();
            names.retain(|n| !computed.contains(&n.as_str()));
            names
        };
        self.components.insert(
            name.to_string(),
            Entry {
                build: Box::new(build),
                attributes: Box::new(attributes),
            },
        );
        self.contexts.insert(TypeId::of::<C>(), context_of::<C>);
        self
    }

    /// `component`'s attributes, if its type is registered (a root, or
    /// [`Registry::nested`]).
    pub(crate) fn context_of(&self, component: &dyn Component) -> Option<Value> {
        let any: &dyn Any = component;
        self.contexts.get(&any.type_id())?(any)
    }

    /// Registers `make` to build the variant of `B` for `platform`.
    pub fn platform<B, V>(
        &mut self,
        platform: &str,
        make: impl Fn(&B) -> V + Send + Sync + 'static,
    ) -> &mut Self
    where
        B: Component,
        V: Component,
    {
        let f = move |base: &dyn Any| {
            base.downcast_ref::<B>()
                .map(|b| Box::new(make(b)) as Box<dyn Component>)
        };
        self.variants
            .insert((TypeId::of::<B>(), platform.to_string()), Box::new(f));
        self
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.components.contains_key(name)
    }

    /// The attributes an environment may set on component `name`.
    pub fn attributes(&self, name: &str) -> Option<Vec<String>> {
        self.components.get(name).map(|e| (e.attributes)())
    }

    pub(crate) fn build(
        &self,
        name: &str,
        overrides: &[Override],
        expand: Expand<'_>,
    ) -> Option<Result<Built, Vec<OverrideError>>> {
        self.components
            .get(name)
            .map(|entry| (entry.build)(overrides, expand))
    }

    pub(crate) fn variant_for(
        &self,
        base: &dyn Component,
        platform: &str,
    ) -> Option<Box<dyn Component>> {
        let any: &dyn Any = base;
        let f = self.variants.get(&(any.type_id(), platform.to_string()))?;
        f(any)
    }
}

/// `C` with the environment's `overrides` applied, their text expanded
/// as templates first. Every problem is reported, each with where the
/// override was set.
///
/// An override that reads another attribute (`{{ component.port }}`)
/// sees that attribute's overridden value, as `self.port` does in batou,
/// whatever the order of the lines (batou sees the default when the other
/// line comes later); an attribute reading itself sees its default, and a
/// cycle of references is an error.
fn build<C>(
    overrides: &[Override],
    expand: Expand<'_>,
    computed: &[&str],
) -> Result<Built, Vec<OverrideError>>
where
    C: Component + Default + Serialize + DeserializeOwned,
{
    let base = C::default();
    let base_context = Value::from(minijinja::value::Serde(&base));
    let mut failures = Vec::new();
    // (index in `overrides`, override) of every value ready to apply.
    let mut expanded: Vec<(usize, Override)> = Vec::new();
    let mut texts: IndexMap<&str, (usize, &Override, &str)> = IndexMap::new();
    for (i, o) in overrides.iter().enumerate() {
        if computed.contains(&o.key.as_str()) {
            failures.push(o.error(OverrideErrorKind::Computed));
            continue;
        }
        match &o.value {
            OverrideValue::Text(text) => {
                texts.insert(o.key.as_str(), (i, o, text.as_str()));
            }
            _ => expanded.push((i, o.clone())),
        }
    }
    let (order, cycles) = reference_order(&texts);
    for (key, message) in cycles {
        let (_, o, _) = texts[key];
        failures.push(o.error(OverrideErrorKind::Expansion { message }));
    }
    // The component as the next override sees it: the defaults with every
    // value expanded so far applied (rebuilt only when one was added).
    let mut context: Option<Value> = None;
    for key in order {
        let (i, o, text) = texts[key];
        let reads_component = crate::template::reads_name(text, "component");
        let ctx = if reads_component && !expanded.is_empty() {
            context
                .get_or_insert_with(|| {
                    let values: Vec<Override> = expanded.iter().map(|(_, o)| o.clone()).collect();
                    partly_applied(&base, &values).map_or_else(
                        || base_context.clone(),
                        |c| Value::from(minijinja::value::Serde(&c)),
                    )
                })
                .clone()
        } else {
            base_context.clone()
        };
        match expand(&o.key, text, &ctx) {
            Ok(text) => {
                expanded.push((
                    i,
                    Override {
                        value: OverrideValue::Text(text),
                        ..o.clone()
                    },
                ));
                context = None;
            }
            Err(message) => failures.push(o.error(OverrideErrorKind::Expansion { message })),
        }
    }
    // Applied (and errors reported) in the order the environment has them.
    expanded.sort_by_key(|(i, _)| *i);
    let expanded: Vec<Override> = expanded.into_iter().map(|(_, o)| o).collect();
    let component = if expanded.is_empty() {
        base
    } else {
        convert::apply_overrides(&base, &expanded).map_err(|errors| {
            failures.extend(errors);
            std::mem::take(&mut failures)
        })?
    };
    if !failures.is_empty() {
        return Err(failures);
    }
    let context = Value::from(minijinja::value::Serde(&component));
    Ok(Built {
        component: Box::new(component),
        context,
    })
}

/// `base` with as many of `values` applied as convert (for the context of
/// later overrides; the ones that do not convert are reported at the end).
fn partly_applied<C: Serialize + DeserializeOwned>(base: &C, values: &[Override]) -> Option<C> {
    match convert::apply_overrides(base, values) {
        Ok(c) => Some(c),
        Err(errors) => {
            let good: Vec<Override> = values
                .iter()
                .filter(|v| !errors.iter().any(|e| e.key == v.key))
                .cloned()
                .collect();
            convert::apply_overrides(base, &good).ok()
        }
    }
}

/// The order to expand text overrides in: every override after those it
/// reads (`component.KEY`; reading `component` whole reads them all), and
/// the keys caught in a cycle of references with the error for each.
fn reference_order<'a>(
    texts: &IndexMap<&'a str, (usize, &Override, &str)>,
) -> (Vec<&'a str>, Vec<(&'a str, String)>) {
    let reads: IndexMap<&str, Vec<&str>> = texts
        .iter()
        .map(|(key, (_, _, text))| {
            let deps = match crate::template::component_references(text) {
                Some(names) => texts
                    .keys()
                    .copied()
                    .filter(|k| k != key && names.iter().any(|n| n == k))
                    .collect(),
                None => texts.keys().copied().filter(|k| k != key).collect(),
            };
            (*key, deps)
        })
        .collect();
    let mut order = Vec::new();
    let mut cycles: Vec<(&str, String)> = Vec::new();
    // 0: not seen, 1: on the path, 2: done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        key: &'a str,
        reads: &IndexMap<&'a str, Vec<&'a str>>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        order: &mut Vec<&'a str>,
        cycles: &mut Vec<(&'a str, String)>,
    ) {
        match state.get(key).copied().unwrap_or(0) {
            2 => return,
            1 => {
                let from = path.iter().position(|k| *k == key).unwrap_or(0);
                let mut ring: Vec<&str> = path[from..].to_vec();
                ring.push(key);
                let text = ring
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" -> ");
                for k in &path[from..] {
                    if !cycles.iter().any(|(c, _)| c == k) {
                        cycles.push((
                            k,
                            format!("the overrides refer to each other in a cycle: {text}"),
                        ));
                    }
                }
                return;
            }
            _ => {}
        }
        state.insert(key, 1);
        path.push(key);
        for dep in &reads[key] {
            visit(dep, reads, state, path, order, cycles);
        }
        path.pop();
        state.insert(key, 2);
        order.push(key);
    }
    for key in reads.keys() {
        visit(
            key,
            &reads,
            &mut state,
            &mut Vec::new(),
            &mut order,
            &mut cycles,
        );
    }
    order.retain(|k| !cycles.iter().any(|(c, _)| c == k));
    (order, cycles)
}
