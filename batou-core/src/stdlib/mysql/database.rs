//! A MySQL / MariaDB database (schema) and its default character set.

use super::{Connection, check_name, ident, literal};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// A database with a default character set and collation (the server's
/// defaults when not given).
///
/// Created when missing; its defaults changed with `ALTER DATABASE` when
/// they differ (tables already there keep their own). Never dropped.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::mysql::Database;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Db;
///
/// impl Component for Db {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Database::new("shop").charset("utf8mb4").collation("utf8mb4_unicode_ci"))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Database {
    name: String,
    charset: Option<String>,
    collation: Option<String>,
    conn: Connection,
    create: bool,
}

impl Database {
    pub fn new(name: impl Into<String>) -> Self {
        Database {
            name: name.into(),
            charset: None,
            collation: None,
            conn: Connection::default(),
            create: false,
        }
    }

    pub fn charset(mut self, charset: impl Into<String>) -> Self {
        self.charset = Some(charset.into());
        self
    }

    pub fn collation(mut self, collation: impl Into<String>) -> Self {
        self.collation = Some(collation.into());
        self
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn what(&self) -> String {
        format!("mysql::Database `{}`", self.name)
    }

    fn options(&self) -> String {
        let mut sql = String::new();
        if let Some(charset) = &self.charset {
            sql.push_str(&format!(" CHARACTER SET {}", literal(charset)));
        }
        if let Some(collation) = &self.collation {
            sql.push_str(&format!(" COLLATE {}", literal(collation)));
        }
        sql
    }
}

impl Component for Database {
    fn label(&self) -> String {
        format!("mysql::Database('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "database", &self.name, 64)?;
        for (kind, value) in [("charset", &self.charset), ("collation", &self.collation)] {
            if let Some(v) = value
                && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(Error::usage(format!(
                    "{what}: invalid {kind} `{}`",
                    super::shown(v)
                )));
            }
        }
        self.conn.check(&what)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let what = self.what();
        let sql = format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM \
             information_schema.SCHEMATA WHERE SCHEMA_NAME = {};",
            literal(&self.name)
        );
        let out = self.conn.run(ctx, &what, &sql, &[])?;
        self.create = false;
        let Some(line) = out.lines().find(|l| !l.is_empty()) else {
            ctx.log(format!("database {} is created", self.name));
            self.create = true;
            return Ok(Verdict::NeedsUpdate);
        };
        let (charset, collation) = line.split_once('\t').unwrap_or((line, ""));
        let mut differs = false;
        if let Some(want) = &self.charset
            && !want.eq_ignore_ascii_case(charset)
        {
            ctx.log(format!("character set {charset} → {want}"));
            differs = true;
        }
        if let Some(want) = &self.collation
            && !want.eq_ignore_ascii_case(collation)
        {
            ctx.log(format!("collation {collation} → {want}"));
            differs = true;
        }
        Ok(Verdict::update_if(differs))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let what = self.what();
        let verb = if self.create { "CREATE" } else { "ALTER" };
        let sql = format!("{verb} DATABASE {}{};", ident(&self.name), self.options());
        self.conn.run(ctx, &what, &sql, &[])?;
        Ok(())
    }
}
