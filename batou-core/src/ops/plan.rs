//! The plan of a run: the command line's choices, validated, and then
//! merged with the environment's settings exactly once (ripgrep's
//! low-level → high-level arguments).

use std::path::PathBuf;
use std::time::Duration;

use crate::configure::Selection;
use crate::environment::{LOCAL_METHOD, Settings};
use crate::rollout::{Limit, RolloutSettings, Serial};

/// What a `deploy` run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Verify every component and update what differs.
    Deploy,
    /// `-P`: verify only and show what would change; write nothing.
    Predict(Reach),
    /// `-c`: configure the model and check it; touch no host.
    Check(Reach),
}

/// Which machines a prediction or check reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The hosts, as the environment's `connect_method` reaches them.
    Environment,
    /// `--local`: this machine, as `connect_method = local` would.
    ThisMachine,
}

/// A combination of flags that makes no run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("The --local option is only to be used with --consistency-only or --predict-only.")]
    LocalDeploy,
}

impl Mode {
    /// The mode the flags `-c`, `-P` and `--local` ask for; `-c` wins
    /// over `-P` (as in batou). `--local` alone is an error: a real deploy
    /// always goes where the environment says.
    pub fn from_flags(
        consistency_only: bool,
        predict_only: bool,
        local: bool,
    ) -> Result<Mode, PlanError> {
        let reach = if local {
            Reach::ThisMachine
        } else {
            Reach::Environment
        };
        match (consistency_only, predict_only) {
            (true, _) => Ok(Mode::Check(reach)),
            (false, true) => Ok(Mode::Predict(reach)),
            (false, false) if local => Err(PlanError::LocalDeploy),
            (false, false) => Ok(Mode::Deploy),
        }
    }

    /// Whether nothing is written (a prediction).
    pub fn predicts(self) -> bool {
        matches!(self, Mode::Predict(_))
    }

    /// Whether the run stops after configuring.
    pub fn checks_only(self) -> bool {
        matches!(self, Mode::Check(_))
    }

    pub fn reach(self) -> Reach {
        match self {
            Mode::Deploy => Reach::Environment,
            Mode::Predict(reach) | Mode::Check(reach) => reach,
        }
    }
}

/// Which events remote agents send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDetail {
    /// What a transcript shows: changed or slow components only.
    Transcript,
    /// Every component (the `--json` stream).
    All,
}

/// How the hosts are reached: the environment's `connect_method` as a
/// value rather than a string compared everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// In process on this machine, no agent.
    Local,
    /// Through the transport registered under this name.
    Remote(String),
}

impl Connect {
    /// The method `settings` name.
    pub fn of(settings: &Settings) -> Connect {
        if settings.connect_method == LOCAL_METHOD {
            Connect::Local
        } else {
            Connect::Remote(settings.connect_method.clone())
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Connect::Remote(_))
    }

    /// The `connect_method` spelling.
    pub fn name(&self) -> &str {
        match self {
            Connect::Local => LOCAL_METHOD,
            Connect::Remote(name) => name,
        }
    }
}

/// Everything a `deploy` run was asked to do; always a valid request
/// (see [`Mode::from_flags`]). The environment's settings are merged in
/// by [`Plan::settle`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// The deployment project (the directory holding `environments/`).
    pub project_dir: PathBuf,
    /// The environment's name (see [`crate::environment::environment_name`]).
    pub environment: String,
    pub mode: Mode,
    /// `-p`: every host's platform (`Some("")`: none).
    pub platform: Option<String>,
    /// `--hosts`, `--components` and their `--skip-` forms.
    pub selection: Selection,
    /// `-j`, `-t`, `--connect-timeout`, `--command-timeout`: they win over
    /// the environment's `jobs`, `timeout`, `connect_timeout` and
    /// `command_timeout`.
    pub jobs: Option<usize>,
    pub timeout: Option<u64>,
    pub connect_timeout: Option<u64>,
    pub command_timeout: Option<u64>,
    /// `--serial` and `--max-fail`: they win over the environment's
    /// `serial` and `max_fail`.
    pub serial: Option<Serial>,
    pub max_fail: Option<Limit>,
    /// `--batch-wait`: wins over the environment's `batch_wait`.
    pub batch_wait: Option<u64>,
    /// `--break-lock`: take over a target's deploy lock from a hung deploy.
    pub break_lock: bool,
    /// `--no-revert`: a failed root stays as it failed.
    pub no_revert: bool,
    pub events: EventDetail,
    /// `--full-diff`: the roots whose long diffs are shown whole.
    pub full_diff: crate::diff::FullDiff,
}

/// The flags merged with the environment's settings: what the run uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// Roots deployed at once.
    pub jobs: usize,
    pub connect: Connect,
    pub connect_timeout: Duration,
    /// The environment's `agent_binary`, under the project; `None`: this
    /// executable.
    pub agent_binary: Option<PathBuf>,
    /// Batches and the failed hosts tolerated.
    pub rollout: RolloutSettings,
}

impl Plan {
    /// A plan with the environment's own settings for everything the
    /// command line leaves open.
    pub fn new(project_dir: impl Into<PathBuf>, environment: &str, mode: Mode) -> Plan {
        Plan {
            project_dir: project_dir.into(),
            environment: crate::environment::environment_name(environment),
            mode,
            platform: None,
            selection: Selection::default(),
            jobs: None,
            timeout: None,
            connect_timeout: None,
            command_timeout: None,
            serial: None,
            max_fail: None,
            batch_wait: None,
            break_lock: false,
            no_revert: false,
            events: EventDetail::Transcript,
            full_diff: crate::diff::FullDiff::None,
        }
    }

    /// Writes the flags into `settings` (so that components, templates
    /// and agents see the values the run uses) and returns them. The one
    /// place where flags meet settings.
    pub fn settle(&self, settings: &mut Settings) -> Settled {
        if let Some(jobs) = self.jobs {
            settings.jobs = jobs;
        }
        if let Some(t) = self.timeout {
            settings.timeout = t;
        }
        if let Some(t) = self.command_timeout {
            settings.command_timeout = Some(t);
        }
        if let Some(t) = self.connect_timeout {
            settings.connect_timeout = t;
        }
        if let Some(serial) = &self.serial {
            settings.serial = Some(serial.clone());
        }
        if let Some(max_fail) = self.max_fail {
            settings.max_fail = Some(max_fail);
        }
        if let Some(wait) = self.batch_wait {
            settings.batch_wait = Some(wait);
        }
        if self.no_revert {
            settings.revert = false;
        }
        if self.mode.reach() == Reach::ThisMachine {
            settings.connect_method = LOCAL_METHOD.into();
        }
        Settled {
            jobs: settings.jobs,
            connect: Connect::of(settings),
            connect_timeout: Duration::from_secs(settings.connect_timeout),
            agent_binary: settings
                .agent_binary
                .as_ref()
                .map(|p| self.project_dir.join(p)),
            rollout: RolloutSettings {
                serial: settings.serial.clone(),
                max_fail: settings.max_fail,
                batch_wait: settings.batch_wait,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_one_mode_and_local_needs_check_or_predict() {
        assert_eq!(Mode::from_flags(false, false, false), Ok(Mode::Deploy));
        assert_eq!(
            Mode::from_flags(false, true, true),
            Ok(Mode::Predict(Reach::ThisMachine))
        );
        assert_eq!(
            Mode::from_flags(true, true, false),
            Ok(Mode::Check(Reach::Environment))
        );
        assert_eq!(
            Mode::from_flags(false, false, true),
            Err(PlanError::LocalDeploy)
        );
    }

    #[test]
    fn flags_win_over_settings_and_are_written_into_them() {
        let mut settings = Settings {
            connect_method: "ssh".into(),
            jobs: 3,
            connect_timeout: 7,
            agent_binary: Some("bin/agent".into()),
            ..Settings::default()
        };
        let mut plan = Plan::new("/p", "prod.cfg", Mode::Check(Reach::ThisMachine));
        plan.jobs = Some(5);
        plan.command_timeout = Some(60);
        plan.serial = Some(Serial::parse("2").unwrap());
        settings.max_fail = Some(Limit::Count(1));
        let settled = plan.settle(&mut settings);
        assert_eq!(settled.rollout.serial, Some(Serial(vec![Limit::Count(2)])));
        assert_eq!(settled.rollout.max_fail, Some(Limit::Count(1)));
        assert_eq!(plan.environment, "prod");
        assert_eq!(settled.jobs, 5);
        assert_eq!(settled.connect, Connect::Local);
        assert_eq!(settled.connect_timeout, Duration::from_secs(7));
        assert_eq!(settled.agent_binary, Some(PathBuf::from("/p/bin/agent")));
        assert_eq!(settings.jobs, 5);
        assert_eq!(settings.command_timeout, Some(60));
        assert_eq!(settings.connect_method, "local");
    }

    #[test]
    fn the_environment_decides_where_flags_are_silent() {
        let mut settings = Settings {
            connect_method: "ssh2".into(),
            ..Settings::default()
        };
        let settled = Plan::new("/p", "prod", Mode::Deploy).settle(&mut settings);
        assert_eq!(settled.connect, Connect::Remote("ssh2".into()));
        assert_eq!(settled.jobs, 1);
        assert_eq!(settled.agent_binary, None);
        assert_eq!(
            settings,
            Settings {
                connect_method: "ssh2".into(),
                ..Settings::default()
            }
        );
    }
}
