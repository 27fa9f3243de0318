//! A PostgreSQL database: created with its owner, encoding and locale.

use super::{Connection, check_name, ident, literal};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// A database, owned by [`Database::owner`] (a role that must exist:
/// add its [`super::Role`] first), with an encoding and locale.
///
/// Created when missing (from `template0` when an encoding or locale is
/// given, as PostgreSQL requires); the owner changed with `ALTER
/// DATABASE` when it differs. A database's encoding and locale cannot be
/// changed in place: a difference is an error saying so, not a silent
/// no-op (batou_ext only checked that the database answers). A database
/// is never dropped.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::postgres::Database;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Db;
///
/// impl Component for Db {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Database::new("shop").owner("shop").encoding("UTF8").locale("C.UTF-8"))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Database {
    name: String,
    owner: Option<String>,
    encoding: Option<String>,
    locale: Option<String>,
    template: Option<String>,
    conn: Connection,
    create: bool,
}

impl Database {
    pub fn new(name: impl Into<String>) -> Self {
        Database {
            name: name.into(),
            owner: None,
            encoding: None,
            locale: None,
            template: None,
            conn: Connection::default(),
            create: false,
        }
    }

    /// The owning role (default: the connecting role, on creation only).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// `UTF8`, `LATIN1`, ... (default: the template's).
    pub fn encoding(mut self, encoding: impl Into<String>) -> Self {
        self.encoding = Some(encoding.into());
        self
    }

    /// `LC_COLLATE` and `LC_CTYPE` (default: the template's).
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// The template database (default `template1`, or `template0` with
    /// an encoding or locale).
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn what(&self) -> String {
        format!("postgres::Database `{}`", self.name)
    }
}

/// Locale names as PostgreSQL may spell them back (`en_US.utf8`).
fn same_locale(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "");
    norm(a) == norm(b)
}

impl Component for Database {
    fn label(&self) -> String {
        format!("postgres::Database('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "database", &self.name)?;
        for (kind, value) in [("owner", &self.owner), ("template", &self.template)] {
            if let Some(v) = value {
                check_name(&what, kind, v)?;
            }
        }
        for (kind, value) in [("encoding", &self.encoding), ("locale", &self.locale)] {
            if let Some(v) = value
                && (v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c)))
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
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, \
             datctype FROM pg_database WHERE datname = {};",
            literal(&self.name)
        );
        let out = self.conn.run(ctx, &what, "postgres", &sql, &[])?;
        let rows = super::rows(&out);
        self.create = false;
        let Some(row) = rows.first() else {
            ctx.log(format!("database {} is created", self.name));
            self.create = true;
            return Ok(Verdict::NeedsUpdate);
        };
        if row.len() < 4 {
            return Err(Error::msg(format!("{what}: unexpected answer from psql")));
        }
        if let Some(encoding) = &self.encoding
            && !row[1].eq_ignore_ascii_case(encoding)
        {
            return Err(Error::msg(format!(
                "{what}: has encoding {}, not {encoding}; PostgreSQL cannot change it in \
                 place (dump, drop and restore the database)",
                row[1]
            )));
        }
        if let Some(locale) = &self.locale
            && !(same_locale(&row[2], locale) && same_locale(&row[3], locale))
        {
            return Err(Error::msg(format!(
                "{what}: has locale {}/{}, not {locale}; PostgreSQL cannot change it in \
                 place (dump, drop and restore the database)",
                row[2], row[3]
            )));
        }
        match &self.owner {
            Some(owner) if *owner != row[0] => {
                ctx.log(format!("owner {} → {owner}", row[0]));
                Ok(Verdict::NeedsUpdate)
            }
            _ => Ok(Verdict::UpToDate),
        }
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let what = self.what();
        let sql = if self.create {
            let mut sql = format!("CREATE DATABASE {}", ident(&self.name));
            if let Some(owner) = &self.owner {
                sql.push_str(&format!(" OWNER {}", ident(owner)));
            }
            if let Some(encoding) = &self.encoding {
                sql.push_str(&format!(" ENCODING {}", literal(encoding)));
            }
            if let Some(locale) = &self.locale {
                sql.push_str(&format!(" LOCALE {}", literal(locale)));
            }
            let template = self.template.clone().or_else(|| {
                (self.encoding.is_some() || self.locale.is_some()).then(|| "template0".into())
            });
            if let Some(template) = template {
                sql.push_str(&format!(" TEMPLATE {}", ident(&template)));
            }
            sql + ";"
        } else {
            let owner = self.owner.as_deref().unwrap_or_default();
            format!(
                "ALTER DATABASE {} OWNER TO {};",
                ident(&self.name),
                ident(owner)
            )
        };
        self.conn.run(ctx, &what, "postgres", &sql, &[])?;
        Ok(())
    }
}
