//! `batou run ENV NAME [ARGS...]`: a registered command (see
//! [`crate::command`]) on every selected host, in parallel, each answering
//! with a JSON value.
//!
//! Remote hosts run it in their agent, which configures the model as for
//! a deploy but takes no deploy lock unless asked (`--lock`), so that
//! operators can ask questions while a deploy runs. With
//! `connect_method = local` the command runs in this process, on the
//! model the controller configured.

use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

use serde::Serialize;

use crate::command::{CommandModel, Invoked, host_infos, invoke};
use crate::component::Registry;
use crate::configure::ConfigureOptions;
use crate::environment::PatternError;
use crate::error::ConfigError;
use crate::event::Event;
use crate::host::Host;
use crate::remote::orchestrate::command::{CommandCall, run_on_host};
use crate::secrets::Keys;

pub use crate::remote::orchestrate::command::CommandOutcome;

use super::hosts::{on_each_host, select_hosts};
use super::load::{configure_loaded, load};
use super::observe::Observer;
use super::plan::{Connect, Mode, Plan};
use super::remote::remote_options;
use super::{SelectedHost, SetupError};

/// At most this many hosts are connected at once unless `-j` says more.
const MAX_PARALLEL: usize = 64;

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub project_dir: PathBuf,
    pub environment: String,
    /// `--hosts` and `--skip-hosts` terms.
    pub hosts: Vec<String>,
    pub skip_hosts: Vec<String>,
    /// The registered command's name, and its arguments.
    pub command: String,
    pub args: Vec<String>,
    /// Hosts at once (default: all, up to 64).
    pub jobs: Option<usize>,
    pub connect_timeout: Option<u64>,
    /// `--lock`: the agent holds the host's deploy lock while the command
    /// runs (a host where a deploy runs answers `locked`).
    pub lock: bool,
}

/// One host's answer.
#[derive(Debug, Clone, Serialize)]
pub struct HostAnswer {
    pub host: String,
    /// The user the agent ran as (when it started).
    pub user: Option<String>,
    #[serde(flatten)]
    pub outcome: CommandOutcome,
    /// From connecting to the answer.
    pub seconds: f64,
}

/// Every selected host's answer, in the environment's order.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub command: String,
    pub args: Vec<String>,
    pub hosts: Vec<HostAnswer>,
    /// Selected hosts with `ignore = True`: not contacted.
    pub ignored: Vec<String>,
}

/// Why `run` ran nowhere.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    #[error("the environment does not load")]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Hosts(#[from] PatternError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("no command `{name}` is registered (known: {})", known.join(", "))]
    UnknownCommand { name: String, known: Vec<String> },
}

/// Runs `plan`. Loading reports to `observer` (warnings, the secrets'
/// masker before anything from a host arrives); `done` hears each host's
/// answer as it arrives (from several threads).
pub fn run(
    registry: &Registry,
    plan: &RunPlan,
    keys: &mut Keys,
    observer: &mut dyn Observer,
    done: &(dyn Fn(&HostAnswer) + Sync),
) -> Result<RunReport, RunFailure> {
    let mut loaded = load(
        &plan.project_dir,
        &plan.environment,
        registry,
        keys,
        observer,
    )
    .map_err(RunFailure::Config)?;
    if !loaded.errors.is_empty() {
        return Err(RunFailure::Config(loaded.errors));
    }
    // The agent is this binary: a name unknown here is unknown there.
    // Checked after loading, so that the error is masked like the rest.
    if registry.command_for(&plan.command).is_none() {
        return Err(RunFailure::UnknownCommand {
            name: plan.command.clone(),
            known: registry.command_names(),
        });
    }
    let selected = select_hosts(&loaded.env, &plan.hosts, &plan.skip_hosts)?;
    let (ignored, active): (Vec<SelectedHost>, Vec<SelectedHost>) =
        selected.into_iter().partition(|h| h.ignored);
    let mut settle = Plan::new(&plan.project_dir, &plan.environment, Mode::Deploy);
    settle.connect_timeout = plan.connect_timeout;
    let settled = settle.settle(&mut loaded.env.settings);
    crate::interrupt::install();
    let hosts = match &settled.connect {
        Connect::Local => run_local(registry, plan, loaded, &active, observer, done)?,
        Connect::Remote(method) => {
            let options = remote_options(registry, &settle, &settled, method, &loaded.env.name)?;
            let env = loaded.env;
            let jobs = plan.jobs.unwrap_or(MAX_PARALLEL);
            // Agent builds announce themselves as events; `run` shows
            // only its answers.
            let quiet = |_: Event| {};
            on_each_host(&active, jobs, |selected| {
                let host = env.hosts.get(&selected.name)?;
                let started = Instant::now();
                let call = CommandCall {
                    env: &env,
                    host,
                    command: &plan.command,
                    args: &plan.args,
                    lock: plan.lock,
                    rollback: None,
                    deploy: None,
                };
                let (outcome, user) = run_on_host(&call, &options, &quiet);
                let answer = HostAnswer {
                    host: selected.name.clone(),
                    user,
                    outcome,
                    seconds: started.elapsed().as_secs_f64(),
                };
                done(&answer);
                Some(answer)
            })
        }
    };
    Ok(RunReport {
        command: plan.command.clone(),
        args: plan.args.clone(),
        hosts,
        ignored: ignored.into_iter().map(|h| h.name).collect(),
    })
}

/// `connect_method = local`: the model configured here, the command run
/// in this process for each host, one after the other (components are
/// not shared between threads).
fn run_local(
    registry: &Registry,
    plan: &RunPlan,
    loaded: super::Loaded,
    active: &[SelectedHost],
    observer: &mut dyn Observer,
    done: &(dyn Fn(&HostAnswer) + Sync),
) -> Result<Vec<HostAnswer>, RunFailure> {
    let hosts = host_infos(&loaded.env, None);
    let model = configure_loaded(loaded, registry, &ConfigureOptions::default())
        .map_err(RunFailure::Config)?;
    for (host, root, message) in model.configure_logs() {
        observer.emit(Event::Log {
            host,
            component: Some(root),
            message,
        });
    }
    let resolver = model.resolver();
    let host = Host::local().beneath(&model.env_info.base_dir);
    let roots: Vec<Arc<StdMutex<crate::configure::Root>>> = model
        .roots
        .into_iter()
        .map(|r| Arc::new(StdMutex::new(r)))
        .collect();
    let view = CommandModel {
        host: &host,
        env: &model.env_info,
        hosts: &hosts,
        roots: &roots,
        mapper: &model.mapper,
        resolver,
    };
    let Some(body) = registry.command_for(&plan.command) else {
        return Ok(Vec::new());
    };
    let user = crate::remote::whoami::current_user();
    let mut answers = Vec::new();
    for selected in active {
        if crate::interrupt::requested() {
            let answer = HostAnswer {
                host: selected.name.clone(),
                user: None,
                outcome: CommandOutcome::Interrupted,
                seconds: 0.0,
            };
            done(&answer);
            answers.push(answer);
            continue;
        }
        let started = Instant::now();
        let outcome = match invoke(&*body, &view, &selected.name, &plan.args) {
            Ok(value) => CommandOutcome::Ok { value },
            Err(Invoked::Failed(error)) => CommandOutcome::Failed {
                error,
                panicked: false,
            },
            Err(Invoked::Panicked(message)) => CommandOutcome::Failed {
                error: format!("panicked: {message}"),
                panicked: true,
            },
        };
        let answer = HostAnswer {
            host: selected.name.clone(),
            user: Some(user.clone()),
            outcome,
            seconds: started.elapsed().as_secs_f64(),
        };
        done(&answer);
        answers.push(answer);
    }
    Ok(answers)
}
