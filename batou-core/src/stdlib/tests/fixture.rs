//! Real parts for the Download / Extract / Git tests: a python3
//! `http.server` on loopback (optionally https with a certificate made by
//! the openssl CLI), per-scene parameters, and running real CLIs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use super::Scene;

/// Values a scene's build function reads (closures there cannot capture).
static PARAMS: Mutex<Option<HashMap<usize, Vec<String>>>> = Mutex::new(None);

pub(super) fn set_params(case: usize, values: &[&str]) {
    PARAMS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(case, values.iter().map(|v| v.to_string()).collect());
}

/// The `i`th parameter of the scene's case.
pub(super) fn param(scene: &Scene, i: usize) -> String {
    PARAMS.lock().unwrap().as_ref().unwrap()[&scene.case][i].clone()
}

/// Runs a program; a failure panics with its output.
pub(super) fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const SERVER: &str = r#"
import functools, http.server, ssl, sys
root, log = sys.argv[1], open(sys.argv[2], "a", buffering=1)
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        log.write("%s %s\n" % (self.command, self.path))
server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=root))
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A real HTTP(S) server on 127.0.0.1 serving `root`, stopped on drop.
pub(super) struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
    /// The self-signed certificate (PEM) of an https server.
    pub cert: Option<PathBuf>,
}

impl Server {
    pub fn http(root: &Path) -> Server {
        Self::start(root, None)
    }

    /// https with a fresh self-signed certificate for 127.0.0.1, written
    /// to `dir`.
    pub fn https(root: &Path, dir: &Path) -> Server {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        run(
            dir,
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        Self::start(root, Some((cert, key)))
    }

    fn start(root: &Path, tls: Option<(PathBuf, PathBuf)>) -> Server {
        let log = root.with_extension("requests.log");
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(SERVER).arg(root).arg(&log);
        if let Some((cert, key)) = &tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 http.server: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("http server did not start: {line:?}"));
        Server {
            child,
            port,
            log,
            cert: tls.map(|(c, _)| c),
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.cert.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{path}", self.port)
    }

    /// How many GET requests the server answered.
    pub fn gets(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("GET "))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of some bytes, computed independently with sha256sum.
pub(super) fn sha256_of(dir: &Path, file: &str) -> String {
    let out = run(dir, "sha256sum", &[file]);
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}
