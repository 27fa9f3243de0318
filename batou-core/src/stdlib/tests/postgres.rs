//! `postgres::Role`, `Database` and `Grant` against a real PostgreSQL 15
//! (Debian's `postgresql`) that each test starts as a user of its own on
//! a unix socket in its temp dir. Every statement the server runs is in
//! its log: the tests show the password is never there, nor in any
//! process's argv or environment during the deploy, nor in the events.

use super::db_servers::{self, Postgres};
use super::fixture::{param, set_params};
use super::*;
use crate::stdlib::postgres::{Connection, Database, Grant, Role};

const FIRST: &str = "Tr0ub4dor-&-3 first";
const SECOND: &str = "correct horse battery staple";

fn conn(scene: &Scene) -> Connection {
    Connection::new().host(param(scene, 0)).user("postgres")
}

fn deploy_watched(s: &Stage, pg: &Postgres, predict: bool) -> (DeployReport, Vec<Event>) {
    db_servers::deploy_watched(s, &[FIRST, SECOND], &pg.log, predict)
}

#[test]
fn role_database_and_grants_are_made_kept_and_repaired_and_a_password_change_applies() {
    let pg = Postgres::start();
    let s = Stage::new(|scene, ctx| {
        let c = conn(scene);
        ctx.add(
            Role::new("app")
                .password(param(scene, 1))
                .connection(c.clone()),
        )?;
        ctx.add(Role::new("reader").login(false).connection(c.clone()))?;
        ctx.add(
            Database::new("appdb")
                .owner("app")
                .encoding("UTF8")
                .locale("C.UTF-8")
                .connection(c.clone()),
        )?;
        // CONNECT and USAGE on public: PUBLIC has them already.
        ctx.add(Grant::database("reader", "appdb", ["CONNECT", "CREATE"]).connection(c.clone()))?;
        ctx.add(
            Grant::schema("reader", "appdb", "public", ["USAGE", "CREATE"]).connection(c.clone()),
        )?;
        ctx.add(Grant::tables("reader", "appdb", "public", ["SELECT"]).connection(c))?;
        Ok(())
    });
    set_params(s.case, &[pg.sock.to_str().unwrap(), FIRST]);

    // Predicting reads the catalog and changes nothing.
    let (report, _) = deploy_watched(&s, &pg, true);
    assert_eq!(report.changed, 6);
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'reader')"
        ),
        "0"
    );

    // The tables grant has no table to grant on yet.
    let (report, events) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 5, "{events:#?}");
    assert!(pg.login("app", "appdb", FIRST));
    assert_eq!(
        pg.sql("postgres", "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = 'appdb'"),
        "app|UTF8|C.UTF-8"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'reader'"
        ),
        "f"
    );
    assert_eq!(
        pg.sql("appdb", "SELECT has_database_privilege('reader', 'appdb', 'CREATE'), has_schema_privilege('reader', 'public', 'CREATE')"),
        "t|t"
    );
    // The password is stored as a SCRAM verifier made here.
    assert!(
        pg.sql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'"
        )
        .starts_with("SCRAM-SHA-256$4096:")
    );

    // Nothing changed: nothing to do.
    let verifier = pg.sql(
        "postgres",
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'",
    );
    let (report, events) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'"
        ),
        verifier
    );

    // A table made since: the tables grant covers it on the next deploy.
    pg.sql("appdb", "CREATE TABLE items (id int)");
    let (report, events) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(
        pg.sql(
            "appdb",
            "SELECT has_table_privilege('reader', 'public.items', 'SELECT')"
        ),
        "t"
    );

    // Drift: flags, owner, a revoked grant and a password set by hand.
    pg.sql(
        "postgres",
        "ALTER ROLE app CREATEDB PASSWORD 'changed by hand'",
    );
    pg.sql("postgres", "ALTER DATABASE appdb OWNER TO postgres");
    pg.sql("postgres", "REVOKE CREATE ON DATABASE appdb FROM reader");
    let (report, events) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 3, "{events:#?}");
    assert!(pg.login("app", "appdb", FIRST));
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'app'"
        ),
        "f"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'"
        ),
        "app"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT has_database_privilege('reader', 'appdb', 'CREATE')"
        ),
        "t"
    );

    // A new password from the secrets is applied; the old one stops working.
    set_params(s.case, &[pg.sock.to_str().unwrap(), SECOND]);
    let (report, events) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 1, "{events:#?}");
    assert!(pg.login("app", "appdb", SECOND));
    assert!(!pg.login("app", "appdb", FIRST));
    let (report, _) = deploy_watched(&s, &pg, false);
    assert_eq!(report.changed, 0);
}

#[test]
fn hostile_names_are_quoted_and_a_locale_that_cannot_change_is_an_error() {
    let pg = Postgres::start();
    let s = Stage::new(|scene, ctx| {
        let c = conn(scene);
        ctx.add(
            Role::new(param(scene, 1))
                .password("pw pw")
                .connection(c.clone()),
        )?;
        ctx.add(
            Database::new(param(scene, 2))
                .owner(param(scene, 1))
                .connection(c.clone()),
        )?;
        ctx.add(
            Role::new(param(scene, 3))
                .login(false)
                .connection(c.clone()),
        )?;
        ctx.add(Grant::database(param(scene, 3), param(scene, 2), ["ALL"]).connection(c))?;
        Ok(())
    });
    let role = r#"we"ird'; DROP ROLE postgres; --"#;
    let db = r#"d"b' :x $1 \ ; x"#;
    let other = r#"r:x "y" ${z}"#;
    set_params(s.case, &[pg.sock.to_str().unwrap(), role, db, other]);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 4, "{events:#?}");
    assert_eq!(
        pg.sql(
            "postgres",
            &format!(
                "SELECT has_database_privilege({}, {}, 'CREATE')",
                crate::stdlib::postgres::literal(other),
                crate::stdlib::postgres::literal(db)
            )
        ),
        "t"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'we%'"
        ),
        role
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT datname FROM pg_database WHERE datname LIKE 'd%'"
        ),
        db
    );
    assert!(pg.login(role, db, "pw pw"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");

    // The database exists with another locale: a clear error, no change.
    let s = Stage::new(|scene, ctx| {
        ctx.add(Database::new("other").locale("C").connection(conn(scene)))?;
        Ok(())
    });
    set_params(s.case, &[pg.sock.to_str().unwrap()]);
    pg.sql(
        "postgres",
        "CREATE DATABASE other LOCALE 'C.UTF-8' TEMPLATE template0",
    );
    let (result, _) = s.run(false);
    let error = result.expect_err("a locale mismatch deployed").to_string();
    assert!(
        error.contains("postgres::Database `other`: has locale C.UTF-8/C.UTF-8, not C"),
        "{error}"
    );
    assert!(error.contains("cannot change it in place"), "{error}");
}

#[test]
fn an_unreachable_server_is_a_clear_error_naming_the_component() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(Role::new("app").connection(conn(scene)))?;
        Ok(())
    });
    let dir = s.prepare();
    set_params(s.case, &[dir.to_str().unwrap()]);
    let (result, _) = s.run(false);
    let error = result.expect_err("deployed without a server").to_string();
    assert!(
        error.contains("postgres::Role `app`: psql failed:"),
        "{error}"
    );
    assert!(
        error.contains("No such file or directory") || error.contains("connection"),
        "{error}"
    );
}

#[test]
fn run_as_runs_psql_as_that_user_through_sudo() {
    let pg = Postgres::start();
    // Peer authentication lets the server's account in as the
    // superuser, and not `nobody`.
    let s = Stage::new(|scene, ctx| {
        let c = Connection::new()
            .host(param(scene, 0))
            .user("postgres")
            .run_as(param(scene, 1));
        ctx.add(Role::new("viasudo").password("pw via sudo").connection(c))?;
        Ok(())
    });
    set_params(s.case, &[pg.sock.to_str().unwrap(), "nobody"]);
    let (result, _) = s.run(false);
    let error = result.expect_err("nobody got in").to_string();
    assert!(
        error.contains("postgres::Role `viasudo`: psql failed:"),
        "{error}"
    );
    assert!(error.contains("Peer authentication failed"), "{error}");

    set_params(s.case, &[pg.sock.to_str().unwrap(), &pg.account.name]);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert!(pg.login("viasudo", "postgres", "pw via sudo"));
    let (report, _) = s.deploy();
    assert_eq!(report.changed, 0);
}

#[test]
fn bad_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| ctx.add(Role::new("")).map(drop),
            "postgres::Role ``: the role name is empty",
        ),
        (
            |_, ctx| ctx.add(Role::new("a\nb")).map(drop),
            r"the role name `a\nb` has control characters",
        ),
        (
            |_, ctx| ctx.add(Role::new("x".repeat(64))).map(drop),
            "is longer than PostgreSQL's 63 bytes",
        ),
        (
            |_, ctx| ctx.add(Role::new("app").password("pässword")).map(drop),
            "postgres::Role `app`: the password must be printable ASCII",
        ),
        (
            |_, ctx| ctx.add(Role::new("app").password("")).map(drop),
            "the password must be printable ASCII and not empty",
        ),
        (
            |_, ctx| ctx.add(Database::new("db").encoding("UTF8'; --")).map(drop),
            "postgres::Database `db`: invalid encoding `UTF8'; --`",
        ),
        (
            |_, ctx| ctx.add(Grant::database("app", "db", ["SELECT"])).map(drop),
            "postgres::Grant `app` on database db: unknown privilege `SELECT` (known here: CONNECT, CREATE, TEMPORARY, ALL)",
        ),
        (
            |_, ctx| {
                ctx.add(Grant::schema("app", "db", "public", Vec::<String>::new()))
                    .map(drop)
            },
            "no privileges given",
        ),
        (
            |_, ctx| {
                ctx.add(Role::new("app").connection(Connection::new().host("-oProxyCommand")))
                    .map(drop)
            },
            "invalid connection host `-oProxyCommand`",
        ),
    ]);
}
