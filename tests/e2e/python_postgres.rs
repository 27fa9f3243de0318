//! The guide's worked example (docs/guide/python-postgres.md,
//! `tests/fixtures/python_postgres.rs`) deployed end to end: a real
//! PostgreSQL cluster started by the test, a wheel of the application the
//! test builds (no network), `python3 -m venv`, a real supervisord
//! running the application, which logs in to its database with the
//! password from the secrets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::secrets::{encrypt, identity};
use super::support::{Project, workspace_root};
use crate::remote_support::users::User;

const ENV: &str = "[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = pyapp_supervisor, pyapp\n\n\
                   [component:pyapp]\nwheels = {wheels}\ndb_host = {sock}\ndb_admin = postgres\ndb_run_as =\n";

/// The application: logs in with the configured password file, writes
/// who it is to the `ready` file, then serves (sleeps).
const MAIN: &str = r#"import configparser, os, subprocess, sys, time
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
db, app = cfg["database"], cfg["app"]
out = subprocess.run(
    ["psql", "-X", "-w", "-A", "-t", "-h", db["host"], "-U", db["user"], "-d", db["name"],
     "-c", "SELECT current_user || ' ' || current_database()"],
    env=dict(os.environ, PGPASSFILE=db["passfile"]), capture_output=True, text=True)
os.makedirs(os.path.dirname(app["ready"]), exist_ok=True)
with open(app["ready"] + ".tmp", "w") as f:
    f.write(out.stdout.strip() or "login failed: " + out.stderr.strip())
os.replace(app["ready"] + ".tmp", app["ready"])
while True:
    time.sleep(3600)
"#;

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} (./test installs it): {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A wheel of the `pyapp` package at `version`, written with Python's
/// zipfile into `dir`.
fn wheel(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let script = r#"
import sys, zipfile
d, version, main = sys.argv[1:]
info = f"pyapp-{version}.dist-info"
files = {
    "pyapp/__init__.py": f'VERSION = "{version}"\n',
    "pyapp/__main__.py": main,
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: pyapp\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: batou-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(f"{d}/pyapp-{version}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
    z.writestr(f"{info}/RECORD", record)
"#;
    run(
        "python3",
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(dir)
            .args([version, MAIN]),
    );
}

/// A PostgreSQL cluster in a temp dir of the test, run by an account made
/// for it (not Debian's `postgres`: the test touches only what it made),
/// on a unix socket only, every statement logged. Its superuser role is
/// still called `postgres`, as the example's `db_admin` expects.
struct Cluster {
    tmp: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    /// Dropped last: the server is stopped and its files gone by then.
    account: User,
}

/// `program` run as `account` (user and its group), nothing else kept.
fn as_account(account: &User, program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        &account.name,
        "--regid",
        &account.name,
        "--clear-groups",
        "--",
    ])
    .arg(program);
    c
}

impl Cluster {
    fn start() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("/usr/lib/postgresql: ./test installs Debian's postgresql")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("no PostgreSQL server binaries");
        let tmp = tempfile::Builder::new()
            .prefix("batou-pg-")
            .tempdir()
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("pg");
        std::fs::create_dir(&dir).unwrap();
        let account = User::create("bt-pg");
        run(
            "chown",
            Command::new("chown")
                .arg(format!("{0}:{0}", account.name))
                .arg(&dir),
        );
        let data = dir.join("data");
        let as_owner = |program: &Path| as_account(&account, program);
        run(
            "initdb",
            as_owner(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
            ]),
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all postgres trust\nlocal all all scram-sha-256\n",
        )
        .unwrap();
        std::fs::write(
            data.join("postgresql.auto.conf"),
            format!(
                "listen_addresses = ''\nunix_socket_directories = '{}'\nlog_statement = 'all'\n",
                dir.display()
            ),
        )
        .unwrap();
        run(
            "pg_ctl start",
            as_owner(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "120", "start"]),
        );
        Cluster {
            tmp,
            data,
            bin,
            account,
        }
    }

    fn sock(&self) -> PathBuf {
        self.tmp.path().join("pg")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.sock().join("server.log")).unwrap()
    }

    fn sql(&self, sql: &str) -> String {
        run(
            "psql",
            Command::new("psql")
                .args(["-X", "-w", "-A", "-t", "-U", "postgres", "-d", "postgres"])
                .arg(format!("--host={}", self.sock().display()))
                .args(["-c", sql]),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_account(&self.account, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Shuts the deployment's supervisord down on drop.
struct Daemon(PathBuf);

impl Daemon {
    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("supervisorctl")
            .arg("-c")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("supervisorctl (./test installs supervisor)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.ctl(&["shutdown"]);
    }
}

/// Waits until the application wrote its ready file, and returns it.
fn ready(p: &Project) -> String {
    let path = p.path().join("work/pyapp/var/ready");
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the application never wrote {}", path.display());
}

#[test]
fn the_python_and_postgresql_example_deploys_stays_put_and_rotates_its_password() {
    let pg = Cluster::start();
    let p = Project::new();
    let wheels = p.path().join("wheels");
    wheel(&wheels, "1.0");
    let env = ENV
        .replace("{wheels}", &wheels.display().to_string())
        .replace("{sock}", &pg.sock().display().to_string());
    p.write("environments/sec/environment.cfg", &env);
    let first = "first-Pyapp-secret";
    encrypt(&p, &format!("[pyapp]\ndb_password = {first}\n"));
    let vars = [("BATOU_AGE_IDENTITIES", identity())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let daemon = Daemon(p.path().join("work/pyapp_supervisor/etc/supervisord.conf"));

    let deployed = p.run_with(&["deploy", "sec"], &vars).success();
    let deployed = deployed
        .stdout_contains("postgres::Role('pyapp')")
        .stdout_contains("postgres::Database('pyapp')")
        .stdout_contains("VirtualEnv('3')");
    assert_eq!(ready(&p), "pyapp pyapp");
    let pid = daemon.ctl(&["pid", "pyapp"]);
    assert!(pid.parse::<u32>().unwrap_or(0) > 0, "{pid}");

    // Nothing changed: nothing done, the program untouched.
    let again = p.run_with(&["deploy", "sec"], &vars).success();
    let again = again
        .stdout_lacks("postgres::Role")
        .stdout_lacks("VirtualEnv")
        .stdout_contains("Nothing changed.");
    assert_eq!(daemon.ctl(&["pid", "pyapp"]), pid);

    // A new password in the secrets: the role and the password file
    // change, the program restarts and logs in with it.
    let second = "second-Pyapp-secret";
    encrypt(&p, &format!("[pyapp]\ndb_password = {second}\n"));
    let predicted = p.run_with(&["deploy", "-P", "sec"], &vars).success();
    let predicted = predicted.stdout_contains("postgres::Role('pyapp')");
    assert_eq!(
        daemon.ctl(&["pid", "pyapp"]),
        pid,
        "-P restarted the program"
    );
    std::fs::remove_file(p.path().join("work/pyapp/var/ready")).unwrap();
    let rotated = p.run_with(&["deploy", "sec"], &vars).success();
    assert_eq!(ready(&p), "pyapp pyapp");
    assert_ne!(daemon.ctl(&["pid", "pyapp"]), pid);
    assert!(
        pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'pyapp'")
            .starts_with("SCRAM-SHA-256$")
    );

    // The password is nowhere but in the password file.
    let log = pg.log();
    for o in [&deployed, &again, &predicted, &rotated] {
        for s in [first, second] {
            assert!(!o.stdout.contains(s), "stdout leaks: {}", o.stdout);
            assert!(!o.stderr.contains(s), "stderr leaks: {}", o.stderr);
            assert!(!log.contains(s), "the server's log holds the password");
        }
    }
    assert!(
        log.contains("ALTER ROLE"),
        "the statements are not logged: {log}"
    );
    let pgpass = p.path().join("work/pyapp/pgpass");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pgpass).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// The guide shows the example's real code.
#[test]
fn the_guide_shows_the_code_the_test_deploys() {
    let root = workspace_root();
    let code = std::fs::read_to_string(root.join("tests/fixtures/python_postgres.rs")).unwrap();
    let guide = std::fs::read_to_string(root.join("docs/guide/python-postgres.md")).unwrap();
    assert!(
        guide.contains(&format!("```rust\n{code}```\n")),
        "docs/guide/python-postgres.md does not hold tests/fixtures/python_postgres.rs as it is"
    );
}
