//! `deploy`, `deploy -P` and `deploy -c` as one operation: load,
//! configure, and deploy locally or through agents.

use std::time::Instant;

use crate::component::Registry;
use crate::configure::{ConfigureOptions, Selection, SelectionError};
use crate::deploy::{DeployOptions, DeployReport, deploy_local};
use crate::event::{Event, EventSink};
use crate::history::{DeployMeta, Tally};
use crate::host::Host;
use crate::lock::ProjectLock;
use crate::remote::early::connect_early;
use crate::remote::orchestrate::{RemoteReport, deploy_remote};
use crate::secrets::Keys;

use super::failure::{Failure, SetupError, Stage};
use super::history::{
    history_warning, keep_controller_copy, local_journal, local_outcome, records_of, remote_outcome,
};
use super::load::{configure_loaded, load};
use super::observe::{Observer, Step};
use super::plan::{Connect, Plan};
use super::remote::remote_options;

/// What a successful run did.
#[derive(Debug)]
pub enum Report {
    /// `-c`: the model is consistent.
    Checked,
    /// Deployed (or predicted) on this machine.
    Local(DeployReport),
    /// Deployed (or predicted) through agents.
    Remote(RemoteReport),
}

/// Runs `plan`: takes the project lock, loads the environment and its
/// secrets, configures the model (connecting to remote hosts meanwhile),
/// then checks, predicts or deploys it. Events and steps go to
/// `observer` as they happen.
///
/// A remote deploy installs batou's SIGINT handling first (see
/// [`crate::interrupt`]): a Ctrl-C then winds the deploy down.
pub fn deploy(
    registry: &Registry,
    plan: &Plan,
    keys: &mut Keys,
    observer: &mut dyn Observer,
) -> Result<Report, Failure> {
    let _lock = ProjectLock::acquire(&plan.project_dir).map_err(Failure::ProjectLock)?;
    let config = |stage, errors| Failure::Config { stage, errors };
    let mut loaded = load(
        &plan.project_dir,
        &plan.environment,
        registry,
        keys,
        observer,
    )
    .map_err(|errors| config(Stage::Load, errors))?;
    if loaded.secrets_failed {
        // Nothing deploys, but every other error is reported with the
        // secrets' (connecting nowhere; names only the targets' DNS knows
        // are not an error here).
        let options = ConfigureOptions {
            platform: plan.platform.clone(),
            lenient_dns: true,
            ..Default::default()
        };
        let errors = super::load::secrets_failed_errors(loaded, registry, &options);
        return Err(config(Stage::LoadSecrets, errors));
    }
    // A host pattern that selects nothing is reported with the other
    // unknown names, after configuring; meanwhile nothing is connected.
    let (selection, hosts_error) = match plan.selection.resolve_hosts(&loaded.env) {
        Ok(selection) => (selection, None),
        Err(e) => (
            Selection {
                hosts: Vec::new(),
                skip_hosts: Vec::new(),
                ..plan.selection.clone()
            },
            Some(e),
        ),
    };
    let settled = plan.settle(&mut loaded.env.settings);
    observer.step(Step::Settled(&settled));
    let method = match &settled.connect {
        Connect::Remote(method) if !plan.mode.checks_only() => {
            if registry.transport_for(method).is_none() {
                return Err(Failure::Setup(SetupError::UnknownConnectMethod {
                    method: method.clone(),
                    known: registry.transport_names(),
                }));
            }
            Some(method.clone())
        }
        _ => None,
    };
    observer.step(Step::Configuring);
    if settled.connect == Connect::Local {
        announce_local_hosts(&loaded.env, observer);
    }
    let had_load_errors = !loaded.errors.is_empty();
    // Connections open while the model is configured (the targets are
    // not touched until it is known to be sound), only to hosts this run
    // needs, and not at all when loading already found errors.
    let remote = match &method {
        Some(method) if !had_load_errors && hosts_error.is_none() => Some(remote_options(
            registry,
            plan,
            &settled,
            method,
            &loaded.env.name,
        )),
        _ => None,
    };
    let early = match &remote {
        Some(Ok(options)) => Some(connect_early(&loaded.env, &selection, options)),
        _ => None,
    };
    let configure_start = Instant::now();
    let options = ConfigureOptions {
        platform: plan.platform.clone(),
        // The agents resolve names for real, on their hosts.
        lenient_dns: settled.connect.is_remote(),
        ..Default::default()
    };
    let stage = if had_load_errors {
        Stage::Load
    } else {
        Stage::Connect
    };
    let mut model =
        configure_loaded(loaded, registry, &options).map_err(|errors| config(stage, errors))?;
    if let Some(e) = hosts_error {
        let mut errors = vec![SelectionError::Hosts(e)];
        errors.extend(selection.unknown_names(&model).into_iter().map(Into::into));
        return Err(Failure::Selection(errors));
    }
    model
        .select(&selection)
        .map_err(|unknown| Failure::Selection(unknown.into_iter().map(Into::into).collect()))?;
    let unknown = unknown_full_diff_roots(&plan.full_diff, &model);
    if !unknown.is_empty() {
        return Err(Failure::Selection(unknown));
    }
    let seconds = configure_start.elapsed().as_secs_f64();
    for (host, root, message) in model.configure_logs() {
        observer.emit(Event::Log {
            host,
            component: Some(root),
            message,
        });
    }
    for (host, root, message) in model.configure_warnings() {
        observer.emit(Event::Warning {
            host: Some(host),
            component: Some(root),
            message,
        });
    }
    observer.step(Step::Configured {
        roots: model.roots.len(),
        components: model.roots.iter().map(|r| r.component_count()).sum(),
        seconds,
    });
    if plan.mode.checks_only() {
        return Ok(Report::Checked);
    }
    if let Some(remote) = remote {
        let options = remote.map_err(Failure::Setup)?;
        for binary in options.agents.ready() {
            observer.step(Step::Agent(&binary));
        }
        // Ctrl-C from here on winds the deploy down (and reverts the
        // running roots, which the agents are told).
        crate::interrupt::install_reverting(model.env.settings.revert && !plan.mode.predicts());
        let sink: &dyn EventSink = observer;
        let tally = Tally::new(sink);
        let result = deploy_remote(&model, &options, early, &tally);
        if let Some(meta) = &options.deploy {
            let hosts = tally.into_hosts();
            let outcome = |host: &str| remote_outcome(&result, host);
            let records = records_of(meta, hosts, outcome);
            keep_controller_copy(&plan.project_dir, &records, observer);
        }
        // The process usually ends next: freeing a model of thousands of
        // components one by one would only delay it.
        std::mem::forget(model);
        return result.map(Report::Remote).map_err(Failure::Remote);
    }
    observer.step(Step::Deploying);
    let rollout = &settled.rollout;
    if rollout.serial.is_some() || rollout.max_fail.is_some() || rollout.batch_wait.is_some() {
        // Said rather than ignored: the operator expects batches.
        observer.emit(Event::Warning {
            host: None,
            component: None,
            message: "serial, max_fail and batch_wait apply to remote deploys; a local deploy deploys one root at a time and stops at the first failure".into(),
        });
    }
    let host = Host::local_batched().beneath(&model.env_info.base_dir);
    let undo = local_undo(&model, &host, observer, plan.mode.predicts())?;
    let store = undo.clone();
    let options = DeployOptions {
        predict: plan.mode.predicts(),
        full_diff: plan.full_diff.clone(),
        undo,
    };
    // Ctrl-C from here on winds the deploy down (and reverts the running
    // root when revert is on).
    crate::interrupt::install_reverting(options.undo.is_some());
    if options.predict {
        return deploy_local(&mut model, &host, observer, options)
            .map(Report::Local)
            .map_err(Failure::Deploy);
    }
    // This machine is the target: its journal is where an agent running
    // here as this user would keep it.
    let meta = DeployMeta::start(&plan.project_dir, &model.env.name);
    let journal = local_journal(&model.env.settings);
    let tally = Tally::new(&*observer);
    let result = deploy_local(&mut model, &host, &tally, options);
    if let Some(store) = &store {
        keep_local_record(store, model.env.settings.rollback_limit_bytes(), observer);
    }
    let records = records_of(&meta, tally.into_hosts(), |host| {
        local_outcome(&result, host)
    });
    for record in &records {
        if let Err(e) = crate::history::journal::write_record(&journal, record) {
            history_warning(observer, &record.host, e);
        }
    }
    keep_controller_copy(&plan.project_dir, &records, observer);
    result.map(Report::Local).map_err(Failure::Deploy)
}

/// `--full-diff=NAME`s that are no root component of the model: a typo
/// would otherwise quietly show the cut diff.
fn unknown_full_diff_roots(
    full_diff: &crate::diff::FullDiff,
    model: &crate::configure::Model,
) -> Vec<SelectionError> {
    let crate::diff::FullDiff::Roots(names) = full_diff else {
        return Vec::new();
    };
    let mut known: Vec<String> = Vec::new();
    for r in &model.roots {
        if !known.contains(&r.name) {
            known.push(r.name.clone());
        }
    }
    names
        .iter()
        .filter(|n| !known.contains(n))
        .map(|n| {
            SelectionError::Unknown(crate::configure::UnknownName {
                kind: "component",
                name: n.clone(),
                known: known.clone(),
            })
        })
        .collect()
}

/// The undo store of a local deploy (beside `deploy_lock`, as on a
/// remote host), after restoring what a killed deploy left there;
/// `None` when revert is off.
fn local_undo(
    model: &crate::configure::Model,
    host: &Host,
    observer: &dyn Observer,
    predict: bool,
) -> Result<Option<std::path::PathBuf>, Failure> {
    let settings = &model.env.settings;
    let home = crate::remote::whoami::home();
    let lock = crate::vfs::expand_home(
        std::path::Path::new(
            settings
                .deploy_lock
                .as_deref()
                .unwrap_or("~/.batou/deploy.lock"),
        ),
        home.as_deref(),
    );
    let store = crate::host::undo::store_for_lock(&lock);
    if predict {
        return Ok(None);
    }
    let recovered =
        crate::host::undo::recover(&store, &host.without_undo(), false).map_err(|source| {
            Failure::Setup(SetupError::Undo {
                store: store.clone(),
                source,
            })
        })?;
    for r in &recovered {
        observer.emit(Event::Warning {
            host: None,
            component: None,
            message: crate::host::undo::describe_recovered(r),
        });
    }
    Ok(settings.revert.then_some(store))
}

/// The local deploy is over: its roots' undo records become the kept
/// record for `batou rollback` (see [`crate::host::undo::finish_deploy`]).
fn keep_local_record(store: &std::path::Path, limit: u64, observer: &dyn Observer) {
    let warning = match crate::host::undo::finish_deploy(store, limit) {
        Ok(kept) => kept.warning(),
        Err(e) => Some(format!(
            "the undo record of this deploy could not be kept in {} ({e}); batou rollback cannot undo it",
            store.display()
        )),
    };
    if let Some(message) = warning {
        observer.emit(Event::Warning {
            host: None,
            component: None,
            message,
        });
    }
}

/// Local runs connect nowhere; each host is still listed, as batou does.
/// A `service_user` other than ours is said to be unused: batou's
/// `LocalHost` silently runs everything as the user who started it, which
/// leaves files owned by the wrong user when a production environment is
/// deployed with `-L`.
fn announce_local_hosts(env: &crate::environment::Environment, observer: &dyn Observer) {
    let total = env.hosts.len();
    let me = crate::remote::whoami::current_user();
    for (i, host) in env.hosts.values().enumerate() {
        if let Some(user) = env
            .service_user_of(host)
            .filter(|u| *u != me && !host.ignore)
        {
            observer.emit(Event::Warning {
                host: Some(host.name.clone()),
                component: None,
                message: format!(
                    "{}: service_user = {user} is not used with connect_method = local; this run acts as {me} (ssh runs as {user} through sudo)",
                    host.name
                ),
            });
        }
        observer.emit(if host.ignore {
            Event::HostIgnored {
                host: host.name.clone(),
                index: i + 1,
                total,
            }
        } else {
            Event::HostConnecting {
                host: host.name.clone(),
                method: Connect::Local.name().to_string(),
                index: i + 1,
                total,
            }
        });
    }
}
