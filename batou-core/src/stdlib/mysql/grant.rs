//! Privileges of a MySQL / MariaDB user on one database.

use super::{Connection, account, check_name, ident, literal};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// The database-level privileges and their column in `mysql.db`.
const PRIVILEGES: &[(&str, &str)] = &[
    ("SELECT", "Select_priv"),
    ("INSERT", "Insert_priv"),
    ("UPDATE", "Update_priv"),
    ("DELETE", "Delete_priv"),
    ("CREATE", "Create_priv"),
    ("DROP", "Drop_priv"),
    ("REFERENCES", "References_priv"),
    ("INDEX", "Index_priv"),
    ("ALTER", "Alter_priv"),
    ("CREATE TEMPORARY TABLES", "Create_tmp_table_priv"),
    ("LOCK TABLES", "Lock_tables_priv"),
    ("EXECUTE", "Execute_priv"),
    ("CREATE VIEW", "Create_view_priv"),
    ("SHOW VIEW", "Show_view_priv"),
    ("CREATE ROUTINE", "Create_routine_priv"),
    ("ALTER ROUTINE", "Alter_routine_priv"),
    ("EVENT", "Event_priv"),
    ("TRIGGER", "Trigger_priv"),
];

/// Privileges of `user@host` on every table of database `db` (`db`.*).
/// `ALL` means every database-level privilege (not `GRANT OPTION`).
///
/// Verify reads the account's row in `mysql.db` and grants only the
/// privileges it lacks. `_` and `%` in the database name are escaped:
/// in a grant they are wildcards, and `GRANT ... ON my_app.*` would also
/// cover `myXapp` (batou's grants did). Privileges granted by other
/// means are not revoked.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::mysql::Grant;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Db;
///
/// impl Component for Db {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Grant::new("reports", "shop").host("%").privileges(["SELECT", "SHOW VIEW"]))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Grant {
    user: String,
    host: String,
    db: String,
    privileges: Vec<String>,
    conn: Connection,
}

impl Grant {
    /// No privileges yet: give them with [`Grant::privileges`].
    pub fn new(user: impl Into<String>, db: impl Into<String>) -> Self {
        Grant {
            user: user.into(),
            host: "localhost".into(),
            db: db.into(),
            privileges: Vec::new(),
            conn: Connection::default(),
        }
    }

    /// The host part of the account (default `localhost`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// `SELECT`, `INSERT`, ..., `ALL` (or `ALL PRIVILEGES`).
    pub fn privileges<I, S>(mut self, privileges: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.privileges = privileges
            .into_iter()
            .map(|p| {
                let p: String = p.into();
                p.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase()
            })
            .collect();
        self
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn what(&self) -> String {
        format!("mysql::Grant `{}@{}` on {}", self.user, self.host, self.db)
    }

    /// The database name as grants store it: wildcards escaped.
    fn pattern(&self) -> String {
        self.db.replace('_', "\\_").replace('%', "\\%")
    }

    fn all(&self) -> bool {
        self.privileges
            .iter()
            .any(|p| p == "ALL" || p == "ALL PRIVILEGES")
    }

    fn wanted(&self) -> Vec<(&'static str, &'static str)> {
        let all = self.all();
        PRIVILEGES
            .iter()
            .copied()
            .filter(|(name, _)| all || self.privileges.iter().any(|p| p == name))
            .collect()
    }

    /// The wanted privileges the account lacks; `None` when the account
    /// does not exist.
    fn missing(&self, ctx: &mut Deploy<'_>) -> Result<Option<Vec<&'static str>>> {
        let what = self.what();
        if !super::user_exists(&self.conn, ctx, &what, &self.user, &self.host)? {
            ctx.log(format!(
                "user {}@{} does not exist yet",
                self.user, self.host
            ));
            return Ok(None);
        }
        let wanted = self.wanted();
        let columns: Vec<&str> = wanted.iter().map(|(_, c)| *c).collect();
        // The pattern's backslashes are kept in a literal in either
        // backslash mode (`\_` and `\%` are not escapes).
        let sql = format!(
            "SELECT {} FROM mysql.db WHERE User = {} AND Host = {} AND Db = {};",
            columns.join(", "),
            literal(&self.user),
            literal(&self.host),
            literal(&self.pattern())
        );
        let out = self.conn.run(ctx, &what, &sql, &[])?;
        let have: Vec<&str> = out
            .lines()
            .find(|l| !l.is_empty())
            .map(|l| l.split('\t').collect())
            .unwrap_or_default();
        Ok(Some(
            wanted
                .iter()
                .enumerate()
                .filter(|(i, _)| have.get(*i) != Some(&"Y"))
                .map(|(_, (name, _))| *name)
                .collect(),
        ))
    }
}

impl Component for Grant {
    fn label(&self) -> String {
        format!("mysql::Grant('{}@{}', '{}')", self.user, self.host, self.db)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "user", &self.user, 80)?;
        check_name(&what, "host", &self.host, 255)?;
        check_name(&what, "database", &self.db, 64)?;
        if self.privileges.is_empty() {
            return Err(Error::usage(format!("{what}: no privileges given")));
        }
        for p in &self.privileges {
            let known =
                p == "ALL" || p == "ALL PRIVILEGES" || PRIVILEGES.iter().any(|(n, _)| n == p);
            if !known {
                return Err(Error::usage(format!(
                    "{what}: unknown privilege `{}` (database privileges: {}, ALL)",
                    super::shown(p),
                    PRIVILEGES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        self.conn.check(&what)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(match self.missing(ctx)? {
            None => Verdict::NeedsUpdate,
            Some(missing) if missing.is_empty() => Verdict::UpToDate,
            Some(missing) => {
                ctx.log(format!("grants {}", missing.join(", ")));
                Verdict::NeedsUpdate
            }
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let what = self.what();
        let Some(missing) = self.missing(ctx)? else {
            return Err(Error::msg(format!(
                "{what}: the user does not exist (add its User before the Grant)"
            )));
        };
        if missing.is_empty() {
            return Ok(());
        }
        // ALL: the server's own full set (MariaDB adds DELETE HISTORY).
        let privileges = if self.all() {
            "ALL PRIVILEGES".to_string()
        } else {
            missing.join(", ")
        };
        let sql = format!(
            "GRANT {privileges} ON {}.* TO {};",
            ident(&self.pattern()),
            account(&self.user, &self.host)
        );
        self.conn.run(ctx, &what, &sql, &[])?;
        Ok(())
    }
}
