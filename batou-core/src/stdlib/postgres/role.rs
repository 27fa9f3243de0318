//! A PostgreSQL role: created, its flags and password kept as wanted.

use super::{Connection, check_name, ident, literal, scram};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// A role (user) in a PostgreSQL cluster, with its `LOGIN`, `SUPERUSER`,
/// `CREATEDB` and `CREATEROLE` flags and, when given, its password
/// (usually from the secrets: the component's own attribute given to
/// [`Role::password`]).
///
/// Created when missing; flags changed with `ALTER ROLE` when they
/// differ; the password set when the stored verifier is not one of the
/// wanted password (see the module docs: the password itself never
/// leaves the deploying process). Without [`Role::password`] the password
/// is left alone. A role is never dropped.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::postgres::{Connection, Database, Role};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Db { db_password: String }
///
/// impl Component for Db {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         let pg = Connection::new().run_as("postgres");
///         ctx.add(Role::new("app").password(&self.db_password).connection(pg.clone()))?;
///         ctx.add(Database::new("app").owner("app").connection(pg))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Role {
    name: String,
    password: Option<String>,
    login: bool,
    superuser: bool,
    createdb: bool,
    createrole: bool,
    conn: Connection,
    plan: Plan,
}

/// What verify found to do.
#[derive(Default)]
struct Plan {
    create: bool,
    flags: bool,
    password: bool,
}

const FLAGS: [&str; 4] = ["LOGIN", "SUPERUSER", "CREATEDB", "CREATEROLE"];

impl Role {
    /// A role that can log in, with no other privileges.
    pub fn new(name: impl Into<String>) -> Self {
        Role {
            name: name.into(),
            password: None,
            login: true,
            superuser: false,
            createdb: false,
            createrole: false,
            conn: Connection::default(),
            plan: Plan::default(),
        }
    }

    /// The role's password (printable ASCII).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// May log in (default yes).
    pub fn login(mut self, login: bool) -> Self {
        self.login = login;
        self
    }

    pub fn superuser(mut self, superuser: bool) -> Self {
        self.superuser = superuser;
        self
    }

    pub fn createdb(mut self, createdb: bool) -> Self {
        self.createdb = createdb;
        self
    }

    pub fn createrole(mut self, createrole: bool) -> Self {
        self.createrole = createrole;
        self
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn what(&self) -> String {
        format!("postgres::Role `{}`", self.name)
    }

    fn wanted(&self) -> [bool; 4] {
        [self.login, self.superuser, self.createdb, self.createrole]
    }

    fn flags_sql(&self) -> String {
        FLAGS
            .iter()
            .zip(self.wanted())
            .map(|(f, on)| if on { f.to_string() } else { format!("NO{f}") })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Component for Role {
    fn label(&self) -> String {
        format!("postgres::Role('{}')", self.name)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "role", &self.name)?;
        self.conn.check(&what)?;
        if let Some(p) = &self.password
            && !scram::supported(p)
        {
            return Err(Error::usage(format!(
                "{what}: the password must be printable ASCII and not empty (PostgreSQL \
                 normalises other characters, which batou does not reproduce)"
            )));
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let what = self.what();
        let sql = format!(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, \
             coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {};",
            literal(&self.name)
        );
        let out = self.conn.run(ctx, &what, "postgres", &sql, &[])?;
        let rows = super::rows(&out);
        self.plan = Plan::default();
        let Some(row) = rows.first() else {
            ctx.log(format!("role {} is created", self.name));
            self.plan.create = true;
            return Ok(Verdict::NeedsUpdate);
        };
        if row.len() < 5 {
            return Err(Error::msg(format!("{what}: unexpected answer from psql")));
        }
        let have: Vec<bool> = row[..4].iter().map(|v| v == "t").collect();
        for ((flag, want), have) in FLAGS.iter().zip(self.wanted()).zip(&have) {
            if want != *have {
                let (from, to) = if want { ("NO", "") } else { ("", "NO") };
                ctx.log(format!("{from}{flag} → {to}{flag}"));
                self.plan.flags = true;
            }
        }
        if let Some(password) = &self.password
            && !scram::matches(&row[4], &self.name, password)
        {
            ctx.log("password is set (it differs)");
            self.plan.password = true;
        }
        Ok(Verdict::update_if(self.plan.flags || self.plan.password))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let what = self.what();
        let verifier = match &self.password {
            Some(p) if self.plan.create || self.plan.password => Some(
                scram::verifier(p)
                    .map_err(|e| Error::msg(format!("{what}: no random salt: {e}")))?,
            ),
            _ => None,
        };
        let password = verifier
            .as_deref()
            .map(|v| format!(" PASSWORD {}", literal(v)))
            .unwrap_or_default();
        let verb = if self.plan.create { "CREATE" } else { "ALTER" };
        let sql = format!(
            "{verb} ROLE {} WITH {}{password};",
            ident(&self.name),
            self.flags_sql()
        );
        let masked: Vec<&str> = verifier.as_deref().into_iter().collect();
        self.conn.run(ctx, &what, "postgres", &sql, &masked)?;
        Ok(())
    }
}
