//! The standard library of components: files and their content, modes
//! and owners, directories, symlinks, structured (JSON, TOML, YAML) content,
//! purging, commands, downloads, archives, git checkouts, health checks,
//! systemd units and programs, supervisord and its programs, Python
//! virtual environments and pip installs, users and groups, Debian
//! packages, cron jobs, logrotate, nagios checks, configure/make builds,
//! PostgreSQL and MySQL/MariaDB users, databases and grants, and externals.
//!
//! Every component is idempotent: `verify` compares, `update` only runs
//! when something differs, writes are atomic, and predicting writes
//! nothing. Paths are mapped (relative → the root's workdir, `~`, `[vfs]`).
//!
//! | Component | Attributes (builder methods) | Example |
//! |---|---|---|
//! | [`File`] | `content`, `empty`, `bytes`, `template` (rendered with the component that added the file as `component`; `context` replaces it) / `arg`, `assets` (implicit template), `secret`, `json` / `json_compact` / `toml` + `override_with`, `mode`, `owner`, `group`, `leading`, `sensitive`, `ensure_directory`, `symlink_to` | `File::new("app.conf").template(asset!("templates/app.conf")).mode("rw-r-----").owner("app")` |
//! | [`Presence`] | `leading` | `Presence::new("var/initialized")` |
//! | [`Content`] | (built by `File`: `path`, `wanted`, `is_text`, `mode`, `leading`, `sensitive`) | — |
//! | [`FileMode`] | mode as `0o640`, `"640"`, `"rw-r-----"` or [`crate::convert::Mode`] | `FileMode::new("key.pem", "rw-------")` |
//! | [`Owner`] / [`Group`] | name or numeric id, resolved at verify time | `Owner::new("htdocs", "www-data")` |
//! | [`Directory`] | `leading`, `mode`, `source` (sync from a directory on the target), `purge` | `Directory::new("htdocs").source("/srv/build").purge(true)` |
//! | [`Symlink`] | link, target | `Symlink::new("current", "releases/42")` |
//! | [`Releases`] | id, `build` (adds what fills `releases/<id>/`), `keep` (default 5), `base` (default: the workdir); `current` is switched after the build, older releases pruned; a failed root's revert points `current` back | `Releases::new("2024-05-01").keep(3).build(\|ctx, dir\| { ctx.add(File::new(dir.join("app.conf")).content("x"))?; Ok(()) })` |
//! | [`JsonContent`] | data (any `Serialize`), `override_with`, `human_readable`, `mode`, `leading`, `sensitive` | `JsonContent::new("up.json", &upstreams)` |
//! | [`TomlContent`] | data (any `Serialize`, a table), `override_with`, `mode`, `leading`, `sensitive` | `TomlContent::new("app.toml", &settings)` |
//! | [`YamlContent`] | data (any `Serialize`), `override_with`, `mode`, `leading`, `sensitive`; block style, keys sorted (also `File::yaml`) | `YamlContent::new("config.yaml", &settings)` |
//! | [`Purge`] | glob pattern | `Purge::new("releases/2023-*")` |
//! | [`Command`] | `unless`, `onlyif`, `cwd`, `env`, `timeout`, `raw` (no template expansion); expanded `{{ values }}` are shell-quoted | `Command::new("make").unless("test -f bin/app")` |
//! | [`Download`] | URL (http/https; a password becomes basic auth, shown as `****`), `checksum` (required: `sha256:<hex>` / `sha512:<hex>`; batou's weak `md5:` / `sha1:` accepted), `target` (default: last URL segment), `ca_file`, `timeout`, `mode`, `leading` | `Download::new("https://example.org/app-1.2.tgz").checksum("sha256:9f86…")` |
//! | [`Extract`] | archive (`.tar`, `.tar.gz`/`.tgz`, `.tar.xz`, `.tar.bz2`, `.zip`), `format` ([`ArchiveFormat`]), `target` (default: name minus suffix), `strip`, `create_target_dir` | `Extract::new("app-1.2.tgz").target("app").strip(1)` |
//! | [`Git`] | URL, one of `branch` / `tag` / `revision`, `target` (default: repository name), `submodules` (default on), `clobber`, `git_config` | `Git::new("https://git.example.org/app.git").branch("main").target("src")` |
//! | [`SystemdUnit`] | unit name with type suffix; `content` or `template` + `context` / `arg`; `user_unit` / `user_unit_of(user)`, `unit_dir`, `runtime_dir`, `enable`, `running`, `depends_on` (restart when it changed) | `SystemdUnit::new("app.service").template(asset!("templates/app.service")).depends_on(File::new("app.toml").content(cfg))` |
//! | [`Program`] | `command` (required), `description`, `cwd`, `env`, `run_as`, `run_as_group`, `restart` (policy), `restart_delay`, `deployment` (`Hot`, or `Cold`: stopped before earlier components of its root update), plus `SystemdUnit`'s scope, `enable`, `running`, `depends_on` | `Program::new("app").command("bin/app --port 8080").restart("always")` |
//! | [`Supervisor`] | `dir` (default: the workdir), `supervisord` / `supervisorctl` (executables), `loglevel`, `enable`, `start_timeout`; provides [`supervisor::SUPERVISOR_KEY`] on its host | `Supervisor::new().loglevel("warn")` |
//! | [`supervisor::Program`] | `command` (required), `args`, `directory`, `env`, `user`, `startsecs` (5), `startretries` (3), `priority` (10), `option` (any other key), `enable`, `deployment` (`Hot`/`Cold`), `depends_on` (restart when it changed); needs the host's `Supervisor` | `supervisor::Program::new("app").command("bin/app").args("--port 8080")` |
//! | [`VirtualEnv`] | Python version (`3`, `3.11`, `3.11.2`), `executable` (default `python{version}`), `dir` (default: the workdir), `requirements`, `package`; recreated when broken or made from another interpreter | `VirtualEnv::new("3.11").dir("venv").requirements(Requirements::new("requirements.lock"))` |
//! | [`Requirements`] / [`Package`] | file path + `content`, or name + `version` (required); `find_links`, `index_url`, `extra_index_url` (through pip's environment), `no_index`, `no_deps`, `option`, `env`, `timeout`; pip runs only when the requirements, the settings or an installed pin differ | `Package::new("gunicorn").version("22.0.0")` |
//! | [`AppEnv`] | Python version, `lock` (a [`Requirements`], installed `--no-deps`, then `pip check`), `executable`, `dir`; built in `.appenv/<hash>` beside the one in use, switched to with one symlink (`.appenv/current`; `bin`, `lib`, `pyvenv.cfg` link through it) | `AppEnv::new("3.11").lock(Requirements::new("requirements.lock"))` |
//! | [`postgres::Role`] | name, `password` (never sent: a SCRAM verifier is computed and compared), `login` (default yes), `superuser`, `createdb`, `createrole`, `connection` ([`postgres::Connection`]: `psql`, `host`, `port`, `user`, `run_as`) | `postgres::Role::new("app").password(&self.db_password).connection(Connection::new().run_as("postgres"))` |
//! | [`postgres::Database`] | name, `owner`, `encoding`, `locale`, `template`, `connection`; another encoding or locale is an error | `postgres::Database::new("app").owner("app").encoding("UTF8")` |
//! | [`postgres::Grant`] | `database(role, db, privs)`, `schema(role, db, schema, privs)`, `tables(role, db, schema, privs)`, `connection`; grants what is missing | `postgres::Grant::schema("reports", "app", "public", ["USAGE"])` |
//! | [`mysql::User`] | name, `host` (default `localhost`), `password` (never sent: the native hash is computed and compared), `connection` ([`mysql::Connection`]: `client`, `defaults_file`, `socket`, `host`, `port`, `user`, `run_as`) | `mysql::User::new("shop").password(&self.db_password)` |
//! | [`mysql::Database`] | name, `charset`, `collation`, `connection` | `mysql::Database::new("shop").charset("utf8mb4")` |
//! | [`mysql::Grant`] | user, db, `host`, `privileges` (`SELECT`, ..., `ALL`), `connection`; `_`/`%` in the name escaped | `mysql::Grant::new("shop", "shop").privileges(["ALL"])` |
//! | [`User`] | `home`, `create_home`, `shell`, `group` (primary), `groups` (supplementary, added), `system` | `User::new("app").home("/srv/app").shell("/bin/bash").groups(["www-data"])` |
//! | [`UnixGroup`] | `gid`, `system` | `UnixGroup::new("deploy").gid(2001)` |
//! | [`DebPackage`] | `version`, `apt_option` (`-o KEY=VALUE`), `update_lists` | `DebPackage::new("nginx")` |
//! | [`CronJob`] | command, `timing` (required), `args`, `logger` | `CronJob::new("bin/backup").timing("15 3 * * *").logger("backup")` |
//! | [`CronTab`] | collects the host's `CronJob`s; `mailto`, `env`, `purge`, `user` | `CronTab::new().mailto("ops@example.com")` |
//! | [`RotatedLogfile`] | path (mapped, may be a glob), `args` (directives), `prerotate`, `postrotate` | `RotatedLogfile::new("var/log/app.log").args(["daily", "rotate 7"])` |
//! | [`Logrotate`] | collects the host's `RotatedLogfile`s; `common`, `path`, `schedule` (a `CronJob`) | `Logrotate::new().common(["compress"]).schedule("@daily")` |
//! | [`ServiceCheck`] | description, `command` (required), `args`, `notes_url`, `servicegroups`, `contact_groups`, `depend_on(host, description)`, `nrpe` + `name`; collected by the two below | `ServiceCheck::new("http").command("check_http").args("-H localhost")` |
//! | [`NagiosServer`] | collects every `ServiceCheck` of the environment into nagios object definitions; `path` (default `nagios-server-<service_user>.cfg`), `static_config`, `reload` (run when the file changed) | `NagiosServer::new().path("/etc/nagios4/conf.d/app.cfg").reload("systemctl reload nagios4")` |
//! | [`NrpeHost`] | collects the host's NRPE checks as `command[NAME]=…`; `path` (default `/etc/nagios/nrpe/local/<service_user>.cfg`), `reload` | `NrpeHost::new()` |
//! | [`HealthCheck`] | `http` (`status`, `body_contains`), `tcp` or `command`; `interval`, `retries`, `timeout`, `start_delay`; add it last in a root: a gate for rolling deploys (docs/rollouts.md) | `HealthCheck::http("http://127.0.0.1:8080/health").retries(10)` |
//! | [`Build`] | URL, `checksum` (required, as `Download`), `prefix` (default: the workdir), `configure_args`, `without_configure`, `make_args`, `env` (e.g. `CFLAGS`), `creates`, `source_dir`, `timeout`; download, extract (strip 1), `./configure --prefix`, `make`, `make install`, again only when these inputs changed | `Build::new("https://example.org/tool-1.2.tar.gz").checksum("sha256:9f86…").configure_args(["--disable-docs"])` |
//! | [`Container`] | name, `image` (required), `tag` (`latest`), `port`, `volume` / `volume_with`, `env` (0600 env file, never in argv), `entrypoint`, `command`, `network`, `restart` (`always`), `run_option`, `health_cmd` (a [`HealthCheck`] gate) + `health_retries` / `health_interval`, `stop_timeout`, `timeout`, `docker`, `executable`, `engine_option`; replaced only when its definition hash (label) or the tag's image changed | `Container::new("redis").image("docker.io/library/redis").tag("7.2").port("127.0.0.1:6379", "6379").health_cmd("redis-cli ping")` |
//! | [`ScanHost`] | host name, `port` (22), `known_hosts` (`~/.ssh/known_hosts`), `key_types`, `timeout`, `keyscan`; scanned every deploy, a changed key replaced, no duplicates, other lines kept | `ScanHost::new("git.example.com").port(2222)` |
//! | [`Certificate`] | name, `dir`, `cert` / `cert_secret` (required), `chain` / `chain_secret`, `key` / `key_secret` (required; written 0600, never shown), `ca`; checked at configure: the key is the certificate's, the certificate verifies through the chain | `Certificate::new("www").dir("/etc/nginx/ssl").cert_secret("www.crt").chain_secret("www.chain.crt").key_secret("www.key")` |
//! | [`Buildout`] | zc.buildout version, `setuptools` (required), `wheel`, `python` (default `3`), `executable`, `dir` (default: the workdir), `config` (a `File`; default `buildout.cfg` from the template), `watch`, `find_links`, `index_url`, `no_index`, `env`, `timeout`; a venv with the pins, then `bin/buildout -c`, again only when the config as written, pins, env or watched files changed | `Buildout::new("3.3").setuptools("69.5.1").config(File::new("buildout.cfg").content("[buildout]\nparts =\n"))` |
//! | [`External`] | `data` (inline or `include_bytes!`), `data_script` (output of a command on the target), `ignore_failure`, `timeout`; environment key `externals` | `External::new("user", "alice").data("uid=1200\n")` |
//!
//! Helpers for custom components live on [`crate::component::Deploy`]:
//! `last_updated`, `file_is_current`, `cmd_succeeds`,
//! `no_subcomponent_changes`.
//!
//! ```
//! use batou_core::prelude::*;
//! use batou_core::stdlib::{JsonContent, Owner, Purge};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Site { port: u16 }
//!
//! impl Component for Site {
//!     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
//!         ctx.add(File::new("logs").ensure_directory().mode("rwxr-x---"))?;
//!         ctx.add(File::new("site.conf").content(format!("port {}\n", self.port)).mode(0o640))?;
//!         ctx.add(JsonContent::new("site.json", &*self))?;
//!         ctx.add(Directory::new("htdocs").source("/usr/share/site").purge(true))?;
//!         ctx.add(Symlink::new("current", "htdocs"))?;
//!         ctx.add(Purge::new("*.bak"))?;
//!         ctx.add(Owner::new("logs", 0))?;
//!         ctx.add(Command::new("make").unless("test -f site.bin"))?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! Services and the system, together (a service user's app, deployed as
//! root):
//!
//! ```
//! use batou_core::prelude::*;
//! use batou_core::stdlib::{CronJob, CronTab, DebPackage, Logrotate, Program, RotatedLogfile, UnixGroup, User};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct App;
//!
//! impl Component for App {
//!     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
//!         ctx.add(DebPackage::new("libpq5"))?;
//!         ctx.add(UnixGroup::new("app"))?;
//!         ctx.add(User::new("app").group("app").home("/srv/app").shell("/bin/bash"))?;
//!         ctx.add(
//!             Program::new("app")
//!                 .command("/srv/app/bin/app")
//!                 .cwd("/srv/app")
//!                 .user_unit_of("app")
//!                 .depends_on(File::new("/srv/app/app.toml").content("port = 8080\n").owner("app")),
//!         )?;
//!         ctx.add(CronJob::new("/srv/app/bin/cleanup").timing("@daily"))?;
//!         ctx.add(RotatedLogfile::new("/srv/app/app.log").args(["weekly", "rotate 4"]))?;
//!         ctx.add(Logrotate::new().path("/etc/logrotate.d/app"))?;
//!         ctx.add(CronTab::new().user("app"))?;
//!         Ok(())
//!     }
//! }
//! ```

mod account;
mod archive;
mod build;
mod buildout;
mod checksum;
mod command;
pub mod container;
mod content;
mod cron;
mod directory;
mod download;
pub mod external;
mod extract;
mod file;
mod git;
mod health;
mod logrotate;
mod mode;
pub mod mysql;
mod nagios;
mod owner;
mod package;
pub mod postgres;
mod program;
mod purge;
mod python;
mod releases;
mod scanhost;
mod sql_client;
mod ssl;
mod structured;
pub mod supervisor;
mod symlink;
mod sync;
mod systemctl;
mod systemd;
#[cfg(test)]
mod tests;
mod yaml;

pub use account::{UnixGroup, User};
pub use archive::Format as ArchiveFormat;
pub use build::Build;
pub use buildout::Buildout;
pub use checksum::Checksum;
pub use command::Command;
pub use container::Container;
pub use content::{Content, Presence};
pub use cron::{CRON_JOB_KEY, CronJob, CronTab};
pub use directory::Directory;
pub use download::Download;
pub use external::{External, ExternalData};
pub use extract::Extract;
pub use file::{Assets, File};
pub use git::{Git, Want as GitWant};
pub use health::HealthCheck;
pub use logrotate::{Logrotate, ROTATED_LOGFILE_KEY, RotatedLogfile};
pub use mode::{Mode as FileMode, ModeSpec};
pub use nagios::{NAGIOS_SERVICE_KEY, NagiosServer, NrpeHost, ServiceCheck};
pub use owner::{Group, Owner, Principal};
pub use package::DebPackage;
pub use program::{Deployment, Program};
pub use purge::Purge;
pub use python::{AppEnv, Package, Requirements, VirtualEnv};
pub use releases::Releases;
pub use scanhost::ScanHost;
pub use ssl::Certificate;
pub use structured::{JsonContent, TomlContent, YamlContent, dict_merge};
pub use supervisor::Supervisor;
pub use symlink::Symlink;
pub use systemd::SystemdUnit;

/// A template file of the deployment project: a
/// [`Template`](crate::template::Template) named by its path relative to
/// the crate, read at run time (see [`crate::assets`]): editing it
/// rebuilds nothing, and a remote deploy ships only the changed file.
/// The path is checked at compile time (a typo fails the build), but the
/// content is not compiled in.
///
/// In a component crate with `templates/nginx.conf` beside its
/// `Cargo.toml`:
///
/// ```text
/// ctx.add(File::new("nginx.conf").template(batou_core::asset!("templates/nginx.conf")))?;
/// ```
#[macro_export]
macro_rules! asset {
    ($path:literal) => {{
        const LOCATION: (&str, &str, &str) = $crate::__private::asset_location!($path);
        const ASSET: $crate::assets::Asset = $crate::assets::Asset {
            name: $path,
            key: LOCATION.0,
            crate_dir: LOCATION.1,
            build_root: LOCATION.2,
        };
        $crate::assets::inventory::submit! { ASSET }
        $crate::template::Template::from_asset(ASSET)
    }};
}

/// A table of template files for [`File::assets`], the implicit
/// template of a `File` without content (looked up by base name):
///
/// ```text
/// const TEMPLATES: batou_core::stdlib::Assets =
///     batou_core::assets!["templates/nginx.conf", "templates/app.toml"];
/// ctx.add(File::new("/etc/nginx/nginx.conf").assets(TEMPLATES))?;
/// ```
#[macro_export]
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$($crate::asset!($path)),*]
    };
}
