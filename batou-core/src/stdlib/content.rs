//! The parts of a regular file: `Presence` (it exists) and `Content` (its
//! bytes, with a diff when they change).

use std::path::{Path, PathBuf};

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::Result;
use crate::host::{FileKind, Stat};

/// The last path component, as labels and diffs show it.
pub(crate) fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Makes sure whatever is at `path` is out of the way of a regular file.
/// A directory that holds anything is only removed with `replace_dir`
/// (see [`check_not_a_tree`]).
fn clear_non_file(ctx: &Deploy<'_>, path: &Path, replace_dir: bool) -> Result<()> {
    if let Some(stat) = ctx.host().stat(path)?
        && stat.kind != FileKind::File
    {
        if stat.kind == FileKind::Directory {
            check_not_a_tree(ctx, path, replace_dir)?;
        }
        ctx.host().remove(path)?;
    }
    Ok(())
}

/// A file never silently takes the place of a directory holding files:
/// that would delete the whole tree. Refused unless the component says
/// `.replace_directory()`.
pub(crate) fn check_not_a_tree(ctx: &Deploy<'_>, path: &Path, replace_dir: bool) -> Result<()> {
    let entries = ctx.host().read_dir(path)?.map_or(0, |names| names.len());
    if entries == 0 || replace_dir {
        return Ok(());
    }
    Err(crate::error::Error::usage(format!(
        "{} is a directory holding {entries} entr{}; refusing to replace it with a file \
         (say .replace_directory() if the tree is to go)",
        path.display(),
        if entries == 1 { "y" } else { "ies" }
    )))
}

pub(crate) fn ensure_parent(ctx: &Deploy<'_>, path: &Path, leading: bool) -> Result<()> {
    if let Some(parent) = path.parent()
        && leading
        && !parent.as_os_str().is_empty()
    {
        ctx.host().mkdir(parent, true)?;
    }
    Ok(())
}

/// A regular file exists at `path` (created empty if not; existing content
/// is kept). Anything else in the way (a symlink, an empty directory) is
/// replaced; a directory holding files only with
/// [`Presence::replace_directory`].
///
/// ```
/// use batou_core::stdlib::Presence;
/// let marker = Presence::new("var/initialized").leading(true);
/// ```
pub struct Presence {
    path: PathBuf,
    target: PathBuf,
    leading: bool,
    replace_dir: bool,
}

impl Presence {
    /// `path` is mapped like every other path (relative → workdir).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Presence {
            target: path.clone(),
            path,
            leading: false,
            replace_dir: false,
        }
    }

    /// Create missing parent directories.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    /// A directory in the way is removed with everything in it.
    pub fn replace_directory(mut self) -> Self {
        self.replace_dir = true;
        self
    }
}

impl Component for Presence {
    fn label(&self) -> String {
        format!("Presence('{}')", base_name(&self.path))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.target = ctx.map(&self.path);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let stat = ctx.host().stat(&self.target)?;
        if stat.as_ref().is_some_and(|s| s.kind == FileKind::Directory) {
            check_not_a_tree(ctx, &self.target, self.replace_dir)?;
        }
        Ok(Verdict::update_if(
            !stat.is_some_and(|s| s.kind == FileKind::File),
        ))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ensure_parent(ctx, &self.target, self.leading)?;
        clear_non_file(ctx, &self.target, self.replace_dir)?;
        ctx.host().write(&self.target, b"", None)?;
        Ok(())
    }
}

/// The bytes of the file at `path` (an already mapped path: `File`,
/// `JsonContent` and `TomlContent` build it).
///
/// Content that holds a secret (the masker finds one in it, or a template
/// rendered it from a secret) is written with mode 0600 unless `mode`
/// says otherwise, and an existing file with such content that others may
/// read is narrowed to 0600.
pub struct Content {
    pub path: PathBuf,
    pub wanted: Vec<u8>,
    pub is_text: bool,
    /// `None`: the existing file's mode, else 0644 (0600 for content that
    /// holds a secret).
    pub mode: Option<u32>,
    pub leading: bool,
    /// `Some(true)`: never diff; `Some(false)`: always diff; `None`: hide
    /// the diff when the old or new content holds a secret.
    pub sensitive: Option<bool>,
    /// A directory at `path` is removed with everything in it (otherwise
    /// one that holds anything is an error).
    pub replace_directory: bool,
    /// A template rendered `wanted` from a secret (found in `configure`).
    from_secret: bool,
    /// What `verify` found at `path` (`Some(None)`: nothing), for `update`.
    seen: Option<Option<Stat>>,
    /// `verify` found the content right but readable by others: `update`
    /// only narrows the mode.
    narrow: bool,
}

impl Content {
    /// The file at `path` (already mapped) with `wanted` as its bytes,
    /// diffed as text when `is_text`; no mode of its own, no missing
    /// parents created, a diff hidden only when it shows a secret.
    pub fn new(path: PathBuf, wanted: Vec<u8>, is_text: bool) -> Self {
        Content {
            path,
            wanted,
            is_text,
            mode: None,
            leading: false,
            sensitive: None,
            replace_directory: false,
            from_secret: false,
            seen: None,
            narrow: false,
        }
    }

    /// Whether the wanted content holds a secret.
    fn holds_secret(&self, ctx: &Deploy<'_>) -> bool {
        self.from_secret
            || ctx
                .environment()
                .secrets
                .masker()
                .is_sensitive_bytes(&self.wanted)
    }

    /// The mode to write: the one asked for, else 0600 for a secret (else
    /// the write keeps the existing file's, or 0644).
    fn write_mode(&self, secret: bool) -> Option<u32> {
        self.mode.or(secret.then_some(SECRET_MODE))
    }
}

/// The mode of a file whose content holds a secret, unless the component
/// gives one.
pub const SECRET_MODE: u32 = 0o600;

impl Component for Content {
    fn label(&self) -> String {
        format!("Content('{}')", base_name(&self.path))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.from_secret = ctx.rendered_from_secret(&self.wanted);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.narrow = false;
        let secret = self.holds_secret(ctx);
        let stat = ctx.host().stat(&self.path)?;
        let is_file = stat.as_ref().is_some_and(|s| s.kind == FileKind::File);
        let current = match &stat {
            Some(_) if is_file => ctx.host().read(&self.path)?.unwrap_or_default(),
            Some(s) => {
                if s.kind == FileKind::Directory {
                    check_not_a_tree(ctx, &self.path, self.replace_directory)?;
                }
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
            // A secret others may read (written by an older batou, or
            // chmodded since) is narrowed, unless a mode was asked for.
            let wide = stat.as_ref().is_some_and(|s| s.mode & 0o077 != 0);
            if secret && self.mode.is_none() && wide {
                self.narrow = true;
                ctx.log(format!(
                    "{}: holds a secret; mode narrowed to {SECRET_MODE:04o}",
                    self.path.display()
                ));
                return Ok(Verdict::NeedsUpdate);
            }
            return Ok(Verdict::UpToDate);
        }
        self.seen = Some(stat);
        let sensitive = self.sensitive.or(self.from_secret.then_some(true));
        show_change(
            ctx,
            base_name(&self.path),
            &current,
            &self.wanted,
            self.is_text,
            sensitive,
        );
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let mode = self.write_mode(self.holds_secret(ctx));
        if std::mem::take(&mut self.narrow) {
            ctx.host().chmod(&self.path, SECRET_MODE)?;
            return Ok(());
        }
        ensure_parent(ctx, &self.path, self.leading)?;
        // `update` follows `verify` at once; what it saw is still there
        // (and should it not be, the write is still atomic).
        match self.seen.take() {
            Some(seen) if seen.as_ref().is_none_or(|s| s.kind == FileKind::File) => {
                ctx.host()
                    .write_seen(&self.path, &self.wanted, mode, seen.as_ref())?;
            }
            _ => {
                clear_non_file(ctx, &self.path, self.replace_directory)?;
                ctx.host().write(&self.path, &self.wanted, mode)?;
            }
        }
        Ok(())
    }
}

/// Shows the diff from `current` to `wanted`, or says why it is hidden.
/// The diff only ever goes into an event: nothing is written to disk (see
/// [`crate::diff`]).
pub(crate) fn show_change(
    ctx: &mut Deploy<'_>,
    label: String,
    current: &[u8],
    wanted: &[u8],
    is_text: bool,
    sensitive: Option<bool>,
) {
    let sensitive = sensitive.unwrap_or_else(|| {
        let masker = ctx.environment().secrets.masker();
        masker.is_sensitive_bytes(current) || masker.is_sensitive_bytes(wanted)
    });
    if sensitive {
        ctx.hide_diff(label, "Not showing diff as it contains sensitive data.");
        return;
    }
    match (
        is_text,
        std::str::from_utf8(current),
        std::str::from_utf8(wanted),
    ) {
        (true, Ok(old), Ok(new)) => {
            let lines = crate::diff::unified(old, new);
            if !lines.is_empty() {
                ctx.show_diff(label, lines);
            }
        }
        _ => ctx.hide_diff(label, "Not showing diff for binary data."),
    }
}
