//! The agents a deployment runs on its hosts: static (musl) builds of the
//! deployment binary itself, one per target, built by the controller when
//! a host of a new platform shows up and kept by the controller's hash.
//!
//! The controller stays an ordinary build for the machine it runs on
//! (what `./batou` builds), so a local deploy and the edit loop pay for
//! one build. What runs on a host must run on any distribution of its
//! architecture: an old glibc, no glibc (busybox, Alpine), no OpenSSL. So
//! the agent is the same crate and binary built for
//! `<arch>-unknown-linux-musl`, statically linked, needing only the
//! kernel and a POSIX `sh`, without libssh2 (an agent never connects
//! anywhere) and with mimalloc as its allocator.
//!
//! [`Agents`] answers "which binary for a host that prints `Linux
//! aarch64`": an agent at hand (built earlier by this same controller:
//! no cargo call at all), or one built now — once per target however many
//! hosts need it; they wait for the one build — with cargo's progress
//! reported as [`Event::AgentBuildOutput`]. `agent_binary` in the
//! environment replaces all of this with one given binary.

pub mod cache;
pub mod platforms;
pub mod source;
pub mod triple;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::event::{Event, EventSink};
use crate::remote::bootstrap::{self as binary, AgentBinary};

pub use cache::AgentCache;
pub use platforms::HostPlatforms;
pub use source::{AgentSource, BuildFailure, Builder};

/// What to start on a host first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// The agent for the host's platform (as it said last time), or the
    /// only one there is.
    Ready(Arc<AgentBinary>),
    /// The host runs `os` / `arch` (it said so last time) and its agent
    /// must be built first.
    Build { os: String, arch: String },
    /// Nothing is known of the host and no agent is at hand: a binary for
    /// no platform, on which the start script only reports the host's
    /// platform and stops, so the right one can be built.
    Probe(Arc<AgentBinary>),
}

/// Why there is no agent for a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// `agent_binary` is set and built for another platform.
    #[error(
        "{host} runs {platform}, but agent_binary {path} is built for {built}: build one for {platform} (e.g. `{command}`) and set `agent_binary = PATH` in [environment], or leave agent_binary out and batou builds agents itself"
    )]
    Mismatch {
        host: String,
        platform: String,
        path: String,
        built: String,
        command: String,
    },
    /// Nothing here can build one (no project, or a platform without a
    /// musl target).
    #[error(
        "{host} runs {platform} and batou has no agent for it{why}: build one with `{command}` and set `agent_binary = PATH` in [environment]"
    )]
    NoAgent {
        host: String,
        platform: String,
        /// `: <reason>` or empty.
        why: String,
        command: String,
    },
    /// cargo failed.
    #[error("{host} runs {platform}: building its agent failed: `{command}` {status}{hint}{tail}")]
    BuildFailed {
        host: String,
        platform: String,
        command: String,
        status: String,
        /// `; <what would help>` or empty.
        hint: String,
        /// cargo's last lines, each on a line of its own, or empty.
        tail: String,
    },
    /// The built agent could not be put into the cache.
    #[error("{host}: cannot keep the agent built for {triple} in {dir}: {message}")]
    Cache {
        host: String,
        triple: String,
        dir: String,
        message: String,
    },
}

/// What went wrong with one target's build, for every host waiting on it.
#[derive(Debug, Clone)]
enum Failure {
    Build {
        triple: String,
        failure: BuildFailure,
    },
    Cache {
        triple: String,
        dir: String,
        message: String,
    },
}

/// One target's build, done once; everyone asking meanwhile waits.
type Build = OnceLock<Result<Arc<AgentBinary>, Failure>>;

enum Kind {
    /// `agent_binary`: this binary, and nothing else.
    Fixed(Arc<AgentBinary>),
    /// No project to build from: the controller's own executable.
    Controller(Arc<AgentBinary>),
    /// Built from the project, kept by the controller's hash.
    Build {
        source: AgentSource,
        cache: AgentCache,
        controller: String,
    },
}

/// The agents of one deploy: the ones at hand, and builds of missing ones.
pub struct Agents {
    kind: Kind,
    /// One per platform; what a host is offered first.
    ready: Mutex<Vec<Arc<AgentBinary>>>,
    /// One build per target; hosts of that target wait for it.
    builds: Mutex<BTreeMap<String, Arc<Build>>>,
    /// cargo runs one build at a time: builds share the target directory
    /// (and the CPU).
    cargo: Mutex<()>,
    /// What each host runs, from earlier deploys.
    platforms: HostPlatforms,
}

impl Agents {
    /// Every host gets `binary` (the environment's `agent_binary`).
    pub fn fixed(binary: AgentBinary) -> Agents {
        let binary = Arc::new(binary);
        Agents::new(Kind::Fixed(binary.clone()), vec![binary])
    }

    /// The controller's own executable, for hosts of its platform; other
    /// platforms are an error naming the build command. For a controller
    /// run without its project (nothing to build from).
    pub fn controller_only(controller: AgentBinary) -> Agents {
        let controller = Arc::new(controller);
        Agents::new(Kind::Controller(controller.clone()), vec![controller])
    }

    /// Agents built from `source` for each target as hosts need them,
    /// kept by the hash of `controller` (the running executable). Those
    /// built before by the same controller are at hand at once.
    pub fn built_from(source: AgentSource, controller: &AgentBinary) -> Agents {
        let cache = AgentCache::new(&source.target_dir);
        let platforms = HostPlatforms::load(&cache.platforms_file());
        let mut ready: Vec<Arc<AgentBinary>> = cache
            .all(&controller.hash, &source.bin)
            .into_iter()
            .map(Arc::new)
            .collect();
        if !ready.is_empty() {
            cache.touch(&controller.hash);
        }
        // A static controller is itself the agent for its own platform.
        if cfg!(target_env = "musl")
            && !ready
                .iter()
                .any(|b| b.runs_on(&controller.os, &controller.arch))
        {
            ready.push(Arc::new(controller.clone()));
        }
        let mut agents = Agents::new(
            Kind::Build {
                source,
                cache,
                controller: controller.hash.clone(),
            },
            ready,
        );
        agents.platforms = platforms;
        agents
    }

    fn new(kind: Kind, ready: Vec<Arc<AgentBinary>>) -> Agents {
        Agents {
            kind,
            ready: Mutex::new(ready),
            builds: Mutex::new(BTreeMap::new()),
            cargo: Mutex::new(()),
            platforms: HostPlatforms::none(),
        }
    }

    /// What to start first on the host at `address` (see [`Offer`]).
    pub fn offer(&self, address: &str) -> Offer {
        let ready = self.ready();
        if let Some((os, arch)) = self.platforms.get(address) {
            if let Some(agent) = ready.iter().find(|b| b.runs_on(&os, &arch)) {
                return Offer::Ready(agent.clone());
            }
            if matches!(self.kind, Kind::Build { .. }) && triple::automatic(&os, &arch).is_some() {
                return Offer::Build { os, arch };
            }
        }
        // Most fleets are of the controller's own architecture.
        let (os, arch) = (binary::local_os(), binary::local_arch());
        match ready.iter().find(|b| b.runs_on(os, arch)).or(ready.first()) {
            Some(agent) => Offer::Ready(agent.clone()),
            None => Offer::Probe(Arc::new(AgentBinary {
                path: std::path::PathBuf::new(),
                hash: "0".repeat(64),
                size: 0,
                os: "none".into(),
                arch: "none".into(),
            })),
        }
    }

    /// Remembers that the host at `address` runs `os` / `arch` (for the
    /// next deploy's [`Agents::offer`]).
    pub fn learn(&self, address: &str, os: &str, arch: &str) {
        self.platforms.learn(address, os, arch)
    }

    /// The agents at hand, at most one per platform: a host is offered
    /// these before anything is built.
    pub fn ready(&self) -> Vec<Arc<AgentBinary>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The agent for `host`, which prints `os` / `arch` (`uname -s`,
    /// `uname -m`): one at hand, else one built now (once per target;
    /// concurrent callers for the same target wait for that build, with
    /// cargo's progress going to `sink`).
    pub fn for_platform(
        &self,
        host: &str,
        os: &str,
        arch: &str,
        sink: &dyn EventSink,
    ) -> Result<Arc<AgentBinary>, AgentError> {
        if let Some(found) = self.ready().into_iter().find(|b| b.runs_on(os, arch)) {
            return Ok(found);
        }
        let platform = format!("{os} {arch}");
        let (source, cache, controller) = match &self.kind {
            Kind::Fixed(binary) => {
                return Err(AgentError::Mismatch {
                    host: host.into(),
                    platform,
                    path: binary.path.display().to_string(),
                    built: format!("{} {}", binary.os, binary.arch),
                    command: generic_command(os, arch, &binary.path),
                });
            }
            Kind::Controller(binary) => {
                return Err(AgentError::NoAgent {
                    host: host.into(),
                    platform,
                    why: ": the project has no Cargo.toml to build one from".into(),
                    command: generic_command(os, arch, &binary.path),
                });
            }
            Kind::Build {
                source,
                cache,
                controller,
            } => (source, cache, controller),
        };
        let Some(triple) = triple::automatic(os, arch) else {
            return Err(AgentError::NoAgent {
                host: host.into(),
                platform,
                why: ": batou builds agents for Linux only".into(),
                command: source.command_line(&triple::suggested(os, arch)),
            });
        };
        let once = self
            .builds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(triple.to_string())
            .or_default()
            .clone();
        let built = once
            .get_or_init(|| self.build(source, cache, controller, triple, host, sink))
            .clone();
        match built {
            Ok(binary) => {
                let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
                if !ready.iter().any(|b| b.hash == binary.hash) {
                    ready.push(binary.clone());
                }
                Ok(binary)
            }
            Err(Failure::Build { triple, failure }) => Err(AgentError::BuildFailed {
                host: host.into(),
                platform,
                hint: failure
                    .hint(&triple)
                    .map_or_else(String::new, |h| format!("; {h}")),
                tail: failure.tail.iter().map(|l| format!("\n  {l}")).collect(),
                command: failure.command,
                status: failure.status,
            }),
            Err(Failure::Cache {
                triple,
                dir,
                message,
            }) => Err(AgentError::Cache {
                host: host.into(),
                triple,
                dir,
                message,
            }),
        }
    }

    /// Builds (or finds, if another batou run built it meanwhile) the
    /// agent for `triple`.
    fn build(
        &self,
        source: &AgentSource,
        cache: &AgentCache,
        controller: &str,
        triple: &str,
        host: &str,
        sink: &dyn EventSink,
    ) -> Result<Arc<AgentBinary>, Failure> {
        let _one_cargo = self.cargo.lock().unwrap_or_else(|p| p.into_inner());
        let cache_failure = |e: std::io::Error| Failure::Cache {
            triple: triple.into(),
            dir: cache.controller_dir(controller).display().to_string(),
            message: e.to_string(),
        };
        let _lock = cache.lock(controller, triple).map_err(cache_failure)?;
        if let Some(found) = cache.lookup(controller, triple, &source.bin) {
            return Ok(Arc::new(found));
        }
        sink.emit(Event::AgentBuildStarted {
            triple: triple.into(),
            host: host.into(),
            command: source.command_line(triple),
        });
        let started = Instant::now();
        let built = source.build(triple, &mut |line| {
            sink.emit(Event::AgentBuildOutput {
                triple: triple.into(),
                line: line.into(),
            })
        });
        let stored = built
            .map_err(|failure| Failure::Build {
                triple: triple.into(),
                failure,
            })
            .and_then(|path| {
                cache
                    .store(controller, triple, &source.bin, &path)
                    .map_err(cache_failure)
            });
        sink.emit(Event::AgentBuildFinished {
            triple: triple.into(),
            seconds: started.elapsed().as_secs_f64(),
            success: stored.is_ok(),
        });
        if stored.is_ok() {
            cache.prune(cache::KEEP_CONTROLLERS, controller);
        }
        stored.map(Arc::new)
    }
}

/// A build command for a host printing `os` / `arch`, for a binary named
/// like `exe`, when batou does not know the project.
fn generic_command(os: &str, arch: &str, exe: &std::path::Path) -> String {
    let bin = exe
        .file_name()
        .map_or_else(|| "BIN".into(), |n| n.to_string_lossy().into_owned());
    let triple = triple::suggested(os, arch);
    let tool = if os == "Linux" { "zigbuild" } else { "build" };
    format!(
        "cargo {tool} --release --target {triple} --bin {}",
        crate::transport::quote(&bin)
    )
}

#[cfg(test)]
mod tests;
