//! The configure engine: builds every root component of every host,
//! iterating to a fixpoint of service discovery (reference §3.7), orders the
//! roots by their dependencies (§3.8), and collects every error.

mod graph;
mod resources;
mod select;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::Serde;

pub(crate) use resources::Resources;
pub use select::{Selection, SelectionError, UnknownName};

use crate::address::{AddressDefaults, Resolver, ResolverOverrides};
use crate::component::configure::Scope;
use crate::component::{Configure, EnvironmentInfo, HostInfo, Node, Registry};
use crate::convert::{Override, OverrideError, OverrideErrorKind, OverrideValue};
use crate::environment::Environment;
use crate::error::{ConfigError, Error, Origin, Unsatisfied, Unused};
use crate::template::Templates;
use crate::vfs::PathMapper;

/// Choices that change how the model is configured.
#[derive(Debug, Clone, Default)]
pub struct ConfigureOptions {
    /// `-p/--platform`: overrides every host's platform; `Some("")` means
    /// none.
    pub platform: Option<String>,
    /// Configure roots in reverse order in every pass. The result must not
    /// change; tests use this to prove it.
    pub reverse_iteration: bool,
    /// The home directory `~` maps to (default: `$HOME`).
    pub home: Option<PathBuf>,
    /// Resolve names DNS does not know to the unspecified address instead
    /// of failing (see [`Resolver::lenient`]): for the controller's check
    /// of a model that the agents configure again on their hosts.
    pub lenient_dns: bool,
}

/// One root component on one host.
pub struct Root {
    pub id: usize,
    pub host: String,
    pub name: String,
    pub features: Vec<String>,
    /// `!name` in the environment.
    pub ignored: bool,
    pub host_ignored: bool,
    /// Deployed in this run: false when `--hosts`, `--components` and
    /// their `--skip-` forms leave it out (see [`Model::select`]).
    pub selected: bool,
    pub host_info: HostInfo,
    pub(crate) tree: Option<Node>,
    pub(crate) logs: Vec<String>,
    /// Warnings from its `configure` (e.g. a template above 100 KiB).
    pub(crate) warnings: Vec<String>,
    /// The tree's event handlers, publications and subscriptions.
    pub(crate) events: crate::handlers::RootEvents,
}

impl Root {
    /// `name` or, when the environment has several hosts, `name@host`.
    pub fn display(&self, many_hosts: bool) -> String {
        if many_hosts {
            format!("{}@{}", self.name, self.host)
        } else {
            self.name.clone()
        }
    }

    /// Number of components in this root's tree.
    pub fn component_count(&self) -> usize {
        self.tree.as_ref().map_or(0, Node::count)
    }

    /// Why this run leaves the root out, if it does; `None`: it deploys.
    pub fn skip_reason(&self) -> Option<crate::event::SkipReason> {
        use crate::event::SkipReason;
        if self.host_ignored {
            Some(SkipReason::HostIgnored)
        } else if self.ignored {
            Some(SkipReason::ComponentIgnored)
        } else if !self.selected {
            Some(SkipReason::NotSelected)
        } else {
            None
        }
    }
}

/// The configured model of an environment, ready to deploy.
pub struct Model {
    pub env: Environment,
    pub env_info: EnvironmentInfo,
    pub roots: Vec<Root>,
    /// Deploy order: indices into `roots`, dependencies first.
    pub order: Vec<usize>,
    /// `(a, b)`: root a depends on root b.
    pub edges: Vec<(usize, usize)>,
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) mapper: PathMapper,
}

impl Model {
    pub fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    /// Messages components logged in `configure`, in deploy order.
    pub fn configure_logs(&self) -> Vec<(String, String, String)> {
        self.order
            .iter()
            .flat_map(|i| {
                let r = &self.roots[*i];
                r.logs
                    .iter()
                    .map(move |m| (r.host.clone(), r.name.clone(), m.clone()))
            })
            .collect()
    }

    /// Warnings components' `configure` gave (the final pass's), in
    /// deploy order, as (host, root, message).
    pub fn configure_warnings(&self) -> Vec<(String, String, String)> {
        self.order
            .iter()
            .flat_map(|i| {
                let r = &self.roots[*i];
                r.warnings
                    .iter()
                    .map(move |m| (r.host.clone(), r.name.clone(), m.clone()))
            })
            .collect()
    }
}

/// What a root's configure said: its log lines and its warnings.
type Said = (Vec<String>, Vec<String>);

/// What templates see as `environment`: the [`EnvironmentInfo`] plus the
/// settings batou's `Environment` has as attributes and ported templates
/// use (`target_directory`, defaulting to `~/deployment` as in batou,
/// `branch`, `update_method`, `require_sudo`).
fn environment_value(env: &Environment, info: &EnvironmentInfo) -> Value {
    let settings = &env.settings;
    let mut map: std::collections::BTreeMap<String, Value> =
        match serde_json::to_value(info).ok().and_then(|v| match v {
            serde_json::Value::Object(o) => Some(o),
            _ => None,
        }) {
            Some(object) => object
                .into_iter()
                .map(|(k, v)| (k, Value::from(Serde(v))))
                .collect(),
            None => Default::default(),
        };
    map.insert(
        "target_directory".into(),
        Value::from(
            settings
                .target_directory
                .clone()
                .unwrap_or_else(|| "~/deployment".into()),
        ),
    );
    map.insert("branch".into(), Value::from(settings.branch.clone()));
    map.insert(
        "update_method".into(),
        Value::from(settings.update_method.clone()),
    );
    map.insert("require_sudo".into(), Value::from(settings.require_sudo));
    Value::from(map)
}

/// Configures `env` with the components of `registry`.
pub fn configure(
    env: Environment,
    registry: &Registry,
    options: &ConfigureOptions,
) -> Result<Model, Vec<ConfigError>> {
    // Problems found up front do not stop configuring: roots of unknown
    // components are left out, bad resolver entries ignored, and whatever
    // else is wrong is reported in the same run.
    let mut errors = validate(&env, registry);
    let (resolver, resolver_errors) = build_resolver(&env, options.lenient_dns);
    errors.extend(resolver_errors);
    let env_info = EnvironmentInfo::from_environment(&env);
    let home = options
        .home
        .clone()
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from));
    let mapper = PathMapper::new(&env.project_dir, env.vfs.clone(), home);

    let mut roots = Vec::new();
    for host in env.hosts.values() {
        let info = HostInfo {
            name: host.name.clone(),
            fqdn: env.fqdn_of(host),
            platform: env.platform_of(host, options.platform.as_deref()),
            data: host.data.clone(),
            service_user: env.service_user_of(host),
            ignore: host.ignore,
        };
        for entry in host
            .components
            .iter()
            .filter(|e| registry.contains(&e.name))
        {
            roots.push(Root {
                id: roots.len(),
                host: host.name.clone(),
                name: entry.name.clone(),
                features: entry.features.clone(),
                ignored: entry.ignored,
                host_ignored: host.ignore,
                selected: true,
                host_info: info.clone(),
                tree: None,
                logs: Vec::new(),
                warnings: Vec::new(),
                events: Default::default(),
            });
        }
    }

    let engine = Engine {
        env: &env,
        env_info: &env_info,
        registry,
        templates: Templates::new(),
        mapper: &mapper,
        resources: RefCell::new(Resources::new(
            roots.iter().map(|r| r.host.clone()).collect(),
        )),
    };
    let outcome =
        crate::address::with_resolver(resolver.clone(), || engine.fixpoint(&mut roots, options));
    errors.extend(engine.collect_errors(&roots, outcome));
    let mut edges = engine.edges();
    // Subscribers deploy after publishers, watchers after the roots they
    // watch: routed events and change notifications follow the graph.
    let (event_edges, event_errors) = crate::handlers::edges(&roots);
    edges.extend(event_edges);
    edges.sort_unstable();
    edges.dedup();
    errors.extend(event_errors);
    let order = match graph::topo_sort(roots.len(), &edges) {
        Ok(order) => order,
        Err(cycle) => {
            let many = env.hosts.len() > 1;
            let mut members: Vec<String> = cycle.iter().map(|i| roots[*i].display(many)).collect();
            if let Some(first) = members.first().cloned() {
                members.push(first);
            }
            errors.push(ConfigError::Cycle { members });
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(sorted(errors));
    }
    drop(engine);
    Ok(Model {
        env,
        env_info,
        roots,
        order,
        edges,
        resolver,
        mapper,
    })
}

fn sorted(mut errors: Vec<ConfigError>) -> Vec<ConfigError> {
    errors.sort_by_key(ConfigError::sort_key);
    errors
}

/// The errors of the names `env` uses (hosts' components, override
/// sections, `[resolver]` entries), without configuring anything.
pub fn check_names(env: &Environment, registry: &Registry) -> Vec<ConfigError> {
    let mut errors = validate(env, registry);
    errors.extend(build_resolver(env, true).1);
    sorted(errors)
}

/// Checks that every name the environment uses exists.
fn validate(env: &Environment, registry: &Registry) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for host in env.hosts.values() {
        for entry in &host.components {
            if !registry.contains(&entry.name) {
                errors.push(ConfigError::UnknownComponent {
                    origin: entry.origin.clone(),
                    host: host.name.clone(),
                    component: entry.name.clone(),
                    known: registry.names(),
                });
            }
        }
    }
    for (name, section) in &env.overrides {
        if !registry.contains(name) {
            errors.push(ConfigError::SuperfluousComponentSection {
                origin: section.origin.clone(),
                component: name.clone(),
                known: registry.names(),
            });
        }
    }
    errors
}

/// The resolver with every valid `[resolver]` entry; invalid ones are
/// returned as errors (and left out, so configuring can go on and report
/// everything else too).
fn build_resolver(env: &Environment, lenient: bool) -> (Arc<Resolver>, Vec<ConfigError>) {
    let mut overrides = ResolverOverrides::new();
    let mut errors = Vec::new();
    for entry in &env.resolver {
        let one = [(entry.host.clone(), entry.value.clone(), entry.origin.line)];
        match ResolverOverrides::parse(one) {
            Ok(parsed) => overrides.extend(parsed),
            Err(bad) => errors.extend(bad.into_iter().map(|b| ConfigError::InvalidIpAddress {
                origin: entry.origin.clone(),
                host: b.host,
                value: b.value,
            })),
        }
    }
    let defaults = AddressDefaults {
        require_v4: env.settings.require_v4,
        require_v6: env.settings.require_v6,
    };
    let resolver = Resolver::system(overrides, defaults);
    let resolver = if lenient {
        resolver.lenient()
    } else {
        resolver
    };
    (Arc::new(resolver), errors)
}

/// How the fixpoint ended for a root that is not configured.
enum Failure {
    Overrides(Vec<OverrideError>),
    Component(Error),
}

struct Engine<'a> {
    env: &'a Environment,
    env_info: &'a EnvironmentInfo,
    registry: &'a Registry,
    templates: Templates,
    mapper: &'a PathMapper,
    resources: RefCell<Resources>,
}

/// What is left after the fixpoint: failures by root, and roots still
/// stale when iteration stopped.
struct Outcome {
    failures: Vec<Option<Failure>>,
    stale: Vec<usize>,
}

impl Engine<'_> {
    fn fixpoint(&self, roots: &mut [Root], options: &ConfigureOptions) -> Outcome {
        let mut failures: Vec<Option<Failure>> = (0..roots.len()).map(|_| None).collect();
        let mut working: Vec<usize> = (0..roots.len()).collect();
        let mut history: Vec<Vec<usize>> = Vec::new();
        // A bound on top of batou's "same working set again" rule, so a
        // pathological model cannot loop for long.
        let max_passes = 2 * roots.len() + 10;
        loop {
            let mut pass = working.clone();
            if options.reverse_iteration {
                pass.reverse();
            }
            for &id in &pass {
                match self.configure_root(&roots[id]) {
                    Ok((tree, (logs, warnings), events)) => {
                        roots[id].tree = Some(tree);
                        roots[id].logs = logs;
                        roots[id].warnings = warnings;
                        roots[id].events = events;
                        failures[id] = None;
                    }
                    Err(f) => {
                        roots[id].tree = None;
                        roots[id].events = Default::default();
                        failures[id] = Some(f);
                    }
                }
            }
            let mut retry = self.resources.borrow().stale_roots();
            retry.extend((0..roots.len()).filter(|i| failures[*i].is_some()));
            retry.sort_unstable();
            retry.dedup();
            if retry.is_empty() {
                return Outcome {
                    failures,
                    stale: Vec::new(),
                };
            }
            history.push(working);
            let repeated = history.iter().position(|w| *w == retry);
            if repeated.is_some() || history.len() >= max_passes {
                // No progress: every root tried since the working set came
                // round again is part of the loop (batou names them all),
                // not only those stale right now. Roots that failed with a
                // real error are reported as that error instead.
                let mut stale = self.resources.borrow().stale_roots();
                if let Some(first) = repeated {
                    stale.extend(history[first..].iter().flatten().copied());
                }
                stale.retain(|id| match &failures[*id] {
                    None | Some(Failure::Component(Error::Retry { .. })) => true,
                    Some(_) => false,
                });
                stale.sort_unstable();
                stale.dedup();
                return Outcome { failures, stale };
            }
            working = retry;
        }
    }

    fn configure_root(
        &self,
        root: &Root,
    ) -> Result<(Node, Said, crate::handlers::RootEvents), Failure> {
        self.resources.borrow_mut().clear_root(root.id);
        let overrides: Vec<Override> = self
            .env
            .overrides
            .get(&root.name)
            .map(|o| {
                o.values
                    .iter()
                    .map(|(key, v)| Override {
                        key: key.clone(),
                        value: v.value.clone(),
                        origin: Some(v.origin.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let host_value = Value::from(Serde(&root.host_info));
        let env_value = environment_value(self.env, self.env_info);
        let workdir = self.env_info.workdir_base.join(&root.name);
        let root_value = minijinja::context! {
            name => &root.name,
            workdir => workdir.to_string_lossy(),
            host => host_value.clone(),
            environment => env_value.clone(),
            features => &root.features,
        };
        let expand = |key: &str, text: &str, component: &Value| {
            // A secret is taken as written: expanded, it would become a
            // string the output masking does not know.
            if self.env.secrets.is_secret_override(&root.name, key) {
                return Ok(text.to_string());
            }
            let ctx = minijinja::context! {
                host => host_value.clone(),
                environment => env_value.clone(),
                component => component.clone(),
            };
            let name = format!("{}.{key}", root.name);
            let out = self
                .templates
                .expand(&name, text, &ctx)
                .map_err(|e| e.message)?;
            self.check_masked(&name, text, &out, &root.host_info, component)?;
            Ok(out)
        };
        let built = match self.registry.build(&root.name, &overrides, &expand) {
            Some(Ok(b)) => b,
            Some(Err(f)) => return Err(Failure::Overrides(f)),
            None => {
                return Err(Failure::Component(Error::msg(format!(
                    "missing component: {}",
                    root.name
                ))));
            }
        };
        let mut component = built.component;
        let scope = Scope {
            registry: self.registry,
            templates: &self.templates,
            env_info: self.env_info,
            host: &root.host_info,
            host_value,
            env_value,
            root_value,
            root_id: root.id,
            root_name: &root.name,
            features: &root.features,
            platform: root.host_info.platform.as_deref(),
            resources: &self.resources,
            mapper: self.mapper,
            shared_mapper: std::sync::Arc::new(self.mapper.clone()),
            logs: RefCell::new(Vec::new()),
            warnings: RefCell::new(Vec::new()),
            events: RefCell::new(crate::handlers::Declared::default()),
            from_secrets: RefCell::default(),
        };
        let breadcrumbs = component.label();
        let mut children = Vec::new();
        let id = scope.events.borrow_mut().new_node();
        {
            let mut ctx = Configure {
                scope: &scope,
                children: &mut children,
                breadcrumbs: breadcrumbs.clone(),
                workdir: workdir.clone(),
                node: id,
                context: built.context,
                pending: Vec::new(),
            };
            component.configure(&mut ctx).map_err(Failure::Component)?;
            ctx.finish(component.as_ref()).map_err(Failure::Component)?;
        }
        scope.events.borrow_mut().node_done(id);
        let logs = (scope.logs.into_inner(), scope.warnings.into_inner());
        let events = scope.events.into_inner().finish();
        Ok((
            Node {
                component,
                children,
                breadcrumbs,
                workdir,
                changed: false,
                id,
            },
            logs,
            events,
        ))
    }

    /// An override that reads a secret (`{{ component.password }}`,
    /// `{{ host.data.token }}` from the secrets) must keep it where the
    /// output masking finds it: verbatim (or upper/lower case, reversed).
    /// Expanded again with every secret changed, the result must differ
    /// only inside the masked parts; a slice or a replacement of a secret
    /// would show in output unmasked, so it is an error.
    fn check_masked(
        &self,
        name: &str,
        text: &str,
        out: &str,
        host: &HostInfo,
        component: &Value,
    ) -> Result<(), String> {
        let masker = self.env.secrets.masker();
        if masker.is_empty() || out == text {
            return Ok(());
        }
        let perturb = |value: serde_json::Value| {
            let mut value = value;
            let changed = masker.perturb_json(&mut value);
            (Value::from(Serde(value)), changed)
        };
        let (component, c) = perturb(serde_json::to_value(component).unwrap_or_default());
        let (host, h) = perturb(serde_json::to_value(host).unwrap_or_default());
        if !c && !h {
            return Ok(());
        }
        let ctx = minijinja::context! {
            host => host,
            environment => Value::from(Serde(self.env_info)),
            component => component,
        };
        let Ok(other) = self.templates.expand(name, text, &ctx) else {
            return Ok(());
        };
        if other == out || masker.redact(out) == masker.perturbed().redact(&other) {
            return Ok(());
        }
        Err("it uses a secret in a form the output masking cannot recognise (a slice, a replacement, ...), so the result would show unmasked; use the secret as it is".into())
    }

    /// `(a, b)` for every root a that required something root b provided.
    fn edges(&self) -> Vec<(usize, usize)> {
        let res = self.resources.borrow();
        let mut edges = Vec::new();
        for sub in res.subscriptions() {
            for (provider, _) in res.query(&sub.key, sub.host.as_deref()) {
                if provider == sub.root {
                    continue;
                }
                edges.push(if sub.reverse {
                    (provider, sub.root)
                } else {
                    (sub.root, provider)
                });
            }
        }
        edges.sort_unstable();
        edges.dedup();
        edges
    }

    fn collect_errors(&self, roots: &[Root], outcome: Outcome) -> Vec<ConfigError> {
        let many = self.env.hosts.len() > 1;
        let mut errors = Vec::new();
        let mut waiting = Vec::new();
        // Roots that failed with an error of their own.
        let mut failed = Vec::new();
        for (id, failure) in outcome.failures.into_iter().enumerate() {
            let root = &roots[id];
            match failure {
                None => {}
                Some(Failure::Component(Error::Retry { .. })) => waiting.push(id),
                Some(Failure::Component(source)) => {
                    failed.push(id);
                    errors.push(ConfigError::Component {
                        host: root.host.clone(),
                        component: root.name.clone(),
                        source,
                    });
                }
                Some(Failure::Overrides(failures)) => {
                    failed.push(id);
                    for f in failures {
                        errors.push(self.override_error(root, f));
                    }
                }
            }
        }
        // The same override problem shows on every host the component is
        // on; report it once.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| match e.origin() {
            Some(o) => seen.insert((o.file.clone(), o.line, e.to_string())),
            None => true,
        });

        let res = self.resources.borrow();
        let mut unsatisfied: Vec<Unsatisfied> = Vec::new();
        for sub in res.subscriptions().iter().filter(|s| s.strict) {
            if !res.query(&sub.key, sub.host.as_deref()).is_empty() {
                continue;
            }
            let who = roots[sub.root].display(many);
            match unsatisfied
                .iter_mut()
                .find(|u| u.key == sub.key && u.host == sub.host)
            {
                Some(u) if !u.required_by.contains(&who) => u.required_by.push(who),
                Some(_) => {}
                None => unsatisfied.push(Unsatisfied {
                    key: sub.key.clone(),
                    host: sub.host.clone(),
                    required_by: vec![who],
                }),
            }
        }
        let explained: Vec<usize> = res
            .subscriptions()
            .iter()
            .filter(|s| s.strict && res.query(&s.key, s.host.as_deref()).is_empty())
            .map(|s| s.root)
            .collect();
        if !unsatisfied.is_empty() {
            errors.push(ConfigError::UnsatisfiedResources {
                resources: unsatisfied,
            });
        }
        let mut unconfigured: Vec<usize> = waiting
            .iter()
            .chain(&outcome.stale)
            .copied()
            .filter(|id| !explained.contains(id))
            .collect();
        unconfigured.sort_unstable();
        unconfigured.dedup();
        if !unconfigured.is_empty() {
            errors.push(ConfigError::NonConvergence {
                components: unconfigured
                    .iter()
                    .map(|i| roots[*i].display(many))
                    .collect(),
            });
        }
        // When roots fail, name every root left unconfigured after their
        // errors, as batou does (its #342: a count alone does not say
        // which): those with errors, those waiting or lacking a resource,
        // those never settled.
        if !failed.is_empty() {
            let mut left: Vec<String> = failed
                .iter()
                .chain(&waiting)
                .chain(&outcome.stale)
                .chain(&explained)
                .map(|i| roots[*i].display(many))
                .collect();
            left.sort();
            left.dedup();
            errors.push(ConfigError::Unconfigured { components: left });
        }

        // A root that failed never said what it requires: what it would
        // have used looks unused. One mistake is one error, so unused
        // resources are reported only when every root configured.
        let mut unused = Vec::new();
        for (key, provider, value) in res.provisions().filter(|_| failed.is_empty()) {
            let provider_host = res.host_of(provider);
            let used = res
                .subscriptions()
                .iter()
                .any(|s| s.key == key && s.host.as_deref().is_none_or(|h| h == provider_host));
            if !used {
                unused.push(Unused {
                    key: key.to_string(),
                    provided_by: roots[provider].display(many),
                    value: value.to_string(),
                });
            }
        }
        if !unused.is_empty() {
            errors.push(ConfigError::UnusedResources { resources: unused });
        }
        errors
    }

    fn override_error(&self, root: &Root, failure: OverrideError) -> ConfigError {
        // Overrides from the environment always carry their origin; the
        // section (or the file) is where to look for any other.
        let section = self.env.overrides.get(&root.name);
        let origin = failure
            .origin
            .clone()
            .or_else(|| section.map(|s| s.origin.clone()))
            .unwrap_or_else(|| Origin::new(&self.env.file, 0, None));
        let host = root.host.clone();
        let component = root.name.clone();
        let text = failure.to_string();
        let key = failure.key;
        // A value from the secrets must not reach the error text, whatever
        // the conversion or template engine quoted of it.
        let scrub = |message: String| {
            if !self.env.secrets.is_secret_override(&root.name, &key) {
                return message;
            }
            let mut message = self.env.secrets.masker().redact(&message).into_owned();
            if let Some(OverrideValue::Text(v)) =
                section.and_then(|s| s.values.get(&key)).map(|v| &v.value)
                && !v.trim().is_empty()
            {
                message = message.replace(v.trim(), crate::secrets::REDACTED);
            }
            message
        };
        match failure.kind {
            OverrideErrorKind::UnknownAttribute { known } => ConfigError::UnknownAttribute {
                origin,
                host,
                component,
                key,
                known,
            },
            OverrideErrorKind::Computed => ConfigError::ComputedAttribute {
                origin,
                host,
                component,
                key,
            },
            OverrideErrorKind::Conversion { message, .. } => ConfigError::Conversion {
                message: scrub(message),
                origin,
                host,
                component,
                key,
            },
            OverrideErrorKind::Expansion { message } => ConfigError::Expansion {
                message: scrub(message),
                origin,
                host,
                component,
                key,
            },
            OverrideErrorKind::NotAStruct | OverrideErrorKind::RoundTrip { .. } => {
                ConfigError::Component {
                    host,
                    component,
                    source: Error::msg(text),
                }
            }
        }
    }
}
