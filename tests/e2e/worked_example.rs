//! The guide's worked example (docs/examples/etherpad.md, components in
//! `book/src/etherpad.rs`): a Python app downloaded as a release archive
//! from a loopback HTTP server the test runs, extracted, run by a real
//! supervisord behind a real nginx (Debian's), its logs rotated by a
//! logrotate configuration and a nightly job in a throwaway user's
//! crontab. Deployed, re-deployed as a no-op (same processes, no second
//! download), then changed: only the program whose settings changed is
//! restarted; and a hand edit of nginx's configuration is repaired,
//! restarting nginx alone.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::support::*;
use crate::remote_support::users::User;

/// The application in the release archive: an HTTP server whose page
/// shows the configured title, with an access log, and a purge mode for
/// the nightly job.
const PAD_PY: &str = r#"import argparse, http.server, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--settings")
p.add_argument("--purge")
p.add_argument("--days", type=int, default=30)
a = p.parse_args()
if a.purge:
    for name in os.listdir(a.purge):
        path = os.path.join(a.purge, name)
        if os.path.getmtime(path) < time.time() - a.days * 86400:
            os.remove(path)
    sys.exit(0)
settings = json.load(open(a.settings))
log = open(settings["access_log"], "a")
class Pad(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("<h1>%s</h1> a pad server\n" % settings["title"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        log.write(fmt % args + "\n")
        log.flush()
http.server.HTTPServer(("127.0.0.1", settings["port"]), Pad).serve_forever()
"#;

/// Serves one file over HTTP on loopback, counting the requests.
fn serve(body: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (port, hits)
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .unwrap()
        .port()
}

/// GET / through nginx: the body.
fn get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("nothing listens on {port}: {e}"));
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn sh(command: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", command])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"))
}

/// Shuts down the supervisord the deploy started (and with it the app and
/// nginx), whatever happened.
struct Supervisord {
    conf: PathBuf,
    pidfile: PathBuf,
}

impl Supervisord {
    fn ctl(&self, args: &str) -> String {
        let out = sh(&format!("supervisorctl -c {} {args}", self.conf.display()));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn pid_of(&self, program: &str) -> u32 {
        let pid = self.ctl(&format!("pid {program}"));
        pid.parse()
            .unwrap_or_else(|_| panic!("{program} is not running: {pid}"))
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.pidfile).ok();
        self.ctl("shutdown");
        if let Some(pid) = pid.and_then(|p| p.trim().parse::<i32>().ok())
            && pid > 1
        {
            for _ in 0..200 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            // SAFETY: the pid our own supervisord wrote.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn environment(
    archive_port: u16,
    checksum: &str,
    pad: u16,
    proxy: u16,
    user: &str,
    title: &str,
) -> String {
    format!(
        "[environment]\nconnect_method = local\n\n\
         [hosts]\nlocalhost = supervisor, pad, proxy, logrotate, crontab\n\n\
         [component:pad]\nurl = http://127.0.0.1:{archive_port}/pad-1.0.tar.gz\n\
         checksum = sha256:{checksum}\nport = {pad}\ntitle = {title}\n\n\
         [component:proxy]\nport = {proxy}\n\n\
         [component:logrotate]\nschedule = @daily\n\n\
         [component:crontab]\nuser = {user}\n"
    )
}

#[test]
fn the_etherpad_style_stack_deploys_redeploys_as_a_no_op_and_restarts_only_what_changed() {
    assert!(
        Path::new("/usr/sbin/nginx").exists(),
        "nginx is missing: install Debian's `nginx` (./test does)"
    );
    assert!(
        Path::new("/usr/bin/supervisord").exists(),
        "supervisord is missing: install Debian's `supervisor` (./test does)"
    );

    // The release archive, made here: pad-1.0/pad.py.
    let src = tempfile::Builder::new()
        .prefix("batou-pad-src-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(src.path().join("pad-1.0")).unwrap();
    std::fs::write(src.path().join("pad-1.0/pad.py"), PAD_PY).unwrap();
    let archive = src.path().join("pad-1.0.tar.gz");
    let out = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(src.path())
        .arg("pad-1.0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&archive).unwrap();
    let checksum: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (archive_port, downloads) = serve(bytes);

    let user = User::create("bpad");
    let (pad, proxy) = (free_port(), free_port());
    let p = Project::new().env(
        "local",
        &environment(archive_port, &checksum, pad, proxy, &user.name, "Team pad"),
    );
    let daemon = Supervisord {
        conf: p.path().join("work/supervisor/etc/supervisord.conf"),
        pidfile: p.path().join("work/supervisor/var/supervisord.pid"),
    };

    // Predicting downloads, writes and starts nothing.
    p.run(&["deploy", "-P", "local"]).success();
    assert_eq!(
        downloads.load(Ordering::SeqCst),
        0,
        "-P downloaded the archive"
    );
    p.assert_missing("work/pad");
    assert_eq!(user.crontab(), "", "-P installed a crontab");

    p.run(&["deploy", "local"]).success();
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
    p.assert_exists("work/pad/app/pad.py");
    let page = get(proxy);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<h1>Team pad</h1>"), "{page}");
    // The request went through nginx to the app, which logged it.
    assert!(p.read("work/proxy/var/log/access.log").contains("GET / "));
    assert!(p.read("work/pad/var/log/access.log").contains("GET / "));

    // cron: the nightly purge and logrotate's schedule, in the user's crontab.
    let crontab = user.crontab();
    assert!(crontab.contains("30 3 * * * python3 "), "{crontab}");
    assert!(crontab.contains("--purge "), "{crontab}");
    assert!(
        crontab.contains("@daily /usr/sbin/logrotate -s ")
            && crontab.contains("work/logrotate/logrotate.conf"),
        "{crontab}"
    );
    // logrotate: both roots' logs, in a configuration logrotate accepts.
    let conf = p.path().join("work/logrotate/logrotate.conf");
    let text = std::fs::read_to_string(&conf).expect("the logrotate configuration");
    assert!(text.contains("work/pad/var/log/access.log"), "{text}");
    assert!(text.contains("work/proxy/var/log/*.log"), "{text}");
    let state = p.path().join("logrotate.state");
    let out = Command::new("logrotate")
        .arg("--debug")
        .arg("-s")
        .arg(&state)
        .arg(&conf)
        .output()
        .expect("run logrotate");
    assert!(
        out.status.success(),
        "logrotate rejects the configuration: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A second deploy changes nothing, downloads nothing, restarts nothing.
    let (app_pid, nginx_pid) = (daemon.pid_of("pad"), daemon.pid_of("nginx"));
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("Nothing changed.");
    assert_eq!(downloads.load(Ordering::SeqCst), 1, "downloaded again");
    assert_eq!(daemon.pid_of("pad"), app_pid, "the app was restarted");
    assert_eq!(daemon.pid_of("nginx"), nginx_pid, "nginx was restarted");

    // A new title: the app's settings change, so the app (alone) restarts.
    p.write(
        "environments/local.cfg",
        &environment(archive_port, &checksum, pad, proxy, &user.name, "Night pad"),
    );
    p.run(&["deploy", "local"]).success();
    assert_ne!(
        daemon.pid_of("pad"),
        app_pid,
        "the app kept its old settings"
    );
    assert_eq!(daemon.pid_of("nginx"), nginx_pid, "nginx was restarted");
    let page = get(proxy);
    assert!(page.contains("<h1>Night pad</h1>"), "{page}");

    // Drift: nginx's configuration edited by hand. -P sees it and touches
    // nothing; the deploy puts it back and restarts nginx alone.
    let (app_pid, nginx_pid) = (daemon.pid_of("pad"), daemon.pid_of("nginx"));
    let conf = p.read("work/proxy/nginx.conf");
    p.write("work/proxy/nginx.conf", "# edited by hand\n");
    p.run(&["deploy", "-P", "--exit-code", "local"]).code(6);
    assert_eq!(p.read("work/proxy/nginx.conf"), "# edited by hand\n");
    assert_eq!(daemon.pid_of("nginx"), nginx_pid, "-P restarted nginx");
    p.run(&["deploy", "local"]).success();
    assert_eq!(p.read("work/proxy/nginx.conf"), conf);
    assert_ne!(
        daemon.pid_of("nginx"),
        nginx_pid,
        "nginx kept the edited file"
    );
    assert_eq!(daemon.pid_of("pad"), app_pid, "the app was restarted");
    assert!(get(proxy).contains("<h1>Night pad</h1>"));
}
