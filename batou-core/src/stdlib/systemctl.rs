//! Talking to a systemd manager with `systemctl`: the system manager, the
//! deploying user's own manager (`systemctl --user`), or another user's
//! manager (deploying as root for a service user).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec, UserRecord};

/// Which manager a unit belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// PID 1, `/etc/systemd/system`.
    System,
    /// `systemctl --user` of the user running the deploy.
    OwnUser,
    /// `systemctl --user` of this user, run through `runuser` (the deploy
    /// runs as root).
    User(String),
}

/// How to run `systemctl` for one manager, resolved on the target.
pub(crate) struct Systemctl {
    prefix: Vec<String>,
    env: Vec<(String, String)>,
    /// For messages: which manager this is.
    pub describe: String,
}

/// The manager's view of one unit (`systemctl show`).
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitStatus {
    pub load_state: String,
    pub active_state: String,
    pub need_daemon_reload: bool,
}

impl UnitStatus {
    /// Running, or on its way there (a `Restart=` in progress counts).
    pub fn is_running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }
}

impl Systemctl {
    pub fn system() -> Self {
        Systemctl {
            prefix: vec!["systemctl".into()],
            env: Vec::new(),
            describe: "the system manager".into(),
        }
    }

    /// The deploying user's manager. `XDG_RUNTIME_DIR` is where
    /// `systemctl --user` finds it; a deploy through `sudo -u` usually has
    /// none set, so the usual `/run/user/UID` is filled in.
    pub fn own_user(uid: u32, runtime_dir: Option<&Path>) -> Self {
        let runtime = runtime_dir
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")));
        Systemctl {
            prefix: vec!["systemctl".into(), "--user".into()],
            env: vec![("XDG_RUNTIME_DIR".into(), runtime.display().to_string())],
            describe: format!(
                "the user manager of uid {uid} (XDG_RUNTIME_DIR={})",
                runtime.display()
            ),
        }
    }

    /// Another user's manager, reached with `runuser` (so the deploy must
    /// run as root). `HOME` is set too: `systemctl --user enable` works on
    /// files under `~/.config`.
    pub fn other_user(user: &UserRecord, runtime_dir: Option<&Path>) -> Self {
        let runtime = runtime_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", user.uid)));
        let prefix = [
            "runuser",
            "-u",
            &user.name,
            "--",
            "env",
            &format!("XDG_RUNTIME_DIR={}", runtime.display()),
            &format!("HOME={}", user.home.display()),
            "systemctl",
            "--user",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Systemctl {
            prefix,
            env: Vec::new(),
            describe: format!(
                "the user manager of `{}` (XDG_RUNTIME_DIR={})",
                user.name,
                runtime.display()
            ),
        }
    }

    fn spec(&self, args: &[&str]) -> CommandSpec {
        let mut spec = CommandSpec::argv(
            self.prefix
                .iter()
                .map(String::as_str)
                .chain(args.iter().copied()),
        );
        for (k, v) in &self.env {
            spec = spec.env(k, v);
        }
        spec
    }

    /// Runs `systemctl ARGS`; a failure says which manager it was.
    pub fn run(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<String> {
        match ctx.run(&self.spec(args)) {
            Ok(out) => Ok(out.stdout),
            Err(Error::Command(e)) => Err(Error::msg(format!(
                "systemctl {} failed on {}: {e}",
                args.join(" "),
                self.describe
            ))),
            Err(e) => Err(e),
        }
    }

    /// `systemctl show` of the properties we look at. A manager that
    /// cannot be reached is an error that says how it was looked for.
    pub fn status(&self, ctx: &Deploy<'_>, unit: &str) -> Result<UnitStatus> {
        let out = self.run(
            ctx,
            &[
                "show",
                "-p",
                "LoadState,ActiveState,NeedDaemonReload",
                "--",
                unit,
            ],
        )?;
        let props: BTreeMap<&str, &str> = out
            .lines()
            .filter_map(|line| line.split_once('='))
            .collect();
        let get = |k: &str| props.get(k).copied().unwrap_or_default().to_string();
        Ok(UnitStatus {
            load_state: get("LoadState"),
            active_state: get("ActiveState"),
            need_daemon_reload: get("NeedDaemonReload") == "yes",
        })
    }

    /// `systemctl is-enabled`: `enabled`, `disabled`, `static`, `masked`,
    /// ..., or `not-found` when no unit file is there.
    pub fn enablement(&self, ctx: &Deploy<'_>, unit: &str) -> Result<String> {
        match ctx.run(&self.spec(&["is-enabled", "--", unit])) {
            Ok(out) => Ok(out.stdout.trim().to_string()),
            // Non-zero for every state but the enabled ones; the state is
            // still printed, except for a missing unit file.
            Err(Error::Command(e)) => match e.kind {
                CommandErrorKind::Failed { stdout, .. } if !stdout.trim().is_empty() => {
                    Ok(stdout.trim().to_string())
                }
                CommandErrorKind::Failed { stderr, .. }
                    if stderr.contains("No such file") || stderr.contains("not found") =>
                {
                    Ok("not-found".into())
                }
                kind => Err(Error::msg(format!(
                    "systemctl is-enabled {unit} failed on {}: {kind}",
                    self.describe
                ))),
            },
            Err(e) => Err(e),
        }
    }
}
