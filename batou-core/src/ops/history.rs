//! `batou history ENV`: every selected host's deploy journal, read over
//! the environment's own transport as its service user — the same way
//! `exec` runs a command, because a plain `cat` of one file needs no
//! agent: nothing is uploaded, no lock is taken (the journal is replaced
//! atomically, so a read during a deploy sees a whole file), and a host
//! no deploy has reached yet answers with an empty history.
//!
//! Also what a deploy does with its records on the controller's side: the
//! controller's own copy in `.batou/history/ENV.jsonl` and, for a local
//! deploy, this machine's journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::component::Registry;
use crate::deploy::DeployReport;
use crate::environment::Settings;
use crate::error::{DeployError, Error};
use crate::event::Event;
use crate::history::journal::{read_journal, write_record};
use crate::history::tally::HostTally;
use crate::history::{DeployMeta, JournalError, Outcome, Record, parse_journal};
use crate::remote::orchestrate::{RemoteFailure, RemoteReport};
use crate::secrets::Keys;

use super::exec::{ExecFailure, ExecPlan, ExecSink, HostRun, Outcome as RunOutcome, Stream};
use super::observe::Observer;

/// Where a deploy lock is when the environment does not say.
const DEFAULT_LOCK: &str = "~/.batou/deploy.lock";

/// What `history` was asked to show.
#[derive(Debug, Clone)]
pub struct HistoryPlan {
    pub project_dir: PathBuf,
    pub environment: String,
    /// `--hosts` / `--skip-hosts` terms (see [`crate::environment::HostPattern`]).
    pub hosts: Vec<String>,
    pub skip_hosts: Vec<String>,
    pub connect_timeout: Option<u64>,
}

/// One host's journal.
#[derive(Debug, Clone, Serialize)]
pub struct HostHistory {
    pub host: String,
    /// Oldest first.
    pub records: Vec<Record>,
    /// Why the journal could not be read (the host is unreachable, the
    /// file is not readable); `records` is empty then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Lines of the journal that are not records (`line N: why`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Every selected host's history, in the environment's order.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub environment: String,
    pub hosts: Vec<HostHistory>,
    /// Selected hosts with `ignore = True`: not contacted.
    pub ignored: Vec<String>,
    /// The controller's own copy: the records this project's deploys
    /// wrote, for the selected hosts.
    pub controller: Vec<Record>,
}

/// Why no history came out.
pub type HistoryFailure = ExecFailure;

struct Discard;

impl ExecSink for Discard {
    fn line(&self, _host: &str, _stream: Stream, _line: &str) {}
    fn done(&self, _run: &HostRun) {}
}

/// Reads the journal of every host `plan` selects (see the module).
pub fn history(
    registry: &Registry,
    plan: &HistoryPlan,
    keys: &mut Keys,
    observer: &mut dyn Observer,
) -> Result<HistoryReport, HistoryFailure> {
    // Which lock (and so which journal) the hosts use is the
    // environment's setting; the script resolves `~/` on the target.
    let settings = crate::environment::Environment::load(&plan.project_dir, &plan.environment)
        .map(|env| env.settings)
        .map_err(ExecFailure::Config)?;
    let lock = settings
        .deploy_lock
        .clone()
        .unwrap_or_else(|| DEFAULT_LOCK.into());
    let script = format!(
        r#"l={}; case $l in "~/"*) l="$HOME/${{l#??}}" ;; esac; f="$(dirname -- "$l")/{}"; [ -e "$f" ] || exit 0; exec cat -- "$f""#,
        crate::transport::quote(&lock),
        crate::history::journal::FILE_NAME,
    );
    let exec_plan = ExecPlan {
        project_dir: plan.project_dir.clone(),
        environment: plan.environment.clone(),
        hosts: plan.hosts.clone(),
        skip_hosts: plan.skip_hosts.clone(),
        command: vec![script],
        jobs: None,
        connect_timeout: plan.connect_timeout,
        command_timeout: Some(60),
        lock: false,
    };
    let report = super::exec(registry, &exec_plan, keys, observer, &Discard)?;
    let hosts: Vec<HostHistory> = report.hosts.into_iter().map(host_history).collect();
    let copy = controller_copy(&plan.project_dir, &plan.environment);
    let controller = read_journal(&copy)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| hosts.iter().any(|h| h.host == r.host))
        .collect();
    Ok(HistoryReport {
        environment: plan.environment.clone(),
        hosts,
        ignored: report.ignored,
        controller,
    })
}

fn host_history(run: HostRun) -> HostHistory {
    let error = match &run.outcome {
        RunOutcome::Exited { exit_code: Some(0) } => None,
        RunOutcome::Exited { exit_code } => Some(format!(
            "reading the journal failed (exit {}): {}",
            exit_code.map_or("-".into(), |c| c.to_string()),
            run.stderr.trim()
        )),
        RunOutcome::TimedOut { seconds } => {
            Some(format!("reading the journal took longer than {seconds}s"))
        }
        RunOutcome::Unreachable { error } | RunOutcome::Locked { error } => Some(error.clone()),
        RunOutcome::Interrupted => Some("interrupted".into()),
    };
    let (records, problems) = match error {
        None => parse_journal(&run.stdout),
        Some(_) => (Vec::new(), Vec::new()),
    };
    HostHistory {
        host: run.host,
        records,
        error,
        problems,
    }
}

/// The controller's copy of an environment's records.
pub(super) fn controller_copy(project_dir: &Path, environment: &str) -> PathBuf {
    project_dir
        .join(".batou")
        .join("history")
        .join(format!("{environment}.jsonl"))
}

/// A local deploy's journal: beside the deploy lock an agent running
/// here as this user would take.
pub(super) fn local_journal(settings: &Settings) -> PathBuf {
    let lock = settings.deploy_lock.as_deref().unwrap_or(DEFAULT_LOCK);
    let home = crate::remote::whoami::home();
    crate::history::journal_beside(&crate::vfs::expand_home(Path::new(lock), home.as_deref()))
}

/// The closed records of a deploy: one per host that had a root
/// scheduled.
pub(super) fn records_of(
    meta: &DeployMeta,
    hosts: BTreeMap<String, HostTally>,
    outcome: impl Fn(&str) -> Outcome,
) -> Vec<Record> {
    let ended = crate::history::record::now();
    hosts
        .into_iter()
        .map(|(host, tally)| {
            let mut record = meta.record(&host, None);
            tally.fill(&mut record);
            record.ended = Some(ended);
            record.outcome = match outcome(&host) {
                // A root Ctrl-C stopped and put back counts as reverted,
                // as the agent's own journal says.
                Outcome::Failed | Outcome::Interrupted if tally.reverted => Outcome::Reverted,
                other => other,
            };
            record
        })
        .collect()
}

/// A remote deploy's outcome on `host`: failed where a root failed; where
/// the deploy stopped otherwise, interrupted.
pub(super) fn remote_outcome(result: &Result<RemoteReport, RemoteFailure>, host: &str) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(RemoteFailure::Deploy { roots, .. } | RemoteFailure::Interrupted { roots, .. })
            if roots.iter().any(|r| r.host == host) =>
        {
            Outcome::Failed
        }
        Err(_) => Outcome::Interrupted,
    }
}

/// A local deploy's outcome on `host` (a local deploy stops at its first
/// failing root).
pub(super) fn local_outcome(result: &Result<DeployReport, DeployError>, host: &str) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(DeployError {
            source: Error::Interrupted { .. },
            ..
        }) => Outcome::Interrupted,
        Err(e) if e.host == host => Outcome::Failed,
        Err(_) => Outcome::Interrupted,
    }
}

/// Adds `records` to the controller's copy.
pub(super) fn keep_controller_copy(
    project_dir: &Path,
    records: &[Record],
    observer: &mut dyn Observer,
) {
    let Some(first) = records.first() else {
        return;
    };
    let copy = controller_copy(project_dir, &first.environment);
    for record in records {
        if let Err(e) = write_record(&copy, record) {
            history_warning(observer, &record.host, e);
        }
    }
}

/// A record that cannot be kept does not fail the deploy that wrote it.
pub(super) fn history_warning(observer: &mut dyn Observer, host: &str, e: JournalError) {
    observer.emit(Event::Warning {
        host: Some(host.to_string()),
        component: None,
        message: e.to_string(),
    });
}
