//! MySQL and MariaDB users, databases and grants (batou's
//! `batou.lib.mysql`, used through `batou_ext.mysql`): [`User`],
//! [`Database`], [`Grant`], reached through the `mysql` client on the
//! target as described by a [`Connection`].
//!
//! Every component reads the server's tables first (`mysql.user`,
//! `information_schema.SCHEMATA`, `mysql.db`) and changes nothing when
//! the server is as wanted; batou ran its statements on every deploy.
//! SQL goes to the client on its stdin, never on its command line, with
//! identifiers and literals quoted; names with control characters or a
//! backslash are refused, as are names longer than the server keeps.
//!
//! The password is never sent: the user gets
//! `IDENTIFIED WITH mysql_native_password AS '*…'`, the hash computed
//! here, and a deploy compares the stored hash with the one of the
//! wanted password. batou put the password (and the admin password) on
//! the client's command line. The administrative connection uses the
//! client's own means: unix_socket authentication as root (Debian's
//! default), or an options file with the admin password
//! ([`Connection::defaults_file`]).

mod database;
mod grant;
mod user;

pub use database::Database;
pub use grant::Grant;
pub use user::User;

use super::sql_client;
pub(crate) use super::sql_client::literal;
use super::sql_client::shown;
use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::CommandSpec;

/// How the `mysql` client reaches the server. By default: `mysql` from
/// the `PATH`, run as the deploying user, with the client's defaults
/// (`~/.my.cnf`, the default socket, the user's own name).
#[derive(Clone, Default)]
pub struct Connection {
    client: Option<String>,
    defaults_file: Option<String>,
    socket: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    run_as: Option<String>,
}

impl Connection {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client executable (default `mysql`).
    pub fn client(mut self, path: impl Into<String>) -> Self {
        self.client = Some(path.into());
        self
    }

    /// An options file to read instead of the usual ones
    /// (`--defaults-file`): where an admin password goes.
    pub fn defaults_file(mut self, path: impl Into<String>) -> Self {
        self.defaults_file = Some(path.into());
        self
    }

    /// The server's unix socket.
    pub fn socket(mut self, path: impl Into<String>) -> Self {
        self.socket = Some(path.into());
        self
    }

    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The administrative user to connect as (`--user`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Runs the client as this system user, through `sudo -n -u`.
    pub fn run_as(mut self, user: impl Into<String>) -> Self {
        self.run_as = Some(user.into());
        self
    }

    fn check(&self, what: &str) -> Result<()> {
        sql_client::check_settings(
            what,
            &[
                ("client", &self.client),
                ("defaults_file", &self.defaults_file),
                ("socket", &self.socket),
                ("host", &self.host),
                ("user", &self.user),
                ("run_as", &self.run_as),
            ],
        )
    }

    /// Runs `sql`; the rows, tab-separated. `masked` must not appear in
    /// an error (a password hash).
    fn run(&self, ctx: &Deploy<'_>, what: &str, sql: &str, masked: &[&str]) -> Result<String> {
        let mut argv = sql_client::client_argv(
            self.run_as.as_deref(),
            self.client.as_deref().unwrap_or("mysql"),
        );
        // --defaults-file must come first.
        if let Some(file) = &self.defaults_file {
            argv.push(format!("--defaults-file={file}"));
        }
        argv.extend(["--batch", "--skip-column-names"].map(String::from));
        if let Some(socket) = &self.socket {
            argv.push(format!("--socket={socket}"));
        }
        if let Some(host) = &self.host {
            argv.push(format!("--host={host}"));
        }
        if let Some(port) = self.port {
            argv.push(format!("--port={port}"));
        }
        if let Some(user) = &self.user {
            argv.push(format!("--user={user}"));
        }
        let spec = CommandSpec::argv(argv)
            .stdin(format!("{sql}\n").into_bytes())
            .cwd("/");
        sql_client::run_client(ctx, &spec, what, "mysql", masked)
    }
}

/// An identifier in backquotes.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'user'@'host'`.
fn account(user: &str, host: &str) -> String {
    format!("{}@{}", literal(user), literal(host))
}

/// Refuses what cannot be written safely or would be cut short.
fn check_name(what: &str, kind: &str, name: &str, max: usize) -> Result<()> {
    if name.is_empty() {
        return Err(Error::usage(format!("{what}: the {kind} name is empty")));
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err(Error::usage(format!(
            "{what}: the {kind} name `{}` has a control character or a backslash",
            shown(name)
        )));
    }
    if name.chars().count() > max {
        return Err(Error::usage(format!(
            "{what}: the {kind} name `{name}` is longer than {max} characters"
        )));
    }
    if name.ends_with(' ') {
        return Err(Error::usage(format!(
            "{what}: the {kind} name `{name}` ends with a space"
        )));
    }
    Ok(())
}

/// Whether `user@host` exists.
fn user_exists(
    conn: &Connection,
    ctx: &Deploy<'_>,
    what: &str,
    user: &str,
    host: &str,
) -> Result<bool> {
    let sql = format!(
        "SELECT 1 FROM mysql.user WHERE User = {} AND Host = {};",
        literal(user),
        literal(host)
    );
    Ok(!conn.run(ctx, what, &sql, &[])?.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(literal("o'brien"), "'o''brien'");
        assert_eq!(account("a'b", "%"), "'a''b'@'%'");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("U", "user", "x'; DROP USER root; --", 80).is_ok());
        assert!(check_name("U", "user", "a\\b", 80).is_err());
        assert!(check_name("U", "user", "a\tb", 80).is_err());
        assert!(check_name("U", "user", "ab ", 80).is_err());
        assert!(check_name("U", "database", &"d".repeat(65), 64).is_err());
    }
}
