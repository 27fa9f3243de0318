//! Nagios / Icinga checks collected from the whole environment (batou's
//! `batou.lib.nagios`): [`ServiceCheck`]s anywhere provide their
//! definition under [`NAGIOS_SERVICE_KEY`]; a [`NagiosServer`] writes all
//! of them, from every host, as nagios object definitions (`define
//! service`, `define servicedependency`, in batou's layout); an
//! [`NrpeHost`] writes the `command[NAME]=…` lines of its own host's NRPE
//! checks. Both are the collector pattern of `CronJob`/`CronTab`: a check
//! no collector requires is an unused resource, a configuration error.
//!
//! Both files are written through `File` (atomic, a diff on change,
//! nothing when predicting); an optional `reload` command runs only when
//! the file changed. A marker in the workdir is written before the reload
//! and removed once it succeeded, so a reload that failed (or was
//! interrupted) runs again on the next deploy, even though the file is
//! then unchanged.

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Deploy, Require, Sub, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;

use super::File;

/// The resource key under which `ServiceCheck`s provide their definition.
pub const NAGIOS_SERVICE_KEY: &str = "batou:nagios-service";

/// The reload markers, in the collector's workdir.
const SERVER_MARKER: &str = ".nagios-server.reload-pending";
const NRPE_MARKER: &str = ".nrpe-host.reload-pending";

/// What a check provides (and collectors render).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Service {
    host: String,
    description: String,
    check_command: String,
    servicegroups: String,
    contact_groups: String,
    notes_url: String,
    depend_on: Vec<(String, String)>,
    /// The NRPE command's name and command line, for an NRPE check.
    nrpe: Option<(String, String)>,
}

/// One nagios service check of the host it is configured on (batou's
/// `ServiceCheck`): a direct check (`check_command COMMAND!ARGS`, run by
/// the nagios server) or, with [`ServiceCheck::nrpe`], one the server runs
/// through NRPE on this host (`check_nrpe!NAME`, and `command[NAME]=COMMAND
/// ARGS` in this host's [`NrpeHost`] file).
///
/// ```
/// use batou_core::stdlib::ServiceCheck;
/// let http = ServiceCheck::new("http")
///     .command("check_http")
///     .args("-H localhost -u /login.html")
///     .depend_on("localhost", "Supervisor");
/// let disk = ServiceCheck::new("App disk")
///     .nrpe()
///     .command("/usr/lib/nagios/plugins/check_disk")
///     .args("-w 20% -c 10% -p /srv");
/// ```
pub struct ServiceCheck {
    description: String,
    command: String,
    args: String,
    notes_url: String,
    servicegroups: Option<String>,
    contact_groups: Vec<String>,
    depend_on: Vec<(String, String)>,
    nrpe: bool,
    name: Option<String>,
}

impl ServiceCheck {
    /// A check named `description` (its `service_description`; `,` becomes
    /// `_`, as in batou, since business processes cannot refer to it).
    pub fn new(description: impl Into<String>) -> Self {
        ServiceCheck {
            description: description.into(),
            command: String::new(),
            args: String::new(),
            notes_url: String::new(),
            servicegroups: None,
            contact_groups: Vec::new(),
            depend_on: Vec::new(),
            nrpe: false,
            name: None,
        }
    }

    /// Required: the nagios command (direct) or the plugin's path (NRPE).
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    /// The command's arguments (`!`-joined for a direct check).
    pub fn args(mut self, args: impl Into<String>) -> Self {
        self.args = args.into();
        self
    }

    pub fn notes_url(mut self, url: impl Into<String>) -> Self {
        self.notes_url = url.into();
        self
    }

    /// The service groups (default `direct`, or `nrpe` for an NRPE check).
    pub fn servicegroups(mut self, groups: impl Into<String>) -> Self {
        self.servicegroups = Some(groups.into());
        self
    }

    /// Contact groups notified for this check.
    pub fn contact_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.contact_groups
            .extend(groups.into_iter().map(Into::into));
        self
    }

    /// This check depends on the check `description` of `host` (a
    /// `servicedependency`).
    pub fn depend_on(mut self, host: impl Into<String>, description: impl Into<String>) -> Self {
        self.depend_on.push((host.into(), description.into()));
        self
    }

    /// Run through NRPE on this host.
    pub fn nrpe(mut self) -> Self {
        self.nrpe = true;
        self
    }

    /// The NRPE command's name (default: the description in lower case,
    /// spaces as `_`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(super) fn definition(&self, host: &str) -> Result<Service> {
        let bad = |why: String| {
            Err(Error::usage(format!(
                "ServiceCheck `{}`: {why}",
                self.description
            )))
        };
        let description = self.description.trim().replace(',', "_");
        if description.is_empty() {
            return bad("a description is required".into());
        }
        if self.command.trim().is_empty() {
            return bad("a command is required".into());
        }
        let groups = self.servicegroups.clone();
        let texts = [
            &self.description,
            &self.command,
            &self.args,
            &self.notes_url,
        ]
        .into_iter()
        .chain(&self.contact_groups)
        .chain(&groups)
        .chain(self.depend_on.iter().flat_map(|(h, d)| [h, d]));
        for text in texts {
            if text.contains(['\n', '\r', '}', '{']) {
                return bad(format!(
                    "{text:?}: no line breaks or braces (they would break the object definition)"
                ));
            }
        }
        for group in &self.contact_groups {
            if group.trim().is_empty() || group.contains([',', ' ']) {
                return bad(format!("invalid contact group `{group}`"));
            }
        }
        let nrpe = if self.nrpe {
            let name = self
                .name
                .clone()
                .unwrap_or_else(|| description.to_lowercase().replace(' ', "_"));
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return bad(format!(
                    "invalid NRPE command name `{name}` (letters, digits, `_-.`)"
                ));
            }
            let line = format!("{} {}", self.command.trim(), self.args.trim());
            Some((name, line.trim_end().to_string()))
        } else {
            if self.name.is_some() {
                return bad("`name` is for NRPE checks (add .nrpe())".into());
            }
            None
        };
        let check_command = match &nrpe {
            Some((name, _)) => format!("check_nrpe!{name}"),
            None if self.args.trim().is_empty() => self.command.trim().to_string(),
            None => format!("{}!{}", self.command.trim(), self.args.trim()),
        };
        let default_group = if self.nrpe { "nrpe" } else { "direct" };
        Ok(Service {
            host: host.to_string(),
            description,
            check_command,
            servicegroups: groups.unwrap_or_else(|| default_group.into()),
            contact_groups: self.contact_groups.join(","),
            notes_url: self.notes_url.trim().to_string(),
            depend_on: self.depend_on.clone(),
            nrpe,
        })
    }
}

impl Component for ServiceCheck {
    fn label(&self) -> String {
        format!("ServiceCheck('{}')", self.description)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let service = self.definition(&ctx.host().name)?;
        ctx.provide(NAGIOS_SERVICE_KEY, service)
    }
}

/// The service user named in the default file name: the host's or the
/// environment's `service_user`; without one, a path must be given.
fn service_user(ctx: &Configure<'_>, what: &str) -> Result<String> {
    ctx.host()
        .service_user
        .clone()
        .or_else(|| ctx.environment().service_user.clone())
        .ok_or_else(|| {
            Error::usage(format!(
                "{what}: no service_user in the environment to name the file after; set `path`"
            ))
        })
}

/// The written file and the reload after it changed: shared by both
/// collectors.
fn write_and_reload(
    ctx: &mut Configure<'_>,
    path: &str,
    text: String,
    reload: &Option<String>,
) -> Result<Sub> {
    if let Some(command) = reload
        && (command.trim().is_empty() || command.contains('\n'))
    {
        return Err(Error::usage(format!(
            "the reload command must be one non-empty line, not {command:?}"
        )));
    }
    ctx.add(File::new(path).content(text).mode(0o644))
}

/// The nagios server's configuration for the whole environment: every
/// [`ServiceCheck`] on every host, sorted by host and description, as
/// batou's `NagiosServer` writes it (`use generic-service`, service
/// groups, contact groups, notes URL, `servicedependency` for each
/// `depend_on`), then `static` text. Two checks with the same host and
/// description are an error (nagios would refuse the file).
///
/// As a root: `nagios_server` (`[component:nagios_server]` sets `path`,
/// `static`, `reload`).
///
/// ```
/// use batou_core::stdlib::NagiosServer;
/// let server = NagiosServer::new()
///     .path("/etc/nagios4/conf.d/app.cfg")
///     .reload("systemctl reload nagios4");
/// ```
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NagiosServer {
    /// Default `nagios-server-<service user>.cfg` in the workdir.
    path: Option<String>,
    #[serde(rename = "static")]
    static_config: String,
    reload: Option<String>,
    #[serde(skip)]
    file: Option<Sub>,
}

impl crate::component::Attributes for NagiosServer {
    const NAME: &'static str = "nagios_server";
    const COMPUTED: &'static [&'static str] = &[];
}

impl NagiosServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the configuration goes.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Text appended as it is (batou's `static`), e.g. host definitions.
    pub fn static_config(mut self, text: impl Into<String>) -> Self {
        self.static_config = text.into();
        self
    }

    /// A command run after the file changed (e.g. `systemctl reload
    /// nagios4`), through the shell, in the workdir.
    pub fn reload(mut self, command: impl Into<String>) -> Self {
        self.reload = Some(command.into());
        self
    }
}

/// batou's `nagios.cfg` layout.
fn server_config(services: &[Service], static_config: &str) -> String {
    let mut text = String::from("# Generated from template; don't edit manually!\n");
    for s in services {
        text.push_str(&format!(
            "\n#\n# {d}\n#\ndefine service {{\n    use         generic-service\n    \
             host_name   {h}\n    service_description {d}\n    check_command {c}\n    \
             servicegroups {g}\n",
            d = s.description,
            h = s.host,
            c = s.check_command,
            g = s.servicegroups
        ));
        if !s.contact_groups.is_empty() {
            text.push_str(&format!("    contact_groups {}\n", s.contact_groups));
        }
        if !s.notes_url.is_empty() {
            text.push_str(&format!("    notes_url {}\n", s.notes_url));
        }
        text.push_str("}\n");
        for (host, description) in &s.depend_on {
            text.push_str(&format!(
                "\ndefine servicedependency {{\n    use generic-servicedependency\n    \
                 host_name {host}\n    dependent_host_name {}\n    \
                 service_description {description}\n    dependent_service_description {}\n}}\n",
                s.host, s.description
            ));
        }
    }
    text.push('\n');
    if !static_config.is_empty() {
        text.push_str(static_config);
        if !static_config.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// A reload is due when the file changed, or when an earlier reload did
/// not finish: a marker in the workdir is written before the reload and
/// removed after it succeeded.
fn reload_due(ctx: &Deploy<'_>, file: Option<Sub>, marker: &str) -> Result<Verdict> {
    let changed = file.is_some_and(|f| ctx.changed(f));
    let pending = ctx.host().stat(&ctx.map(marker))?.is_some();
    Ok(Verdict::update_if(changed || pending))
}

fn run_reload(ctx: &Deploy<'_>, reload: &Option<String>, marker: &str) -> Result<()> {
    if let Some(command) = reload {
        let marker = ctx.map(marker);
        ctx.host().write(&marker, b"", Some(0o644))?;
        ctx.run(&CommandSpec::shell(command.clone()).cwd(ctx.workdir()))?;
        ctx.host().remove(&marker)?;
    }
    Ok(())
}

impl Component for NagiosServer {
    fn label(&self) -> String {
        "NagiosServer".into()
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let mut services: Vec<Service> =
            ctx.require_with(NAGIOS_SERVICE_KEY, Require::new().optional())?;
        services.sort_by(|a, b| (&a.host, &a.description).cmp(&(&b.host, &b.description)));
        if let Some(twice) = services
            .windows(2)
            .find(|w| (&w[0].host, &w[0].description) == (&w[1].host, &w[1].description))
        {
            return Err(Error::usage(format!(
                "NagiosServer: two checks `{}` on host {}",
                twice[0].description, twice[0].host
            )));
        }
        let path = self.path.clone().map(Ok).unwrap_or_else(|| {
            service_user(ctx, "NagiosServer").map(|u| format!("nagios-server-{u}.cfg"))
        })?;
        let text = server_config(&services, &self.static_config);
        self.file = Some(write_and_reload(ctx, &path, text, &self.reload)?);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        if self.reload.is_none() {
            return Ok(Verdict::UpToDate);
        }
        reload_due(ctx, self.file, SERVER_MARKER)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        run_reload(ctx, &self.reload, SERVER_MARKER)
    }
}

/// The NRPE configuration of one host: `command[NAME]=COMMAND ARGS` for
/// each NRPE [`ServiceCheck`] on this host, sorted by name (batou's
/// `NRPEHost`). Two NRPE checks of one name are an error.
///
/// As a root: `nrpe_host` (`path`, `reload`).
///
/// ```
/// use batou_core::stdlib::NrpeHost;
/// let nrpe = NrpeHost::new().reload("systemctl reload nagios-nrpe-server");
/// ```
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NrpeHost {
    /// Default `/etc/nagios/nrpe/local/<service user>.cfg`, as batou.
    path: Option<String>,
    reload: Option<String>,
    #[serde(skip)]
    file: Option<Sub>,
}

impl crate::component::Attributes for NrpeHost {
    const NAME: &'static str = "nrpe_host";
    const COMPUTED: &'static [&'static str] = &[];
}

impl NrpeHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the configuration goes.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A command run after the file changed (through the shell).
    pub fn reload(mut self, command: impl Into<String>) -> Self {
        self.reload = Some(command.into());
        self
    }
}

impl Component for NrpeHost {
    fn label(&self) -> String {
        "NrpeHost".into()
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let host = ctx.host().name.clone();
        let services: Vec<Service> =
            ctx.require_with(NAGIOS_SERVICE_KEY, Require::new().host(host).optional())?;
        let mut commands: Vec<(String, String)> =
            services.into_iter().filter_map(|s| s.nrpe).collect();
        commands.sort();
        if let Some(twice) = commands.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::usage(format!(
                "NrpeHost: two NRPE checks named `{}`",
                twice[0].0
            )));
        }
        let mut text = String::from("# Generated from template; don't edit manually!\n");
        for (name, line) in &commands {
            text.push_str(&format!("command[{name}]={line}\n"));
        }
        let path = self.path.clone().map(Ok).unwrap_or_else(|| {
            service_user(ctx, "NrpeHost").map(|u| format!("/etc/nagios/nrpe/local/{u}.cfg"))
        })?;
        self.file = Some(write_and_reload(ctx, &path, text, &self.reload)?);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        if self.reload.is_none() {
            return Ok(Verdict::UpToDate);
        }
        reload_due(ctx, self.file, NRPE_MARKER)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        run_reload(ctx, &self.reload, NRPE_MARKER)
    }
}
