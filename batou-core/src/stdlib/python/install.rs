//! pip installs into a [`super::VirtualEnv`]: [`Requirements`] and
//! [`Package`], both run by one component, idempotent through a marker
//! and a pin check that start no pip process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;
use crate::stdlib::File;

/// Prints `name: wanted, installed` for every pin (argv: name, version,
/// name, version, ...) that is not installed at that version.
const PIN_CHECK: &str = "import sys\n\
    from importlib.metadata import version, PackageNotFoundError\n\
    args = sys.argv[1:]\n\
    for name, wanted in zip(args[::2], args[1::2]):\n\
    \x20   try:\n\
    \x20       have = version(name)\n\
    \x20   except PackageNotFoundError:\n\
    \x20       have = 'missing'\n\
    \x20   if have != wanted:\n\
    \x20       print('%s: %s wanted, %s installed' % (name, wanted, have))\n";

/// pip's settings, shared by both kinds of install.
#[derive(Default, Clone)]
struct Pip {
    find_links: Vec<String>,
    index_url: Option<String>,
    extra_index_urls: Vec<String>,
    no_index: bool,
    no_deps: bool,
    options: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Option<u64>,
}

macro_rules! pip_settings {
    ($t:ty) => {
        impl $t {
            /// A directory or URL of wheels and archives to find packages
            /// in (`--find-links`).
            pub fn find_links(mut self, place: impl Into<String>) -> Self {
                self.pip.find_links.push(place.into());
                self
            }

            /// The package index (`--index-url`; given to pip through
            /// its environment, so credentials in it are not on a command
            /// line).
            pub fn index_url(mut self, url: impl Into<String>) -> Self {
                self.pip.index_url = Some(url.into());
                self
            }

            /// Another package index (`--extra-index-url`, also through
            /// the environment).
            pub fn extra_index_url(mut self, url: impl Into<String>) -> Self {
                self.pip.extra_index_urls.push(url.into());
                self
            }

            /// No package index at all: only [`Self::find_links`]
            /// (`--no-index`).
            pub fn no_index(mut self) -> Self {
                self.pip.no_index = true;
                self
            }

            /// Install without dependencies (`--no-deps`), as for a
            /// complete lock file.
            pub fn no_deps(mut self) -> Self {
                self.pip.no_deps = true;
                self
            }

            /// Another `pip install` argument (batou's `install_options`).
            pub fn option(mut self, arg: impl Into<String>) -> Self {
                self.pip.options.push(arg.into());
                self
            }

            /// An environment variable of pip (batou's `env`).
            pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.pip.env.push((key.into(), value.into()));
                self
            }

            /// pip's network timeout in seconds (default: the
            /// environment's `timeout`).
            pub fn timeout(mut self, secs: u64) -> Self {
                self.pip.timeout = Some(secs);
                self
            }
        }
    };
}

/// A requirements or lock file installed into a [`super::VirtualEnv`]
/// with `pip install -r` (pip settings as for [`Package`]).
///
/// The file is on the target (a path, mapped as usual), or written there
/// from [`Requirements::content`] first.
pub struct Requirements {
    path: PathBuf,
    content: Option<String>,
    pip: Pip,
}

impl Requirements {
    /// The requirements file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Requirements {
            path: path.into(),
            content: None,
            pip: Pip::default(),
        }
    }

    /// Writes the file with this text before installing it.
    pub fn content(mut self, text: impl Into<String>) -> Self {
        self.content = Some(text.into());
        self
    }
}

pip_settings!(Requirements);

/// One package installed into a [`super::VirtualEnv`] with
/// `pip install NAME==VERSION` (batou's `python.Package`).
pub struct Package {
    name: String,
    version: Option<String>,
    pip: Pip,
}

impl Package {
    /// The package `name`; a [`Package::version`] is required.
    pub fn new(name: impl Into<String>) -> Self {
        Package {
            name: name.into(),
            version: None,
            pip: Pip::default(),
        }
    }

    /// The exact version to install.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
}

pip_settings!(Package);

enum Source {
    /// A requirements file: its path and, if the component writes it,
    /// its text.
    File {
        path: PathBuf,
        content: Option<String>,
    },
    /// `name==version` (checked in configure).
    Pin { name: String, version: String },
}

/// The component that installs either.
pub(super) struct Install {
    source: Source,
    pip: Pip,
    venv: PathBuf,
    /// The digest to record and where, found in verify.
    plan: Option<(String, PathBuf)>,
}

impl From<Requirements> for Install {
    fn from(r: Requirements) -> Self {
        Install {
            source: Source::File {
                path: r.path,
                content: r.content,
            },
            pip: r.pip,
            venv: PathBuf::new(),
            plan: None,
        }
    }
}

impl From<Package> for Install {
    fn from(p: Package) -> Self {
        Install {
            source: Source::Pin {
                name: p.name,
                version: p.version.unwrap_or_default(),
            },
            pip: p.pip,
            venv: PathBuf::new(),
            plan: None,
        }
    }
}

/// A requirement name (PEP 508: letters, digits, `-_.`).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The `name==version` pins among requirement lines (comments, options,
/// markers and hashes aside); other lines (ranges, URLs, `-e`) are
/// covered by the marker's digest only.
fn pins(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let line = line.split(';').next().unwrap_or("");
            let line = line.split(" --").next().unwrap_or("").trim();
            let (name, version) = line.split_once("==")?;
            let name = name.split('[').next().unwrap_or("").trim();
            let version = version.trim();
            let plain = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.+!".contains(c))
            };
            (is_name(name) && plain(version) && !version.contains('*'))
                .then(|| (name.to_string(), version.to_string()))
        })
        .collect()
}

impl Install {
    /// Installs without dependencies (a lock file is complete).
    pub(super) fn locked(mut self) -> Self {
        self.pip.no_deps = true;
        self
    }

    /// Maps the file's path and adds the `File` that writes it, if any:
    /// for a requirements file used outside a `VirtualEnv`.
    pub(super) fn configure_file(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        Component::configure(self, ctx)
    }

    pub fn into_venv(mut self, dir: &Path) -> Self {
        self.venv = dir.to_path_buf();
        self
    }

    /// The pip arguments after `install`, and its extra environment.
    pub(super) fn args(&self, ctx: &Deploy<'_>) -> (Vec<String>, Vec<(String, String)>) {
        let pip = &self.pip;
        let timeout = pip.timeout.unwrap_or(ctx.timeout().as_secs());
        let mut args = vec![
            "--disable-pip-version-check".to_string(),
            "--no-input".to_string(),
            format!("--timeout={timeout}"),
        ];
        if pip.no_index {
            args.push("--no-index".into());
        }
        for place in &pip.find_links {
            args.push(format!("--find-links={place}"));
        }
        if pip.no_deps {
            args.push("--no-deps".into());
        }
        args.extend(pip.options.iter().cloned());
        let mut env = pip.env.clone();
        if let Some(url) = &pip.index_url {
            env.push(("PIP_INDEX_URL".into(), url.clone()));
        }
        if !pip.extra_index_urls.is_empty() {
            env.push(("PIP_EXTRA_INDEX_URL".into(), pip.extra_index_urls.join(" ")));
        }
        match &self.source {
            Source::File { path, .. } => {
                args.push("-r".into());
                args.push(path.display().to_string());
            }
            Source::Pin { name, version } => args.push(format!("{name}=={version}")),
        }
        (args, env)
    }

    /// The requirements' text as it is (or will be) on the target.
    pub(super) fn text(&self, ctx: &Deploy<'_>) -> Result<String> {
        match &self.source {
            Source::Pin { name, version } => Ok(format!("{name}=={version}\n")),
            Source::File { path, content } => {
                if ctx.predicting()
                    && let Some(text) = content
                {
                    return Ok(text.clone());
                }
                match ctx.host().read(path)? {
                    Some(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                    None => Err(Error::usage(format!(
                        "the requirements file {} does not exist",
                        path.display()
                    ))),
                }
            }
        }
    }

    fn marker(&self) -> PathBuf {
        let key = match &self.source {
            Source::File { path, .. } => format!("r:{}", path.display()),
            Source::Pin { name, .. } => format!("p:{}", name.to_ascii_lowercase()),
        };
        let digest = hex(&Sha256::digest(key.as_bytes()));
        self.venv.join("lib/batou-installed").join(&digest[..16])
    }

    /// The digest a marker holds: the requirements and pip's settings.
    fn digest(&self, text: &str, args: &[String], env: &[(String, String)]) -> String {
        let mut h = Sha256::new();
        h.update(text.as_bytes());
        for a in installing(args) {
            h.update(b"\0arg\0");
            h.update(a.as_bytes());
        }
        for (k, v) in env {
            h.update(b"\0env\0");
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
        }
        hex(&h.finalize())
    }
}

/// The arguments that say what gets installed: pip's network timeout
/// (from the environment's `timeout`) does not.
pub(super) fn installing(args: &[String]) -> impl Iterator<Item = &str> {
    args.iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--timeout="))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Component for Install {
    fn label(&self) -> String {
        match &self.source {
            Source::File { path, .. } => format!("Requirements('{}')", path.display()),
            Source::Pin { name, version } => format!("Package('{name}=={version}')"),
        }
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let label = self.label();
        let bad = |why: String| Error::usage(format!("{label}: {why}"));
        match &mut self.source {
            Source::Pin { name, version } => {
                if !is_name(name) {
                    return Err(bad("a package name of letters, digits and `-_.`".into()));
                }
                if version.is_empty() || pins(&format!("{name}=={version}")).is_empty() {
                    return Err(bad(
                        "an exact version is required: .version(\"1.2.3\")".into()
                    ));
                }
            }
            Source::File { path, content } => {
                *path = ctx.map(&*path);
                if let Some(text) = content {
                    ctx.add(File::new(path.clone()).content(text.clone()))?;
                }
            }
        }
        let pip = &self.pip;
        let lines = pip
            .find_links
            .iter()
            .chain(&pip.options)
            .chain(&pip.extra_index_urls)
            .chain(&pip.index_url)
            .chain(pip.env.iter().map(|(_, v)| v));
        for value in lines {
            if value.contains(['\n', '\r']) || value.is_empty() {
                return Err(Error::usage(format!(
                    "{}: pip settings must be non-empty and on one line",
                    self.label()
                )));
            }
        }
        for (key, _) in &pip.env {
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || key.is_empty() {
                return Err(Error::usage(format!(
                    "{}: invalid environment variable `{key}`",
                    self.label()
                )));
            }
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.plan = None;
        let text = self.text(ctx)?;
        let (args, env) = self.args(ctx);
        let digest = self.digest(&text, &args, &env);
        let marker = self.marker();
        let recorded = ctx.host().read(&marker)?;
        let mut current = recorded.as_deref() == Some(digest.as_bytes());
        if current {
            // Installed as recorded; still there? Asked of the
            // environment's Python, not pip.
            let pins = pins(&text);
            if !pins.is_empty() {
                let python = self.venv.join("bin/python").display().to_string();
                let mut argv = vec![python, "-c".into(), PIN_CHECK.into()];
                for (name, version) in pins {
                    argv.push(name);
                    argv.push(version);
                }
                let out = ctx.run(&CommandSpec::argv(argv))?;
                if !out.stdout.trim().is_empty() {
                    for line in out.stdout.lines() {
                        ctx.log(line.to_string());
                    }
                    current = false;
                }
            }
        }
        self.plan = Some((digest, marker));
        Ok(Verdict::update_if(!current))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let Some((digest, marker)) = self.plan.take() else {
            return Err(Error::msg(format!(
                "{}: update without verify",
                self.label()
            )));
        };
        // A marker of an earlier install goes first: a failed pip run
        // leaves none behind.
        ctx.host().remove(&marker)?;
        let (args, env) = self.args(ctx);
        let python = self.venv.join("bin/python").display().to_string();
        let mut spec = CommandSpec::argv(
            [python.as_str(), "-m", "pip", "install"]
                .into_iter()
                .map(String::from)
                .chain(args),
        )
        .cwd(&self.venv);
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        if !spec.has_timeout() && ctx.environment().command_timeout.is_none() {
            // pip's own timeout is per connection; a whole install may
            // take long, but never forever.
            spec = spec.timeout(Duration::from_secs(3600));
        }
        ctx.run(&spec)?;
        if let Some(dir) = marker.parent() {
            ctx.host().mkdir(dir, true)?;
        }
        ctx.host().write(&marker, digest.as_bytes(), Some(0o644))?;
        Ok(())
    }
}
