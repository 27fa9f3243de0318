//! `DebPackage`: a Debian package installed with apt (batou's
//! `package.DPKG`).

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};

/// A Debian package, installed (optionally at an exact version).
///
/// verify asks `dpkg-query` whether the package is installed; only when it
/// is not (or at another version) does update run `apt-get update` (unless
/// turned off) and `apt-get install -y`. apt waits up to two minutes for
/// the dpkg lock (another apt run, unattended-upgrades) instead of failing
/// at once. Extra apt configuration (`-o KEY=VALUE`) points apt at other
/// sources, e.g. a local repository.
///
/// ```
/// use batou_core::stdlib::DebPackage;
/// let nginx = DebPackage::new("nginx");
/// let pinned = DebPackage::new("postgresql-15")
///     .version("15.8-0+deb12u1")
///     .apt_option("Acquire::Retries", "3");
/// ```
pub struct DebPackage {
    name: String,
    version: Option<String>,
    apt_options: Vec<(String, String)>,
    update_lists: bool,
}

impl DebPackage {
    pub fn new(name: impl Into<String>) -> Self {
        DebPackage {
            name: name.into(),
            version: None,
            apt_options: Vec::new(),
            update_lists: true,
        }
    }

    /// Exactly this version (`apt-get install NAME=VERSION`, downgrading
    /// if need be).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// An apt configuration option for `apt-get` (`-o KEY=VALUE`), e.g.
    /// `Dir::Etc::SourceList`.
    pub fn apt_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.apt_options.push((key.into(), value.into()));
        self
    }

    /// Run `apt-get update` before installing (default: yes; only when
    /// something is to be installed).
    pub fn update_lists(mut self, update: bool) -> Self {
        self.update_lists = update;
        self
    }

    fn apt_get(&self, args: &[&str]) -> CommandSpec {
        let mut argv: Vec<String> = vec![
            "apt-get".into(),
            "-q".into(),
            "-o".into(),
            "DPkg::Lock::Timeout=120".into(),
        ];
        for (k, v) in &self.apt_options {
            argv.push("-o".into());
            argv.push(format!("{k}={v}"));
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        CommandSpec::argv(argv)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C")
    }

    /// The installed version, or `None` when not (fully) installed.
    fn installed(&self, ctx: &Deploy<'_>) -> Result<Option<String>> {
        let spec = CommandSpec::argv([
            "dpkg-query",
            "--show",
            "--showformat=${Status}\t${Version}",
            "--",
            &self.name,
        ]);
        match ctx.run(&spec) {
            Ok(out) => Ok(match out.stdout.split_once('\t') {
                Some(("install ok installed", version)) => Some(version.trim().to_string()),
                _ => None,
            }),
            // Exit 1: dpkg has never heard of the package.
            Err(Error::Command(e))
                if matches!(e.kind, CommandErrorKind::Failed { code: 1, .. }) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn valid_package_name(name: &str) -> bool {
    // Debian policy 5.6.1: lower-case letters, digits, `+ - .`, at least
    // two characters, starting with a letter or digit.
    name.len() >= 2
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

impl Component for DebPackage {
    fn label(&self) -> String {
        format!("DebPackage('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        if !valid_package_name(&self.name) {
            return Err(Error::usage(format!(
                "invalid Debian package name `{}`: lower-case letters, digits, `+`, `-` and \
                 `.`, at least two characters, starting with a letter or digit",
                self.name
            )));
        }
        if let Some(v) = &self.version
            && (v.is_empty() || v.contains(char::is_whitespace) || v.contains('='))
        {
            return Err(Error::usage(format!(
                "DebPackage `{}`: invalid version `{v}`",
                self.name
            )));
        }
        for (k, v) in &self.apt_options {
            if k.is_empty() || k.contains(['=', ' ', '\n']) || v.contains('\n') {
                return Err(Error::usage(format!(
                    "DebPackage `{}`: invalid apt option `{k}={v}`",
                    self.name
                )));
            }
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let installed = self.installed(ctx)?;
        let wanted = self.version.as_deref();
        let needs = match (&installed, wanted) {
            (None, _) => {
                ctx.log(format!(
                    "{} is not installed; will install it{}",
                    self.name,
                    wanted.map(|v| format!(" at {v}")).unwrap_or_default()
                ));
                true
            }
            (Some(have), Some(want)) if have != want => {
                ctx.log(format!("{} {have} is installed; wanted {want}", self.name));
                true
            }
            _ => false,
        };
        Ok(Verdict::update_if(needs))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        if self.update_lists {
            ctx.run(&self.apt_get(&["update"]))?;
        }
        let target = match &self.version {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        };
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        if self.version.is_some() {
            args.push("--allow-downgrades");
        }
        args.push(&target);
        ctx.run(&self.apt_get(&args))?;
        Ok(())
    }
}
