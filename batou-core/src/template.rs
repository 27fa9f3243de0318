//! Templates: minijinja with batou's settings — `@@` line statements, the
//! trailing newline kept, and strict undefined (a misspelt variable is an
//! error, not an empty string).
//!
//! Template sources are project files read at run time ([`crate::assets`])
//! or text given in code; each one is parsed once per process and cached
//! by name and content.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::assets::Asset;

/// A template: a name (for errors) and its source, given as text or as an
/// asset of the project ([`crate::asset!`], read at run time). A `(name,
/// source)` pair converts into one.
///
/// ```
/// use batou_core::template::Template;
/// let t: Template = ("motd", "Hello {{ host.name }}\n").into();
/// assert_eq!(t.name(), "motd");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    name: Cow<'static, str>,
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Text(Cow<'static, str>),
    Asset(Asset),
}

impl Template {
    /// A template given as text, usable in `const` tables
    /// ([`crate::stdlib::Assets`]).
    pub const fn inline(name: &'static str, source: &'static str) -> Self {
        Template {
            name: Cow::Borrowed(name),
            source: Source::Text(Cow::Borrowed(source)),
        }
    }

    /// A file of the project, read when the template is rendered (what
    /// [`crate::asset!`] expands to).
    pub const fn from_asset(asset: Asset) -> Self {
        Template {
            name: Cow::Borrowed(asset.name),
            source: Source::Asset(asset),
        }
    }

    pub fn new(name: impl Into<Cow<'static, str>>, source: impl Into<Cow<'static, str>>) -> Self {
        Template {
            name: name.into(),
            source: Source::Text(source.into()),
        }
    }

    /// The name errors show, e.g. `templates/nginx.conf`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The source when it was given as text; `None` for an asset, whose
    /// content [`crate::component::Configure::template_source`] reads.
    pub fn source(&self) -> Option<&str> {
        match &self.source {
            Source::Text(t) => Some(t),
            Source::Asset(_) => None,
        }
    }

    /// The project file this template is read from, if it is one.
    pub fn asset(&self) -> Option<&Asset> {
        match &self.source {
            Source::Asset(a) => Some(a),
            Source::Text(_) => None,
        }
    }
}

impl<N, S> From<(N, S)> for Template
where
    N: Into<Cow<'static, str>>,
    S: Into<Cow<'static, str>>,
{
    fn from((name, source): (N, S)) -> Self {
        Template::new(name, source)
    }
}

/// A template that failed to parse or render.
#[derive(Debug, Clone, thiserror::Error)]
#[error("error while rendering template {name}{}: {message}", .line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct TemplateError {
    /// The template's name (a file name, or the component and key for
    /// expanded attribute strings).
    pub name: String,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn from_minijinja(name: &str, err: &minijinja::Error) -> Self {
        let mut message = err.kind().to_string();
        if let Some(detail) = err.detail() {
            message = format!("{message}: {detail}");
        }
        // minijinja wraps errors raised by objects (e.g. a failed DNS
        // lookup in `address.listen`); their text is the useful part.
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        TemplateError {
            name: name.to_string(),
            line: err.line(),
            message,
        }
    }
}

/// For an undefined name (`` `component.lable` is undefined ``), the
/// closest name that `context` has at that place: "did you mean
/// `component.label`?". Names only, never values.
fn undefined_hint(err: &minijinja::Error, context: &Value) -> Option<String> {
    if err.kind() != minijinja::ErrorKind::UndefinedError {
        return None;
    }
    let detail = err.detail()?;
    let path = detail.split('`').nth(1)?;
    // Subscripts (`host['x']`, `items[0]`) are left alone.
    if path.contains(['[', '(', ' ']) {
        return None;
    }
    let mut segments: Vec<&str> = path.split('.').collect();
    let name = segments.pop()?;
    let mut here = context.clone();
    for s in &segments {
        here = here.get_attr(s).ok().filter(|v| !v.is_undefined())?;
    }
    if here.kind() != minijinja::value::ValueKind::Map {
        return None;
    }
    let known: Vec<String> = here
        .try_iter()
        .ok()?
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let close = crate::error::closest(name, &known)?;
    let prefix: String = segments.iter().map(|s| format!("{s}.")).collect();
    Some(format!("did you mean `{prefix}{close}`?"))
}

/// `err` as a [`TemplateError`], with a suggestion for a misspelt name.
fn template_error(name: &str, err: &minijinja::Error, context: &Value) -> TemplateError {
    let mut e = TemplateError::from_minijinja(name, err);
    if let Some(hint) = undefined_hint(err, context) {
        e.message = format!("{}; {hint}", e.message);
    }
    e
}

/// The template engine of one deployment run.
pub struct Templates {
    env: RwLock<Environment<'static>>,
    /// The same settings, but every `{{ value }}` is shell-quoted: for
    /// command lines (see [`Templates::expand_shell`]).
    shell: Environment<'static>,
    /// The sources added so far, by template name.
    known: RwLock<HashMap<String, Vec<String>>>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut shell = batou_environment();
        shell.set_formatter(shell_quoting_formatter);
        Templates {
            env: RwLock::new(batou_environment()),
            shell,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// Expands a shell command line: every `{{ expression }}` becomes one
    /// shell word, quoted, so an attribute value such as `$(rm -rf /)` or
    /// `x; reboot` is passed as text and never runs. A value meant as
    /// shell syntax is marked `{{ value | safe }}`.
    ///
    /// ```
    /// # use batou_core::template::Templates;
    /// let t = Templates::new();
    /// let ctx = minijinja::context! { name => "a b; touch /tmp/x" };
    /// assert_eq!(
    ///     t.expand_shell("cmd", "echo {{ name }}", &ctx).unwrap(),
    ///     "echo 'a b; touch /tmp/x'"
    /// );
    /// assert_eq!(
    ///     t.expand_shell("cmd", "{{ '> out' | safe }}", &ctx).unwrap(),
    ///     "> out"
    /// );
    /// ```
    pub fn expand_shell(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("@@") {
            return Ok(source.to_string());
        }
        self.shell
            .render_str(source, context)
            .map_err(|e| template_error(name, &e, context))
    }

    /// Renders `source` (named `name` in errors) with `context`.
    pub fn render(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, TemplateError> {
        let key = self.key(name, source, |key| {
            let mut env = self.env.write().unwrap_or_else(|p| p.into_inner());
            env.add_template_owned(key.to_string(), source.to_string())
                .map_err(|e| TemplateError::from_minijinja(name, &e))
        })?;
        let env = self.env.read().unwrap_or_else(|p| p.into_inner());
        let template = env
            .get_template(&key)
            .map_err(|e| TemplateError::from_minijinja(name, &e))?;
        template
            .render(context)
            .map_err(|e| template_error(name, &e, context))
    }

    /// Expands a short string, e.g. an override value, without caching it.
    pub fn expand(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("@@") {
            return Ok(source.to_string());
        }
        let env = self.env.read().unwrap_or_else(|p| p.into_inner());
        env.render_str(source, context)
            .map_err(|e| template_error(name, &e, context))
    }
}

/// minijinja with batou's settings.
fn batou_environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .line_statement_prefix("@@")
        .keep_trailing_newline(true)
        .build()
        .expect("the @@ line statement prefix is a valid syntax config");
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja names the expression behind an undefined value
    // (`` `host.data.role` is undefined ``) only in debug mode, which it
    // turns on just for debug builds: a deployment runs optimised. The
    // tracking costs nothing until a value is undefined.
    env.set_debug(true);
    env.add_function(
        "expand",
        |state: &minijinja::State<'_, '_>, text: String| expand(state, &text),
    );
    env
}

/// The attributes a template reads as `component.NAME`; `None` when it
/// reads `component` otherwise (whole, or `component[...]`). A textual
/// scan: minijinja's `undeclared_variables` misses reads inside slices
/// and calls, and reading too much here only orders more.
pub(crate) fn component_references(source: &str) -> Option<Vec<String>> {
    if !reads_name(source, "component") {
        return Some(Vec::new());
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    // Only the code: `{{ ... }}`, `{% ... %}` and `@@` lines, not the text.
    let mut code = String::new();
    let mut rest = source;
    while let Some(open) = rest.find(['{', '@']) {
        let tail = &rest[open..];
        let close = if tail.starts_with("{{") {
            "}}"
        } else if tail.starts_with("{%") {
            "%}"
        } else if tail.starts_with("@@") {
            "\n"
        } else {
            rest = &tail[1..];
            continue;
        };
        let end = tail.find(close).map_or(tail.len(), |e| e + close.len());
        code.push_str(&tail[..end]);
        code.push(' ');
        rest = &tail[end..];
    }
    let source = code.as_str();
    let mut names = Vec::new();
    for (at, _) in source.match_indices("component") {
        if source[..at].chars().next_back().is_some_and(ident) {
            continue;
        }
        let rest = &source[at + "component".len()..];
        if rest.starts_with(ident) {
            continue;
        }
        let name: String = match rest.strip_prefix('.') {
            Some(after) => after.chars().take_while(|c| ident(*c)).collect(),
            None => return None,
        };
        if name.is_empty() {
            return None;
        }
        names.push(name);
    }
    names.sort();
    names.dedup();
    Some(names)
}

/// Whether `source` may read the variable `name` (a cheap textual test
/// before parsing).
pub(crate) fn reads_name(source: &str, name: &str) -> bool {
    (source.contains("{{") || source.contains("{%") || source.contains("@@"))
        && source.contains(name)
}

/// `expand(text)` in a template: renders `text` as a template with the
/// same `host`, `environment` and `component` (batou's `expand`), e.g. a
/// host data value that is itself a template.
pub(crate) fn expand(
    state: &minijinja::State<'_, '_>,
    text: &str,
) -> Result<String, minijinja::Error> {
    let context = minijinja::context! {
        host => state.lookup("host"),
        environment => state.lookup("environment"),
        component => state.lookup("component"),
    };
    state.env().render_str(text, context)
}

/// Writes each value as one quoted shell word (values marked safe as
/// they are).
fn shell_quoting_formatter(
    out: &mut minijinja::Output<'_>,
    _state: &mut minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let written = if value.is_safe() {
        write!(out, "{value}")
    } else {
        write!(out, "{}", crate::transport::quote(&value.to_string()))
    };
    written.map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

impl Templates {
    /// The engine's name for `source` under `name` (`name#N`, one per
    /// distinct source given that name), adding it through `add` the first
    /// time. Rendering the same template for a thousand files looks it up
    /// by name and compares the source, which costs far less than hashing
    /// it each time.
    fn key(
        &self,
        name: &str,
        source: &str,
        add: impl FnOnce(&str) -> Result<(), TemplateError>,
    ) -> Result<String, TemplateError> {
        let find = |known: &HashMap<String, Vec<String>>| {
            known
                .get(name)
                .and_then(|sources| sources.iter().position(|s| s == source))
                .map(|i| format!("{name}#{i}"))
        };
        if let Some(key) = self.known.read().ok().and_then(|k| find(&k)) {
            return Ok(key);
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = find(&known) {
            return Ok(key);
        }
        let sources = known.entry(name.to_string()).or_default();
        let key = format!("{name}#{}", sources.len());
        add(&key)?;
        sources.push(source.to_string());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn keeps_trailing_newline_and_line_statements() {
        let t = Templates::new();
        let out = t
            .render(
                "t",
                "@@ for i in items\n{{ i }}\n@@ endfor\n",
                &context! { items => vec![1, 2] },
            )
            .unwrap();
        assert_eq!(out, "1\n2\n");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = Templates::new();
        let err = t
            .render("greeting.j2", "a\n{{ nope }}\n", &context! {})
            .unwrap_err();
        assert_eq!(err.name, "greeting.j2");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("undefined"), "{}", err.message);
    }

    #[test]
    fn undefined_names_are_named_with_the_closest_known_one() {
        let t = Templates::new();
        let ctx = context! {
            host => context! { name => "web1", data => context! { role => "db" } },
            component => context! { label => "x", port => 80 },
        };
        let hint = |source: &str| t.render("t", source, &ctx).unwrap_err().message;
        assert_eq!(
            hint("{{ component.lable }}"),
            "undefined value: `component.lable` is undefined; did you mean `component.label`?"
        );
        assert!(
            hint("{{ host.data.rol }}").ends_with("did you mean `host.data.role`?"),
            "{}",
            hint("{{ host.data.rol }}")
        );
        assert!(hint("{{ hots.name }}").ends_with("did you mean `host`?"));
        // Nothing close: the name alone.
        assert_eq!(
            hint("{{ zzzzzzzz }}"),
            "undefined value: `zzzzzzzz` is undefined"
        );
        // Expanded strings (overrides) get the same.
        let e = t.expand("c.k", "{{ component.prot }}", &ctx).unwrap_err();
        assert!(
            e.message.ends_with("did you mean `component.port`?"),
            "{}",
            e.message
        );
    }

    #[test]
    fn component_references_name_the_attributes_read() {
        let refs = |s: &str| {
            component_references(s).map(|mut v| {
                v.sort();
                v
            })
        };
        assert_eq!(refs("plain"), Some(vec![]));
        assert_eq!(refs("{{ host.name }}"), Some(vec![]));
        assert_eq!(
            refs("{{ component.port }}:{{ component.label[2:] }} {{ component.a.b }}"),
            Some(vec!["a".to_string(), "label".into(), "port".into()])
        );
        assert_eq!(refs("{{ component }}"), None);
        // The word in the text is no read.
        assert_eq!(refs("the component on {{ host.name }}"), Some(vec![]));
        assert_eq!(
            refs("@@ if component.x\ncomponent\n@@ endif\n"),
            Some(vec!["x".into()])
        );
    }

    #[test]
    fn shell_expansion_quotes_every_value() {
        let t = Templates::new();
        let hostile = [
            "$(touch /tmp/pwned)",
            "; rm -rf /",
            "`id`",
            "it's",
            "\"quoted\"",
            "two\nlines",
            "",
            "a b",
            "*",
        ];
        for value in hostile {
            let out = t
                .expand_shell("cmd", "printf %s {{ v }}", &context! { v => value })
                .unwrap();
            let word = out.strip_prefix("printf %s ").unwrap();
            // One word that the shell turns back into exactly the value.
            let echoed = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("printf %s {word}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&echoed.stdout), value, "{out}");
        }
        // Plain words stay readable.
        assert_eq!(
            t.expand_shell("cmd", "ls {{ d }}", &context! { d => "/srv/app-1.0" })
                .unwrap(),
            "ls /srv/app-1.0"
        );
    }

    #[test]
    fn same_name_different_source_is_not_confused() {
        let t = Templates::new();
        assert_eq!(t.render("x", "a", &context! {}).unwrap(), "a");
        assert_eq!(t.render("x", "b", &context! {}).unwrap(), "b");
    }
}
