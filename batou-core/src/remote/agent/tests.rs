//! The agent's main loop against a controller it holds the other end of.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::serve_with_silence;
use crate::component::Registry;
use crate::remote::protocol::{Holder, PROTOCOL_VERSION, Reply, Request};

/// Serves on one end of a socket pair with `silence`; the test holds
/// the other end (the controller) and gets the exit code and how long
/// serving took.
fn serve_on_pair(silence: Duration) -> (UnixStream, std::thread::JoinHandle<(i32, Duration)>) {
    let (controller, agent) = UnixStream::pair().unwrap();
    let serving = std::thread::spawn(move || {
        let start = Instant::now();
        let input = Box::new(std::io::BufReader::new(agent));
        let code = serve_with_silence(&Registry::new(), input, Box::new(std::io::sink()), silence);
        (code, start.elapsed())
    });
    (controller, serving)
}

/// Input or output whose every read or write panics.
struct Exploding;

impl std::io::Read for Exploding {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("the input broke")
    }
}

impl Write for Exploding {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("the output broke")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        panic!("the output broke")
    }
}

/// Collects what the agent writes.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_request_reader_that_dies_ends_the_agent_with_a_fatal_reply() {
    let out = Written::default();
    let input = Box::new(std::io::BufReader::new(Exploding));
    let start = Instant::now();
    let code = serve_with_silence(
        &Registry::new(),
        input,
        Box::new(out.clone()),
        Duration::from_secs(60),
    );
    assert_eq!(code, 2);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let fatal: Reply = serde_json::from_str(written.lines().last().unwrap()).unwrap();
    assert!(
        matches!(&fatal, Reply::Fatal { message } if message.contains("request reader failed: the input broke")),
        "{written}"
    );
}

#[test]
fn a_reply_writer_that_dies_ends_the_agent() {
    // The controller stays connected and says it is alive: only the
    // writer's death can end the agent before the silence does.
    let (mut controller, agent) = UnixStream::pair().unwrap();
    let silence = Duration::from_secs(60);
    let serving = std::thread::spawn(move || {
        let input = Box::new(std::io::BufReader::new(agent));
        serve_with_silence(&Registry::new(), input, Box::new(Exploding), silence)
    });
    let hello = Request::Hello {
        protocol: PROTOCOL_VERSION,
        binary_hash: String::new(),
        controller: Holder {
            controller: "c".into(),
            user: "u".into(),
            pid: 1,
            started: 0,
            agent_pid: 0,
        },
        break_lock: false,
        assets: Default::default(),
        assets_hash: crate::assets::Manifest::default().hash(),
    };
    controller
        .write_all(format!("{}\n", serde_json::to_string(&hello).unwrap()).as_bytes())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serving.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the agent goes on without its writer"
        );
        let _ = controller.write_all(b"{\"type\":\"alive\"}\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(serving.join().unwrap(), 2);
}

#[test]
fn a_controller_that_falls_silent_is_taken_for_gone() {
    // The connection stays open: no end of input, only silence.
    let (_controller, serving) = serve_on_pair(Duration::from_millis(300));
    let (code, took) = serving.join().unwrap();
    assert_eq!(code, 0);
    assert!(took >= Duration::from_millis(300), "ended after {took:?}");
}

#[test]
fn a_controller_that_says_it_is_alive_is_served_on() {
    // A silence well above the beats' spacing, so that a loaded
    // machine's late beat is still in time.
    let (mut controller, serving) = serve_on_pair(Duration::from_millis(1500));
    let alive = format!("{}\n", serde_json::to_string(&Request::Alive).unwrap());
    // Beats for longer than the silence.
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(100));
        controller.write_all(alive.as_bytes()).unwrap();
    }
    assert!(!serving.is_finished(), "ended while the controller spoke");
    let (code, took) = serving.join().unwrap();
    assert_eq!(code, 0);
    assert!(
        took >= Duration::from_millis(2500 + 1500),
        "ended after {took:?}"
    );
}

#[test]
fn a_long_request_arriving_slowly_is_not_silence() {
    // One line that takes longer than the silence to arrive, as the
    // environment of 100,000 hosts can on a busy machine: its bytes
    // keep coming, so the controller is there.
    let (mut controller, serving) = serve_on_pair(Duration::from_millis(1500));
    controller.write_all(b"{\"type\":\"alive\"").unwrap();
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(100));
        controller.write_all(b" ").unwrap();
    }
    assert!(!serving.is_finished(), "ended while a request was arriving");
    controller.write_all(b"}\n").unwrap();
    let (code, took) = serving.join().unwrap();
    assert_eq!(code, 0);
    assert!(
        took >= Duration::from_millis(2500 + 1500),
        "ended after {took:?}"
    );
}

/// The agent's replies to `requests` (sent at once, then end of input),
/// and its exit code.
fn replies_to(requests: &[Request]) -> (i32, Vec<Reply>) {
    let mut input = Vec::new();
    for r in requests {
        crate::remote::protocol::write_line(&mut input, r).unwrap();
    }
    let out = Written::default();
    let code = serve_with_silence(
        &Registry::new(),
        Box::new(std::io::Cursor::new(input)),
        Box::new(out.clone()),
        Duration::from_secs(60),
    );
    let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let replies = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, replies)
}

fn hello_with(assets: crate::assets::Manifest, assets_hash: String) -> Request {
    Request::Hello {
        protocol: PROTOCOL_VERSION,
        binary_hash: String::new(),
        controller: Holder {
            controller: "c".into(),
            user: "u".into(),
            pid: 1,
            started: 0,
            agent_pid: 0,
        },
        break_lock: false,
        assets,
        assets_hash,
    }
}

fn one_asset(text: &str) -> crate::assets::Manifest {
    crate::assets::Manifest {
        entries: [(
            "components/templates/a.conf".to_string(),
            crate::assets::sha256_hex(text.as_bytes()),
        )]
        .into(),
    }
}

#[test]
fn an_agent_asks_for_missing_assets_and_refuses_forged_ones() {
    use crate::assets::Blob;
    let m = one_asset("port = 1\n");
    let sum = crate::assets::sha256_hex(b"port = 1\n");
    let mut forged = Blob::new(b"port = 1\n");
    forged.text = Some("port = 2\n".into());
    let (code, replies) = replies_to(&[
        hello_with(m.clone(), m.hash()),
        Request::Assets {
            blobs: vec![forged],
        },
    ]);
    assert_eq!(code, 2);
    assert!(
        matches!(&replies[0], Reply::Hello { missing_assets, .. } if *missing_assets == vec![sum.clone()]),
        "{replies:?}"
    );
    assert!(
        matches!(replies.last(), Some(Reply::Fatal { message }) if message.contains("content hashes to")),
        "{replies:?}"
    );

    // The real blob: taken, and the agent goes on until shut down.
    let (code, replies) = replies_to(&[
        hello_with(m.clone(), m.hash()),
        Request::Alive,
        Request::Assets {
            blobs: vec![Blob::new(b"port = 1\n")],
        },
        Request::Shutdown,
    ]);
    assert_eq!(code, 0, "{replies:?}");
    assert!(
        !replies.iter().any(|r| matches!(r, Reply::Fatal { .. })),
        "{replies:?}"
    );
}

#[test]
fn a_manifest_that_does_not_match_its_hash_is_refused() {
    let m = one_asset("x\n");
    let (code, replies) = replies_to(&[hello_with(m, "0".repeat(64))]);
    assert_eq!(code, 2);
    assert!(
        matches!(replies.last(), Some(Reply::Fatal { message }) if message.starts_with("asset manifest mismatch")),
        "{replies:?}"
    );
}

#[test]
fn requests_after_hello_wait_for_the_assets() {
    // A `run` before `configure` is refused, but only once the assets are
    // complete: while they are on their way it waits, unanswered.
    let m = one_asset("y\n");
    let (_, waiting) = replies_to(&[
        hello_with(m.clone(), m.hash()),
        Request::Run {
            id: 1,
            command: "facts".into(),
            args: vec![],
        },
    ]);
    assert_eq!(waiting.len(), 1, "only the greeting: {waiting:?}");
    let (_, served) = replies_to(&[
        hello_with(m.clone(), m.hash()),
        Request::Run {
            id: 1,
            command: "facts".into(),
            args: vec![],
        },
        Request::Assets {
            blobs: vec![crate::assets::Blob::new(b"y\n")],
        },
    ]);
    assert!(
        matches!(served.last(), Some(Reply::Fatal { message }) if message == "run before a successful configure"),
        "the run is answered after the assets: {served:?}"
    );
}
