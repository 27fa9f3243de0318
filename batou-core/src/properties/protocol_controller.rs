//! The controller's side of the protocol, fed real byte streams: a
//! transport whose "agent" is a scripted stream of bytes (bootstrap
//! preamble, then reply lines — valid, garbled, huge, non-UTF-8, wrong
//! types, out of order, unknown versions, answers for roots of other
//! hosts). Whatever a hostile agent says, `deploy_remote` returns, and it
//! reports success only when every root was really deployed by the agent
//! of its own host; failures are pinned on the host that sent them.

use std::io::{Cursor, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::{config, nasty_text};
use crate::component::{Component, Registry};
use crate::configure::Model;
use crate::event::Collected;
use crate::remote::bootstrap::{AgentBinary, local_arch, local_os};
use crate::remote::orchestrate::{RemoteFailure, RemoteOptions, RemoteReport, deploy_remote};
use crate::remote::protocol::{Holder, PROTOCOL_VERSION, Reply, WireError};
use crate::testutil::Project;
use crate::transport::{Channel, ChannelControl, Target, Transport, TransportError};

const HOSTS: [&str; 2] = ["alpha", "beta"];

/// A root that does nothing (it never runs here: agents are scripted).
#[derive(Default, Serialize, Deserialize)]
struct Noop {}

impl Component for Noop {}

/// What one host's "agent" sends.
#[derive(Debug, Clone)]
enum Item {
    Hello {
        protocol: u32,
        right_hash: bool,
    },
    Configured {
        right_roots: bool,
        error: Option<String>,
    },
    Deployed {
        id: u64,
        changed: usize,
    },
    Failed {
        id: u64,
        blame: String,
    },
    Heartbeat,
    Fatal(String),
    LockHeld,
    /// `configured` with the controller's roots, but naming an asset set
    /// other than the one the controller shipped.
    ForeignAssets,
    Event(String),
    Raw(Vec<u8>),
    /// A line sent as is, but only once the controller asked for a
    /// deploy (a lie that only means something in that phase).
    RawInDeploy(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (prop_oneof![9 => Just(PROTOCOL_VERSION), 1 => any::<u32>()], prop::bool::weighted(0.9))
            .prop_map(|(protocol, right_hash)| Item::Hello { protocol, right_hash }),
        4 => (prop::bool::weighted(0.85), prop::option::weighted(0.1, nasty_text()))
            .prop_map(|(right_roots, error)| Item::Configured { right_roots, error }),
        6 => (prop_oneof![8 => 0u64..4, 1 => Just(u64::MAX), 1 => any::<u64>()],
              prop_oneof![4 => 0usize..3, 1 => Just(usize::MAX)])
            .prop_map(|(id, changed)| Item::Deployed { id, changed }),
        1 => (0u64..4, prop::sample::select(vec!["alpha", "beta", "gamma", ""]))
            .prop_map(|(id, blame)| Item::Failed { id, blame: blame.to_string() }),
        1 => Just(Item::Heartbeat),
        1 => Just(Item::ForeignAssets),
        1 => nasty_text().prop_map(Item::Fatal),
        1 => Just(Item::LockHeld),
        1 => nasty_text().prop_map(Item::Event),
        2 => prop_oneof![
            nasty_text().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..40),
            Just(br#"{"type":"deployed","id":"0","changed":1,"seconds":0}"#.to_vec()),
            Just(br#"{"type":"deployed","id":0,"changed":-1,"seconds":0}"#.to_vec()),
            Just(br#"{"type":"deployed","id":0,"changed":1,"seconds":1e999}"#.to_vec()),
            Just(br#"{"type":"hello","protocol":1}"#.to_vec()),
            Just(br#"{"type":"rm_rf"}"#.to_vec()),
            Just(vec![b'{'; 1 << 20]),
            Just(vec![0xff, 0xfe, b'{', b'}']),
        ].prop_map(Item::Raw),
    ]
}

/// What the bootstrap script prints before the agent starts.
fn preamble() -> impl Strategy<Value = Vec<u8>> {
    let good = format!(
        "BATOU-PLATFORM {} {}\nBATOU-USER deploy\nBATOU-START\n",
        local_os(),
        local_arch()
    );
    prop_oneof![
        8 => Just(good.clone().into_bytes()),
        1 => nasty_text().prop_map(move |banner| format!("{banner}\n{good}").into_bytes()),
        1 => prop::sample::select(vec![
            "BATOU-PLATFORM Plan9 mips\nBATOU-START\n".to_string(),
            "BATOU-ERROR cache /x: owned by another user\n".to_string(),
            "BATOU-PLATFORM\nBATOU-USER\nBATOU-START\n".to_string(),
            "BATOU-MISSING\n".to_string(),
            String::new(),
        ])
        .prop_map(String::into_bytes),
    ]
}

/// The lines of an agent's stdout and the request each waits for, if any
/// (`deploy`, or `finish` after the last root).
type Script = Vec<(Vec<u8>, Option<&'static str>)>;

/// A transport whose agents are byte streams.
struct Scripted {
    /// Per host: the lines of its stdout (preamble first) and the request
    /// each waits for.
    streams: Mutex<Vec<(String, Script)>>,
}

struct Ended;

impl ChannelControl for Ended {
    fn wait(&mut self) -> std::io::Result<Option<i32>> {
        Ok(Some(0))
    }
    fn kill(&mut self) {}
}

/// The kinds of request the controller has sent so far.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<Vec<&'static str>>, Condvar)>);

impl Gate {
    fn open(&self, kind: &'static str) {
        let mut seen = self.0.0.lock().unwrap();
        if !seen.contains(&kind) {
            seen.push(kind);
        }
        self.0.1.notify_all();
    }

    /// Waits a little for the gate: a real agent answers a deploy only
    /// after the request, and a scripted one should too, or an honest
    /// script would race the controller.
    fn wait(&self, kind: &'static str) {
        let guard = self.0.0.lock().unwrap();
        let _ = self
            .0
            .1
            .wait_timeout_while(guard, Duration::from_millis(100), |seen| {
                !seen.contains(&kind)
            });
    }
}

/// The agent's stdin: watches for the first `deploy` and `finish` requests.
struct Requests(Gate, Vec<u8>);

impl Write for Requests {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        let seen = String::from_utf8_lossy(&self.1);
        for kind in ["deploy", "finish"] {
            if seen.contains(&format!(r#""type":"{kind}""#)) {
                self.0.open(kind);
            }
        }
        if self.1.len() > 4096 {
            self.1.drain(..self.1.len() - 64);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The agent's stdout: the scripted lines, gated ones after the gate.
struct Replies {
    gate: Gate,
    lines: std::collections::VecDeque<(Vec<u8>, Option<&'static str>)>,
    current: Cursor<Vec<u8>>,
}

impl Read for Replies {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            let Some((line, gated)) = self.lines.pop_front() else {
                return Ok(0);
            };
            if let Some(kind) = gated {
                self.gate.wait(kind);
            }
            self.current = Cursor::new(line);
        }
    }
}

impl Transport for Scripted {
    fn start(&self, target: &Target, _command: &str) -> Result<Channel, TransportError> {
        let streams = self.streams.lock().unwrap();
        let lines = streams
            .iter()
            .find(|(h, _)| *h == target.host)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let gate = Gate::default();
        Ok(Channel {
            stdin: Some(Box::new(Requests(gate.clone(), Vec::new()))),
            stdout: Box::new(Replies {
                gate,
                lines: lines.into(),
                current: Cursor::new(Vec::new()),
            }),
            stderr: Box::new(std::io::empty()),
            control: Box::new(Ended),
        })
    }

    fn put_file(
        &self,
        target: &Target,
        _: &[u8],
        path: &str,
        _: u32,
    ) -> Result<(), TransportError> {
        Err(TransportError::PutFile {
            host: target.host.clone(),
            path: path.to_string(),
            message: "scripted hosts take no uploads".into(),
        })
    }
}

fn model(project: &Project) -> Model {
    let mut registry = Registry::new();
    registry.component::<Noop>("one").component::<Noop>("two");
    project.model(
        &registry,
        "[environment]\nconnect_method = ssh\n[host:alpha]\ncomponents = one, two\n[host:beta]\ncomponents = one\n",
    )
}

fn binary() -> AgentBinary {
    AgentBinary {
        path: "/nonexistent".into(),
        hash: "ab".repeat(32),
        size: 0,
        os: local_os().into(),
        arch: local_arch().into(),
    }
}

fn encode(item: &Item, model: &Model, host: &str, hash: &str) -> Vec<u8> {
    let wire = |message: &str| WireError {
        message: message.to_string(),
        origin: None,
        host: Some(host.to_string()),
        component: None,
        hint: None,
        panicked: false,
    };
    let reply = match item {
        Item::Raw(bytes) | Item::RawInDeploy(bytes) => {
            return [bytes.as_slice(), b"\n"].concat();
        }
        Item::Hello {
            protocol,
            right_hash,
        } => Reply::Hello {
            protocol: *protocol,
            binary_hash: if *right_hash {
                hash.to_string()
            } else {
                "cd".repeat(32)
            },
            hostname: host.into(),
            user: "deploy".into(),
            pid: 42,
            missing_assets: vec![],
        },
        Item::Configured { right_roots, error } => Reply::Configured {
            errors: error.iter().map(|e| wire(e)).collect(),
            roots: model
                .roots
                .iter()
                .filter(|r| *right_roots || r.host != "beta")
                .map(|r| (r.host.clone(), r.name.clone()))
                .collect(),
            warnings: vec![],
            assets_hash: crate::assets::project::shipment(&model.env.project_dir)
                .manifest_hash
                .clone(),
        },
        Item::ForeignAssets => Reply::Configured {
            errors: vec![],
            roots: model
                .roots
                .iter()
                .map(|r| (r.host.clone(), r.name.clone()))
                .collect(),
            warnings: vec![],
            assets_hash: "ab".repeat(32),
        },
        Item::Deployed { id, changed } => Reply::Deployed {
            id: *id,
            changed: *changed,
            seconds: 0.25,
            published: vec![],
        },
        Item::Failed { id, blame } => Reply::Failed {
            id: *id,
            error: WireError {
                host: Some(blame.clone()),
                ..wire("it broke")
            },
        },
        Item::Heartbeat => Reply::Heartbeat,
        Item::Fatal(m) => Reply::Fatal { message: m.clone() },
        Item::LockHeld => Reply::LockHeld {
            holder: Holder {
                controller: "elsewhere".into(),
                user: "x".into(),
                pid: 1,
                started: 0,
                agent_pid: 2,
            },
        },
        Item::Event(m) => Reply::Event {
            id: 0,
            event: crate::event::Event::Warning {
                host: Some("gamma".into()),
                component: None,
                message: m.clone(),
            },
        },
    };
    let mut line = serde_json::to_vec(&reply).unwrap();
    line.push(b'\n');
    line
}

/// Whether `items` is a conversation that deploys every root of `host`:
/// our hello first, then a clean `configured` with the controller's roots,
/// then a `deployed` for each of the host's roots.
fn honest(items: &[Item]) -> bool {
    let mut greeted = false;
    let mut configured = false;
    for item in items {
        match item {
            Item::Hello {
                protocol,
                right_hash,
            } if !greeted => {
                if *protocol != PROTOCOL_VERSION || !right_hash {
                    return false;
                }
                greeted = true;
            }
            Item::Configured { right_roots, error } if greeted && !configured => {
                if !right_roots || error.is_some() {
                    return false;
                }
                configured = true;
            }
            Item::ForeignAssets if greeted && !configured => return false,
            _ => {}
        }
    }
    greeted && configured
}

/// Deploys `model` to the two scripted hosts.
fn run(
    model: &Model,
    alpha: &(Vec<u8>, Vec<Item>),
    beta: &(Vec<u8>, Vec<Item>),
) -> Result<RemoteReport, RemoteFailure> {
    let binary = binary();
    let streams = [(HOSTS[0], alpha), (HOSTS[1], beta)]
        .iter()
        .map(|(host, (pre, items))| {
            let mut lines = vec![(pre.clone(), None)];
            for item in items {
                let gated = match item {
                    Item::Deployed { id, .. }
                        if *id >= crate::remote::orchestrate::finish::FINISH_ID =>
                    {
                        Some("finish")
                    }
                    Item::Deployed { .. }
                    | Item::Failed { .. }
                    | Item::Event(_)
                    | Item::RawInDeploy(_) => Some("deploy"),
                    _ => None,
                };
                lines.push((encode(item, model, host, &binary.hash), gated));
            }
            (host.to_string(), lines)
        })
        .collect();
    let options = RemoteOptions {
        transport: Arc::new(Scripted {
            streams: Mutex::new(streams),
        }),
        agents: Arc::new(crate::agent_build::Agents::fixed(binary)),
        jobs: 4,
        rollout: Default::default(),
        predict: false,
        quiet_events: false,
        full_diff: Default::default(),
        break_lock: false,
        platform: None,
        ssh_config: None,
        connect_timeout: Duration::from_secs(5),
        heartbeat_timeout: Duration::from_secs(5),
        parallel_connects: 2,
        controller: Holder {
            controller: "controller".into(),
            user: "me".into(),
            pid: 1,
            started: 0,
            agent_pid: 0,
        },
        agent_store: None,
        deploy: None,
    };
    deploy_remote(model, &options, None, &Collected::default())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn a_hostile_agent_cannot_crash_or_mislead_the_controller(
        alpha in (preamble(), prop::collection::vec(item(), 0..10)),
        beta in (preamble(), prop::collection::vec(item(), 0..10)),
    ) {
        let project = Project::new();
        let model = model(&project);
        let scripts = [(HOSTS[0], &alpha), (HOSTS[1], &beta)];
        match run(&model, &alpha, &beta) {
            Ok(report) => {
                // Success means every root was deployed, once, on its own
                // host, by an agent that greeted and configured properly.
                let mut deployed: Vec<(String, String)> =
                    report.roots.iter().map(|r| (r.host.clone(), r.root.clone())).collect();
                deployed.sort();
                let mut expected: Vec<(String, String)> =
                    model.roots.iter().map(|r| (r.host.clone(), r.name.clone())).collect();
                expected.sort();
                prop_assert_eq!(deployed, expected);
                for (host, (_, items)) in &scripts {
                    prop_assert!(honest(items), "{host} was believed: {items:?}");
                }
                prop_assert!(report.roots.iter().all(|r| r.seconds.is_finite() && r.seconds >= 0.0));
            }
            Err(RemoteFailure::Connect(lost)) => {
                prop_assert!(!lost.is_empty());
                for l in &lost {
                    prop_assert!(HOSTS.contains(&l.host.as_str()), "{l:?}");
                    prop_assert!(!l.message.is_empty());
                    prop_assert!(!l.message.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{l:?}");
                }
            }
            Err(RemoteFailure::Config(errors)) => prop_assert!(!errors.is_empty()),
            Err(RemoteFailure::Interrupted { .. }) => prop_assert!(false, "nobody interrupted this deploy"),
            Err(RemoteFailure::Locked(held)) => {
                prop_assert!(held.iter().all(|(h, _)| HOSTS.contains(&h.as_str())));
            }
            Err(RemoteFailure::Deploy { roots, lost }) => {
                prop_assert!(!roots.is_empty() || !lost.is_empty());
                for f in &roots {
                    // A failure is pinned on the host whose agent reported
                    // it for a root it was asked to deploy.
                    prop_assert!(HOSTS.contains(&f.host.as_str()), "{f:?}");
                    let (_, items) = scripts.iter().find(|(h, _)| *h == f.host).unwrap().1.clone();
                    prop_assert!(
                        items.iter().any(|i| matches!(i, Item::Failed { .. })),
                        "{f:?} without a failure from {}", f.host
                    );
                }
                for l in &lost {
                    prop_assert!(HOSTS.contains(&l.host.as_str()), "{l:?}");
                }
            }
        }
    }
}

// Regressions: each of these was accepted (or crashed the controller)
// before the controller checked what agents tell it.

fn good_preamble() -> Vec<u8> {
    format!(
        "BATOU-PLATFORM {} {}\nBATOU-USER deploy\nBATOU-START\n",
        local_os(),
        local_arch()
    )
    .into_bytes()
}

fn greeting() -> Vec<Item> {
    vec![
        Item::Hello {
            protocol: PROTOCOL_VERSION,
            right_hash: true,
        },
        Item::Configured {
            right_roots: true,
            error: None,
        },
    ]
}

/// alpha's roots are #0 and #1, beta's is #2.
fn honest_alpha() -> (Vec<u8>, Vec<Item>) {
    let mut items = greeting();
    items.push(Item::Deployed { id: 0, changed: 1 });
    items.push(Item::Deployed { id: 1, changed: 0 });
    items.push(finished(0));
    (good_preamble(), items)
}

/// The answer to `finish` (after the last root) of session `index`.
fn finished(index: u64) -> Item {
    Item::Deployed {
        id: crate::remote::orchestrate::finish::FINISH_ID + index,
        changed: 0,
    }
}

fn lost_hosts(result: Result<RemoteReport, RemoteFailure>) -> Vec<(String, String)> {
    match result {
        Err(RemoteFailure::Connect(lost)) | Err(RemoteFailure::Deploy { lost, .. }) => {
            lost.into_iter().map(|l| (l.host, l.message)).collect()
        }
        Err(other) => panic!("expected lost hosts, got {other:?}"),
        Ok(report) => panic!("a hostile agent was believed: {report:?}"),
    }
}

#[test]
fn honest_agents_deploy_every_root() {
    let project = Project::new();
    let model = model(&project);
    let mut beta = greeting();
    beta.push(Item::Deployed { id: 2, changed: 2 });
    beta.push(finished(1));
    let report = run(&model, &honest_alpha(), &(good_preamble(), beta)).unwrap();
    assert_eq!(report.roots.len(), 3);
    assert_eq!(report.changed, 3);
}

#[test]
fn the_answer_to_finish_must_be_for_the_request_sent() {
    let project = Project::new();
    let model = model(&project);
    // beta answers alpha's `finish` instead of its own.
    let mut beta = greeting();
    beta.push(Item::Deployed { id: 2, changed: 0 });
    beta.push(finished(0));
    let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
    assert!(
        lost.iter()
            .any(|(h, m)| h == "beta" && m.contains("which it was not sent")),
        "{lost:?}"
    );
    assert!(!lost.iter().any(|(h, _)| h == "alpha"), "{lost:?}");
}

#[test]
fn an_agent_cannot_report_roots_of_another_host_as_deployed() {
    let project = Project::new();
    let model = model(&project);
    // beta claims alpha's roots and never deploys its own.
    let mut beta = greeting();
    beta.push(Item::Deployed { id: 0, changed: 0 });
    beta.push(Item::Deployed { id: 1, changed: 0 });
    let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
    assert!(
        lost.iter()
            .any(|(h, m)| h == "beta" && m.contains("not asked to deploy")),
        "{lost:?}"
    );
}

#[test]
fn a_failure_is_pinned_on_the_host_that_reported_it() {
    let project = Project::new();
    let model = model(&project);
    let mut beta = greeting();
    beta.push(Item::Failed {
        id: 2,
        blame: "alpha".into(),
    });
    match run(&model, &honest_alpha(), &(good_preamble(), beta)) {
        Err(RemoteFailure::Deploy { roots, .. }) => {
            assert_eq!(roots.len(), 1, "{roots:?}");
            assert_eq!(roots[0].host, "beta");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_change_counts_do_not_overflow_the_controller() {
    let project = Project::new();
    let model = model(&project);
    let mut alpha = greeting();
    alpha.push(Item::Deployed {
        id: 0,
        changed: usize::MAX,
    });
    alpha.push(Item::Deployed {
        id: 1,
        changed: usize::MAX,
    });
    alpha.push(finished(0));
    let mut beta = greeting();
    beta.push(Item::Deployed {
        id: 2,
        changed: usize::MAX,
    });
    beta.push(finished(1));
    let report = run(&model, &(good_preamble(), alpha), &(good_preamble(), beta)).unwrap();
    assert_eq!(report.changed, usize::MAX);
}

#[test]
fn answers_before_the_greeting_and_foreign_binaries_are_refused() {
    let project = Project::new();
    let model = model(&project);
    let (pre, mut alpha) = honest_alpha();
    alpha.remove(0); // no hello
    let beta = vec![
        Item::Hello {
            protocol: PROTOCOL_VERSION,
            right_hash: false,
        },
        Item::Configured {
            right_roots: true,
            error: None,
        },
    ];
    let lost = lost_hosts(run(&model, &(pre, alpha), &(good_preamble(), beta)));
    assert!(
        lost.iter()
            .any(|(h, m)| h == "alpha" && m.contains("before it greeted")),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|(h, m)| h == "beta" && m.contains("runs binary")),
        "{lost:?}"
    );
}

#[test]
fn an_agent_configured_with_other_assets_is_dropped() {
    let project = Project::new();
    let model = model(&project);
    let beta = vec![
        Item::Hello {
            protocol: PROTOCOL_VERSION,
            right_hash: true,
        },
        Item::ForeignAssets,
    ];
    let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
    assert!(
        lost.iter().any(|(h, m)| h == "beta"
            && m.contains("configured with assets abab")
            && m.contains("not the set the controller shipped")),
        "{lost:?}"
    );
    assert!(lost.iter().all(|(h, _)| h == "beta"), "{lost:?}");
}

#[test]
fn garbled_huge_and_non_utf8_lines_drop_the_host() {
    let project = Project::new();
    let model = model(&project);
    // Both before `configured`, so the controller waits for both hosts.
    let mut alpha = greeting();
    alpha.insert(1, Item::Raw(vec![0xff, 0xfe, b'{', b'}']));
    let mut beta = greeting();
    // One line longer than the controller buffers.
    beta.insert(
        1,
        Item::Raw(vec![b'x'; crate::remote::protocol::MAX_REPLY_LINE + 1]),
    );
    let lost = lost_hosts(run(
        &model,
        &(good_preamble(), alpha),
        &(good_preamble(), beta),
    ));
    assert!(
        lost.iter()
            .any(|(h, m)| h == "alpha" && m.contains("not UTF-8")),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|(h, m)| h == "beta" && m.contains("longer than")),
        "{lost:?}"
    );
}

#[test]
fn an_agent_cannot_speak_for_another_host() {
    let project = Project::new();
    let model = model(&project);
    // Events come during a deploy; this one claims to be about `gamma`.
    let mut beta = greeting();
    beta.push(Item::Event("I am someone else".into()));
    beta.push(Item::Deployed { id: 2, changed: 0 });
    let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
    assert!(
        lost.iter()
            .any(|(h, m)| h == "beta" && m.contains("events of host `gamma`")),
        "{lost:?}"
    );
}

#[test]
fn an_agent_cannot_tell_the_rollouts_progress() {
    // A batch's start or end is the controller's; from an agent it is a
    // lie.
    let lies = [
        crate::event::Event::BatchStarted {
            index: 2,
            total: 2,
            hosts: vec!["alpha".into()],
        },
        crate::event::Event::BatchFinished {
            index: 1,
            total: 2,
            deployed: vec!["alpha".into(), "beta".into()],
            failed: vec![],
            partial: vec![],
            untouched: vec![],
        },
    ];
    for event in lies {
        let project = Project::new();
        let model = model(&project);
        let shown = format!("{event:?}");
        let reply = Reply::Event { id: 0, event };
        let line = serde_json::to_vec(&reply).unwrap();
        let mut beta = greeting();
        // Sent during the deploy: before it, any event is out of place.
        beta.push(Item::RawInDeploy(line));
        beta.push(Item::Deployed { id: 2, changed: 0 });
        let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
        assert!(
            lost.iter()
                .any(|(h, m)| h == "beta" && m.contains("the rollout's progress")),
            "{shown}: {lost:?}"
        );
    }
}

#[test]
fn terminal_escapes_from_an_agent_are_shown_escaped() {
    let project = Project::new();
    let model = model(&project);
    let mut alpha = greeting();
    alpha.push(Item::Fatal("\u{1b}[2J\u{1b}]0;owned\u{7}boom".into()));
    let mut beta = greeting();
    beta.push(Item::Deployed { id: 2, changed: 0 });
    let lost = lost_hosts(run(
        &model,
        &(good_preamble(), alpha),
        &(good_preamble(), beta),
    ));
    let (_, message) = lost.iter().find(|(h, _)| h == "alpha").unwrap();
    assert!(!message.contains('\u{1b}'), "{message:?}");
    assert!(message.contains("boom"), "{message:?}");
}

#[test]
fn a_connection_that_ends_is_lost_in_the_words_of_its_phase() {
    let project = Project::new();
    let model = model(&project);
    let lost_beta = |beta: Vec<Item>| {
        let lost = lost_hosts(run(&model, &honest_alpha(), &(good_preamble(), beta)));
        lost.into_iter()
            .find(|(h, _)| h == "beta")
            .map(|(_, m)| m)
            .unwrap_or_else(|| panic!("beta is not lost"))
    };
    // beta's connection ends after its greeting.
    let message = lost_beta(greeting()[..1].to_vec());
    assert!(
        message.starts_with("connection lost before the agent was configured"),
        "{message}"
    );
    // beta's ends once it is configured, before its root was sent: it is
    // lost as soon as the deploy needs it, not after a heartbeat timeout.
    let started = std::time::Instant::now();
    let message = lost_beta(greeting());
    assert!(
        message.starts_with("connection lost during the deploy"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
