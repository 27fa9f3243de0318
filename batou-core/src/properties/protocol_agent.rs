//! The agent's side of the protocol: whatever arrives on its stdin, it
//! answers only in well-formed reply lines, ends with a `fatal` reply on a
//! bad or out-of-order request, and exits instead of hanging or panicking.
//!
//! The streams never contain a well-formed `configure` after a `hello`:
//! that would take the deploy lock and deploy on this machine, which the
//! e2e tests cover with real environments.

use std::io::Write;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::{config, nasty_text};
use crate::component::Registry;
use crate::remote::agent::serve;
use crate::remote::protocol::{PROTOCOL_VERSION, Reply};

/// One line the controller (or an attacker in its place) might send.
#[derive(Debug, Clone)]
enum Line {
    /// Accepted and answered without side effects.
    Benign(String),
    /// Must make the agent stop with a `fatal` reply.
    Bad(Vec<u8>),
    Shutdown,
    Blank,
}

fn hello(protocol: u64, hash: &str) -> String {
    format!(
        r#"{{"type":"hello","protocol":{protocol},"binary_hash":"{hash}","controller":{{"controller":"c","user":"u","pid":1,"started":0,"agent_pid":0}},"break_lock":false}}"#
    )
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        2 => Just(Line::Benign(hello(u64::from(PROTOCOL_VERSION), ""))),
        1 => Just(Line::Shutdown),
        1 => Just(Line::Blank),
        // Unknown versions, foreign binaries.
        1 => (any::<u64>().prop_filter("not ours", |v| *v != u64::from(PROTOCOL_VERSION)))
            .prop_map(|v| Line::Bad(hello(v, "").into_bytes())),
        1 => Just(Line::Bad(hello(1, &"0".repeat(64)).into_bytes())),
        // Out of order: deploying before configuring.
        1 => (any::<u64>(), any::<u32>())
            .prop_map(|(id, root)| Line::Bad(format!(r#"{{"type":"deploy","id":{id},"root":{root},"name":"x","predict":true}}"#).into_bytes())),
        // Wrong types and unknown messages.
        2 => prop::sample::select(vec![
            r#"{"type":"hello","protocol":"1"}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"configure","environment":null,"host":"h"}"#,
            r#"{"type":"configure","environment":{},"host":7}"#,
            r#"{"type":"deploy","id":-1,"root":0,"name":"x","predict":false}"#,
            r#"{"type":"launch_missiles"}"#,
            r#"{"type":null}"#,
            r#"[]"#,
            r#"null"#,
            r#"{"type":"shutdown""#,
            "\u{0}",
        ])
        .prop_map(|s| Line::Bad(s.as_bytes().to_vec())),
        2 => nasty_text().prop_filter("not blank", |s| !s.trim().is_empty())
            .prop_map(|s| Line::Bad(s.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 1..64)
            .prop_filter("no newline, not blank", |b| !b.contains(&b'\n') && !String::from_utf8_lossy(b).trim().is_empty())
            .prop_map(Line::Bad),
        // A huge line.
        1 => (1usize..4).prop_map(|mb| Line::Bad(vec![b'x'; mb << 20])),
    ]
}

#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn any_request_stream_gets_well_formed_replies_and_an_exit(lines in prop::collection::vec(line(), 0..8)) {
        let mut input = Vec::new();
        for l in &lines {
            match l {
                Line::Benign(s) => input.extend_from_slice(s.as_bytes()),
                Line::Bad(b) => input.extend_from_slice(b),
                Line::Shutdown => input.extend_from_slice(br#"{"type":"shutdown"}"#),
                Line::Blank => input.extend_from_slice(b"  "),
            }
            input.push(b'\n');
        }
        let output = Output::default();
        let registry = Registry::new();
        let code = serve(&registry, Box::new(std::io::Cursor::new(input)), Box::new(output.clone()));
        let out = output.0.lock().unwrap().clone();
        let text = String::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let replies: Vec<Reply> = text
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| TestCaseError::fail(format!("{e}: {l}"))))
            .collect::<Result<_, _>>()?;
        // What the agent should have done: stop at the first bad line or
        // shutdown, whichever comes first.
        let first_stop = lines.iter().find(|l| matches!(l, Line::Bad(_) | Line::Shutdown));
        match first_stop {
            Some(Line::Bad(_)) => {
                prop_assert_eq!(code, 2);
                prop_assert!(
                    matches!(replies.iter().rev().find(|r| !matches!(r, Reply::Heartbeat)), Some(Reply::Fatal { .. })),
                    "no fatal reply: {replies:?}"
                );
            }
            _ => {
                prop_assert_eq!(code, 0);
                prop_assert!(!replies.iter().any(|r| matches!(r, Reply::Fatal { .. })), "{replies:?}");
            }
        }
        let hellos_before_stop = lines
            .iter()
            .take_while(|l| !matches!(l, Line::Bad(_) | Line::Shutdown))
            .filter(|l| matches!(l, Line::Benign(_)))
            .count();
        let hello_replies = replies.iter().filter(|r| matches!(r, Reply::Hello { .. })).count();
        prop_assert_eq!(hello_replies, hellos_before_stop);
    }
}
