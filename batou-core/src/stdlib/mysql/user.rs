//! A MySQL / MariaDB user account and its password.

use sha1::{Digest, Sha1};

use super::{Connection, account, check_name, literal};
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// The `mysql_native_password` hash of `password`: `*` and the upper-case
/// hex of SHA1(SHA1(password)), as the server stores it.
fn native_hash(password: &str) -> String {
    let digest = Sha1::digest(Sha1::digest(password.as_bytes()));
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("*{hex}")
}

/// A user account `name@host` (host default `localhost`), with a
/// password when given (usually from the secrets).
///
/// Created when missing; the password set when the stored hash is not
/// the wanted password's (or another authentication plugin is in use).
/// Without [`User::password`] an existing account's authentication is
/// left alone. A user is never dropped.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::mysql::{Connection, Database, Grant, User};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Db { db_password: String }
///
/// impl Component for Db {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         let root = Connection::new().socket("/run/mysqld/mysqld.sock").user("root");
///         ctx.add(User::new("shop").password(&self.db_password).connection(root.clone()))?;
///         ctx.add(Database::new("shop").charset("utf8mb4").connection(root.clone()))?;
///         ctx.add(Grant::new("shop", "shop").privileges(["ALL"]).connection(root))?;
///         Ok(())
///     }
/// }
/// ```
pub struct User {
    name: String,
    host: String,
    password: Option<String>,
    conn: Connection,
    create: bool,
}

impl User {
    pub fn new(name: impl Into<String>) -> Self {
        User {
            name: name.into(),
            host: "localhost".into(),
            password: None,
            conn: Connection::default(),
            create: false,
        }
    }

    /// The host part of the account (`localhost`, `%`, `10.0.0.%`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    fn what(&self) -> String {
        format!("mysql::User `{}@{}`", self.name, self.host)
    }
}

impl Component for User {
    fn label(&self) -> String {
        format!("mysql::User('{}@{}')", self.name, self.host)
    }

    fn configure(&mut self, _ctx: &mut Configure<'_>) -> Result<()> {
        let what = self.what();
        check_name(&what, "user", &self.name, 80)?;
        check_name(&what, "host", &self.host, 255)?;
        if self.password.as_deref() == Some("") {
            return Err(Error::usage(format!("{what}: the password is empty")));
        }
        self.conn.check(&what)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let what = self.what();
        let sql = format!(
            "SELECT plugin, authentication_string FROM mysql.user WHERE User = {} AND Host = {};",
            literal(&self.name),
            literal(&self.host)
        );
        let out = self.conn.run(ctx, &what, &sql, &[])?;
        self.create = false;
        let Some(line) = out.lines().find(|l| !l.is_empty()) else {
            ctx.log(format!("user {}@{} is created", self.name, self.host));
            self.create = true;
            return Ok(Verdict::NeedsUpdate);
        };
        let Some(password) = &self.password else {
            return Ok(Verdict::UpToDate);
        };
        let (plugin, stored) = line.split_once('\t').unwrap_or((line, ""));
        let current = plugin == "mysql_native_password" && stored == native_hash(password);
        if !current {
            ctx.log("password is set (it differs)");
        }
        Ok(Verdict::update_if(!current))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let what = self.what();
        let hash = self.password.as_deref().map(native_hash);
        let auth = hash
            .as_deref()
            .map(|h| format!(" IDENTIFIED WITH mysql_native_password AS {}", literal(h)))
            .unwrap_or_default();
        let verb = if self.create { "CREATE" } else { "ALTER" };
        let sql = format!("{verb} USER {}{auth};", account(&self.name, &self.host));
        let masked: Vec<&str> = hash.as_deref().into_iter().collect();
        self.conn.run(ctx, &what, &sql, &masked)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_native_hash_is_the_servers() {
        // SELECT PASSWORD('secret') on MariaDB.
        assert_eq!(
            super::native_hash("secret"),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
    }
}
