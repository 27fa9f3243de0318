//! `mysql::User`, `Database` and `Grant` against a real MariaDB (Debian's
//! `mariadb-server`) that each test starts as a user of its own on a unix
//! socket in its temp dir, with every statement in its general log: the
//! tests show the password is never there, nor in any process's argv or
//! environment during the deploy, nor in the events.

use super::db_servers::{self, Mariadb};
use super::fixture::{param, set_params};
use super::*;
use crate::stdlib::mysql::{Connection, Database, Grant, User};

const FIRST: &str = "first s3cret 'quoted' pass";
const SECOND: &str = "second-Secret-42";

fn conn(scene: &Scene) -> Connection {
    Connection::new().socket(param(scene, 0)).user("root")
}

fn deploy_watched(s: &Stage, db: &Mariadb, predict: bool) -> (DeployReport, Vec<Event>) {
    db_servers::deploy_watched(s, &[FIRST, SECOND], &db.general_log, predict)
}

#[test]
fn user_database_and_grant_are_made_kept_and_repaired_and_a_password_change_applies() {
    let db = Mariadb::start();
    let s = Stage::new(|scene, ctx| {
        let c = conn(scene);
        ctx.add(
            User::new("shop")
                .password(param(scene, 1))
                .connection(c.clone()),
        )?;
        ctx.add(
            Database::new("shop_db")
                .charset("utf8mb4")
                .collation("utf8mb4_unicode_ci")
                .connection(c.clone()),
        )?;
        ctx.add(
            Grant::new("shop", "shop_db")
                .privileges(["ALL"])
                .connection(c.clone()),
        )?;
        ctx.add(User::new("reports").host("%").connection(c.clone()))?;
        ctx.add(
            Grant::new("reports", "shop_db")
                .host("%")
                .privileges(["select", "SHOW  VIEW"])
                .connection(c),
        )?;
        Ok(())
    });
    set_params(s.case, &[db.sock.to_str().unwrap(), FIRST]);

    let (report, _) = deploy_watched(&s, &db, true);
    assert_eq!(report.changed, 5);
    assert_eq!(
        db.sql("SELECT count(*) FROM mysql.user WHERE User IN ('shop', 'reports')"),
        "0"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_db'"),
        "0"
    );

    let (report, events) = deploy_watched(&s, &db, false);
    assert_eq!(report.changed, 5, "{events:#?}");
    assert!(db.login("shop", FIRST));
    assert!(!db.login("shop", SECOND));
    assert_eq!(
        db.sql("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_db'"),
        "utf8mb4\tutf8mb4_unicode_ci"
    );
    let grants = db.sql("SHOW GRANTS FOR 'shop'@'localhost'");
    assert!(
        grants.contains(r"GRANT ALL PRIVILEGES ON `shop\\_db`.* TO `shop`@`localhost`"),
        "{grants}"
    );
    let grants = db.sql("SHOW GRANTS FOR 'reports'@'%'");
    assert!(
        grants.contains(r"GRANT SELECT, SHOW VIEW ON `shop\\_db`.* TO `reports`@`%`"),
        "{grants}"
    );
    // The stored hash is the server's own for that password.
    assert_eq!(
        db.sql("SELECT authentication_string = PASSWORD('first s3cret ''quoted'' pass') FROM mysql.user WHERE User = 'shop'"),
        "1"
    );

    let (report, events) = deploy_watched(&s, &db, false);
    assert_eq!(report.changed, 0, "{events:#?}");

    // Drift: a revoked privilege, another collation, a password set by hand.
    db.sql("REVOKE DELETE ON `shop\\_db`.* FROM 'shop'@'localhost'");
    db.sql("ALTER DATABASE shop_db COLLATE utf8mb4_bin");
    db.sql("ALTER USER 'shop'@'localhost' IDENTIFIED BY 'by hand'");
    let (report, events) = deploy_watched(&s, &db, false);
    assert_eq!(report.changed, 3, "{events:#?}");
    assert!(db.login("shop", FIRST));
    let grants = db.sql("SHOW GRANTS FOR 'shop'@'localhost'");
    assert!(grants.contains("ALL PRIVILEGES"), "{grants}");
    assert_eq!(
        db.sql("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_db'"),
        "utf8mb4_unicode_ci"
    );

    // A new password is applied; the old one stops working.
    set_params(s.case, &[db.sock.to_str().unwrap(), SECOND]);
    let (report, events) = deploy_watched(&s, &db, false);
    assert_eq!(report.changed, 1, "{events:#?}");
    assert!(db.login("shop", SECOND));
    assert!(!db.login("shop", FIRST));
    let (report, _) = deploy_watched(&s, &db, false);
    assert_eq!(report.changed, 0);
}

#[test]
fn hostile_names_are_quoted() {
    let db = Mariadb::start();
    let s = Stage::new(|scene, ctx| {
        let c = conn(scene);
        ctx.add(
            User::new(param(scene, 1))
                .password("pw")
                .connection(c.clone()),
        )?;
        ctx.add(Database::new(param(scene, 2)).connection(c.clone()))?;
        ctx.add(
            Grant::new(param(scene, 1), param(scene, 2))
                .privileges(["SELECT"])
                .connection(c),
        )?;
        Ok(())
    });
    let user = r#"x'; DROP USER root; -- "q""#;
    let name = "d`b'; DROP DATABASE mysql; %";
    set_params(s.case, &[db.sock.to_str().unwrap(), user, name]);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 3, "{events:#?}");
    assert_eq!(
        db.sql("SELECT User FROM mysql.user WHERE User LIKE 'x%'"),
        user
    );
    assert_eq!(
        db.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'd%'"),
        name
    );
    assert!(db.login(user, "pw"));
    assert_eq!(
        db.sql("SELECT count(*) FROM mysql.user WHERE User = 'root'"),
        "1"
    );
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
}

#[test]
fn an_unreachable_server_is_a_clear_error_naming_the_component() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(
            User::new("shop")
                .password("never shown")
                .connection(conn(scene)),
        )?;
        Ok(())
    });
    let dir = s.prepare();
    set_params(s.case, &[dir.join("no.sock").to_str().unwrap()]);
    let (result, events) = s.run(false);
    let error = result.expect_err("deployed without a server").to_string();
    assert!(
        error.contains("mysql::User `shop@localhost`: mysql failed:"),
        "{error}"
    );
    assert!(error.contains("no.sock"), "{error}");
    assert!(!error.contains("never shown") && !format!("{events:?}").contains("never shown"));
}

#[test]
fn bad_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| ctx.add(User::new("")).map(drop),
            "mysql::User `@localhost`: the user name is empty",
        ),
        (
            |_, ctx| ctx.add(User::new(r"a\b")).map(drop),
            r"the user name `a\b` has a control character or a backslash",
        ),
        (
            |_, ctx| ctx.add(User::new("app").password("")).map(drop),
            "mysql::User `app@localhost`: the password is empty",
        ),
        (
            |_, ctx| ctx.add(Database::new("d".repeat(65))).map(drop),
            "is longer than 64 characters",
        ),
        (
            |_, ctx| ctx.add(Database::new("db").charset("utf8; DROP")).map(drop),
            "mysql::Database `db`: invalid charset `utf8; DROP`",
        ),
        (
            |_, ctx| ctx.add(Grant::new("app", "db")).map(drop),
            "mysql::Grant `app@localhost` on db: no privileges given",
        ),
        (
            |_, ctx| {
                ctx.add(Grant::new("app", "db").privileges(["SUPER"]))
                    .map(drop)
            },
            "unknown privilege `SUPER` (database privileges: SELECT",
        ),
        (
            |_, ctx| {
                ctx.add(User::new("app").connection(Connection::new().socket("a\nb")))
                    .map(drop)
            },
            r"invalid connection socket `a\nb`",
        ),
    ]);
}
