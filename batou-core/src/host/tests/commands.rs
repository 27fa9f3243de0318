//! Running commands: output, failures, timeouts, environment, stdin.

use std::time::{Duration, Instant};

use super::*;

fn run(spec: CommandSpec) -> Result<CommandOutput, CommandError> {
    Host::local().run(&spec)
}

#[test]
fn success_returns_both_outputs() {
    let out = run(CommandSpec::shell("echo out; echo err >&2")).unwrap();
    assert_eq!(
        out,
        CommandOutput {
            status: 0,
            stdout: "out\n".into(),
            stderr: "err\n".into()
        }
    );
}

#[test]
fn argv_needs_no_quoting() {
    let out = run(CommandSpec::argv(["printf", "%s|", "a b", "$HOME", "it's"])).unwrap();
    assert_eq!(out.stdout, "a b|$HOME|it's|");
    let spec = CommandSpec::argv(["echo", "a b", "it's", "plain", ""]);
    assert_eq!(spec.display(), r#"echo 'a b' 'it'\''s' plain ''"#);
}

#[test]
fn non_zero_exit_is_an_error_with_code_and_output() {
    let err = run(CommandSpec::shell("echo partial; echo broken >&2; exit 3")).unwrap_err();
    assert_eq!(err.command, "echo partial; echo broken >&2; exit 3");
    match &err.kind {
        CommandErrorKind::Failed {
            code,
            stdout,
            stderr,
        } => {
            assert_eq!(*code, 3);
            assert_eq!(stdout, "partial\n");
            assert_eq!(stderr, "broken\n");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "echo partial; echo broken >&2; exit 3: return code 3\nSTDOUT\npartial\nSTDERR\nbroken"
    );
}

#[test]
fn death_by_signal_is_reported() {
    let err = run(CommandSpec::shell("kill -TERM $$")).unwrap_err();
    assert!(
        matches!(err.kind, CommandErrorKind::Signal { signal: 15, .. }),
        "{err:?}"
    );
}

#[test]
fn commands_that_cannot_start() {
    let err = run(CommandSpec::argv(["/nonexistent/program"])).unwrap_err();
    assert!(matches!(err.kind, CommandErrorKind::Spawn(_)), "{err:?}");
    let err = run(CommandSpec::argv(Vec::<String>::new())).unwrap_err();
    assert!(matches!(err.kind, CommandErrorKind::Spawn(_)), "{err:?}");
    let err = run(CommandSpec::shell("true").cwd("/nonexistent/dir")).unwrap_err();
    assert!(matches!(err.kind, CommandErrorKind::Spawn(_)), "{err:?}");
}

#[test]
fn a_timeout_kills_the_command_quickly() {
    let start = Instant::now();
    let err =
        run(CommandSpec::argv(["sleep", "30"]).timeout(Duration::from_millis(200))).unwrap_err();
    assert!(
        matches!(err.kind, CommandErrorKind::Timeout(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_dead(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let start = Instant::now();
    let err = run(
        CommandSpec::shell(format!("sleep 30 & echo $! > {}; wait", pidfile.display()))
            .timeout(Duration::from_millis(300)),
    )
    .unwrap_err();
    assert!(matches!(err.kind, CommandErrorKind::Timeout(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_dead(pid), "the background sleep {pid} survived");
}

#[test]
fn a_timeout_also_bounds_a_background_child_holding_the_output() {
    // The shell exits at once, but its child keeps stdout open: without a
    // bound, reading the output would wait for the child.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let start = Instant::now();
    let result = run(
        CommandSpec::shell(format!("sleep 30 & echo $! > {}", pidfile.display()))
            .timeout(Duration::from_millis(300)),
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let err = result.unwrap_err();
    assert!(matches!(err.kind, CommandErrorKind::Timeout(_)), "{err:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_dead(pid), "the background sleep {pid} survived");
}

#[test]
fn env_and_cwd_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(CommandSpec::shell("echo \"$GREETING $OTHER\"; pwd -P")
        .env("GREETING", "hello")
        .env("OTHER", "world")
        .cwd(dir.path()))
    .unwrap();
    let real = dir.path().canonicalize().unwrap();
    assert_eq!(out.stdout, format!("hello world\n{}\n", real.display()));
    // The rest of the environment is inherited.
    let out = run(CommandSpec::shell("echo $PATH")).unwrap();
    assert_eq!(out.stdout.trim(), std::env::var("PATH").unwrap());
}

#[test]
fn stdin_is_closed() {
    let start = Instant::now();
    let out = run(CommandSpec::argv(["cat"]).timeout(Duration::from_secs(10))).unwrap();
    assert_eq!(out.stdout, "");
    assert!(start.elapsed() < Duration::from_secs(5));
    let out = run(CommandSpec::shell("read line; echo \"rc=$?\"")).unwrap();
    assert_eq!(out.stdout, "rc=1\n");
}

#[test]
fn flooding_both_pipes_does_not_deadlock() {
    let start = Instant::now();
    let out = run(CommandSpec::shell(
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; head -c 2000000 /dev/zero | tr '\\0' o",
    )
    .timeout(Duration::from_secs(30)))
    .unwrap();
    assert_eq!(out.stderr.len(), 1_000_000);
    assert_eq!(out.stdout.len(), 2_000_000);
    assert!(out.stderr.bytes().all(|b| b == b'e'));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn invalid_utf8_output_is_replaced_not_fatal() {
    let out = run(CommandSpec::shell("printf 'a\\377b'")).unwrap();
    assert_eq!(out.stdout, "a\u{fffd}b");
}
