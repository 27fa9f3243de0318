//! Real database servers for the PostgreSQL and MariaDB tests, each run
//! by the test as a throwaway user of its own, in the test's own temp dir,
//! on a unix socket only (no TCP port to collide on), stopped on drop;
//! and a watcher that reads every process's command line and environment
//! while a deploy runs, to catch a password passed where others can see
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::accounts::Account;
use crate::deploy::DeployReport;
use crate::event::Event;

/// The newest server of Debian's `postgresql` (`/usr/lib/postgresql/N/bin`).
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("no /usr/lib/postgresql/*/bin/initdb: ./test installs Debian's postgresql")
}

#[track_caller]
fn ok(what: &str, out: std::io::Result<Output>) -> String {
    let out = out
        .unwrap_or_else(|e| panic!("cannot run {what} (is it installed? ./test installs it): {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command run as `user` (setpriv, from util-linux).
fn as_user(user: &str, program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", user, "--regid", user, "--clear-groups", "--"])
        .arg(program);
    cmd
}

/// A directory the server's user owns, below a temp dir of the test.
fn server_dir(account: &Account) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("srv");
    std::fs::create_dir(&dir).unwrap();
    ok(
        "chown",
        Command::new("chown")
            .arg(format!("{0}:{0}", account.name))
            .arg(&dir)
            .output(),
    );
    (tmp, dir)
}

/// A PostgreSQL cluster: superuser `postgres` for root and the server's
/// own account (peer authentication on the socket),
/// every other role by SCRAM password; every statement logged (so a test
/// can show the log never holds a password).
pub(super) struct Postgres {
    pub sock: PathBuf,
    pub log: PathBuf,
    data: PathBuf,
    pg_ctl: PathBuf,
    pub account: Account,
    _tmp: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        let account = Account::user_and_group("pgt");
        let (tmp, dir) = server_dir(&account);
        let data = dir.join("data");
        let sock = dir.clone();
        let log = dir.join("server.log");
        let bin = pg_bin();
        let initdb = bin.join("initdb");
        ok(
            "initdb",
            as_user(&account.name, initdb.to_str().unwrap())
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
                .args(["--auth-local=trust", "--auth-host=reject"])
                .output(),
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all postgres peer map=admins\nlocal all all scram-sha-256\n",
        )
        .unwrap();
        // The superuser: root (the test) and the server's own account
        // (to show `run_as` goes through sudo), nobody else.
        std::fs::write(
            data.join("pg_ident.conf"),
            format!("admins root postgres\nadmins {} postgres\n", account.name),
        )
        .unwrap();
        std::fs::write(
            data.join("postgresql.auto.conf"),
            format!(
                "listen_addresses = ''\nunix_socket_directories = '{}'\n\
                 log_statement = 'all'\nlog_min_error_statement = 'error'\n",
                sock.display()
            ),
        )
        .unwrap();
        let pg_ctl = bin.join("pg_ctl");
        ok(
            "pg_ctl start",
            as_user(&account.name, pg_ctl.to_str().unwrap())
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "120", "start"])
                .output(),
        );
        Postgres {
            sock,
            log,
            data,
            pg_ctl,
            account,
            _tmp: tmp,
        }
    }

    /// Runs `sql` as the superuser in `db`; the rows as `psql -At` prints them.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        ok(
            "psql",
            Command::new("psql")
                .args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .arg(format!("--host={}", self.sock.display()))
                .args(["-U", "postgres", "-d", db, "-c", sql])
                .output(),
        )
        .trim()
        .to_string()
    }

    /// Whether `role` can log in to `db` with `password` (given to psql
    /// in a password file, not on its command line).
    pub fn login(&self, role: &str, db: &str, password: &str) -> bool {
        let pass = self._tmp.path().join("pgpass");
        std::fs::write(
            &pass,
            format!(
                "*:*:*:*:{}\n",
                password.replace('\\', "\\\\").replace(':', "\\:")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = Command::new("psql")
            .args(["-X", "-w", "-A", "-t", "-c", "SELECT current_user"])
            .arg(format!("--host={}", self.sock.display()))
            .args(["-U", role, "-d", db])
            .env("PGPASSFILE", &pass)
            .output()
            .unwrap();
        std::fs::remove_file(&pass).unwrap();
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == role
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_user(&self.account.name, self.pg_ctl.to_str().unwrap())
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A MariaDB server: `root@localhost` by unix_socket (the test runs as
/// root), networking off, every statement in the general log.
pub(super) struct Mariadb {
    pub sock: PathBuf,
    pub general_log: PathBuf,
    child: std::process::Child,
    dir: PathBuf,
    _account: Account,
    _tmp: tempfile::TempDir,
}

impl Mariadb {
    pub fn start() -> Mariadb {
        let account = Account::user_and_group("myt");
        let (tmp, dir) = server_dir(&account);
        let data = dir.join("data");
        // The server's temporary files go where its account may write:
        // the run's TMPDIR need not be writable by others, as /tmp is.
        let server_tmp = dir.as_path();
        ok(
            "mariadb-install-db",
            as_user(&account.name, "mariadb-install-db")
                .env("TMPDIR", server_tmp)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
                .arg(format!("--user={}", account.name))
                .output(),
        );
        let sock = dir.join("mysqld.sock");
        let pid_file = dir.join("mysqld.pid");
        let general_log = dir.join("general.log");
        let server = "/usr/sbin/mariadbd";
        let child = as_user(&account.name, server)
            .env("TMPDIR", server_tmp)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg("--general-log=1")
            .arg(format!("--general-log-file={}", general_log.display()))
            .args(["--skip-networking", "--skip-log-bin"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {server} (./test installs mariadb-server): {e}")
            });
        let server = Mariadb {
            sock,
            general_log,
            child,
            dir,
            _account: account,
            _tmp: tmp,
        };
        for _ in 0..600 {
            let ping = Command::new("mariadb-admin")
                .arg("--no-defaults")
                .arg(format!("--socket={}", server.sock.display()))
                .args(["-u", "root", "ping"])
                .output();
            if matches!(&ping, Ok(o) if o.status.success()) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "mariadbd did not answer on {}: {}",
            server.sock.display(),
            std::fs::read_to_string(server.dir.join("error.log")).unwrap_or_default()
        );
    }

    /// Runs `sql` as root; the rows tab-separated.
    pub fn sql(&self, sql: &str) -> String {
        ok(
            "mariadb",
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.sock.display()))
                .args(["-u", "root", "-N", "-B", "-e", sql])
                .output(),
        )
        .trim()
        .to_string()
    }

    /// Whether `user` can log in with `password` (in an options file).
    pub fn login(&self, user: &str, password: &str) -> bool {
        let cnf = self._tmp.path().join("login.cnf");
        std::fs::write(&cnf, format!("[client]\npassword=\"{password}\"\n")).unwrap();
        let out = Command::new("mariadb")
            .arg(format!("--defaults-file={}", cnf.display()))
            .arg(format!("--socket={}", self.sock.display()))
            .args(["-u", user, "-N", "-B", "-e", "SELECT 1"])
            .output()
            .unwrap();
        std::fs::remove_file(&cnf).unwrap();
        out.status.success()
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        // setpriv exec'd the server: the child is mariadbd itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `/proc/*/cmdline` and `/proc/*/environ` over and over while it
/// lives, keeping every one that holds one of the secrets.
pub(super) struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Vec<String>, usize)>>,
}

impl Watcher {
    pub fn start(secrets: &[&str]) -> Watcher {
        let secrets: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut rounds = 0;
            while !flag.load(Ordering::SeqCst) {
                rounds += 1;
                // A client lives for tens of milliseconds; no need to
                // spin a core of a shared machine.
                std::thread::sleep(Duration::from_millis(2));
                let Ok(procs) = std::fs::read_dir("/proc") else {
                    continue;
                };
                for entry in procs.flatten() {
                    let name = entry.file_name();
                    if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    for file in ["cmdline", "environ"] {
                        let Ok(bytes) = std::fs::read(entry.path().join(file)) else {
                            continue;
                        };
                        if secrets
                            .iter()
                            .any(|s| bytes.windows(s.len()).any(|w| w == s.as_slice()))
                        {
                            seen.push(format!(
                                "/proc/{}/{file}: {}",
                                name.to_string_lossy(),
                                String::from_utf8_lossy(&bytes).replace('\0', " ")
                            ));
                        }
                    }
                }
            }
            (seen, rounds)
        });
        Watcher {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops watching; fails the test if a secret was seen.
    #[track_caller]
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let (seen, rounds) = self.thread.take().unwrap().join().unwrap();
        assert!(rounds > 0, "the watcher never read /proc");
        assert!(
            seen.is_empty(),
            "a secret in a process's argv or environment: {seen:#?}"
        );
    }
}

/// Deploys `s` (predicts, with `predict`) and fails the test if one of
/// `secrets` shows up meanwhile in a process's argv or environment, in
/// the events, or in the server's statement log `server_log`.
pub(super) fn deploy_watched(
    s: &super::Stage,
    secrets: &[&str],
    server_log: &Path,
    predict: bool,
) -> (DeployReport, Vec<Event>) {
    let watcher = Watcher::start(secrets);
    let (report, events) = if predict { s.predict() } else { s.deploy() };
    watcher.finish();
    let shown = format!("{events:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "a secret in the events: {shown}");
        assert_not_in_file(server_log, secret);
    }
    (report, events)
}

/// Fails the test if `path`'s text holds `secret`.
#[track_caller]
pub(super) fn assert_not_in_file(path: &Path, secret: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !text.is_empty(),
        "{} is empty: nothing was logged",
        path.display()
    );
    assert!(
        !text.contains(secret),
        "{} holds the secret",
        path.display()
    );
}
