//! `File`: batou's composite for a path on the target.
//!
//! # What a `File` adds
//!
//! | ensure | parts, in order |
//! |---|---|
//! | file (default) | `Content`, `Mode`, `Owner`, `Group` |
//! | [`File::ensure_directory`] | `Directory` (with `leading`, `mode`), `Owner`, `Group` |
//! | [`File::symlink_to`] | `Symlink`, `Owner`, `Group` (lchown: the link itself) |
//!
//! batou adds `Mode` before `Content`; here `Content` comes first, because
//! the atomic write creates the file with its mode in one step and a later
//! `Mode` only repairs drift.
//!
//! # The implicit source, from an asset table
//!
//! In batou a `File` with neither `content` nor `source` renders
//! `<defdir>/<basename>` as a template. Here a component has no directory
//! of its own to look in; the equivalent is an asset table ([`crate::assets!`]) handed to [`File::assets`]: a `File`
//! without content takes the asset whose base name is the file's base name
//! and renders it as a template. Without such an asset (or table) it is a
//! configuration error in batou's words: `Missing implicit template file
//! NAME ... Or did you want to create an empty file? Then use
//! File::new("PATH").content("").` An empty file is asked for with
//! [`File::empty`] (or `.content("")`); a file that only has to exist,
//! whatever its content, is [`super::Presence`].

use std::path::{Path, PathBuf};

use minijinja::Value;
use serde::Serialize;

use super::content::{Content, base_name};
use super::mode::{Mode, ModeSpec};
use super::owner::{Group, Owner, Principal};
use super::structured::{Data, Format};
use super::{Directory, Symlink};
use crate::component::{Component, Configure};
use crate::error::{Error, Result};
use crate::template::Template;

/// A table of templates (project files, or text), see [`crate::assets!`].
pub type Assets = &'static [Template];

/// A file on the target, with content from a string, bytes, a template, a
/// secret or structured data; or a directory or a symlink.
///
/// Content is written atomically and only when it differs; a changed file
/// shows a unified diff.
///
/// ```
/// use batou_core::prelude::*;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct App { port: u16 }
///
/// impl Component for App {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             File::new("app.conf")
///                 .template(("app.conf", "port = {{ component.port }}\n"))
///                 .mode("rw-r-----"),
///         )?;
///         ctx.add(File::new("logs").ensure_directory().mode(0o750))?;
///         ctx.add(File::new("current").symlink_to("releases/1"))?;
///         Ok(())
///     }
/// }
/// ```
pub struct File {
    path: PathBuf,
    ensure: Ensure,
    source: Source,
    assets: Option<Assets>,
    context: Option<Value>,
    args: Vec<(String, Value)>,
    mode: Option<ModeSpec>,
    owner: Option<Principal>,
    group: Option<Principal>,
    leading: bool,
    sensitive: Option<bool>,
    replace_directory: bool,
}

enum Ensure {
    File,
    Directory,
    Symlink(PathBuf),
}

enum Source {
    None,
    Text(String),
    Bytes(Vec<u8>),
    Template(Template),
    /// A whole-file secret, by name.
    Secret(String),
    Structured(Data, Format),
}

impl File {
    /// A file at `path` (relative paths are under the root's workdir).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        File {
            path: path.into(),
            ensure: Ensure::File,
            source: Source::None,
            assets: None,
            context: None,
            args: Vec::new(),
            mode: None,
            owner: None,
            group: None,
            leading: false,
            sensitive: None,
            replace_directory: false,
        }
    }

    /// The file's text, used as is.
    pub fn content(mut self, text: impl Into<String>) -> Self {
        self.source = Source::Text(text.into());
        self
    }

    /// An empty file (batou's `content=''`): existing content is removed.
    pub fn empty(self) -> Self {
        self.content("")
    }

    /// Binary content; never diffed.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.source = Source::Bytes(bytes.into());
        self
    }

    /// The content of the whole-file secret `name`
    /// (`environments/ENV/secret-NAME.age`). Unless [`File::mode`] says
    /// otherwise the file is written with mode 0600, and its diff is never
    /// shown.
    pub fn secret(mut self, name: impl Into<String>) -> Self {
        self.source = Source::Secret(name.into());
        self
    }

    /// Renders a template with batou's settings; `component` in it is the
    /// component that added this file (see [`File::context`]). Use
    /// [`crate::asset!`] for a template file of the project (read at run
    /// time, see [`crate::assets`]).
    pub fn template(mut self, template: impl Into<Template>) -> Self {
        self.source = Source::Template(template.into());
        self
    }

    /// Where the implicit template comes from when no content is given:
    /// the asset with this file's base name (see the module docs).
    pub fn assets(mut self, assets: Assets) -> Self {
        self.assets = Some(assets);
        self
    }

    /// `data` as JSON, keys sorted, indented by four spaces (batou's
    /// `JSONContent`); [`File::override_with`] deep-merges over it.
    pub fn json(mut self, data: impl Serialize) -> Self {
        self.source = Source::Structured(Data::new(data), Format::Json { readable: true });
        self
    }

    /// `data` as compact JSON on one line.
    pub fn json_compact(mut self, data: impl Serialize) -> Self {
        self.source = Source::Structured(Data::new(data), Format::Json { readable: false });
        self
    }

    /// `data` as TOML, keys sorted.
    pub fn toml(mut self, data: impl Serialize) -> Self {
        self.source = Source::Structured(Data::new(data), Format::Toml);
        self
    }

    /// `data` as YAML, block style, keys sorted (batou's `YAMLContent`).
    pub fn yaml(mut self, data: impl Serialize) -> Self {
        self.source = Source::Structured(Data::new(data), Format::Yaml);
        self
    }

    /// Deep-merges `value` over the data of [`File::json`] /
    /// [`File::toml`] / [`File::yaml`] (batou's `dict_merge`: objects recursively, arrays
    /// concatenated). Without structured data it is a configuration error.
    pub fn override_with(mut self, value: impl Serialize) -> Self {
        match &mut self.source {
            Source::Structured(data, _) => data.merge(value),
            _ => {
                // Reported in configure, where errors can be returned.
                self.source = Source::Structured(
                    Data::failed("override_with needs json(..), toml(..) or yaml(..) data first"),
                    Format::Toml,
                );
            }
        }
        self
    }

    /// What templates see as `component`, instead of the component that
    /// added this file (batou's default; see [`crate::component::Configure::render`]).
    pub fn context(mut self, component: &impl Serialize) -> Self {
        self.context = Some(Value::from(minijinja::value::Serde(component)));
        self
    }

    /// An extra template variable.
    pub fn arg(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.args
            .push((name.into(), Value::from(minijinja::value::Serde(value))));
        self
    }

    /// Permission bits: `0o640`, `"640"`, `"0o640"` or `"rw-r-----"`.
    pub fn mode(mut self, mode: impl Into<ModeSpec>) -> Self {
        self.mode = Some(mode.into());
        self
    }

    /// The owning user, by name or uid; resolved when deploying.
    pub fn owner(mut self, owner: impl Into<Principal>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The owning group, by name or gid; resolved when deploying.
    pub fn group(mut self, group: impl Into<Principal>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Create missing parent directories.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    /// A directory where the file (or symlink) goes is removed, with
    /// everything in it. Without this, a directory holding anything in
    /// the way is an error naming it (batou deletes the tree silently).
    pub fn replace_directory(mut self) -> Self {
        self.replace_directory = true;
        self
    }

    /// A directory instead of a file (batou's `ensure='directory'`).
    pub fn ensure_directory(mut self) -> Self {
        self.ensure = Ensure::Directory;
        self
    }

    /// A symlink pointing at `target` (batou's `ensure='symlink'`,
    /// `link_to`).
    pub fn symlink_to(mut self, target: impl Into<PathBuf>) -> Self {
        self.ensure = Ensure::Symlink(target.into());
        self
    }

    /// `true`: never show this file's diff; `false`: always show it, even
    /// if it contains a secret. By default the diff is hidden when the old
    /// or the new content contains a secret value.
    pub fn sensitive(mut self, sensitive: bool) -> Self {
        self.sensitive = Some(sensitive);
        self
    }

    /// The bytes to write and whether they are text.
    fn wanted(&mut self, ctx: &mut Configure<'_>) -> Result<(Vec<u8>, bool)> {
        Ok(match std::mem::replace(&mut self.source, Source::None) {
            Source::None => {
                let template = self.implicit_source()?;
                let text =
                    ctx.render_template_value(template, self.context.as_ref(), &self.args)?;
                (text.into_bytes(), true)
            }
            Source::Secret(name) => {
                let bytes = ctx.secret_file(&name).ok_or_else(|| {
                    Error::usage(format!(
                        "no secret file `{name}` (expected environments/{}/secret-{name}.age or .gpg)",
                        ctx.environment().name
                    ))
                })?;
                if self.mode.is_none() {
                    self.mode = Some(ModeSpec::Bits(0o600));
                }
                // A secret's diff is never shown, whatever `sensitive` says.
                self.sensitive = Some(true);
                (bytes.to_vec(), std::str::from_utf8(bytes).is_ok())
            }
            Source::Text(t) => (t.into_bytes(), true),
            Source::Bytes(b) => (b, false),
            Source::Template(template) => {
                let text =
                    ctx.render_template_value(&template, self.context.as_ref(), &self.args)?;
                (text.into_bytes(), true)
            }
            Source::Structured(data, format) => (data.render(format)?.into_bytes(), true),
        })
    }

    /// batou's implicit template, looked up in the asset table.
    fn implicit_source(&self) -> Result<&'static Template> {
        let name = base_name(&self.path);
        let found = self.assets.and_then(|assets| {
            assets
                .iter()
                .find(|t| base_name(std::path::Path::new(t.name())) == name)
        });
        if let Some(template) = found {
            return Ok(template);
        }
        let looked = match self.assets {
            Some(assets) => format!(
                " among the assets [{}]",
                assets
                    .iter()
                    .map(Template::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => " (no asset table given with .assets(batou_core::assets![..]))".to_string(),
        };
        Err(Error::usage(format!(
            "Missing implicit template file {name}{looked}. Or did you want to create an \
             empty file? Then use File::new(\"{}\").content(\"\").",
            self.path.display()
        )))
    }

    fn add_ownership(&self, ctx: &mut Configure<'_>) -> Result<()> {
        if let Some(owner) = &self.owner {
            ctx.add(Owner::new(self.path.clone(), owner.clone()))?;
        }
        if let Some(group) = &self.group {
            ctx.add(Group::new(self.path.clone(), group.clone()))?;
        }
        Ok(())
    }

    /// The path as given (unmapped): for a component that runs a program
    /// on the file it added (Buildout's `-c`).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn refuse_content(&self, what: &str) -> Result<()> {
        if matches!(self.source, Source::None) {
            Ok(())
        } else {
            Err(Error::usage(format!(
                "{what} has no content: drop content/template/bytes/secret/json/toml"
            )))
        }
    }
}

impl Component for File {
    fn label(&self) -> String {
        format!("File('{}')", self.path.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        // Sub-components map `self.path` themselves (mapping twice would
        // re-prefix a `[vfs]` sandbox).
        match std::mem::replace(&mut self.ensure, Ensure::File) {
            Ensure::Directory => {
                self.refuse_content("a directory")?;
                let mut dir = Directory::new(self.path.clone()).leading(self.leading);
                if let Some(mode) = &self.mode {
                    dir = dir.mode(mode.clone());
                }
                ctx.add(dir)?;
            }
            Ensure::Symlink(target) => {
                self.refuse_content("a symlink")?;
                if self.mode.is_some() {
                    return Err(Error::usage(
                        "a symlink has no mode of its own (Linux has no lchmod): drop .mode(..)",
                    ));
                }
                let mut link = Symlink::new(self.path.clone(), target);
                if self.replace_directory {
                    link = link.replace_directory();
                }
                ctx.add(link)?;
            }
            Ensure::File => {
                let (wanted, is_text) = self.wanted(ctx)?;
                // Checked before anything is added, so a bad mode fails
                // configure, not the deploy.
                let mode = self.mode.as_ref().map(ModeSpec::resolve).transpose()?;
                let mut content = Content::new(ctx.map(&self.path), wanted, is_text);
                content.mode = mode;
                content.leading = self.leading;
                content.sensitive = self.sensitive;
                content.replace_directory = self.replace_directory;
                ctx.add(content)?;
                if let Some(mode) = mode {
                    ctx.add(Mode::new(self.path.clone(), mode))?;
                }
            }
        }
        self.add_ownership(ctx)
    }
}
