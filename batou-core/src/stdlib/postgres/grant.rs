//! Privileges of a PostgreSQL role on a database, a schema or a schema's
//! tables.

use super::{Connection, check_name, ident, literal};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// What a [`Grant`] is on.
#[derive(Clone)]
enum On {
    Database(String),
    Schema { db: String, schema: String },
    Tables { db: String, schema: String },
}

impl On {
    /// The privileges that exist for this kind of object (`ALL` is all
    /// of them).
    fn privileges(&self) -> &'static [&'static str] {
        match self {
            On::Database(_) => &["CONNECT", "CREATE", "TEMPORARY"],
            On::Schema { .. } => &["USAGE", "CREATE"],
            On::Tables { .. } => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
            ],
        }
    }

    /// The database to connect to for checking and granting.
    fn db(&self) -> &str {
        match self {
            On::Database(_) => "postgres",
            On::Schema { db, .. } | On::Tables { db, .. } => db,
        }
    }
}

/// Privileges of a role: on a database ([`Grant::database`]), a schema
/// ([`Grant::schema`]) or every table a schema has now
/// ([`Grant::tables`]). `ALL` means every privilege of that kind of
/// object.
///
/// Verify asks PostgreSQL whether the role has each privilege
/// (`has_database_privilege`, ...) and grants only when one is missing.
/// Privileges granted by other means are not revoked. Tables created
/// later are not covered by [`Grant::tables`] (use default privileges or
/// make the role own them).
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::postgres::Grant;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Reporting;
///
/// impl Component for Reporting {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Grant::database("reports", "shop", ["CONNECT"]))?;
///         ctx.add(Grant::schema("reports", "shop", "public", ["USAGE"]))?;
///         ctx.add(Grant::tables("reports", "shop", "public", ["SELECT"]))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Grant {
    role: String,
    on: On,
    privileges: Vec<String>,
    conn: Connection,
}

impl Grant {
    /// `privileges` (`CONNECT`, `CREATE`, `TEMPORARY`, `ALL`) on database `db`.
    pub fn database<I, S>(role: impl Into<String>, db: impl Into<String>, privileges: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(role.into(), On::Database(db.into()), privileges)
    }

    /// `privileges` (`USAGE`, `CREATE`, `ALL`) on `schema` in `db`.
    pub fn schema<I, S>(
        role: impl Into<String>,
        db: impl Into<String>,
        schema: impl Into<String>,
        privileges: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let on = On::Schema {
            db: db.into(),
            schema: schema.into(),
        };
        Self::with(role.into(), on, privileges)
    }

    /// `privileges` (`SELECT`, `INSERT`, ..., `ALL`) on every table of
    /// `schema` in `db`.
    pub fn tables<I, S>(
        role: impl Into<String>,
        db: impl Into<String>,
        schema: impl Into<String>,
        privileges: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let on = On::Tables {
            db: db.into(),
            schema: schema.into(),
        };
        Self::with(role.into(), on, privileges)
    }

    fn with<I, S>(role: String, on: On, privileges: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Grant {
            role,
            on,
            privileges: privileges
                .into_iter()
                .map(|p| p.into().trim().to_ascii_uppercase())
                .collect(),
            conn: Connection::default(),
        }
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn object(&self) -> String {
        match &self.on {
            On::Database(db) => format!("database {db}"),
            On::Schema { db, schema } => format!("schema {db}.{schema}"),
            On::Tables { db, schema } => format!("tables {db}.{schema}.*"),
        }
    }

    fn what(&self) -> String {
        format!("postgres::Grant `{}` on {}", self.role, self.object())
    }

    /// The privileges meant, `ALL` spelt out.
    fn wanted(&self) -> Vec<&'static str> {
        let known = self.on.privileges();
        if self.privileges.iter().any(|p| p == "ALL") {
            return known.to_vec();
        }
        known
            .iter()
            .copied()
            .filter(|k| self.privileges.iter().any(|p| p == k))
            .collect()
    }

    /// SQL answering one row per missing privilege.
    fn missing_sql(&self) -> String {
        let role = literal(&self.role);
        let checks: Vec<String> = self
            .wanted()
            .iter()
            .map(|p| match &self.on {
                On::Database(db) => format!(
                    "SELECT {} WHERE NOT has_database_privilege({role}, {}, {})",
                    literal(p),
                    literal(db),
                    literal(p)
                ),
                On::Schema { schema, .. } => format!(
                    "SELECT {} WHERE NOT has_schema_privilege({role}, {}, {})",
                    literal(p),
                    literal(schema),
                    literal(p)
                ),
                On::Tables { schema, .. } => format!(
                    "SELECT {} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = {} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                     AND NOT has_table_privilege({role}, c.oid, {}) LIMIT 1",
                    literal(p),
                    literal(schema),
                    literal(p)
                ),
            })
            .collect();
        format!("{};", checks.join(" UNION ALL "))
    }

    fn grant_sql(&self, missing: &[String]) -> String {
        let privileges = missing.join(", ");
        let role = ident(&self.role);
        match &self.on {
            On::Database(db) => format!("GRANT {privileges} ON DATABASE {} TO {role};", ident(db)),
            On::Schema { schema, .. } => {
                format!("GRANT {privileges} ON SCHEMA {} TO {role};", ident(schema))
            }
            On::Tables { schema, .. } => format!(
                "GRANT {privileges} ON ALL TABLES IN SCHEMA {} TO {role};",
                ident(schema)
            ),
        }
    }

    fn missing(&self, ctx: &mut Deploy<'_>) -> Result<Option<Vec<String>>> {
        let what = self.what();
        if !super::role_exists(&self.conn, ctx, &what, &self.role)? {
            ctx.log(format!("role {} does not exist yet", self.role));
            return Ok(None);
        }
        let db = match &self.on {
            On::Database(db) | On::Schema { db, .. } | On::Tables { db, .. } => db,
        };
        if !super::database_exists(&self.conn, ctx, &what, db)? {
            ctx.log(format!("database {db} does not exist yet"));
            return Ok(None);
        }
        let out = self
            .conn
            .run(ctx, &what, self.on.db(), &self.missing_sql(), &[])?;
        Ok(Some(
            out.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        ))
    }
}

impl Component for Grant {
    fn label(&self) -> String {
        format!("postgres::Grant('{}', '{}')", self.role, self.object())
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "role", &self.role)?;
        match &self.on {
            On::Database(db) => check_name(&what, "database", db)?,
            On::Schema { db, schema } | On::Tables { db, schema } => {
                check_name(&what, "database", db)?;
                check_name(&what, "schema", schema)?;
            }
        }
        if self.privileges.is_empty() {
            return Err(Error::usage(format!("{what}: no privileges given")));
        }
        let known = self.on.privileges();
        for p in &self.privileges {
            let p = if p == "TEMP" { "TEMPORARY" } else { p.as_str() };
            if p != "ALL" && !known.contains(&p) {
                return Err(Error::usage(format!(
                    "{what}: unknown privilege `{}` (known here: {}, ALL)",
                    super::shown(p),
                    known.join(", ")
                )));
            }
        }
        self.privileges = self
            .privileges
            .iter()
            .map(|p| {
                if p == "TEMP" {
                    "TEMPORARY".into()
                } else {
                    p.clone()
                }
            })
            .collect();
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
        // Asked again: the role or database may have been made since.
        let missing = match self.missing(ctx)? {
            Some(missing) => missing,
            None => {
                return Err(Error::msg(format!(
                    "{what}: the role or the database does not exist (add its Role and \
                     Database before the Grant)"
                )));
            }
        };
        if missing.is_empty() {
            return Ok(());
        }
        self.conn
            .run(ctx, &what, self.on.db(), &self.grant_sql(&missing), &[])?;
        Ok(())
    }
}
