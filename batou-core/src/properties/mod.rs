//! Property tests standing in for fuzzing (the toolchain is stable-only,
//! so `cargo fuzz`'s libFuzzer/sanitizer flags are not available; see
//! `tests/README.md`). Every target feeds hostile input to one parser or
//! decoder and checks that it answers with a value or a typed error that
//! points into the input — never a panic, never a hang.
//!
//! The runs are deterministic: a fixed seed and a bounded number of cases,
//! so CI stays fast and a failure reproduces. For a longer local run raise
//! the case count and vary the seed:
//!
//! ```text
//! BATOU_FUZZ_CASES=20000 BATOU_FUZZ_SEED=7 cargo test -p batou-core --release properties::
//! ```

mod convert;
mod environment;
mod ini;
mod protocol_agent;
mod protocol_controller;
mod secrets;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The seed CI runs with; `BATOU_FUZZ_SEED` picks another.
const DEFAULT_SEED: u64 = 0xba70;

/// `default` cases, or `BATOU_FUZZ_CASES` scaled by `default / 256` (so a
/// slow target keeps its relative share of a long run).
pub(crate) fn config(default: u32) -> Config {
    let cases = std::env::var("BATOU_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| ((n * u64::from(default)) / 256).max(1) as u32)
        .unwrap_or(default);
    let seed = std::env::var("BATOU_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // Failures become hand-written regression tests next to the
        // property instead of a persistence file nobody reads.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Text that mixes plausible tokens of a format with arbitrary characters
/// (control characters, non-ASCII, NUL), line by line.
pub(crate) fn lines_of(
    line: impl Strategy<Value = String> + 'static,
    max: usize,
) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line, 0..max),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

/// Any short string, weighted towards characters that parsers treat
/// specially.
pub(crate) fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
        1 => prop::collection::vec(any::<char>(), 0..20).prop_map(|c| c.into_iter().collect()),
        1 => prop::sample::select(vec![
            "", " ", "\t", "\u{feff}", "\0", "\u{85}", "\u{2028}", "[", "]", "=", ":", "#", ";",
            "{{", "}}", "{%", "@@", "\\", "\"", "'", "$(touch /tmp/x)", "`id`", "-1",
            "18446744073709551616", "1e999", "NaN", "inf", "0x10", "true", "yes", "off",
        ])
        .prop_map(str::to_string),
    ]
}
