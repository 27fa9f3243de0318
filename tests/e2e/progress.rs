//! The live per-host view: shown on a real pseudo-terminal (`script(1)`
//! from util-linux allocates one), never when output is piped or with
//! `--no-progress`; colours only on a terminal and never with `NO_COLOR`.
//! The transcript is printed in full either way.

use std::process::{Command, Stdio};

use super::support::{LOCAL, Project, redact_timings};

/// `hello`, then a `sleeper` that takes a second in update, so the view
/// has something to show while it runs.
fn slow_project() -> Project {
    Project::new().env(
        "slow",
        &format!("{LOCAL}[hosts]\nlocalhost = hello, sleeper\n[component:sleeper]\nseconds = 1\n"),
    )
}

/// Runs the binary with `args` on a pseudo-terminal (stdout and stderr
/// both the terminal); `NO_COLOR` is unset unless in `vars`. Returns the
/// exit code and every byte the terminal received, CRLF as LF.
fn run_on_terminal(p: &Project, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command_line: Vec<String> = std::iter::once(super::support::BIN)
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &command_line.join(" "), "/dev/null"])
        .current_dir(p.path())
        .env("BATOU_PROJECT_DIR", p.path())
        .env("HOME", p.path().join("home"))
        .env("COLUMNS", "80")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("script(1) from util-linux, to run batou on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (out.status.code(), text)
}

/// Removes every escape sequence (CSI `ESC [ ... final`, and two-byte
/// `ESC x`).
pub(super) fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            for p in chars.by_ref() {
                if ('@'..='~').contains(&p) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Colour escapes (SGR: `ESC [ ... m`) in `text`.
fn colour_escapes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\u{1b}[") {
        let seq = &rest[i + 2..];
        let end = seq
            .find(|c: char| ('@'..='~').contains(&c))
            .unwrap_or(seq.len());
        if seq[end..].starts_with('m') {
            found.push(format!("ESC[{}m", &seq[..end]));
        }
        rest = &seq[end.min(seq.len())..];
    }
    found
}

/// The lines a terminal shows last on each row: the live view redraws a
/// row with `\r`, so only what follows the last `\r` stays.
fn final_lines(terminal: &str) -> Vec<String> {
    strip_escapes(terminal)
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or("").trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Asserts that every line of `transcript` (the piped run's) is on the
/// terminal too, in order, timings aside.
#[track_caller]
fn assert_transcript_intact(terminal: &str, transcript: &str) {
    let shown: Vec<String> = final_lines(terminal)
        .iter()
        .map(|l| redact_timings(l))
        .collect();
    let mut at = 0;
    for want in transcript.lines().filter(|l| !l.trim().is_empty()) {
        let want = redact_timings(want.trim_end());
        match shown[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "transcript line {want:?} is missing on the terminal (after line {at})\nterminal:\n{}",
                shown.join("\n")
            ),
        }
    }
}

#[test]
fn a_terminal_gets_the_live_view_and_the_whole_transcript() {
    let piped = slow_project();
    let plain = piped.run(&["deploy", "slow"]).success();

    let p = slow_project();
    let (code, terminal) = run_on_terminal(&p, &["deploy", "slow"], &[]);
    assert_eq!(code, Some(0), "{terminal}");
    let text = strip_escapes(&terminal);
    // The per-host view: what it is connecting, verifying, updating.
    assert!(text.contains("localhost: connecting via local"), "{text}");
    assert!(text.contains("localhost: verifying hello"), "{text}");
    assert!(text.contains("localhost: updating Sleeper"), "{text}");
    assert!(text.contains("localhost: verifying sleeper ("), "{text}");
    // Drawn in place (rows cleared and redrawn) ...
    assert!(terminal.contains("\u{1b}[2K"), "{terminal:?}");
    // ... and cleared at the end: the transcript and its summary stay.
    assert_transcript_intact(&terminal, &plain.stdout);
    let last = final_lines(&terminal);
    assert_eq!(
        last.last().map(String::as_str),
        Some("============================= DEPLOYMENT FINISHED =============================="),
        "{last:?}"
    );
    // Colours on a terminal: the green verdict.
    assert!(
        colour_escapes(&terminal).contains(&"ESC[1;32m".to_string()),
        "{terminal:?}"
    );
    p.assert_exists("work/sleeper/done");
    p.assert_exists("work/hello/hello.txt");
}

#[test]
fn no_color_means_no_colour_escapes_even_on_a_terminal() {
    let p = slow_project();
    let (code, terminal) = run_on_terminal(&p, &["deploy", "slow"], &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(0), "{terminal}");
    // The live view is still there ...
    assert!(
        strip_escapes(&terminal).contains("localhost: updating Sleeper"),
        "{terminal}"
    );
    // ... without a single colour or bold escape.
    assert_eq!(
        colour_escapes(&terminal),
        Vec::<String>::new(),
        "{terminal:?}"
    );
    // Errors too.
    let (code, terminal) = run_on_terminal(&p, &["deploy", "nope"], &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(3), "{terminal}");
    assert!(terminal.contains("nope"), "{terminal}");
    assert_eq!(
        colour_escapes(&terminal),
        Vec::<String>::new(),
        "{terminal:?}"
    );
}

#[test]
fn no_progress_prints_plain_lines_on_a_terminal() {
    let piped = slow_project();
    let plain = piped.run(&["deploy", "slow"]).success();
    let p = slow_project();
    let (code, terminal) = run_on_terminal(
        &p,
        &["deploy", "--no-progress", "slow"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(code, Some(0), "{terminal}");
    assert!(!terminal.contains('\u{1b}'), "{terminal:?}");
    assert!(!terminal.contains('\r'), "{terminal:?}");
    assert!(!terminal.contains("updating Sleeper"), "{terminal}");
    assert_eq!(redact_timings(&terminal), redact_timings(&plain.stdout));
    // Without NO_COLOR a terminal gets colours, but still no live view.
    let p = slow_project();
    let (code, terminal) = run_on_terminal(&p, &["deploy", "--no-progress", "slow"], &[]);
    assert_eq!(code, Some(0), "{terminal}");
    assert!(!colour_escapes(&terminal).is_empty(), "{terminal:?}");
    assert!(!terminal.contains("\u{1b}[2K"), "{terminal:?}");
    assert!(!terminal.contains('\r'), "{terminal:?}");
    assert!(!terminal.contains("updating Sleeper"), "{terminal}");
}

#[test]
fn piped_output_is_plain_even_without_no_color() {
    let p = slow_project();
    let out = p
        .command(&["deploy", "slow"], &[])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .output()
        .expect("run batou-test");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [&stdout, &stderr] {
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(!text.contains('\r'), "{text:?}");
        assert!(!text.contains("updating Sleeper"), "{text}");
    }
    assert!(stdout.contains("DEPLOYMENT FINISHED"), "{stdout}");
}

#[test]
fn a_remote_deploy_shows_each_hosts_agent_configuring() {
    // The subprocess transport starts a real agent on this machine.
    let env = "[environment]\nconnect_method = subprocess\n[hosts]\nlocalhost = hello\n";
    let piped = Project::new().env("sub", env);
    let plain = piped.run(&["deploy", "sub"]).success();
    let p = Project::new().env("sub", env);
    let (code, terminal) = run_on_terminal(&p, &["deploy", "sub"], &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(0), "{terminal}");
    let text = strip_escapes(&terminal);
    assert!(
        text.contains("localhost: connecting via subprocess"),
        "{text}"
    );
    assert!(text.contains("localhost: configuring"), "{text}");
    assert!(text.contains("localhost: verifying hello"), "{text}");
    // The transcript, with its per-host summary, is all there.
    assert_transcript_intact(&terminal, &plain.stdout);
    p.assert_exists("home/deployment/work/hello/hello.txt");
}
