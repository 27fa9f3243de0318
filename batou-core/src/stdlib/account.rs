//! `User` and `UnixGroup`: accounts on the target, made with the shadow
//! tools (`useradd`, `usermod`, `groupadd`, `groupmod`), so the deploy must
//! run as root.
//!
//! Both are looked up through the C library (NSS), as every other tool on
//! the host sees them. A user or group made here can own files deployed
//! later in the same run: `Owner`/`Group` resolve names when they verify.

use std::path::PathBuf;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandSpec, UserRecord};

/// A login name as `useradd` accepts it by default on Debian: lower-case
/// letters, digits, `_` and `-`, not starting with a digit or `-`, at most
/// 32 characters.
fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid {kind} name `{name}`: use lower-case letters, digits, `_` and `-`, \
             starting with a letter or `_`, at most 32 characters"
        )))
    }
}

fn run(ctx: &Deploy<'_>, argv: Vec<String>) -> Result<()> {
    ctx.run(&CommandSpec::argv(argv))?;
    Ok(())
}

/// A user account: created when missing; its shell, home, primary group
/// and supplementary groups kept as given (drift is repaired with
/// `usermod`).
///
/// Supplementary groups are *added*: the user stays in groups it was put
/// into by others (as `usermod -a -G` does). Changing the home directory
/// only changes the passwd entry; nothing is moved.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::{UnixGroup, User};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Accounts;
///
/// impl Component for Accounts {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(UnixGroup::new("deploy"))?;
///         ctx.add(User::new("app").home("/srv/app").shell("/bin/bash").groups(["deploy"]))?;
///         ctx.add(File::new("/srv/app/app.conf").content("x\n").owner("app"))?;
///         Ok(())
///     }
/// }
/// ```
pub struct User {
    name: String,
    home: Option<PathBuf>,
    create_home: bool,
    shell: Option<String>,
    group: Option<String>,
    groups: Vec<String>,
    system: bool,
    /// `usermod` arguments found necessary by verify; `None`: create.
    changes: Option<Vec<String>>,
}

impl User {
    pub fn new(name: impl Into<String>) -> Self {
        User {
            name: name.into(),
            home: None,
            create_home: true,
            shell: None,
            group: None,
            groups: Vec::new(),
            system: false,
            changes: None,
        }
    }

    /// The home directory (absolute; default: `useradd`'s, `/home/NAME`).
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// Create the home directory with the user (default: yes).
    pub fn create_home(mut self, create: bool) -> Self {
        self.create_home = create;
        self
    }

    /// The login shell (absolute), e.g. `/bin/bash` or `/usr/sbin/nologin`.
    pub fn shell(mut self, shell: impl Into<String>) -> Self {
        self.shell = Some(shell.into());
        self
    }

    /// The primary group, which must exist (default: a new group named
    /// like the user, as `useradd` makes it).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Supplementary groups the user is a member of (at least).
    pub fn groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// A system account (`useradd --system`: an id below 1000, no aging).
    pub fn system(mut self, system: bool) -> Self {
        self.system = system;
        self
    }

    fn create_args(&self) -> Vec<String> {
        let mut argv = vec!["useradd".to_string()];
        if self.system {
            argv.push("--system".into());
        }
        if let Some(home) = &self.home {
            argv.extend(["--home-dir".into(), home.display().to_string()]);
        }
        argv.push(if self.create_home {
            "--create-home".into()
        } else {
            "--no-create-home".into()
        });
        if let Some(shell) = &self.shell {
            argv.extend(["--shell".into(), shell.clone()]);
        }
        if let Some(group) = &self.group {
            argv.extend(["--gid".into(), group.clone()]);
        }
        if !self.groups.is_empty() {
            argv.extend(["--groups".into(), self.groups.join(",")]);
        }
        argv.extend(["--".into(), self.name.clone()]);
        argv
    }

    /// What `usermod` has to change on an existing account.
    fn drift(&self, ctx: &mut Deploy<'_>, record: &UserRecord) -> Result<Vec<String>> {
        let mut args = Vec::new();
        if let Some(shell) = &self.shell
            && *shell != record.shell
        {
            ctx.log(format!("shell: {} -> {shell}", record.shell));
            args.extend(["--shell".into(), shell.clone()]);
        }
        if let Some(home) = &self.home
            && *home != record.home
        {
            ctx.log(format!(
                "home: {} -> {}",
                record.home.display(),
                home.display()
            ));
            args.extend(["--home".into(), home.display().to_string()]);
        }
        if let Some(group) = &self.group {
            match ctx.host().group_id(group)? {
                Some(gid) if gid == record.gid => {}
                _ => {
                    ctx.log(format!("primary group -> {group}"));
                    args.extend(["--gid".into(), group.clone()]);
                }
            }
        }
        if !self.groups.is_empty() {
            let out = ctx.run(&CommandSpec::argv(["id", "-nG", "--", &self.name]))?;
            let member: Vec<&str> = out.stdout.split_whitespace().collect();
            let missing: Vec<&String> = self
                .groups
                .iter()
                .filter(|g| !member.contains(&g.as_str()))
                .collect();
            if !missing.is_empty() {
                let list = missing
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                ctx.log(format!("add to groups: {list}"));
                args.extend(["--append".into(), "--groups".into(), list]);
            }
        }
        Ok(args)
    }
}

impl Component for User {
    fn label(&self) -> String {
        format!("User('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        check_name("user", &self.name)?;
        for group in self.group.iter().chain(&self.groups) {
            check_name("group", group)?;
        }
        if let Some(home) = &self.home
            && !home.is_absolute()
        {
            return Err(Error::usage(format!(
                "User `{}`: the home directory must be absolute, not `{}`",
                self.name,
                home.display()
            )));
        }
        if let Some(shell) = &self.shell
            && !shell.starts_with('/')
        {
            return Err(Error::usage(format!(
                "User `{}`: the shell must be an absolute path, not `{shell}`",
                self.name
            )));
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let Some(record) = ctx.host().user(&self.name)? else {
            ctx.log(format!("user {} does not exist", self.name));
            self.changes = None;
            return Ok(Verdict::NeedsUpdate);
        };
        let changes = self.drift(ctx, &record)?;
        let verdict = Verdict::update_if(!changes.is_empty());
        self.changes = Some(changes);
        Ok(verdict)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        match self.changes.take() {
            None => run(ctx, self.create_args()),
            Some(mut args) => {
                args.insert(0, "usermod".into());
                args.extend(["--".into(), self.name.clone()]);
                run(ctx, args)
            }
        }
    }
}

/// A group account (`groupadd`), optionally with a fixed gid (drift is
/// repaired with `groupmod --gid`). Named `UnixGroup` because
/// [`super::Group`] is the owning group of a path.
///
/// ```
/// use batou_core::stdlib::UnixGroup;
/// let group = UnixGroup::new("deploy").gid(2001);
/// ```
pub struct UnixGroup {
    name: String,
    gid: Option<u32>,
    system: bool,
    /// Set by verify: the group exists (with the wrong gid).
    exists: bool,
}

impl UnixGroup {
    pub fn new(name: impl Into<String>) -> Self {
        UnixGroup {
            name: name.into(),
            gid: None,
            system: false,
            exists: false,
        }
    }

    /// A fixed group id.
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// A system group (`groupadd --system`).
    pub fn system(mut self, system: bool) -> Self {
        self.system = system;
        self
    }
}

impl Component for UnixGroup {
    fn label(&self) -> String {
        format!("UnixGroup('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        check_name("group", &self.name)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        // A numeric name would be taken for an id by the lookup; names are
        // checked in configure never to be numeric.
        let gid = ctx.host().group_id(&self.name)?;
        self.exists = gid.is_some();
        Ok(match (gid, self.gid) {
            (None, _) => {
                ctx.log(format!("group {} does not exist", self.name));
                Verdict::NeedsUpdate
            }
            (Some(have), Some(want)) if have != want => {
                ctx.log(format!("gid: {have} -> {want}"));
                Verdict::NeedsUpdate
            }
            _ => Verdict::UpToDate,
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let mut argv: Vec<String> = vec![if self.exists { "groupmod" } else { "groupadd" }.into()];
        if self.system && !self.exists {
            argv.push("--system".into());
        }
        if let Some(gid) = self.gid {
            argv.extend(["--gid".into(), gid.to_string()]);
        }
        argv.extend(["--".into(), self.name.clone()]);
        run(ctx, argv)
    }
}
