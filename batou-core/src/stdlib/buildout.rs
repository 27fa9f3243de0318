//! `Buildout`: a zc.buildout installation (batou's `batou.lib.buildout`):
//! a virtual environment with zc.buildout and setuptools pinned, a
//! `buildout.cfg`, and `bin/buildout -c buildout.cfg`, run only when what
//! goes into it changed.
//!
//! batou decides with modification times (`.installed.cfg` and a success
//! marker newer than the configuration), which misses a change that keeps
//! the time (a file put back from a copy) and runs buildout again for a
//! touched but unchanged file. Here, as for [`super::Build`], a stamp in the
//! buildout directory records a digest of everything that goes into the
//! run: the configuration as written, the pins, the environment and the
//! watched files' contents. It is written (atomically) only after buildout
//! succeeded and removed before a run, so a failed run is tried again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::component::{Component, Configure, Deploy, Sub, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;
use crate::stdlib::{File, Requirements, VirtualEnv};

/// The stamp's name in the buildout directory.
const STAMP: &str = ".batou-buildout";
/// The requirements file of the environment's pins.
const REQUIREMENTS: &str = ".batou-buildout-requirements.txt";
/// What `bin/buildout` does (`-c` of the environment's python; buildout's
/// `main` exits non-zero on an error).
const RUN: &str = "import sys; from zc.buildout.buildout import main; main(sys.argv[1:])";

/// A buildout in the workdir (or [`Buildout::dir`]): a virtual
/// environment made from Python [`Buildout::python`] with
/// `zc.buildout==VERSION`, `setuptools` and (optionally) `wheel` pinned and
/// installed from the configured index or find-links, the configuration
/// (by default `buildout.cfg` from the component's template, as batou; or
/// any [`File`] given to [`Buildout::config`]), then
/// `bin/buildout -t TIMEOUT -c CONFIG` in that directory (run as the
/// environment's `bin/python` calling buildout's main).
///
/// Buildout runs again only when the configuration as written, the pins,
/// the environment, or a [`Buildout::watch`]ed file changed, when the
/// virtual environment was made again, when `.installed.cfg` is gone, or
/// when the last run failed.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::{Buildout, File};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Zope;
///
/// impl Component for Zope {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Buildout::new("3.3")
///                 .setuptools("69.5.1")
///                 .wheel("0.43.0")
///                 .python("3.11")
///                 .config(File::new("buildout.cfg").content(
///                     "[buildout]\nparts =\nextends = versions.cfg\n",
///                 ))
///                 .watch("versions.cfg")
///                 .find_links("/srv/wheels")
///                 .no_index(),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct Buildout {
    version: String,
    setuptools: Option<String>,
    wheel: Option<String>,
    python: String,
    executable: Option<String>,
    dir: Option<PathBuf>,
    config: Option<File>,
    watch: Vec<PathBuf>,
    find_links: Vec<String>,
    index_url: Option<String>,
    no_index: bool,
    env: Vec<(String, String)>,
    timeout: Option<Duration>,
    // Set in configure.
    resolved: Option<Resolved>,
}

struct Resolved {
    dir: PathBuf,
    config: PathBuf,
    watch: Vec<PathBuf>,
    venv: Sub,
    file: Sub,
}

impl Buildout {
    /// A buildout with zc.buildout `version` (an exact version, e.g.
    /// `3.3`).
    pub fn new(version: impl Into<String>) -> Self {
        Buildout {
            version: version.into(),
            setuptools: None,
            wheel: None,
            python: "3".into(),
            executable: None,
            dir: None,
            config: None,
            watch: Vec::new(),
            find_links: Vec::new(),
            index_url: None,
            no_index: false,
            env: Vec::new(),
            timeout: None,
            resolved: None,
        }
    }

    /// Required: the exact setuptools version (buildout depends on it; an
    /// unpinned one changes under the buildout).
    pub fn setuptools(mut self, version: impl Into<String>) -> Self {
        self.setuptools = Some(version.into());
        self
    }

    /// The exact wheel version, if the buildout needs wheel.
    pub fn wheel(mut self, version: impl Into<String>) -> Self {
        self.wheel = Some(version.into());
        self
    }

    /// The Python version of the environment (default `3`; see
    /// [`VirtualEnv::new`]).
    pub fn python(mut self, version: impl Into<String>) -> Self {
        self.python = version.into();
        self
    }

    /// The interpreter to make the environment from (default
    /// `python{version}` from the `PATH`).
    pub fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// The buildout directory, which is also the environment's (default:
    /// the workdir, as batou).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The configuration file (default: `File::new("buildout.cfg")`, the
    /// component's `buildout.cfg` template); its path is what `-c` gets.
    pub fn config(mut self, file: File) -> Self {
        self.config = Some(file);
        self
    }

    /// Another file that goes into the run (an `extends`-ed
    /// configuration, a versions file): a change of its content runs
    /// buildout again. A missing file counts as a content of its own.
    pub fn watch(mut self, path: impl Into<PathBuf>) -> Self {
        self.watch.push(path.into());
        self
    }

    /// A directory or URL of wheels for pip (`--find-links`), repeatable.
    pub fn find_links(mut self, place: impl Into<String>) -> Self {
        self.find_links.push(place.into());
        self
    }

    /// The package index for pip (`--index-url`).
    pub fn index_url(mut self, url: impl Into<String>) -> Self {
        self.index_url = Some(url.into());
        self
    }

    /// No package index: only [`Buildout::find_links`] (offline).
    pub fn no_index(mut self) -> Self {
        self.no_index = true;
        self
    }

    /// An environment variable of the buildout run (batou's
    /// `build_env`); taken literally.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A limit for the buildout run (default: the environment's
    /// `command_timeout`, else none). Buildout's own `-t` (its socket
    /// timeout) is the environment's `timeout`, as batou.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::usage(format!("{}: {why}", self.label())));
        let exact = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+!-".contains(c))
        };
        if !exact(&self.version) {
            return bad(format!(
                "invalid zc.buildout version {:?} (an exact version, e.g. 3.3)",
                self.version
            ));
        }
        match &self.setuptools {
            None => {
                return bad("a setuptools version is required (.setuptools(\"69.5.1\"))".into());
            }
            Some(v) if !exact(v) => return bad(format!("invalid setuptools version {v:?}")),
            Some(_) => {}
        }
        if let Some(v) = &self.wheel
            && !exact(v)
        {
            return bad(format!("invalid wheel version {v:?}"));
        }
        if self.no_index && self.find_links.is_empty() {
            return bad("no_index without find_links: pip would find nothing".into());
        }
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
        if let Some(dir) = &self.dir
            && dir.as_os_str().is_empty()
        {
            return bad("the directory is empty".into());
        }
        Ok(())
    }

    fn requirements(&self, dir: &Path) -> Requirements {
        let mut text = format!("zc.buildout=={}\n", self.version);
        for (name, pin) in [("setuptools", &self.setuptools), ("wheel", &self.wheel)] {
            if let Some(v) = pin {
                text.push_str(&format!("{name}=={v}\n"));
            }
        }
        let mut r = Requirements::new(dir.join(REQUIREMENTS)).content(text);
        for place in &self.find_links {
            r = r.find_links(place.clone());
        }
        if let Some(url) = &self.index_url {
            r = r.index_url(url.clone());
        }
        if self.no_index {
            r = r.no_index();
        }
        r
    }

    fn resolved(&self) -> Result<&Resolved> {
        self.resolved
            .as_ref()
            .ok_or_else(|| Error::msg("Buildout used before configure"))
    }

    /// Everything that goes into the run, as one digest: the pins, the
    /// environment, and the configuration's and watched files' contents
    /// as they are on the target now.
    fn digest(&self, ctx: &Deploy<'_>, r: &Resolved) -> Result<String> {
        let mut h = Sha256::new();
        let mut field = |tag: &str, value: &[u8]| {
            h.update(tag.as_bytes());
            h.update(b"\0");
            h.update(value.len().to_le_bytes());
            h.update(value);
        };
        field("zc.buildout", self.version.as_bytes());
        field(
            "setuptools",
            self.setuptools.as_deref().unwrap_or("").as_bytes(),
        );
        field("wheel", self.wheel.as_deref().unwrap_or("").as_bytes());
        for (key, value) in &self.env {
            field("env", format!("{key}={value}").as_bytes());
        }
        for path in std::iter::once(&r.config).chain(&r.watch) {
            field("path", path.display().to_string().as_bytes());
            match ctx.host().read(path)? {
                Some(bytes) => field("content", &bytes),
                None => field("missing", b""),
            }
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl Component for Buildout {
    fn label(&self) -> String {
        format!("Buildout('{}')", self.version)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.check()?;
        // Sub-components map their paths themselves: they get them as
        // given.
        let given = self.dir.clone().unwrap_or_default();
        let dir = ctx.map(self.dir.clone().unwrap_or_else(|| ctx.workdir().into()));
        let mut venv = VirtualEnv::new(self.python.clone()).requirements(self.requirements(&given));
        if let Some(exe) = &self.executable {
            venv = venv.executable(exe.clone());
        }
        if let Some(d) = &self.dir {
            venv = venv.dir(d.clone());
        }
        let venv = ctx.add(venv)?;
        let file = self
            .config
            .take()
            .unwrap_or_else(|| File::new(given.join("buildout.cfg")));
        let config = ctx.map(file.path());
        let file = ctx.add(file)?;
        let watch = self.watch.iter().map(|p| ctx.map(p)).collect();
        self.resolved = Some(Resolved {
            dir,
            config,
            watch,
            venv,
            file,
        });
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let r = self.resolved()?;
        let mut why = Vec::new();
        match ctx.host().read(&r.dir.join(STAMP))? {
            None => why.push("not run yet (or the last run failed)".to_string()),
            Some(d) if d != self.digest(ctx, r)?.as_bytes() => {
                why.push("the configuration, pins, environment or a watched file changed".into())
            }
            Some(_) => {}
        }
        if ctx.changed(r.file) {
            why.push("the configuration changes".into());
        }
        if ctx.changed(r.venv) {
            why.push("the virtual environment changes".into());
        }
        if ctx.host().stat(&r.dir.join(".installed.cfg"))?.is_none() {
            why.push(".installed.cfg is missing".into());
        }
        let needed = !why.is_empty();
        for reason in why {
            ctx.log(reason);
        }
        Ok(Verdict::update_if(needed))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let r = self.resolved()?;
        let stamp = r.dir.join(STAMP);
        // No stamp while running: a failed or interrupted run is retried.
        ctx.host().remove(&stamp)?;
        let digest = self.digest(ctx, r)?;
        // The environment's python runs buildout's main rather than
        // `bin/buildout`: that script is rewritten by each run and may be
        // gone (drift) while zc.buildout is installed.
        let argv = vec![
            r.dir.join("bin/python").display().to_string(),
            "-c".to_string(),
            RUN.to_string(),
            "-t".to_string(),
            ctx.timeout().as_secs().to_string(),
            "-c".to_string(),
            r.config.display().to_string(),
        ];
        let mut spec = CommandSpec::argv(argv).cwd(&r.dir);
        for (key, value) in &self.env {
            spec = spec.env(key.clone(), value.clone());
        }
        if let Some(timeout) = self.timeout {
            spec = spec.timeout(timeout);
        }
        ctx.run(&spec)?;
        if ctx.host().stat(&r.dir.join(".installed.cfg"))?.is_none() {
            return Err(Error::msg(format!(
                "{}: buildout succeeded but wrote no .installed.cfg in {}",
                self.label(),
                r.dir.display()
            )));
        }
        ctx.host().write(&stamp, digest.as_bytes(), Some(0o644))?;
        Ok(())
    }
}
