//! Whole operations, as cargo's `ops`: what one `batou` subcommand does,
//! from a [`Plan`] (or a few arguments) to a report or a typed failure.
//! The command line parses its flags into a plan, calls one operation and
//! renders what comes back; everything in between happens here, once.
//!
//! * [`deploy()`]: `deploy`, `deploy -P` and `deploy -c`, locally or
//!   through agents;
//! * [`show()`] and [`graph_of`]: the merged environment and the
//!   dependency graph;
//! * [`exec()`]: one shell command on many hosts, per-host answers;
//! * [`run()`]: a registered command on many hosts, per-host JSON answers;
//! * [`history()`]: every selected host's deploy history;
//! * [`rollback()`]: every selected host put back to before its last deploy;
//! * [`list_hosts`]: the hosts a `--hosts` selection picks;
//! * [`secrets`]: `secrets summary`, `add`, `remove`, `reencrypt`,
//!   `decrypttostdout` and `edit`;
//! * [`load()`] and [`configure_loaded`]: reading an environment with its
//!   secrets and configuring it, which all of them start with.
//!
//! While an operation runs, it reports to an [`Observer`]: the deploy's
//! [`crate::event::Event`]s and the [`Step`]s around them.

mod deploy;
mod exec;
mod exec_script;
mod failure;
mod history;
mod hosts;
mod inspect;
mod load;
mod observe;
mod plan;
mod remote;
mod rollback;
mod run;
pub mod secrets;
#[cfg(test)]
mod tests;

pub use deploy::{Report, deploy};
pub use exec::{ExecFailure, ExecPlan, ExecReport, ExecSink, HostRun, Outcome, Stream, exec};
pub use failure::{Failure, SetupError, Stage};
pub use history::{HistoryFailure, HistoryPlan, HistoryReport, HostHistory, history};
pub use hosts::{ListFailure, SelectedHost, list_hosts, select_hosts};
pub use inspect::{Graphed, Rejected, graph_of, show};
pub use load::{Loaded, configure_loaded, load};
pub use observe::{Observer, Quiet, Step};
pub use plan::{Connect, EventDetail, Mode, Plan, PlanError, Reach, Settled};
pub use remote::remote_options;
pub use rollback::{
    HostResult, HostRollback, RollbackFailure, RollbackPlan, RollbackSummary, rollback,
};
pub use run::{CommandOutcome, HostAnswer, RunFailure, RunPlan, RunReport, run};
