//! The context `Component::configure` gets: adding sub-components,
//! service discovery, templates, paths.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use minijinja::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Component, EnvironmentInfo, HostInfo, Node, Registry, Sub};
use crate::configure::Resources;
use crate::error::{Error, Result};
use crate::template::Templates;
use crate::vfs::PathMapper;

/// A hash of rendered text, to recognise it later.
fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Templates longer than this (in bytes) are warned about, as in batou.
const LARGE_TEMPLATE: usize = 100 * 1024;

/// What one root's configure pass shares between its components.
pub(crate) struct Scope<'a> {
    pub registry: &'a Registry,
    pub templates: &'a Templates,
    pub env_info: &'a EnvironmentInfo,
    pub host: &'a HostInfo,
    pub host_value: Value,
    pub env_value: Value,
    /// What templates see as `component.root`.
    pub root_value: Value,
    pub root_id: usize,
    pub root_name: &'a str,
    pub features: &'a [String],
    pub platform: Option<&'a str>,
    pub resources: &'a RefCell<Resources>,
    pub mapper: &'a PathMapper,
    /// The same, for what templates see (`component.map(..)`).
    pub shared_mapper: std::sync::Arc<PathMapper>,
    pub logs: RefCell<Vec<String>>,
    /// Warnings, once each (see [`Configure::render_template`]).
    pub warnings: RefCell<Vec<String>>,
    /// Event handlers, publications and subscriptions declared so far,
    /// and where each component ends up in the deploy order.
    pub events: RefCell<crate::handlers::Declared>,
    /// Hashes of what templates rendered from secrets (see
    /// [`Configure::rendered_from_secret`]).
    pub from_secrets: RefCell<std::collections::HashSet<u64>>,
}

/// Options for [`Configure::require_with`].
///
/// ```
/// use batou_core::component::Require;
/// // Only values provided by roots on host `db1`; fine if there are none.
/// let r = Require::new().host("db1").optional();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Require {
    host: Option<String>,
    optional: bool,
    reverse: bool,
}

impl Require {
    pub fn new() -> Self {
        Self::default()
    }

    /// Only values provided by roots on this host.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// No provider at the end of configuration is fine (batou's
    /// `strict=False`).
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Deploy the providers *after* this component instead of before.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }
}

/// The context of [`Component::configure`].
pub struct Configure<'a> {
    pub(crate) scope: &'a Scope<'a>,
    pub(crate) children: &'a mut Vec<Node>,
    pub(crate) breadcrumbs: String,
    pub(crate) workdir: PathBuf,
    /// The id of the component being configured (see `Node::id`).
    pub(crate) node: usize,
    /// What templates rendered in this component's configure see as
    /// `component`: the component that added it, as configured.
    pub(crate) context: Value,
    /// Sub-components added but not yet configured (indices into
    /// `children`): they are configured once this component's own
    /// configure has returned, so that they see its final attributes.
    pub(crate) pending: Vec<usize>,
}

impl<'a> Configure<'a> {
    /// The host this component is configured for.
    pub fn host(&self) -> &HostInfo {
        self.scope.host
    }

    pub fn environment(&self) -> &EnvironmentInfo {
        self.scope.env_info
    }

    /// The decrypted whole-file secret `name` (from
    /// `environments/ENV/secret-NAME.age` or `.gpg`), if there is one. See
    /// also [`crate::stdlib::File::secret`].
    pub fn secret_file(&self, name: &str) -> Option<&[u8]> {
        self.scope.env_info.secrets.file(name)
    }

    /// The registered name of the root component, e.g. `nginx`.
    pub fn root_name(&self) -> &str {
        self.scope.root_name
    }

    /// Features from the environment (`nginx:ssl`); empty if none given.
    pub fn features(&self) -> &[String] {
        self.scope.features
    }

    pub fn has_feature(&self, feature: &str) -> bool {
        self.scope.features.iter().any(|f| f == feature)
    }

    /// The host's platform (see `Environment::platform_of`).
    pub fn platform(&self) -> Option<&str> {
        self.scope.platform
    }

    /// `work/<root>` under the project (or as the agent places it).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Where a path given by a component really is: `~` expanded,
    /// relative paths under the workdir, absolute ones through `[vfs]`.
    pub fn map(&self, path: impl AsRef<Path>) -> PathBuf {
        self.scope.mapper.map(&self.workdir, path.as_ref())
    }

    /// `Hello > File('x')`: how this component appears in output.
    pub fn breadcrumbs(&self) -> &str {
        &self.breadcrumbs
    }

    /// Adds a sub-component, deployed before this component. It is
    /// configured when this component's `configure` has returned (so its
    /// templates see this component's final attributes as `component`);
    /// an error it raises there is this component's error. Returns a
    /// handle for [`super::Deploy::changed`].
    pub fn add<C: Component>(&mut self, component: C) -> Result<Sub> {
        self.add_boxed(Box::new(component))
    }

    pub(crate) fn add_boxed(&mut self, component: Box<dyn Component>) -> Result<Sub> {
        let breadcrumbs = format!("{} > {}", self.breadcrumbs, component.label());
        let id = self.scope.events.borrow_mut().new_node();
        self.children.push(Node {
            component,
            children: Vec::new(),
            breadcrumbs,
            workdir: self.workdir.clone(),
            changed: false,
            id,
        });
        let index = self.children.len() - 1;
        self.pending.push(index);
        Ok(Sub { index, node: id })
    }

    /// After `base`'s own configure: adds its platform variant, then
    /// configures the sub-components it added, in order, each seeing
    /// `base` as `component` (or, when `base`'s type is not registered,
    /// what `base` itself saw).
    pub(crate) fn finish(&mut self, base: &dyn Component) -> Result<()> {
        self.add_platform_variant(base)?;
        let context = self
            .scope
            .registry
            .context_of(base)
            .unwrap_or_else(|| self.context.clone());
        for index in std::mem::take(&mut self.pending) {
            let node = &mut self.children[index];
            let mut children = Vec::new();
            {
                let mut child = Configure {
                    scope: self.scope,
                    children: &mut children,
                    breadcrumbs: node.breadcrumbs.clone(),
                    workdir: node.workdir.clone(),
                    node: node.id,
                    context: context.clone(),
                    pending: Vec::new(),
                };
                node.component.configure(&mut child)?;
                child.finish(node.component.as_ref())?;
            }
            node.children = children;
            // Its sub-components are done: this is its place in the
            // deploy order (sub-components deploy before their parent).
            self.scope.events.borrow_mut().node_done(node.id);
        }
        Ok(())
    }

    /// Adds the variant registered for `base`'s type and the host's
    /// platform, as the last sub-component.
    fn add_platform_variant(&mut self, base: &dyn Component) -> Result<()> {
        let Some(platform) = self.scope.platform else {
            return Ok(());
        };
        if let Some(variant) = self.scope.registry.variant_for(base, platform) {
            self.add_boxed(variant)?;
        }
        Ok(())
    }

    /// Offers `value` under `key` to every component of the environment.
    pub fn provide(&mut self, key: &str, value: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| Error::Resource {
            key: key.to_string(),
            message: format!("cannot serialize the provided value: {e}"),
        })?;
        self.scope
            .resources
            .borrow_mut()
            .provide(self.scope.root_id, key, value);
        Ok(())
    }

    /// All values provided under `key`, from every host. Until the
    /// providers are configured this may be empty; the engine configures
    /// this root again once they are, and at the end a `key` nobody
    /// provides is an error.
    pub fn require<T: DeserializeOwned>(&mut self, key: &str) -> Result<Vec<T>> {
        self.require_with(key, Require::new())
    }

    /// [`Configure::require`] with options.
    pub fn require_with<T: DeserializeOwned>(
        &mut self,
        key: &str,
        opts: Require,
    ) -> Result<Vec<T>> {
        let values = self.scope.resources.borrow_mut().subscribe(
            self.scope.root_id,
            key,
            opts.host.as_deref(),
            !opts.optional,
            opts.reverse,
        );
        values
            .into_iter()
            .map(|v| {
                serde_json::from_value(v).map_err(|e| Error::Resource {
                    key: key.to_string(),
                    message: format!("provided value has the wrong shape: {e}"),
                })
            })
            .collect()
    }

    /// Exactly one value for `key`. None yet: this root waits and is
    /// configured again later; several: an error.
    pub fn require_one<T: DeserializeOwned>(&mut self, key: &str) -> Result<T> {
        match self.require_one_with(key, Require::new())? {
            Some(v) => Ok(v),
            None => Err(Error::Retry {
                key: key.to_string(),
            }),
        }
    }

    /// [`Configure::require_one`] with options; `None` only when optional.
    pub fn require_one_with<T: DeserializeOwned>(
        &mut self,
        key: &str,
        opts: Require,
    ) -> Result<Option<T>> {
        let host = opts.host.clone();
        let optional = opts.optional;
        let mut values: Vec<T> = self.require_with(key, opts)?;
        match values.len() {
            0 if optional => Ok(None),
            0 => Err(Error::Retry {
                key: key.to_string(),
            }),
            1 => Ok(values.pop()),
            n => Err(Error::Resource {
                key: key.to_string(),
                message: format!(
                    "expected only one value{}, got {n}",
                    host.map(|h| format!(" on host `{h}`")).unwrap_or_default()
                ),
            }),
        }
    }

    /// Renders a template with `host`, `environment`, `component` and
    /// `batou_generated_header`. `component` is what batou makes it: the
    /// component that added this one (for a `File`, the component whose
    /// `configure` added the file), with the attributes it computed; in
    /// the root's own `configure`, the root as the environment set it.
    pub fn render(&self, name: &str, source: &str) -> Result<String> {
        self.render_template(name, source, None, &[])
    }

    /// Renders with `component` set to `context` (e.g. `self`, to see
    /// values computed in `configure`).
    pub fn render_with(
        &self,
        name: &str,
        source: &str,
        context: &impl Serialize,
    ) -> Result<String> {
        let value = Value::from(minijinja::value::Serde(context));
        self.render_template(name, source, Some(&value), &[])
    }

    /// The general form: an explicit component context and extra variables.
    ///
    /// When `component` or `extra` hold a secret value, the template is
    /// rendered a second time with every secret changed: if the output
    /// changes too, it depends on a secret, however the template
    /// transformed it (`| upper`, a slice, a hash), and a file written
    /// with it is sensitive (its diff hidden, mode 0600).
    pub fn render_template(
        &self,
        name: &str,
        source: &str,
        component: Option<&Value>,
        extra: &[(String, Value)],
    ) -> Result<String> {
        if source.len() > LARGE_TEMPLATE {
            self.warn_large_template(name, source);
        }
        let context = self.template_context(component, extra);
        let text = self
            .scope
            .templates
            .render(name, source, &context)
            .map_err(Error::from)?;
        if let Some((component, extra)) = self.perturbed(component, extra) {
            let context = self.template_context(Some(&component), &extra);
            let other = self.scope.templates.render(name, source, &context);
            if other.ok().as_ref() != Some(&text) {
                self.scope
                    .from_secrets
                    .borrow_mut()
                    .insert(fingerprint(text.as_bytes()));
            }
        }
        Ok(text)
    }

    /// The source of `template`: its text, or the content of its project
    /// file (read from the project on the controller, from what the
    /// controller shipped on an agent). A file that cannot be read is an
    /// error naming the asset and the path, raised in configure, before
    /// anything is deployed.
    pub fn template_source<'t>(
        &self,
        template: &'t crate::template::Template,
    ) -> Result<std::borrow::Cow<'t, str>> {
        if let Some(text) = template.source() {
            return Ok(std::borrow::Cow::Borrowed(text));
        }
        let asset = template.asset().expect("a template is text or an asset");
        let env = self.scope.env_info;
        let text = env
            .assets
            .text(asset, &env.base_dir)
            .map_err(|e| Error::msg(e.to_string()))?;
        Ok(std::borrow::Cow::Owned(text.to_string()))
    }

    /// Renders `template` (see [`Configure::render_template`]).
    pub fn render_template_value(
        &self,
        template: &crate::template::Template,
        component: Option<&Value>,
        extra: &[(String, Value)],
    ) -> Result<String> {
        let source = self.template_source(template)?;
        self.render_template(template.name(), &source, component, extra)
    }

    /// batou warns about templates above 100 KiB (its Jinja could crash on
    /// them). minijinja renders them, but a template that size is usually
    /// data that belongs in a static file; said once per template and root.
    fn warn_large_template(&self, name: &str, source: &str) {
        let message = format!(
            "template {name} is {} bytes ({:.1} KiB), more than 100 KiB: it renders, but consider shipping it as a static file",
            source.len(),
            source.len() as f64 / 1024.0
        );
        let mut warnings = self.scope.warnings.borrow_mut();
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }

    /// Whether `bytes` are what a template rendered from a secret in this
    /// root (see [`Configure::render_template`]).
    pub fn rendered_from_secret(&self, bytes: &[u8]) -> bool {
        let rendered = self.scope.from_secrets.borrow();
        !rendered.is_empty() && rendered.contains(&fingerprint(bytes))
    }

    /// The template context's component and extra variables with every
    /// secret value changed, or `None` when they hold none.
    fn perturbed(
        &self,
        component: Option<&Value>,
        extra: &[(String, Value)],
    ) -> Option<(Value, Vec<(String, Value)>)> {
        let masker = self.scope.env_info.secrets.masker();
        if masker.is_empty() {
            return None;
        }
        let mut changed = false;
        let mut perturb = |value: &Value| {
            let mut json = serde_json::to_value(value).ok()?;
            changed |= masker.perturb_json(&mut json);
            Some(Value::from(minijinja::value::Serde(json)))
        };
        let component = perturb(component.unwrap_or(&self.context))?;
        let extra = extra
            .iter()
            .map(|(k, v)| Some((k.clone(), perturb(v)?)))
            .collect::<Option<Vec<_>>>()?;
        changed.then_some((component, extra))
    }

    /// Expands a short string the same way (no caching).
    pub fn expand(&self, text: &str) -> Result<String> {
        let context = self.template_context(None, &[]);
        self.scope
            .templates
            .expand(&self.breadcrumbs, text, &context)
            .map_err(Error::from)
    }

    /// Expands a shell command line: like [`Configure::expand`], but every
    /// `{{ value }}` is inserted as one quoted shell word, so attribute
    /// values cannot inject commands (see
    /// [`Templates::expand_shell`](crate::template::Templates::expand_shell)).
    pub fn expand_shell(&self, text: &str) -> Result<String> {
        let context = self.template_context(None, &[]);
        self.scope
            .templates
            .expand_shell(&self.breadcrumbs, text, &context)
            .map_err(Error::from)
    }

    fn template_context(&self, component: Option<&Value>, extra: &[(String, Value)]) -> Value {
        let mut map: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        map.insert("host".into(), self.scope.host_value.clone());
        map.insert("environment".into(), self.scope.env_value.clone());
        map.insert(
            "component".into(),
            super::view::ComponentView::value(
                component.cloned().unwrap_or_else(|| self.context.clone()),
                self.workdir.clone(),
                self.scope.shared_mapper.clone(),
                self.scope.root_value.clone(),
            ),
        );
        map.insert(
            "batou_generated_header".into(),
            Value::from(format!(
                "File is generated by batou for component {}. Don't edit manually.",
                self.breadcrumbs
            )),
        );
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
        Value::from(map)
    }

    /// A message shown after configuration (only the final pass's).
    pub fn log(&mut self, message: impl Into<String>) {
        self.scope.logs.borrow_mut().push(message.into());
    }
}
