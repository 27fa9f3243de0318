//! `Build`: configure, make, make install from a downloaded source archive
//! (batou's `cmmi.Build`), rebuilt only when what goes into it changed.
//!
//! batou decides with marker files newer than `config.status` and the
//! `Makefile`, which misses a change of the configure arguments or of the
//! build environment (its own source says "not convergent when changing
//! args"). Here a stamp in the source directory records a digest of
//! everything that goes into the build: the archive's checksum, the
//! prefix, the configure arguments, the environment and make's arguments.
//! It is written (atomically) only after `make install` succeeded and
//! removed before a build starts, so a failed build is tried again on the
//! next deploy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::component::{Component, Configure, Deploy, Sub, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;
use crate::stdlib::archive::Format;
use crate::stdlib::checksum::mask_url;
use crate::stdlib::{Download, Extract};

/// The stamp's name in the source directory.
const STAMP: &str = ".batou-build";

/// Downloads `url` (checked against [`Build::checksum`]), extracts it
/// (its top directory stripped, as batou), and runs
/// `./configure --prefix=PREFIX ARGS`, `make` and `make install` in the
/// source directory with the given environment.
///
/// The build runs again only when the archive's checksum, the prefix, the
/// configure or make arguments or the environment changed, when a file of
/// the archive in the source directory was changed (and put back), when
/// the prefix is gone, or when one of the [`Build::creates`] files is
/// missing. A failed build leaves no stamp, so the next deploy tries
/// again.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Build;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Redis;
///
/// impl Component for Redis {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Build::new("https://example.org/src/tool-1.2.tar.gz")
///                 .checksum("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
///                 .prefix("/srv/tool")
///                 .configure_args(["--disable-docs"])
///                 .env("CFLAGS", "-O2")
///                 .creates("bin/tool"),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct Build {
    url: String,
    checksum: String,
    prefix: Option<PathBuf>,
    source: Option<PathBuf>,
    configure: bool,
    configure_args: Vec<String>,
    make_args: Vec<String>,
    env: Vec<(String, String)>,
    creates: Vec<PathBuf>,
    timeout: Option<Duration>,
    // Set in configure.
    resolved: Option<Resolved>,
}

struct Resolved {
    prefix: PathBuf,
    source: PathBuf,
    extract: Sub,
    creates: Vec<PathBuf>,
    digest: String,
}

impl Build {
    /// Builds from the archive at `url` (http or https; `.tar.gz`,
    /// `.tgz`, `.tar.xz`, `.tar.bz2`, `.tar` or `.zip`).
    pub fn new(url: impl Into<String>) -> Self {
        Build {
            url: url.into(),
            checksum: String::new(),
            prefix: None,
            source: None,
            configure: true,
            configure_args: Vec::new(),
            make_args: Vec::new(),
            env: Vec::new(),
            creates: Vec::new(),
            timeout: None,
            resolved: None,
        }
    }

    /// Required: the archive's `sha256:<hex>` or `sha512:<hex>` (see
    /// [`Download::checksum`]).
    pub fn checksum(mut self, checksum: impl Into<String>) -> Self {
        self.checksum = checksum.into();
        self
    }

    /// Where `make install` puts things (`--prefix`; default: the
    /// workdir, as batou).
    pub fn prefix(mut self, dir: impl Into<PathBuf>) -> Self {
        self.prefix = Some(dir.into());
        self
    }

    /// The source directory the archive is extracted into (default: the
    /// archive's name without its suffix, in the workdir).
    pub fn source_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.source = Some(dir.into());
        self
    }

    /// Arguments of `./configure` after `--prefix` (each one argument: no
    /// shell splits or expands them).
    pub fn configure_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.configure_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A project without a `configure` script: only `make` and
    /// `make install` (the prefix is given to make as `PREFIX=`).
    pub fn without_configure(mut self) -> Self {
        self.configure = false;
        self
    }

    /// Arguments of both `make` and `make install` (e.g. `-j2`).
    pub fn make_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.make_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable of the build (batou's
    /// `build_environment`), e.g. `CFLAGS`; taken literally.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A file (relative to the prefix, or absolute) that `make install`
    /// creates: if it is missing, the build runs again, and a build that
    /// does not create it fails.
    pub fn creates(mut self, path: impl Into<PathBuf>) -> Self {
        self.creates.push(path.into());
        self
    }

    /// A limit for each of configure, make and make install (default:
    /// the environment's `command_timeout`, else none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn resolved(&self) -> Result<&Resolved> {
        self.resolved
            .as_ref()
            .ok_or_else(|| Error::msg("Build used before configure"))
    }

    /// The archive's file name from the URL, checked to be one we can
    /// extract.
    fn archive_name(&self) -> Result<(String, String)> {
        let shown = mask_url(&self.url);
        let url = url::Url::parse(&self.url)
            .map_err(|e| Error::usage(format!("Build: {shown:?} is not a valid URL: {e}")))?;
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or_default()
            .to_string();
        match Format::from_name(&name) {
            Some((_, stem)) if !stem.is_empty() => Ok((name.clone(), stem.to_string())),
            _ => Err(Error::usage(format!(
                "Build {shown}: the URL does not end in an archive name \
                 (.tar.gz, .tgz, .tar.xz, .tar.bz2, .tar or .zip)"
            ))),
        }
    }

    fn check(&self) -> Result<()> {
        let shown = mask_url(&self.url);
        let bad = |why: String| Err(Error::usage(format!("Build {shown}: {why}")));
        for (key, value) in &self.env {
            if key.is_empty()
                || key.starts_with(|c: char| c.is_ascii_digit())
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return bad(format!("invalid environment variable name `{key}`"));
            }
            if value.contains('\0') {
                return bad(format!("the value of `{key}` contains a NUL byte"));
            }
        }
        for arg in self.configure_args.iter().chain(&self.make_args) {
            if arg.is_empty() || arg.contains('\0') {
                return bad(format!(
                    "invalid argument {arg:?} (empty or with a NUL byte)"
                ));
            }
        }
        if let Some(prefix) = &self.prefix
            && prefix.as_os_str().is_empty()
        {
            return bad("the prefix is empty".into());
        }
        Ok(())
    }

    /// Everything that goes into the build, as one digest.
    fn digest(&self, prefix: &Path) -> String {
        let mut h = Sha256::new();
        let mut field = |tag: &str, value: &str| {
            h.update(tag.as_bytes());
            h.update(b"\0");
            h.update(value.len().to_le_bytes());
            h.update(value.as_bytes());
        };
        field("checksum", self.checksum.trim());
        field("prefix", &prefix.display().to_string());
        field("configure", if self.configure { "yes" } else { "no" });
        for arg in &self.configure_args {
            field("configure-arg", arg);
        }
        for arg in &self.make_args {
            field("make-arg", arg);
        }
        for (key, value) in &self.env {
            field("env", &format!("{key}={value}"));
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn command(&self, r: &Resolved, argv: Vec<String>) -> CommandSpec {
        let mut spec = CommandSpec::argv(argv).cwd(&r.source);
        for (key, value) in &self.env {
            spec = spec.env(key.clone(), value.clone());
        }
        if let Some(timeout) = self.timeout {
            spec = spec.timeout(timeout);
        }
        spec
    }
}

impl Component for Build {
    fn label(&self) -> String {
        match self.archive_name() {
            Ok((name, _)) => format!("Build('{name}')"),
            Err(_) => format!("Build('{}')", mask_url(&self.url)),
        }
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let (archive, stem) = self.archive_name()?;
        self.check()?;
        let source = ctx.map(self.source.clone().unwrap_or_else(|| stem.into()));
        let prefix = ctx.map(self.prefix.clone().unwrap_or_else(|| ctx.workdir().into()));
        ctx.add(Download::new(self.url.clone()).checksum(self.checksum.clone()))?;
        let extract = ctx.add(Extract::new(archive).target(source.clone()).strip(1))?;
        let creates = self.creates.iter().map(|p| prefix.join(p)).collect();
        self.resolved = Some(Resolved {
            digest: self.digest(&prefix),
            prefix,
            source,
            extract,
            creates,
        });
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let r = self.resolved()?;
        let recorded = ctx.host().read(&r.source.join(STAMP))?;
        let mut why = Vec::new();
        match recorded {
            None => why.push("not built yet (or the last build failed)".to_string()),
            Some(d) if d != r.digest.as_bytes() => {
                why.push("the archive, prefix, arguments or environment changed".into())
            }
            Some(_) => {}
        }
        if ctx.changed(r.extract) {
            why.push("the source directory was extracted anew".into());
        }
        if ctx.host().stat(&r.prefix)?.is_none() {
            why.push(format!("the prefix {} does not exist", r.prefix.display()));
        }
        for path in &r.creates {
            if ctx.host().stat(path)?.is_none() {
                why.push(format!("{} is missing", path.display()));
            }
        }
        let needed = !why.is_empty();
        for reason in why {
            ctx.log(reason);
        }
        Ok(Verdict::update_if(needed))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let r = self.resolved()?;
        let stamp = r.source.join(STAMP);
        // No stamp while building: a failed or interrupted build is
        // retried.
        ctx.host().remove(&stamp)?;
        let prefix = r.prefix.display().to_string();
        if self.configure {
            if ctx.host().stat(&r.source.join("configure"))?.is_none() {
                return Err(Error::usage(format!(
                    "{}: there is no configure script in {} (for a project without one: .without_configure())",
                    self.label(),
                    r.source.display()
                )));
            }
            let mut argv = vec!["./configure".to_string(), format!("--prefix={prefix}")];
            argv.extend(self.configure_args.iter().cloned());
            ctx.run(&self.command(r, argv))?;
        }
        for target in [None, Some("install")] {
            let mut argv = vec!["make".to_string()];
            argv.extend(self.make_args.iter().cloned());
            if !self.configure {
                argv.push(format!("PREFIX={prefix}"));
            }
            argv.extend(target.map(String::from));
            ctx.run(&self.command(r, argv))?;
        }
        for path in &r.creates {
            if ctx.host().stat(path)?.is_none() {
                return Err(Error::msg(format!(
                    "{}: make install did not create {}",
                    self.label(),
                    path.display()
                )));
            }
        }
        ctx.host().write(&stamp, r.digest.as_bytes(), Some(0o644))?;
        Ok(())
    }
}
