//! `HealthCheck`'s TCP and command gates against real things: a TCP
//! socket the test binds (first not listening, then listening) and shell
//! commands that fail before they pass. The HTTP gate is tested on four
//! namespaced hosts in the e2e suite (tests/e2e/rollout.rs).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::*;
use crate::stdlib::HealthCheck;

/// The `log` messages of the health checks among `events`.
fn gate_logs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Log {
                component: Some(c),
                message,
                ..
            } if c.contains("HealthCheck(") => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The attempts (or, predicting, what would be checked) among the
/// health checks' messages.
fn attempts(events: &[Event]) -> Vec<String> {
    gate_logs(events)
        .into_iter()
        .filter(|m| !m.starts_with("waiting until "))
        .collect()
}

/// A TCP socket bound to a free port of 127.0.0.1 that does not listen
/// yet: connecting is refused, and no other program can take the port.
fn bound() -> (Socket, u16) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

static TCP_PORT: AtomicU16 = AtomicU16::new(0);

#[test]
fn a_tcp_gate_fails_while_nothing_listens_and_passes_once_something_does() {
    let (socket, port) = bound();
    TCP_PORT.store(port, Ordering::SeqCst);
    let s = Stage::new(|_, ctx| {
        let port = TCP_PORT.load(Ordering::SeqCst);
        ctx.add(
            HealthCheck::tcp(format!("127.0.0.1:{port}"))
                .retries(1)
                .interval(Duration::from_millis(10))
                .timeout(Duration::from_secs(2)),
        )?;
        Ok(())
    });

    let (result, events) = s.run(false);
    let error = result.expect_err("nothing listens").to_string();
    assert!(
        error.contains(&format!(
            "health check failed: expected that 127.0.0.1:{port} accepts TCP connections (2 attempts); last: 127.0.0.1:{port}: "
        )) && error.contains("refused"),
        "{error}"
    );
    let seen = gate_logs(&events);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen[0],
        format!("waiting until 127.0.0.1:{port} accepts TCP connections (up to 2 attempts)"),
        "the host says what it waits for, first"
    );
    let seen = attempts(&events);
    assert!(
        seen[0].starts_with("attempt 1/2: unhealthy (127.0.0.1:"),
        "{seen:?}"
    );
    assert!(seen[1].starts_with("attempt 2/2: unhealthy ("), "{seen:?}");

    // The test's listener starts: the gate connects, once, and passes
    // without counting as a change.
    socket.listen(8).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "a gate is never a change");
    assert_eq!(
        attempts(&events),
        [format!(
            "attempt 1/2: healthy (connected to 127.0.0.1:{port})"
        )]
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok(), "the gate really connected");
    assert!(listener.accept().is_err(), "and only once");
}

/// Fails its first two runs (counted in a file in the workdir, where the
/// command runs), passes from the third on.
const THIRD_TIME: &str = "n=$(cat runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > runs; echo run $n >&2; [ $n -ge 3 ]";

#[test]
fn a_command_gate_that_fails_twice_passes_with_two_retries() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            HealthCheck::command(THIRD_TIME)
                .retries(2)
                .interval(Duration::from_millis(10)),
        )?;
        Ok(())
    });
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0);
    let seen = attempts(&events);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].starts_with("attempt 1/3: unhealthy ("), "{seen:?}");
    assert!(seen[0].contains("run 1"), "the command's stderr: {seen:?}");
    assert!(seen[1].starts_with("attempt 2/3: unhealthy ("), "{seen:?}");
    assert_eq!(seen[2], "attempt 3/3: healthy (exit 0)");
    assert_eq!(s.read("runs"), "3\n", "run in the workdir, three times");
}

#[test]
fn a_command_gate_that_fails_twice_fails_its_root_with_one_retry() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            HealthCheck::command(THIRD_TIME)
                .retries(1)
                .interval(Duration::from_millis(10)),
        )?;
        Ok(())
    });
    let (result, events) = s.run(false);
    let error = result.expect_err("fails twice").to_string();
    assert!(
        error.contains(&format!(
            "health check failed: expected that `{THIRD_TIME}` succeeds (2 attempts); last: "
        )) && error.contains("run 2"),
        "the last attempt's answer: {error}"
    );
    assert_eq!(attempts(&events).len(), 2);
    assert_eq!(s.read("runs"), "2\n");
}

#[test]
fn a_command_gate_slower_than_its_timeout_is_unhealthy() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            HealthCheck::command("touch started; sleep 30")
                .retries(0)
                .timeout(Duration::from_millis(300)),
        )?;
        Ok(())
    });
    let (result, _) = s.run(false);
    let error = result.expect_err("times out").to_string();
    assert!(error.contains("health check failed"), "{error}");
    assert!(
        error.contains("timed out") || error.contains("timeout"),
        "{error}"
    );
    assert!(s.path("started").exists());
}

#[test]
fn predicting_runs_no_gate() {
    let s = Stage::new(|_, ctx| {
        ctx.add(HealthCheck::command("echo ran >> runs; exit 1"))?;
        Ok(())
    });
    let (report, events) = s.predict();
    assert_eq!(report.changed, 0);
    assert_eq!(
        attempts(&events),
        ["would check that `echo ran >> runs; exit 1` succeeds"]
    );
    assert!(!s.path("runs").exists(), "the command never ran");
}
