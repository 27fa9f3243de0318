//! `File` and its parts: `Presence`, `Content`, `Mode`.

use std::path::{Path, PathBuf};

use minijinja::Value;
use serde::Serialize;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::FileKind;

/// A file on the target, with content from a string or a template.
///
/// A composite (batou's `File`): it adds `Content` (or `Presence` when no
/// content is given) and `Mode`. Content is written atomically and only
/// when it differs; a changed file shows a unified diff.
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
///                 .template("app.conf", "port = {{ component.port }}\n")
///                 .context(&*self)
///                 .mode(0o640),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct File {
    path: PathBuf,
    source: Source,
    context: Option<Value>,
    args: Vec<(String, Value)>,
    mode: Option<u32>,
    leading: bool,
    sensitive: Option<bool>,
}

enum Source {
    None,
    Text(String),
    Bytes(Vec<u8>),
    Template {
        name: String,
        source: String,
    },
    /// A whole-file secret, by name.
    Secret(String),
}

impl File {
    /// A file at `path` (relative paths are under the root's workdir).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        File {
            path: path.into(),
            source: Source::None,
            context: None,
            args: Vec::new(),
            mode: None,
            leading: false,
            sensitive: None,
        }
    }

    /// The file's text, used as is.
    pub fn content(mut self, text: impl Into<String>) -> Self {
        self.source = Source::Text(text.into());
        self
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

    /// Renders `source` (named `name` in errors) with batou's template
    /// settings. Use [`crate::asset!`] to compile template files in.
    pub fn template(mut self, name: impl Into<String>, source: impl Into<String>) -> Self {
        self.source = Source::Template {
            name: name.into(),
            source: source.into(),
        };
        self
    }

    /// What templates see as `component` (default: the root's attributes).
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

    /// Permission bits, e.g. `0o640`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Create missing parent directories.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    /// `true`: never show this file's diff; `false`: always show it, even
    /// if it contains a secret. By default the diff is hidden when the old
    /// or the new content contains a secret value.
    pub fn sensitive(mut self, sensitive: bool) -> Self {
        self.sensitive = Some(sensitive);
        self
    }
}

impl Component for File {
    fn label(&self) -> String {
        format!("File('{}')", self.path.display())
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let target = ctx.map(&self.path);
        let mut from_secret = false;
        let wanted = match std::mem::replace(&mut self.source, Source::None) {
            Source::None => None,
            Source::Secret(name) => {
                let bytes = ctx.secret_file(&name).ok_or_else(|| {
                    Error::usage(format!(
                        "no secret file `{name}` (expected environments/{}/secret-{name}.age or .gpg)",
                        ctx.environment().name
                    ))
                })?;
                from_secret = true;
                Some((bytes.to_vec(), std::str::from_utf8(bytes).is_ok()))
            }
            Source::Text(t) => Some((t.into_bytes(), true)),
            Source::Bytes(b) => Some((b, false)),
            Source::Template { name, source } => {
                let text =
                    ctx.render_template(&name, &source, self.context.as_ref(), &self.args)?;
                Some((text.into_bytes(), true))
            }
        };
        if from_secret && self.mode.is_none() {
            self.mode = Some(0o600);
        }
        let sensitive = if from_secret {
            Some(true)
        } else {
            self.sensitive
        };
        match wanted {
            Some((bytes, is_text)) => {
                ctx.add(Content {
                    path: target.clone(),
                    wanted: bytes,
                    is_text,
                    mode: self.mode,
                    leading: self.leading,
                    sensitive,
                })?;
            }
            None => {
                ctx.add(Presence {
                    path: target.clone(),
                    leading: self.leading,
                })?;
            }
        }
        if let Some(mode) = self.mode {
            ctx.add(Mode { path: target, mode })?;
        }
        Ok(())
    }
}

fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Makes sure whatever is at `path` is out of the way of a regular file.
fn clear_non_file(ctx: &Deploy<'_>, path: &Path) -> Result<()> {
    if let Some(stat) = ctx.host().stat(path)?
        && stat.kind != FileKind::File
    {
        ctx.host().remove(path)?;
    }
    Ok(())
}

fn ensure_parent(ctx: &Deploy<'_>, path: &Path, leading: bool) -> Result<()> {
    if let Some(parent) = path.parent()
        && leading
        && !parent.as_os_str().is_empty()
    {
        ctx.host().mkdir(parent, true)?;
    }
    Ok(())
}

/// A regular file exists at `path` (created empty if not).
pub struct Presence {
    pub path: PathBuf,
    pub leading: bool,
}

impl Component for Presence {
    fn label(&self) -> String {
        format!("Presence('{}')", base_name(&self.path))
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let stat = ctx.host().stat(&self.path)?;
        Ok(Verdict::update_if(
            !stat.is_some_and(|s| s.kind == FileKind::File),
        ))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ensure_parent(ctx, &self.path, self.leading)?;
        clear_non_file(ctx, &self.path)?;
        ctx.host().write(&self.path, b"", None)?;
        Ok(())
    }
}

/// The bytes of the file at `path`.
pub struct Content {
    pub path: PathBuf,
    pub wanted: Vec<u8>,
    pub is_text: bool,
    pub mode: Option<u32>,
    pub leading: bool,
    /// `Some(true)`: never diff; `Some(false)`: always diff; `None`: hide
    /// the diff when the old or new content contains a secret.
    pub sensitive: Option<bool>,
}

impl Component for Content {
    fn label(&self) -> String {
        format!("Content('{}')", base_name(&self.path))
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let stat = ctx.host().stat(&self.path)?;
        let is_file = stat.as_ref().is_some_and(|s| s.kind == FileKind::File);
        let current = match stat {
            Some(_) if is_file => ctx.host().read(&self.path)?.unwrap_or_default(),
            Some(_) => {
                ctx.log(format!(
                    "{} is not a regular file; it will be replaced",
                    self.path.display()
                ));
                Vec::new()
            }
            None => Vec::new(),
        };
        // Only a regular file can be up to date: empty wanted content must
        // not match a directory (read as empty) in the way.
        if is_file && current == self.wanted {
            return Ok(Verdict::UpToDate);
        }
        let label = base_name(&self.path);
        let sensitive = self.sensitive.unwrap_or_else(|| {
            let masker = ctx.environment().secrets.masker();
            masker.is_sensitive_bytes(&current) || masker.is_sensitive_bytes(&self.wanted)
        });
        if sensitive {
            ctx.hide_diff(label, "Not showing diff as it contains sensitive data.");
        } else if !self.is_text {
            ctx.hide_diff(label, "Not showing diff for binary data.");
        } else {
            match (
                std::str::from_utf8(&current),
                std::str::from_utf8(&self.wanted),
            ) {
                (Ok(old), Ok(new)) => {
                    let lines = crate::diff::unified(old, new);
                    if !lines.is_empty() {
                        ctx.show_diff(label, lines);
                    }
                }
                _ => ctx.hide_diff(label, "Not showing diff for binary data."),
            }
        }
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ensure_parent(ctx, &self.path, self.leading)?;
        clear_non_file(ctx, &self.path)?;
        ctx.host().write(&self.path, &self.wanted, self.mode)?;
        Ok(())
    }
}

/// The permission bits of `path`.
pub struct Mode {
    pub path: PathBuf,
    pub mode: u32,
}

impl Component for Mode {
    fn label(&self) -> String {
        format!("Mode('{}')", base_name(&self.path))
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        if self.mode > 0o7777 {
            return Err(Error::usage(format!(
                "mode {:o} is out of range",
                self.mode
            )));
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let stat = ctx.host().stat(&self.path)?;
        Ok(match stat {
            // chmod on a symlink would change its target; batou leaves
            // symlinks alone too.
            Some(s) if s.kind == FileKind::Symlink => Verdict::UpToDate,
            Some(s) => Verdict::update_if(s.mode != self.mode),
            None => Verdict::NeedsUpdate,
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.host().chmod(&self.path, self.mode)?;
        Ok(())
    }
}
