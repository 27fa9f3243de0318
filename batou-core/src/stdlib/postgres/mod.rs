//! PostgreSQL roles, databases and grants (what `batou_ext.postgres`
//! did): [`Role`], [`Database`], [`Grant`], reached through `psql` on the
//! target as described by a [`Connection`].
//!
//! Every component asks the catalog first (`pg_authid`, `pg_database`,
//! `has_*_privilege`) and changes nothing when the cluster is as wanted.
//! SQL goes to `psql` on its stdin, never on its command line, with
//! identifiers and literals quoted for PostgreSQL; names with control
//! characters, or longer than PostgreSQL keeps (63 bytes), are refused.
//!
//! Passwords are better kept than in batou_ext, which put them on `psql`'s
//! command line and in the environment: the password is never sent
//! anywhere. The role gets a SCRAM-SHA-256 verifier computed here (a
//! random salt), and a deploy recomputes the verifier from the stored
//! salt to tell whether the password changed. The password is not in any
//! argv, environment, SQL text, output, log or error (errors from `psql`
//! have the verifier masked too). PostgreSQL normalises non-ASCII
//! passwords (SASLprep), which is not done here: passwords are printable
//! ASCII, others are refused when configuring.
//!
//! The connecting role must be a superuser (reading `pg_authid` needs
//! it). On Debian the cluster's superuser is reached through peer
//! authentication as the `postgres` user: [`Connection::run_as`]`("postgres")`
//! runs `psql` through `sudo -n -u postgres`.

mod database;
mod grant;
mod role;
mod scram;

pub use database::Database;
pub use grant::Grant;
pub use role::Role;

use super::sql_client;
pub(crate) use super::sql_client::{literal, shown};
use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::CommandSpec;

/// How `psql` reaches the cluster. By default: `psql` from the `PATH`,
/// run as the deploying user, with libpq's defaults (`PGHOST`, the
/// default socket, the user's own name as role).
#[derive(Clone, Default)]
pub struct Connection {
    psql: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    run_as: Option<String>,
}

impl Connection {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `psql` executable (default `psql` from the `PATH`).
    pub fn psql(mut self, path: impl Into<String>) -> Self {
        self.psql = Some(path.into());
        self
    }

    /// A host name or address, or the directory of the server's unix
    /// socket (`-h`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The (superuser) role to connect as (`-U`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Runs `psql` as this system user, through `sudo -n -u` (Debian:
    /// `postgres`, for peer authentication).
    pub fn run_as(mut self, user: impl Into<String>) -> Self {
        self.run_as = Some(user.into());
        self
    }

    /// Refuses settings that cannot be passed on safely.
    fn check(&self, what: &str) -> Result<()> {
        sql_client::check_settings(
            what,
            &[
                ("psql", &self.psql),
                ("host", &self.host),
                ("user", &self.user),
                ("run_as", &self.run_as),
            ],
        )
    }

    /// Runs `sql` in database `db` and returns the rows `psql -At`
    /// printed. `masked` are strings that must not appear in an error
    /// (a password verifier).
    fn run(
        &self,
        ctx: &Deploy<'_>,
        what: &str,
        db: &str,
        sql: &str,
        masked: &[&str],
    ) -> Result<String> {
        let mut argv = sql_client::client_argv(
            self.run_as.as_deref(),
            self.psql.as_deref().unwrap_or("psql"),
        );
        // -X: no ~/.psqlrc; -w: never prompt; -At: bare rows.
        argv.extend(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"].map(String::from));
        // A connection string, so that a database name holding `=` is a
        // name and not connection settings.
        argv.push("-d".into());
        argv.push(format!("dbname={}", conninfo_value(db)));
        if let Some(host) = &self.host {
            argv.push(format!("--host={host}"));
        }
        if let Some(port) = self.port {
            argv.push(format!("--port={port}"));
        }
        if let Some(user) = &self.user {
            argv.push(format!("--username={user}"));
        }
        argv.extend(["-f", "-"].map(String::from));
        // Literals below rely on standard strings (a backslash is itself).
        let script = format!("SET standard_conforming_strings = on;\n{sql}\n");
        let spec = CommandSpec::argv(argv)
            .stdin(script.into_bytes())
            .env("PGAPPNAME", "batou")
            .env("PGCONNECT_TIMEOUT", "10")
            .cwd("/");
        sql_client::run_client(ctx, &spec, what, "psql", masked)
    }
}

/// A value in a libpq connection string.
fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An SQL identifier: always quoted (keeps case, allows any name).
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Refuses a name PostgreSQL would change (truncate) or that cannot be
/// written safely.
pub(super) fn check_name(what: &str, kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::usage(format!("{what}: the {kind} name is empty")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "{what}: the {kind} name `{}` has control characters",
            shown(name)
        )));
    }
    if name.len() > 63 {
        return Err(Error::usage(format!(
            "{what}: the {kind} name `{name}` is longer than PostgreSQL's 63 bytes"
        )));
    }
    Ok(())
}

/// The rows of `psql -At` output, split into fields.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// Whether `role` exists (a grant to a role made later in the same
/// deploy: predicting, it does not exist yet).
fn role_exists(conn: &Connection, ctx: &Deploy<'_>, what: &str, role: &str) -> Result<bool> {
    let out = conn.run(
        ctx,
        what,
        "postgres",
        &format!("SELECT 1 FROM pg_roles WHERE rolname = {};", literal(role)),
        &[],
    )?;
    Ok(!out.trim().is_empty())
}

/// Whether database `db` exists.
fn database_exists(conn: &Connection, ctx: &Deploy<'_>, what: &str, db: &str) -> Result<bool> {
    let out = conn.run(
        ctx,
        what,
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = {};", literal(db)),
        &[],
    )?;
    Ok(!out.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(literal("o'brien"), "'o''brien'");
        assert_eq!(literal(r"back\slash"), r"'back\slash'");
        assert_eq!(conninfo_value(r"a'b\c"), r"'a\'b\\c'");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("Role", "role", "app").is_ok());
        assert!(check_name("Role", "role", "x\"; DROP TABLE y; --").is_ok());
        assert!(check_name("Role", "role", "").is_err());
        assert!(check_name("Role", "role", "a\nb").is_err());
        assert!(check_name("Role", "role", &"x".repeat(64)).is_err());
    }
}
