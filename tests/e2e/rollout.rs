//! Rolling rollouts on four namespaced hosts, each running a real HTTP
//! service (a Python server the test starts in the host's namespace) that
//! answers 503 while the deploy restarts it. A watcher polls every host
//! every 50 ms during the deploy and records the most that were down at
//! once: `max_parallel` and `serial` keep that to their limit whatever
//! `-j` is; without them it is more. A failing release stops the line as
//! `max_fail` says, and the summary names the hosts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::remote_hosts::Cluster;
use super::support::{Outcome, Project};

const PORT: u16 = 8080;

/// Answers 503 while any root's workdir of the host holds a `down` file.
/// Requests with a User-Agent (the health gate's; the watcher sends
/// none) are noted in `~/gate-requests`.
const SERVICE: &str = r#"
import glob, http.server, sys
home, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        agent = self.headers.get("User-Agent")
        if agent:
            with open(home + "/gate-requests", "a") as f:
                f.write(agent + "\n")
        down = glob.glob(home + "/deployment/work/*/down")
        body = b"down\n" if down else b"up\n"
        self.send_response(503 if down else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
"#;

/// Four hosts, each with its HTTP service running.
struct Farm {
    cluster: Cluster,
    services: Vec<Child>,
}

impl Farm {
    fn create() -> Farm {
        let cluster = Cluster::create(4);
        let services = (0..4)
            .map(|k| {
                let host = &cluster.hosts.hosts[k];
                let home = cluster.services[k].home.display().to_string();
                Command::new("ip")
                    .args(["netns", "exec", &host.ns, "python3", "-c", SERVICE])
                    .args([&home, &PORT.to_string()])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("python3 starts")
            })
            .collect();
        let farm = Farm { cluster, services };
        for k in 0..4 {
            let deadline = Instant::now() + Duration::from_secs(20);
            while farm.status(k) != Some(200) {
                assert!(
                    Instant::now() < deadline,
                    "h{}'s service never came up",
                    k + 1
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        farm
    }

    fn addr(&self, k: usize) -> SocketAddr {
        format!("{}:{PORT}", self.cluster.hosts.hosts[k].ip)
            .parse()
            .unwrap()
    }

    /// The User-Agents of the gate's requests to host `k`'s service.
    fn gate_requests(&self, k: usize) -> Vec<String> {
        let path = self.cluster.services[k].home.join("gate-requests");
        match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Host `k`'s HTTP status; `None`: no answer.
    fn status(&self, k: usize) -> Option<u16> {
        status_of(self.addr(k))
    }

    fn project(&self, env: &str) -> Project {
        let p = self.cluster.project();
        p.write("environments/farm.cfg", env);
        p
    }

    /// An environment: `root` on every host; `environment` and `section`
    /// add lines to `[environment]` and `[component:ROOT]`.
    fn env(&self, root: &str, environment: &str, section: &str) -> String {
        format!(
            "[environment]\nconnect_method = ssh\n{environment}\n\n{}[component:{root}]\nmillis = 1200\n{section}\n",
            self.cluster.host_sections(root, |_| String::new())
        )
    }

    /// Runs `args` while watching the services; the outcome and the most
    /// hosts down at once.
    fn watched(&self, p: &Project, args: &[&str]) -> (Outcome, Seen) {
        let watcher = Watcher::start((0..4).map(|k| self.addr(k)).collect());
        let out = p.run(args);
        (out, watcher.stop())
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        for child in &mut self.services {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn status_of(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    // Read the whole answer: a connection dropped early makes the server
    // report a reset.
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

/// The lines of a transcript that tell the rollout: batches, roots
/// starting and waiting, gates, the summary; for snapshots (the rest
/// holds timings and addresses).
fn rollout_lines(stdout: &str) -> String {
    let keep = [
        "batch ",
        "Scheduling component",
        "Waiting",
        "waiting until",
        "attempt ",
        "would check",
        " Rollout ",
        "deployed (",
        "failed (",
        "not started (",
    ];
    stdout
        .lines()
        .filter(|l| keep.iter().any(|k| l.contains(k)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs `args` on a pseudo-terminal (`script(1)`), with the environment
/// [`Project::run`] gives (colours allowed); every byte the terminal got,
/// escape sequences removed.
fn on_terminal(p: &Project, args: &[&str]) -> (Option<i32>, String) {
    let plain = p.command(args, &[]);
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(plain.get_program().to_string_lossy().into_owned())
        .chain(plain.get_args().map(|a| a.to_string_lossy().into_owned()))
        .map(|a| quote(&a))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
        .current_dir(p.path())
        .stdin(Stdio::null());
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env_remove("NO_COLOR").env("TERM", "xterm-256color");
    let out = cmd
        .output()
        .expect("script(1) from util-linux, to run batou on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (out.status.code(), super::progress::strip_escapes(&text))
}

/// What the watcher saw.
struct Seen {
    /// The most hosts down at once.
    most: usize,
    /// Per host, when it was first and last seen down.
    down: Vec<Option<(Instant, Instant)>>,
}

/// Polls every service every 50 ms.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Seen>,
}

impl Watcher {
    fn start(addrs: Vec<SocketAddr>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen {
                most: 0,
                down: vec![None; addrs.len()],
            };
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                let mut count = 0;
                for (k, a) in addrs.iter().enumerate() {
                    if status_of(*a) != Some(200) {
                        count += 1;
                        let first = seen.down[k].map_or(now, |(first, _)| first);
                        seen.down[k] = Some((first, now));
                    }
                }
                seen.most = seen.most.max(count);
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        });
        Watcher { stop, thread }
    }

    fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the watcher runs")
    }
}

/// With `-j 4`, four restarts at once take all four down; the
/// environment's `max_parallel = 1`, the component's own limit in Rust
/// and `50%` keep it to one, one and two.
#[test]
fn max_parallel_limits_how_many_backends_are_down_at_once_whatever_jobs_is() {
    let farm = Farm::create();
    let p = farm.project(&farm.env("restart", "", ""));
    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "farm"]);
    out.success();
    assert!(
        seen.most > 1,
        "without a limit, -j 4 takes several down: {}",
        seen.most
    );

    p.write(
        "environments/farm.cfg",
        &farm.env("restart", "", "max_parallel = 1"),
    );
    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "farm"]);
    let out = out.success();
    assert_eq!(seen.most, 1, "max_parallel = 1");
    assert_eq!(
        out.stdout
            .matches("Waiting with component restart (max_parallel 1) ...")
            .count(),
        3,
        "three hosts wait, each said once:\n{}",
        out.stdout
    );

    p.write("environments/farm.cfg", &farm.env("restartone", "", ""));
    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "farm"]);
    out.success();
    assert_eq!(seen.most, 1, "the component's own max_parallel");

    p.write(
        "environments/farm.cfg",
        &farm.env("restart", "", "max_parallel = 50%"),
    );
    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "farm"]);
    out.success();
    assert_eq!(seen.most, 2, "max_parallel = 50% of four hosts");

    p.write(
        "environments/farm.cfg",
        &farm.env("restart", "", "max_parallel = 0"),
    );
    p.run(&["deploy", "farm"])
        .code(3)
        .stderr_contains("max_parallel")
        .stderr_contains("farm.cfg");
}

/// `serial = 1` deploys host by host, each batch announced, with at most
/// one down; `--serial 2` on the command line wins.
#[test]
fn serial_deploys_batch_after_batch() {
    let farm = Farm::create();
    let p = farm.project(&farm.env("restart", "serial = 1", ""));
    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "farm"]);
    let out = out.success().stdout_in_order(&[
        "batch 1/4: h1",
        "h1: Scheduling component restart",
        "batch 1/4 finished: deployed h1\n",
        "batch 2/4: h2",
        "batch 2/4 finished: deployed h2\n",
        "batch 3/4: h3",
        "batch 4/4: h4",
        "h4: Scheduling component restart",
        "batch 4/4 finished: deployed h4\n",
    ]);
    assert_eq!(seen.most, 1, "serial = 1 with -j 4");
    assert!(
        out.stdout.contains("deployed (4): h1, h2, h3, h4"),
        "{}",
        out.stdout
    );

    let (out, seen) = farm.watched(&p, &["deploy", "-j", "4", "--serial", "2", "farm"]);
    out.success()
        .stdout_contains("batch 1/2: h1, h2")
        .stdout_contains("batch 2/2: h3, h4");
    assert_eq!(seen.most, 2, "--serial 2");

    // `--batch-wait 2`: batch 2 starts two seconds after batch 1 ended.
    let (out, seen) = farm.watched(
        &p,
        &[
            "deploy",
            "-j",
            "4",
            "--serial",
            "2",
            "--batch-wait",
            "2",
            "farm",
        ],
    );
    out.success().stdout_in_order(&[
        "batch 1/2: h1, h2",
        "batch 1/2 finished: deployed h1, h2\n",
        "Waiting 2s before batch 2 (batch_wait) ...",
        "batch 2/2: h3, h4",
        "batch 2/2 finished: deployed h3, h4\n",
    ]);
    let spans: Vec<(Instant, Instant)> = seen.down.iter().map(|d| d.unwrap()).collect();
    let batch1_up = spans[0].1.max(spans[1].1);
    let batch2_down = spans[2].0.min(spans[3].0);
    let gap = batch2_down.duration_since(batch1_up);
    assert!(
        gap >= Duration::from_millis(1900),
        "gap between batches: {gap:?}"
    );

    // The JSON stream has the batches and the hosts by outcome.
    let out = p.run(&["deploy", "--json", "farm"]).success();
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let batches: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "batch_started")
        .collect();
    assert_eq!(batches.len(), 4, "{}", out.stdout);
    assert_eq!(batches[1]["index"], 2);
    assert_eq!(batches[1]["total"], 4);
    assert_eq!(batches[1]["hosts"], serde_json::json!(["h2"]));
    let finished = events
        .iter()
        .find(|e| e["event"] == "rollout_finished")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(
        finished["deployed"],
        serde_json::json!(["h1", "h2", "h3", "h4"])
    );
    let ends: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "batch_finished")
        .collect();
    assert_eq!(ends.len(), 4, "{}", out.stdout);
    assert_eq!(ends[2]["index"], 3);
    assert_eq!(ends[2]["deployed"], serde_json::json!(["h3"]));
    assert_eq!(ends[2]["failed"], serde_json::json!([]));

    // Predicting shows the batches too.
    p.run(&["deploy", "-P", "farm"])
        .success()
        .stdout_contains("batch 4/4: h4");
}

/// A release that starts but stays unhealthy: with `serial = 1, 100%`
/// the canary fails its health gate (the agent's HTTP GET on the target
/// sees 503) and no other host is touched. A healthy release passes its
/// gates, each attempt in the JSON stream; predicting runs no check.
#[test]
fn a_release_failing_its_health_gate_stops_after_the_canary() {
    let farm = Farm::create();
    let p = farm.project(&farm.env(
        "restart",
        "serial = 1, 100%",
        "check = true\nbreak_on = h1,h2,h3,h4",
    ));
    // Not reverted, so that h1 stays as the failed release left it (what
    // a revert puts back is e2e::transactions' subject).
    let out = p.run(&["deploy", "--no-revert", "-j", "4", "farm"]).code(1);
    assert!(
        out.stdout.contains("failed (1): h1") && out.stdout.contains("not started (3): h2, h3, h4"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("batch 2/2"), "{}", out.stdout);
    // The transcript says what h1 waits for, each attempt, and the batch.
    let out = out.stdout_in_order(&[
        "batch 1/2: h1",
        "h1: waiting until GET http://127.0.0.1:8080/ answers 200 containing \"up\" (up to 3 attempts)",
        "h1: attempt 1/3: unhealthy (HTTP 503: \"down\")",
        "h1: attempt 3/3: unhealthy (HTTP 503: \"down\")",
        "batch 1/2 finished: failed h1\n",
    ]);
    assert!(
        out.stderr.contains("health check failed")
            && out.stderr.contains("HTTP 503")
            && out.stderr.contains("(host: h1"),
        "the gate's last answer, with host and component:\n{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("ERROR:").count(), 1, "{}", out.stderr);
    assert_eq!(farm.status(0), Some(503), "h1 is left down");
    assert_eq!(farm.gate_requests(0).len(), 3, "three attempts on h1");
    assert!(
        farm.gate_requests(0)
            .iter()
            .all(|ua| ua.starts_with("ureq/")),
        "{:?}",
        farm.gate_requests(0)
    );
    for k in 1..4 {
        assert_eq!(farm.status(k), Some(200), "h{} untouched", k + 1);
        assert!(!farm.cluster.deployed(k, "work/restart").exists());
        assert!(farm.gate_requests(k).is_empty());
    }

    // A healthy release: every gate passes, each attempt is an event.
    std::fs::remove_file(farm.cluster.deployed(0, "work/restart/down")).unwrap();
    p.write(
        "environments/farm.cfg",
        &farm.env("restart", "serial = 1, 100%", "check = true"),
    );
    let out = p.run(&["deploy", "--json", "-j", "4", "farm"]).success();
    let attempts: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| {
            e["event"] == "log" && e["message"].as_str().unwrap_or("").starts_with("attempt ")
        })
        .collect();
    assert_eq!(
        attempts.len(),
        4,
        "one healthy attempt per host: {}",
        out.stdout
    );
    assert!(
        attempts[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("attempt 1/3: healthy (HTTP 200"),
        "{attempts:?}"
    );

    // Predicting says which gates would run and runs none.
    p.run(&["deploy", "-P", "farm"])
        .success()
        .stdout_contains("would check that GET http://127.0.0.1:8080/ answers 200")
        .stdout_lacks("attempt 1/");
}

/// `--max-fail 50%` of four hosts with h1 and h3 failing: h1's failure is
/// tolerated and h2 deploys; h3's stops the line before h4.
#[test]
fn max_fail_goes_on_past_tolerated_failures_and_stops_after() {
    let farm = Farm::create();
    let p = farm.project(&farm.env("restart", "serial = 1", "fail_on = h1,h3"));
    let out = p
        .run(&["deploy", "--max-fail", "50%", "farm"])
        .code(1)
        .stdout_in_order(&[
            "batch 1/4: h1",
            "batch 1/4 finished: failed h1\n",
            "batch 2/4: h2",
            "batch 2/4 finished: deployed h2\n",
            "batch 3/4: h3",
            "batch 3/4 finished: failed h3\n",
        ]);
    let summary = out
        .stdout
        .split_once(" Rollout ")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("no Rollout summary:\n{}", out.stdout));
    let summary: Vec<&str> = summary.lines().skip(1).take(3).collect();
    assert_eq!(
        summary,
        [
            "deployed (1): h2",
            "failed (2): h1, h3",
            "not started (1): h4"
        ],
        "exactly:\n{}",
        out.stdout
    );
    assert!(!out.stdout.contains("batch 4/4"), "{}", out.stdout);
    insta::assert_snapshot!("max_fail_rollout", rollout_lines(&out.stdout));
    assert_eq!(out.stderr.matches("ERROR:").count(), 2, "{}", out.stderr);
    assert!(!farm.cluster.deployed(3, "work/restart").exists());

    // The default stops at the first failure.
    let out = p.run(&["deploy", "farm"]).code(1);
    assert!(
        out.stdout.contains("failed (1): h1") && out.stdout.contains("not started (3): h2, h3, h4"),
        "{}",
        out.stdout
    );
}

/// A component that fails twice, then works: `.retries(2)` gets it
/// through, `.retries(1)` does not; the transcript shows every attempt.
#[test]
fn retries_run_a_failing_update_again() {
    let env = |retries: u32| {
        format!(
            "{}[hosts]\nlocalhost = flaky\n[component:flaky]\nfail_times = 2\nretries = {retries}\n",
            super::support::LOCAL
        )
    };
    let p = Project::new().env("local", &env(2));
    p.run(&["deploy", "local"])
        .success()
        .stdout_in_order(&[
            "update attempt 1/3 failed: failure number 1; retrying in 0.0s",
            "update attempt 2/3 failed: failure number 2; retrying in 0.0s",
            "update attempt 3/3 succeeded",
            "DEPLOYMENT FINISHED",
        ])
        .stdout_lacks("attempt 3/3 failed");
    assert_eq!(p.read("work/flaky/attempts"), "3\n");

    std::fs::remove_file(p.path().join("work/flaky/attempts")).unwrap();
    p.write("environments/local.cfg", &env(1));
    let out = p
        .run(&["deploy", "local"])
        .code(1)
        .stdout_contains("update attempt 1/2 failed: failure number 1; retrying")
        .stdout_contains("update attempt 2/2 failed: failure number 2")
        .stderr_contains("failure number 2");
    // The failed root was reverted: the counter its attempts wrote is
    // gone again (the transcript above shows both attempts).
    assert!(
        !p.path().join("work/flaky/attempts").exists(),
        "{}",
        out.stdout
    );
    out.stdout_contains("Reverted component flaky");
}

/// `Deploy::until` waits for what a component started, and gives up
/// after its timeout naming what it waited for.
#[test]
fn until_polls_for_what_an_update_started() {
    let env = |wait_ms: u64| {
        format!(
            "{}[hosts]\nlocalhost = await\n[component:await]\ndelay_ms = 300\nwait_ms = {wait_ms}\n",
            super::support::LOCAL
        )
    };
    let p = Project::new().env("local", &env(10_000));
    p.run(&["deploy", "local"])
        .success()
        .stdout_contains("localhost: ready");
    p.write("environments/local.cfg", &env(100));
    p.run(&["deploy", "local"])
        .code(1)
        .stderr_contains("gave up waiting until ready exists after 0.1s")
        .stdout_lacks("localhost: ready");
}

/// `graph` shows each root's limit and health gates, the environment's
/// limit winning over the component's.
#[test]
fn graph_shows_limits_and_gates() {
    let env = format!(
        "{}[hosts]\nlocalhost = restart, restartone, flaky\n[component:restart]\ncheck = true\nmax_parallel = 25%\n",
        super::support::LOCAL
    );
    let p = Project::new().env("local", &env);
    let out = p.run(&["graph", "local"]).success();
    assert!(
        out.stdout.contains(
            "localhost:restart\n  max_parallel 25%\n  gate HealthCheck('http://127.0.0.1:8080/')\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("localhost:restartone\n  max_parallel 1\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("localhost:flaky\n"), "{}", out.stdout);
    let out = p.run(&["graph", "--json", "local"]).success();
    let graph: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let restart = &graph["nodes"][0];
    assert_eq!(restart["component"], "restart");
    assert_eq!(restart["max_parallel"], "25%");
    assert_eq!(
        restart["gates"],
        serde_json::json!(["HealthCheck('http://127.0.0.1:8080/')"])
    );
    assert!(graph["nodes"][2].get("max_parallel").is_none(), "{graph}");
}

/// A local deploy has no batches: it says so rather than ignoring them.
#[test]
fn a_local_deploy_says_it_has_no_batches() {
    let env = format!(
        "{}serial = 1\n[hosts]\nlocalhost = flaky\n",
        super::support::LOCAL
    );
    let p = Project::new().env("local", &env);
    let out = p.run(&["deploy", "local"]).success();
    assert!(
        out.stdout
            .contains("WARN: serial, max_fail and batch_wait apply to remote deploys"),
        "{}",
        out.stdout
    );
}

/// Predicting shows the batches, the hosts held by their limit and the
/// gates that would run, in the transcript and in `--json`; it runs no
/// gate (the services see no request from one) and deploys nothing.
#[test]
fn predicting_shows_batches_limits_and_gates_and_checks_nothing() {
    let farm = Farm::create();
    let p = farm.project(&farm.env("restart", "serial = 2", "check = true\nmax_parallel = 1"));
    let gate = "would check that GET http://127.0.0.1:8080/ answers 200 containing \"up\"";
    let out = p
        .run(&["deploy", "-P", "-j", "4", "farm"])
        .success()
        .stdout_in_order(&[
            "batch 1/2: h1, h2",
            "h2: Waiting with component restart (max_parallel 1) ...",
            "batch 2/2: h3, h4",
            "h4: Waiting with component restart (max_parallel 1) ...",
        ])
        .stdout_lacks("attempt 1/")
        .stdout_lacks("batch 1/2 finished");
    assert_eq!(out.stdout.matches(gate).count(), 4, "{}", out.stdout);
    insta::assert_snapshot!("predicted_rollout", rollout_lines(&out.stdout));

    let out = p
        .run(&["deploy", "-P", "--json", "-j", "4", "farm"])
        .success();
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == kind).collect()
    };
    let batches: Vec<&serde_json::Value> = of("batch_started")
        .into_iter()
        .map(|e| &e["hosts"])
        .collect();
    assert_eq!(
        batches,
        [
            &serde_json::json!(["h1", "h2"]),
            &serde_json::json!(["h3", "h4"])
        ]
    );
    let waiting: Vec<(&serde_json::Value, &serde_json::Value)> = of("root_waiting")
        .into_iter()
        .map(|e| (&e["host"], &e["limit"]))
        .collect();
    assert_eq!(
        waiting,
        [
            (&serde_json::json!("h2"), &serde_json::json!("1")),
            (&serde_json::json!("h4"), &serde_json::json!("1"))
        ]
    );
    let gates: Vec<&str> = of("log")
        .into_iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("8080"))
        .collect();
    assert_eq!(gates, [gate; 4], "{}", out.stdout);
    assert!(of("batch_finished").is_empty() && of("rollout_finished").is_empty());
    for k in 0..4 {
        assert!(
            farm.gate_requests(k).is_empty(),
            "h{}: {:?}",
            k + 1,
            farm.gate_requests(k)
        );
        assert!(!farm.cluster.deployed(k, "work/restart/down").exists());
    }
}

/// The live view on a terminal: each host's line carries its batch, the
/// hosts of the later batch say they wait for it, and the canary's line
/// shows its gate's attempts.
#[test]
fn the_live_view_shows_batches_and_gates() {
    let farm = Farm::create();
    let p = farm.project(&farm.env(
        "restart",
        "serial = 1, 100%",
        "check = true\nbreak_on = h1\ninterval_ms = 1500",
    ));
    let (code, screen) = on_terminal(&p, &["deploy", "-j", "4", "farm"]);
    assert_eq!(code, Some(1), "{screen}");
    for k in 2..=4 {
        assert!(
            screen.contains(&format!("h{k}: waits for a later batch")),
            "h{k}:\n{screen}"
        );
    }
    assert!(
        screen.contains("h1: [batch 1/2] gate: attempt 1/3: unhealthy (HTTP 503"),
        "{screen}"
    );
    // The transcript above the view says the same.
    assert!(
        screen.contains("batch 1/2 finished: failed h1\n"),
        "{screen}"
    );
}
