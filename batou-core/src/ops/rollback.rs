//! `batou rollback ENV`: every selected host put back to before its last
//! deploy, from the undo record that deploy kept (see
//! [`crate::host::undo`] and [`crate::deploy::rollback`]).
//!
//! Remote hosts do it in their agent, which takes the deploy lock,
//! configures the model (for the roots' revert handlers) and answers
//! with a [`RollbackReport`]; the hosts work at once, each its own
//! session (an unreachable one is that host's answer). With
//! `connect_method = local` it happens in this process, on the model
//! configured here, under the project lock: the one undo store of this
//! machine holds every host's roots.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::component::Registry;
use crate::configure::ConfigureOptions;
use crate::deploy::rollback::{
    RollbackModel, RollbackOptions, RollbackOutcome, RollbackReport, rollback_store,
};
use crate::history::{DeployMeta, Outcome, Record};
use crate::host::Host;
use crate::remote::orchestrate::command::{CommandCall, CommandOutcome, run_on_host};
use crate::secrets::Keys;

use super::history::{history_warning, keep_controller_copy, local_journal};
use super::hosts::{on_each_host, select_hosts};
use super::load::{configure_loaded, load};
use super::observe::Observer;
use super::plan::{Connect, Mode, Plan};
use super::remote::remote_options;
use super::{SelectedHost, SetupError};

/// Why `rollback` rolled back nowhere.
#[derive(Debug, thiserror::Error)]
pub enum RollbackFailure {
    #[error("the environment does not load")]
    Config(Vec<crate::error::ConfigError>),
    #[error(transparent)]
    Hosts(#[from] crate::environment::PatternError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    ProjectLock(#[from] crate::lock::LockError),
}

type RunFailure = RollbackFailure;

/// At most this many hosts are connected at once.
const MAX_PARALLEL: usize = 64;

/// What `rollback` was asked to do.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub project_dir: PathBuf,
    pub environment: String,
    pub hosts: Vec<String>,
    pub skip_hosts: Vec<String>,
    /// `-P`: say what would be restored, change nothing.
    pub predict: bool,
    /// Roll back even where paths changed since the deploy.
    pub force: bool,
    pub connect_timeout: Option<u64>,
}

/// How the rollback ended on one host.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum HostResult {
    /// The agent (or this process) answered.
    Done(RollbackReport),
    /// The host could not be reached, its agent not started or lost, or
    /// the model does not configure there.
    Unreachable {
        error: String,
    },
    /// Another deploy holds the host's lock.
    Locked {
        error: String,
    },
    Failed {
        error: String,
    },
    /// Ctrl-C.
    Interrupted,
}

/// One host's answer.
#[derive(Debug, Clone, Serialize)]
pub struct HostRollback {
    pub host: String,
    #[serde(flatten)]
    pub result: HostResult,
}

/// Every selected host's answer, in the environment's order.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackSummary {
    pub environment: String,
    pub predict: bool,
    pub hosts: Vec<HostRollback>,
    /// Selected hosts with `ignore = True`: not contacted.
    pub ignored: Vec<String>,
}

/// Runs `plan` (see the module).
pub fn rollback(
    registry: &Registry,
    plan: &RollbackPlan,
    keys: &mut Keys,
    observer: &mut dyn Observer,
) -> Result<RollbackSummary, RunFailure> {
    let _lock = crate::lock::ProjectLock::acquire(&plan.project_dir)?;
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
    let selected = select_hosts(&loaded.env, &plan.hosts, &plan.skip_hosts)?;
    let (ignored, active): (Vec<SelectedHost>, Vec<SelectedHost>) =
        selected.into_iter().partition(|h| h.ignored);
    let mut settle = Plan::new(&plan.project_dir, &plan.environment, Mode::Deploy);
    settle.connect_timeout = plan.connect_timeout;
    let settled = settle.settle(&mut loaded.env.settings);
    let meta = (!plan.predict).then(|| DeployMeta::start(&plan.project_dir, &loaded.env.name));
    crate::interrupt::install();
    let environment = loaded.env.name.clone();
    let options = RollbackOptions {
        predict: plan.predict,
        force: plan.force,
    };
    let hosts = match &settled.connect {
        Connect::Local => {
            let journal = local_journal(&loaded.env.settings);
            let hosts = rollback_local(registry, loaded, &active, options)?;
            if let Some(meta) = &meta {
                for record in records(meta, &hosts) {
                    if let Err(e) = crate::history::journal::write_record(&journal, &record) {
                        history_warning(observer, &record.host, e);
                    }
                }
            }
            hosts
        }
        Connect::Remote(method) => {
            let remote = remote_options(registry, &settle, &settled, method, &loaded.env.name)?;
            let env = loaded.env;
            let quiet = |_: crate::event::Event| {};
            on_each_host(&active, MAX_PARALLEL, |selected| {
                let host = env.hosts.get(&selected.name)?;
                let call = CommandCall {
                    env: &env,
                    host,
                    command: "rollback",
                    args: &[],
                    lock: true,
                    rollback: Some(options),
                    deploy: meta.clone(),
                };
                let (outcome, _user) = run_on_host(&call, &remote, &quiet);
                Some(HostRollback {
                    host: selected.name.clone(),
                    result: host_result(outcome),
                })
            })
        }
    };
    if let Some(meta) = &meta {
        keep_controller_copy(&plan.project_dir, &records(meta, &hosts), observer);
    }
    Ok(RollbackSummary {
        environment,
        predict: plan.predict,
        hosts,
        ignored: ignored.into_iter().map(|h| h.name).collect(),
    })
}

/// A command outcome carrying a rollback report, as a host's result.
fn host_result(outcome: CommandOutcome) -> HostResult {
    match outcome {
        CommandOutcome::Ok { value } => match serde_json::from_value(value) {
            Ok(report) => HostResult::Done(report),
            Err(e) => HostResult::Failed {
                error: format!("the agent's answer is not a rollback report: {e}"),
            },
        },
        CommandOutcome::Failed { error, .. } => HostResult::Failed { error },
        CommandOutcome::Unreachable { error } => HostResult::Unreachable { error },
        CommandOutcome::Locked { error } => HostResult::Locked { error },
        CommandOutcome::Interrupted => HostResult::Interrupted,
    }
}

/// The history records of a rollback: one per host put back.
fn records(meta: &DeployMeta, hosts: &[HostRollback]) -> Vec<Record> {
    let ended = crate::history::record::now();
    hosts
        .iter()
        .filter_map(|h| match &h.result {
            HostResult::Done(report)
                if matches!(
                    report.outcome,
                    RollbackOutcome::RolledBack | RollbackOutcome::Failed
                ) =>
            {
                let mut record = meta.record(&h.host, None);
                record.roots = report.roots.iter().map(|r| r.root.clone()).collect();
                record.ended = Some(ended);
                record.outcome = Outcome::RolledBack;
                Some(record)
            }
            _ => None,
        })
        .collect()
}

/// `connect_method = local`: the kept record of this machine's store put
/// back in this process; every selected host answers with the roots of
/// its own.
fn rollback_local(
    registry: &Registry,
    loaded: super::Loaded,
    active: &[SelectedHost],
    options: RollbackOptions,
) -> Result<Vec<HostRollback>, RunFailure> {
    let home = crate::remote::whoami::home();
    let lock = crate::vfs::expand_home(
        std::path::Path::new(
            loaded
                .env
                .settings
                .deploy_lock
                .as_deref()
                .unwrap_or("~/.batou/deploy.lock"),
        ),
        home.as_deref(),
    );
    let store = crate::host::undo::store_for_lock(&lock);
    let model = configure_loaded(loaded, registry, &ConfigureOptions::default())
        .map_err(RunFailure::Config)?;
    let host = Host::local().beneath(&model.env_info.base_dir);
    let resolver = model.resolver();
    let roots: Vec<Arc<Mutex<crate::configure::Root>>> = model
        .roots
        .into_iter()
        .map(|r| Arc::new(Mutex::new(r)))
        .collect();
    let view = RollbackModel {
        roots: &roots,
        env: &model.env_info,
        mapper: &model.mapper,
    };
    let result =
        crate::address::with_resolver(resolver, || rollback_store(&store, &host, &view, options));
    let result = match result {
        Ok(report) => HostResult::Done(report),
        Err(e) => HostResult::Failed {
            error: format!("cannot read the undo record in {}: {e}", store.display()),
        },
    };
    // One store for the machine: each host is shown its own roots.
    Ok(active
        .iter()
        .map(|h| HostRollback {
            host: h.name.clone(),
            result: match &result {
                HostResult::Done(report) => {
                    let mut own = report.clone();
                    own.roots.retain(|r| r.host == h.name);
                    HostResult::Done(own)
                }
                other => other.clone(),
            },
        })
        .collect())
}
