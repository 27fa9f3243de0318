//! `Container`: one OCI container run by podman (or docker), batou_ext's
//! `oci.Container` done without NixOS: the container is kept as its
//! definition says, replaced only when the definition or the image behind
//! its tag changed, and checked by a health command that gates the root.
//!
//! How it runs: `podman run -d --restart=always`, not a systemd unit.
//! podman has no daemon; conmon, which podman leaves behind for each
//! container, restarts it when it exits, and Debian's podman enables
//! `podman-restart.service`, which starts `--restart=always` containers
//! at boot (with docker, dockerd does both). A unit would be a second
//! copy of the definition to keep in step with podman's own; with the
//! definition in podman alone, its hash (a label) is all a deploy
//! compares.
//!
//! Environment values never reach a command line: they go to an env file
//! (mode 0600, diff never shown) that `run --env-file` reads, removed
//! when the container has no environment any more. They are in
//! the container's configuration, as every container's environment is
//! (`podman inspect` shows them, to whoever may run podman).

mod engine;
mod instance;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::component::{Component, Configure};
use crate::error::{Error, Result};
use crate::stdlib::{File, HealthCheck, Purge};
pub use engine::Engine;
use instance::Instance;

/// The label holding the definition's hash.
pub const DEFINITION_LABEL: &str = "batou.definition";

/// Restart policies podman and docker both know.
const RESTART: &[&str] = &["always", "unless-stopped", "on-failure", "no"];

/// A container run by podman (default) or docker from `image:tag`.
///
/// A deploy creates it when it is missing, starts it when it is stopped,
/// and replaces it (stop, remove, run) when its definition changed (image,
/// tag, ports, volumes, environment, command, entrypoint, network,
/// restart policy, run options) or the image its tag names is not the one
/// it runs (a new image pulled or imported under the same tag). Otherwise
/// it is left alone: a no-op deploy keeps the container and its ID.
///
/// The health command ([`Container::health_cmd`]) runs inside the
/// container (`exec … /bin/sh -c CMD`) after it was (re)started, on every
/// deploy, as a [`HealthCheck`]: a container that does not become healthy
/// fails its root, which stops a rolling deploy (docs/rollouts.md).
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Container;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Cache { password: String }
///
/// impl Component for Cache {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Container::new("redis")
///                 .image("docker.io/library/redis")
///                 .tag("7.2")
///                 .port("127.0.0.1:6379", "6379")
///                 .volume("/srv/redis", "/data")
///                 .env("REDIS_PASSWORD", self.password.clone())
///                 .command(["redis-server", "--appendonly", "yes"])
///                 .health_cmd("redis-cli ping | grep -q PONG"),
///         )?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Container {
    name: String,
    image: String,
    tag: String,
    engine: Engine,
    executable: Option<String>,
    engine_options: Vec<String>,
    ports: Vec<String>,
    volumes: Vec<(PathBuf, String, Option<String>)>,
    env: BTreeMap<String, String>,
    entrypoint: Option<String>,
    command: Vec<String>,
    network: Option<String>,
    restart: String,
    run_options: Vec<String>,
    stop_timeout: u32,
    timeout: Duration,
    health: Option<HealthSpec>,
}

#[derive(Debug, Clone)]
struct HealthSpec {
    cmd: String,
    retries: u32,
    interval: Duration,
    timeout: Duration,
}

impl Container {
    /// A container called `name` (podman's `--name`); give its
    /// [`Container::image`].
    pub fn new(name: impl Into<String>) -> Self {
        Container {
            name: name.into(),
            image: String::new(),
            tag: "latest".into(),
            engine: Engine::Podman,
            executable: None,
            engine_options: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            env: BTreeMap::new(),
            entrypoint: None,
            command: Vec::new(),
            network: None,
            restart: "always".into(),
            run_options: Vec::new(),
            stop_timeout: 10,
            timeout: Duration::from_secs(600),
            health: None,
        }
    }

    /// The image, without its tag (`docker.io/library/redis`,
    /// `localhost/app`). Required.
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = image.into();
        self
    }

    /// The image's tag (default `latest`; batou_ext's `version`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// Run with docker instead of podman.
    pub fn docker(mut self) -> Self {
        self.engine = Engine::Docker;
        self
    }

    /// The podman or docker executable (default: `podman` / `docker`
    /// from `PATH`).
    pub fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// An option given to every podman/docker command before the
    /// subcommand, e.g. `--root=/srv/containers` (not part of the
    /// definition).
    pub fn engine_option(mut self, option: impl Into<String>) -> Self {
        self.engine_options.push(option.into());
        self
    }

    /// Publishes a container port: `host` is `[IP:]PORT`, `container` is
    /// `PORT[/PROTO]` (`-p host:container`).
    pub fn port(mut self, host: impl Into<String>, container: impl Into<String>) -> Self {
        self.ports
            .push(format!("{}:{}", host.into(), container.into()));
        self
    }

    /// Mounts a host path (relative: in the workdir) at `container`.
    pub fn volume(mut self, host: impl Into<PathBuf>, container: impl Into<String>) -> Self {
        self.volumes.push((host.into(), container.into(), None));
        self
    }

    /// A volume with mount options, e.g. `ro` or `ro,Z`.
    pub fn volume_with(
        mut self,
        host: impl Into<PathBuf>,
        container: impl Into<String>,
        options: impl Into<String>,
    ) -> Self {
        self.volumes
            .push((host.into(), container.into(), Some(options.into())));
        self
    }

    /// An environment variable of the container (through the env file,
    /// never on a command line).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Overrides the image's entrypoint.
    pub fn entrypoint(mut self, entrypoint: impl Into<String>) -> Self {
        self.entrypoint = Some(entrypoint.into());
        self
    }

    /// The command and its arguments (default: the image's).
    pub fn command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = argv.into_iter().map(Into::into).collect();
        self
    }

    /// The network (`--network`), e.g. `host`, `none` or a named one.
    pub fn network(mut self, network: impl Into<String>) -> Self {
        self.network = Some(network.into());
        self
    }

    /// The restart policy: `always` (default), `unless-stopped`,
    /// `on-failure[:N]` or `no`.
    pub fn restart(mut self, policy: impl Into<String>) -> Self {
        self.restart = policy.into();
        self
    }

    /// Any other `run` option, e.g. `--memory=512m` (batou_ext's
    /// `extra_options`); part of the definition.
    pub fn run_option(mut self, option: impl Into<String>) -> Self {
        self.run_options.push(option.into());
        self
    }

    /// Seconds a replaced container gets to stop before it is killed
    /// (default 10).
    pub fn stop_timeout(mut self, seconds: u32) -> Self {
        self.stop_timeout = seconds;
        self
    }

    /// How long one podman/docker command may take, a pull included
    /// (default 10 minutes).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// A shell command run in the container that exits 0 when it is
    /// healthy; up to 10 retries 1 s apart unless
    /// [`Container::health_retries`] / [`Container::health_interval`] say
    /// otherwise.
    pub fn health_cmd(mut self, cmd: impl Into<String>) -> Self {
        self.health = Some(HealthSpec {
            cmd: cmd.into(),
            retries: 10,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        });
        self
    }

    /// Attempts of the health command after the first (default 10).
    pub fn health_retries(mut self, retries: u32) -> Self {
        if let Some(h) = &mut self.health {
            h.retries = retries;
        }
        self
    }

    /// Time between attempts of the health command (default 1 s).
    pub fn health_interval(mut self, interval: Duration) -> Self {
        if let Some(h) = &mut self.health {
            h.interval = interval;
        }
        self
    }

    fn bad(&self, why: impl std::fmt::Display) -> Error {
        Error::usage(format!("Container('{}'): {why}", self.name))
    }

    fn check(&self) -> Result<()> {
        let plain =
            |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c.is_control());
        let name_ok = self
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !name_ok {
            return Err(self.bad(
                "a container name is letters, digits, `_`, `.` and `-`, starting with a letter or digit",
            ));
        }
        if self.image.is_empty() {
            return Err(self.bad("no image given (.image(\"…\"))"));
        }
        if !plain(&self.image) || self.image.starts_with('-') || self.image.contains('@') {
            return Err(self.bad(format!(
                "invalid image `{}` (give the name without tag or digest; the tag with .tag(..))",
                self.image
            )));
        }
        if !plain(&self.tag) || self.tag.contains([':', '/', '@']) {
            return Err(self.bad(format!("invalid tag `{}`", self.tag)));
        }
        for (key, value) in &self.env {
            let key_ok = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !key_ok {
                return Err(self.bad(format!("invalid environment variable name `{key}`")));
            }
            if value.contains(['\n', '\r', '\0']) {
                // The env file holds one variable a line; the value is not
                // shown, it may be a secret.
                return Err(self.bad(format!(
                    "the value of environment variable `{key}` contains a line break, which an env file cannot hold"
                )));
            }
        }
        for port in &self.ports {
            let ok = plain(port)
                && port
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.split('/').next())
                    .is_some_and(|p| {
                        !p.is_empty() && p.split('-').all(|n| n.parse::<u16>().is_ok())
                    });
            if !ok || port.starts_with('-') {
                return Err(self.bad(format!(
                    "invalid port `{port}` (host `[IP:]PORT`, container `PORT[/tcp|udp]`)"
                )));
            }
        }
        for (_, inside, options) in &self.volumes {
            if !inside.starts_with('/') || inside.contains(':') || !plain(inside) {
                return Err(self.bad(format!(
                    "invalid volume target `{inside}` (an absolute path in the container, without `:`)"
                )));
            }
            if let Some(o) = options
                && (!plain(o) || o.contains(':'))
            {
                return Err(self.bad(format!("invalid volume options `{o}`")));
            }
        }
        let policy = self.restart.split(':').next().unwrap_or("");
        if !RESTART.contains(&policy)
            || (self.restart.contains(':')
                && (policy != "on-failure" || self.restart[11..].parse::<u32>().is_err()))
        {
            return Err(self.bad(format!(
                "unknown restart policy `{}` (one of always, unless-stopped, on-failure[:N], no)",
                self.restart
            )));
        }
        for option in self.run_options.iter().chain(&self.engine_options) {
            if !option.starts_with('-') {
                return Err(self.bad(format!(
                    "option `{option}` does not start with `-` (give `--flag=value` as one option)"
                )));
            }
        }
        if let Some(n) = &self.network
            && !plain(n)
        {
            return Err(self.bad(format!("invalid network `{n}`")));
        }
        if let Some(exe) = &self.executable
            && !plain(exe)
        {
            return Err(self.bad(format!("invalid executable `{exe}`")));
        }
        if let Some(h) = &self.health
            && h.cmd.trim().is_empty()
        {
            return Err(self.bad("empty health command"));
        }
        Ok(())
    }
}

/// Everything a `run` is made of, in the order of its arguments. Its hash
/// is the definition label.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Definition {
    pub image: String,
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub entrypoint: Option<String>,
    pub command: Vec<String>,
    pub network: Option<String>,
    pub restart: String,
    pub run_options: Vec<String>,
}

impl Definition {
    /// The sha256 of the definition (a version prefix, so a later change
    /// of what it covers replaces containers once, knowingly).
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a definition serializes");
        let mut h = Sha256::new();
        h.update(b"batou-container-1\0");
        h.update(&json);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Component for Container {
    fn label(&self) -> String {
        format!("Container('{}')", self.name)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.check()?;
        let volumes = self
            .volumes
            .iter()
            .map(|(host, inside, options)| {
                let host = ctx.map(host);
                let text = host.display().to_string();
                if text.contains(':') || text.contains(|c: char| c.is_control()) {
                    return Err(self.bad(format!(
                        "the volume source `{text}` contains `:` or a control character"
                    )));
                }
                Ok(match options {
                    Some(o) => format!("{text}:{inside}:{o}"),
                    None => format!("{text}:{inside}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let definition = Definition {
            image: format!("{}:{}", self.image, self.tag),
            ports: self.ports.clone(),
            volumes,
            env: self.env.clone(),
            entrypoint: self.entrypoint.clone(),
            command: self.command.clone(),
            network: self.network.clone(),
            restart: self.restart.clone(),
            run_options: self.run_options.clone(),
        };
        let path = ctx.map(format!("{}.env", self.name));
        let env_file = if self.env.is_empty() {
            // No environment (any more): an env file left from before may
            // hold secrets.
            ctx.add(Purge::new(path.display().to_string()))?;
            None
        } else {
            let content: String = self.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            ctx.add(
                File::new(&path)
                    .content(content)
                    .mode(0o600)
                    .sensitive(true),
            )?;
            Some(path)
        };
        let exe = self
            .executable
            .clone()
            .unwrap_or_else(|| self.engine.default_executable().into());
        let cli = engine::Cli {
            engine: self.engine,
            executable: exe,
            options: self.engine_options.clone(),
            timeout: self.timeout,
        };
        if let Some(h) = &self.health {
            let exec = cli.shell_line(&["exec", &self.name, "/bin/sh", "-c", &h.cmd]);
            ctx.add(Instance::new(
                self.name.clone(),
                cli,
                definition,
                env_file,
                self.stop_timeout,
            ))?;
            ctx.add(
                HealthCheck::command(exec)
                    .shown_as(format!("{}: {}", self.name, h.cmd))
                    .retries(h.retries)
                    .interval(h.interval)
                    .timeout(h.timeout),
            )?;
        } else {
            ctx.add(Instance::new(
                self.name.clone(),
                cli,
                definition,
                env_file,
                self.stop_timeout,
            ))?;
        }
        Ok(())
    }
}
