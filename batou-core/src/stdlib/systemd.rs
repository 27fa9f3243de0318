//! `SystemdUnit`: a systemd unit file, loaded, enabled and running — the
//! modern replacement for batou's supervisor.
//!
//! What a deploy does, in order, and only what is needed:
//!
//! 1. writes the unit file atomically when its content differs (with a
//!    diff);
//! 2. `systemctl daemon-reload` when the file was written or the manager
//!    says the file on disk is newer than what it loaded
//!    (`NeedDaemonReload`, e.g. after a deploy that failed half-way);
//! 3. `systemctl enable` when the unit is `disabled` (units without an
//!    `[Install]` section are `static` and left alone);
//! 4. `systemctl restart` when the unit was reloaded or any of its
//!    dependencies ([`SystemdUnit::depends_on`], deployed first as its
//!    sub-components) changed; `systemctl start` when it is not running.
//!
//! Users and managers are resolved at verify time, so a `User` created
//! earlier in the same deploy can own a user unit.

use std::path::{Path, PathBuf};

use minijinja::Value;
use serde::Serialize;

use super::content::show_change;
use super::systemctl::{Scope, Systemctl, UnitStatus};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::handlers::Cause;
use crate::host::FileKind;

/// The unit types systemd knows, by file suffix.
const UNIT_SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "timer",
    "path",
    "target",
    "mount",
    "automount",
    "swap",
    "slice",
    "scope",
    "device",
];

/// A systemd unit: its file, and the manager's state of it.
///
/// System units go to `/etc/systemd/system`; [`SystemdUnit::user_unit`]
/// puts the unit under the deploying user's `~/.config/systemd/user` and
/// drives `systemctl --user`; [`SystemdUnit::user_unit_of`] does the same
/// for a service user when the deploy runs as root. A user manager only
/// runs while the user is logged in, unless lingering is enabled
/// (`loginctl enable-linger USER`).
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::SystemdUnit;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Worker;
///
/// impl Component for Worker {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             SystemdUnit::new("worker.service")
///                 .content("[Service]\nExecStart=/usr/bin/worker\n[Install]\nWantedBy=default.target\n")
///                 .user_unit_of("app")
///                 // Restarted whenever its config changes.
///                 .depends_on(File::new("worker.toml").content("threads = 4\n")),
///         )?;
///         Ok(())
///     }
/// }
/// ```
pub struct SystemdUnit {
    name: String,
    source: UnitSource,
    scope: Scope,
    unit_dir: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    enable: bool,
    running: bool,
    deps: Vec<Box<dyn Component>>,
    /// The rendered unit file (configure).
    content: Vec<u8>,
    /// A template rendered it from a secret: its diff is never shown.
    from_secret: bool,
    /// Resolved in verify, acted on in update.
    plan: Option<Plan>,
}

enum UnitSource {
    None,
    Text(String),
    Template {
        template: crate::template::Template,
        context: Option<Value>,
        args: Vec<(String, Value)>,
    },
}

/// Where the unit file is, who owns it, how to reach its manager, and
/// what verify found to do.
struct Plan {
    path: PathBuf,
    /// For user units written by root: (uid, gid) of the user.
    owner: Option<(u32, u32)>,
    systemctl: Systemctl,
    write: bool,
    reload: bool,
    restart: bool,
    start: bool,
    stop: bool,
    enable: bool,
    disable: bool,
}

impl Plan {
    fn anything(&self) -> bool {
        self.write
            || self.reload
            || self.restart
            || self.start
            || self.stop
            || self.enable
            || self.disable
    }
}

impl SystemdUnit {
    /// A unit named `name`, with its type as suffix (`app.service`,
    /// `backup.timer`).
    pub fn new(name: impl Into<String>) -> Self {
        SystemdUnit {
            name: name.into(),
            source: UnitSource::None,
            scope: Scope::System,
            unit_dir: None,
            runtime_dir: None,
            enable: true,
            running: true,
            deps: Vec::new(),
            content: Vec::new(),
            from_secret: false,
            plan: None,
        }
    }

    /// The unit file's text, used as is.
    pub fn content(mut self, text: impl Into<String>) -> Self {
        self.source = UnitSource::Text(text.into());
        self
    }

    /// The unit file rendered from a template (batou's settings; `component`
    /// is the component that added the unit unless [`SystemdUnit::context`]
    /// says otherwise).
    pub fn template(mut self, template: impl Into<crate::template::Template>) -> Self {
        self.source = UnitSource::Template {
            template: template.into(),
            context: None,
            args: Vec::new(),
        };
        self
    }

    /// What the template sees as `component`.
    pub fn context(mut self, component: &impl Serialize) -> Self {
        if let UnitSource::Template { context, .. } = &mut self.source {
            *context = Some(Value::from(minijinja::value::Serde(component)));
        }
        self
    }

    /// An extra template variable.
    pub fn arg(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        if let UnitSource::Template { args, .. } = &mut self.source {
            args.push((name.into(), Value::from(minijinja::value::Serde(value))));
        }
        self
    }

    /// A unit of the deploying user's own manager (`systemctl --user`).
    pub fn user_unit(mut self) -> Self {
        self.scope = Scope::OwnUser;
        self
    }

    /// A unit of `user`'s manager, driven through `runuser` (the deploy
    /// runs as root); the unit file is owned by that user.
    pub fn user_unit_of(mut self, user: impl Into<String>) -> Self {
        self.scope = Scope::User(user.into());
        self
    }

    /// Where the unit file goes (default `/etc/systemd/system`, or the
    /// user's `~/.config/systemd/user`).
    pub fn unit_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.unit_dir = Some(dir.into());
        self
    }

    /// The user manager's `XDG_RUNTIME_DIR` (default `/run/user/UID`).
    pub fn runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_dir = Some(dir.into());
        self
    }

    /// Enabled at boot (default) or disabled.
    pub fn enable(mut self, enable: bool) -> Self {
        self.enable = enable;
        self
    }

    /// Running (default) or stopped.
    pub fn running(mut self, running: bool) -> Self {
        self.running = running;
        self
    }

    /// A component the service depends on (its config file, its binary):
    /// deployed before the unit, and when it changed the service is
    /// restarted. batou's `Program.dependencies`.
    pub fn depends_on(mut self, component: impl Component) -> Self {
        self.deps.push(Box::new(component));
        self
    }

    /// The unit file as it will be written (after configure).
    pub fn rendered(&self) -> &[u8] {
        &self.content
    }

    /// Where the file goes and how the manager is reached; `None` when the
    /// user does not exist (yet).
    fn resolve(&self, ctx: &Deploy<'_>) -> Result<Option<Plan>> {
        let Some(found) = locate(&self.name, &self.scope, self.runtime_dir.as_deref(), ctx)? else {
            return Ok(None);
        };
        let dir = self.unit_dir.clone().unwrap_or(found.unit_dir);
        Ok(Some(Plan {
            path: dir.join(&self.name),
            owner: found.owner,
            systemctl: found.systemctl,
            write: false,
            reload: false,
            restart: false,
            start: false,
            stop: false,
            enable: false,
            disable: false,
        }))
    }

    /// A before-update handler that stops this unit when it is running:
    /// a cold deployment ([`crate::stdlib::Deployment::Cold`]). The unit's
    /// own deploy starts it again afterwards, since it then finds it
    /// stopped. Nothing to stop while the unit's user does not exist yet.
    pub(crate) fn stop_handler(
        &self,
    ) -> impl FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static {
        let name = self.name.clone();
        let scope = self.scope.clone();
        let runtime_dir = self.runtime_dir.clone();
        move |ctx, _cause| {
            let Some(found) = locate(&name, &scope, runtime_dir.as_deref(), ctx)? else {
                return Ok(());
            };
            // Checked every time rather than remembered: the same model
            // can be deployed more than once.
            if found.systemctl.status(ctx, &name)?.is_running() {
                found.systemctl.run(ctx, &["stop", "--", &name])?;
                ctx.log(format!("stopped {name} (cold deployment)"));
            }
            Ok(())
        }
    }

    /// The unit's revert step: when its root is undone (the old unit
    /// file and its dependencies already back), the manager reloads and
    /// the service restarts with them; a unit the deploy created, now
    /// removed again, is stopped.
    fn revert_handler(&self) -> impl FnMut(&mut Deploy<'_>, &Cause) -> Result<()> + Send + 'static {
        let name = self.name.clone();
        let scope = self.scope.clone();
        let runtime_dir = self.runtime_dir.clone();
        let unit_dir = self.unit_dir.clone();
        let running = self.running;
        move |ctx, _cause| {
            let Some(found) = locate(&name, &scope, runtime_dir.as_deref(), ctx)? else {
                return Ok(());
            };
            let path = unit_dir.clone().unwrap_or(found.unit_dir).join(&name);
            let sc = &found.systemctl;
            sc.run(ctx, &["daemon-reload"])?;
            if ctx.host().stat(&path)?.is_none() {
                if sc.status(ctx, &name)?.is_running() {
                    sc.run(ctx, &["stop", "--", &name])?;
                    ctx.log(format!("stopped {name} (its unit was removed)"));
                }
            } else if running {
                sc.run(ctx, &["restart", "--", &name])?;
                ctx.log(format!("restarted {name} with its old unit"));
            }
            Ok(())
        }
    }

    /// Creates the missing directories above the unit file, owned by the
    /// unit's user, so that user's manager can add `*.wants` links there.
    fn make_dirs(&self, ctx: &Deploy<'_>, path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
        let mut missing = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d.as_os_str().is_empty() || ctx.host().stat(d)?.is_some() {
                break;
            }
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        for d in missing.iter().rev() {
            ctx.host().mkdir(d, false)?;
            if let Some((uid, gid)) = owner {
                ctx.host().chown(d, Some(uid), Some(gid))?;
            }
        }
        Ok(())
    }
}

impl Component for SystemdUnit {
    fn label(&self) -> String {
        format!("SystemdUnit('{}')", self.name)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        check_unit_name(&self.name)?;
        if let Scope::User(user) = &self.scope
            && user.trim().is_empty()
        {
            return Err(Error::usage(format!(
                "{}: user_unit_of(..) needs a user name",
                self.name
            )));
        }
        let text = match std::mem::replace(&mut self.source, UnitSource::None) {
            UnitSource::None => {
                return Err(Error::usage(format!(
                    "{}: a unit needs content: give .content(..) or .template(..)",
                    self.name
                )));
            }
            UnitSource::Text(text) => text,
            UnitSource::Template {
                template,
                context,
                args,
            } => ctx.render_template_value(&template, context.as_ref(), &args)?,
        };
        if text.trim().is_empty() {
            return Err(Error::usage(format!(
                "{}: the unit file is empty",
                self.name
            )));
        }
        self.content = text.into_bytes();
        self.from_secret = ctx.rendered_from_secret(&self.content);
        if let Some(dir) = &self.unit_dir {
            self.unit_dir = Some(ctx.map(dir));
        }
        for dep in std::mem::take(&mut self.deps) {
            ctx.add_boxed(dep)?;
        }
        ctx.on_revert("restart with the old unit", self.revert_handler());
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let Some(mut plan) = self.resolve(ctx)? else {
            let Scope::User(user) = &self.scope else {
                unreachable!("only a named user can be missing")
            };
            if ctx.predicting() {
                // Possibly created by a component before this one.
                ctx.log(format!(
                    "user `{user}` does not exist (yet); cannot check {}",
                    self.name
                ));
                return Ok(Verdict::NeedsUpdate);
            }
            return Err(Error::usage(format!(
                "unknown user `{user}` (the owner of the user unit {})",
                self.name
            )));
        };
        let stat = ctx.host().stat(&plan.path)?;
        let current = match stat {
            Some(s) if s.kind == FileKind::File => ctx.host().read(&plan.path)?,
            _ => None,
        };
        plan.write = current.as_deref() != Some(&self.content[..]);
        if plan.write {
            show_change(
                ctx,
                self.name.clone(),
                current.as_deref().unwrap_or_default(),
                &self.content,
                true,
                self.from_secret.then_some(true),
            );
        }
        let status = plan.systemctl.status(ctx, &self.name)?;
        plan.reload = plan.write || status.need_daemon_reload;
        self.plan_state(ctx, &mut plan, &status)?;
        let verdict = Verdict::update_if(plan.anything());
        self.plan = Some(plan);
        Ok(verdict)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let Some(plan) = self.plan.take() else {
            return Err(Error::msg(format!("{}: update without verify", self.name)));
        };
        if plan.write {
            self.make_dirs(ctx, &plan.path, plan.owner)?;
            if let Some(s) = ctx.host().stat(&plan.path)?
                && s.kind != FileKind::File
            {
                ctx.host().remove(&plan.path)?;
            }
            ctx.host().write(&plan.path, &self.content, Some(0o644))?;
            if let Some((uid, gid)) = plan.owner {
                ctx.host().chown(&plan.path, Some(uid), Some(gid))?;
            }
        }
        let sc = &plan.systemctl;
        if plan.reload {
            sc.run(ctx, &["daemon-reload"])?;
        }
        // After a reload the manager knows a new file; ask again.
        let enablement = sc.enablement(ctx, &self.name)?;
        if self.enable && enablement == "disabled" {
            sc.run(ctx, &["enable", "--", &self.name])?;
        } else if !self.enable && enablement == "enabled" {
            sc.run(ctx, &["disable", "--", &self.name])?;
        }
        // A cold deployment's handler may have stopped the unit since
        // verify; then it is started even though verify found it running.
        let start = plan.start
            || (self.running && !plan.restart && !sc.status(ctx, &self.name)?.is_running());
        let action = if plan.restart {
            Some(("restart", "restarted"))
        } else if start {
            Some(("start", "started"))
        } else if plan.stop {
            Some(("stop", "stopped"))
        } else {
            None
        };
        if let Some((verb, done)) = action {
            if let Err(e) = sc.run(ctx, &[verb, "--", &self.name]) {
                return Err(self.with_status(ctx, sc, e.to_string()));
            }
            ctx.log(format!("{done} {}", self.name));
        }
        if self.running && (plan.restart || start) {
            let now = sc.status(ctx, &self.name)?;
            if !now.is_running() {
                let why = format!("{} is {} after starting it", self.name, now.active_state);
                return Err(self.with_status(ctx, sc, why));
            }
        }
        Ok(())
    }
}

impl SystemdUnit {
    /// `message`, followed by what `systemctl status` says about the unit.
    fn with_status(&self, ctx: &Deploy<'_>, sc: &Systemctl, message: String) -> Error {
        let status = match sc.run(ctx, &["status", "--no-pager", "--", &self.name]) {
            Ok(text) => text,
            // `status` exits non-zero for a failed unit; its text is in
            // the error.
            Err(e) => e.to_string(),
        };
        Error::msg(format!("{message}\n{}", status.trim_end()))
    }

    /// What to do about enablement and the running state.
    fn plan_state(&self, ctx: &Deploy<'_>, plan: &mut Plan, status: &UnitStatus) -> Result<()> {
        if status.load_state == "masked" {
            return Err(Error::usage(format!(
                "{} is masked on {}; unmask it first (systemctl unmask)",
                self.name, plan.systemctl.describe
            )));
        }
        if !plan.write {
            let enablement = plan.systemctl.enablement(ctx, &self.name)?;
            plan.enable = self.enable && enablement == "disabled";
            plan.disable = !self.enable && enablement == "enabled";
        }
        let running = status.is_running();
        if self.running {
            let changed = plan.reload || ctx.any_sub_changed();
            plan.restart = running && changed;
            plan.start = !running;
        } else {
            plan.stop = running;
        }
        Ok(())
    }
}

/// A unit's default directory, the owner of its file, and its manager.
struct Located {
    unit_dir: PathBuf,
    owner: Option<(u32, u32)>,
    systemctl: Systemctl,
}

/// Resolves `scope` on the target; `None` when its user does not exist
/// (yet).
fn locate(
    name: &str,
    scope: &Scope,
    runtime_dir: Option<&Path>,
    ctx: &Deploy<'_>,
) -> Result<Option<Located>> {
    Ok(Some(match scope {
        Scope::System => Located {
            unit_dir: PathBuf::from("/etc/systemd/system"),
            owner: None,
            systemctl: Systemctl::system(),
        },
        Scope::OwnUser => {
            let home = std::env::var_os("HOME").ok_or_else(|| {
                Error::usage(format!(
                    "{name}: HOME is not set, so the user unit directory is unknown; \
                     give .unit_dir(..)"
                ))
            })?;
            Located {
                unit_dir: PathBuf::from(home).join(".config/systemd/user"),
                owner: None,
                systemctl: Systemctl::own_user(ctx.host().current_uid(), runtime_dir),
            }
        }
        Scope::User(user) => {
            let Some(user) = ctx.host().user(user)? else {
                return Ok(None);
            };
            let systemctl = if user.uid == ctx.host().current_uid() {
                Systemctl::own_user(user.uid, runtime_dir)
            } else {
                Systemctl::other_user(&user, runtime_dir)
            };
            Located {
                unit_dir: user.home.join(".config/systemd/user"),
                owner: Some((user.uid, user.gid)),
                systemctl,
            }
        }
    }))
}

/// `app.service`: a known type suffix and no path separator.
fn check_unit_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::usage(format!(
            "invalid systemd unit name `{name}`: {why}"
        )))
    };
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return bad("it needs a type suffix such as `.service`");
    };
    if !UNIT_SUFFIXES.contains(&suffix) {
        return bad(&format!(
            "unknown unit type `.{suffix}` (one of .{})",
            UNIT_SUFFIXES.join(", .")
        ));
    }
    if stem.is_empty()
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
    {
        return bad("use letters, digits and `:-_.\\@` only");
    }
    Ok(())
}
