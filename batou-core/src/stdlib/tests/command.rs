//! `Command` with its guards.

use super::*;
use crate::error::Error;
use crate::host::CommandErrorKind;
use crate::stdlib::Command;
use crate::testutil::needing_update;

/// Lines of `rel` in the workdir (each run appends one).
fn runs(s: &Stage, rel: &str) -> Vec<String> {
    match std::fs::read_to_string(s.path(rel)) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn without_guards_it_runs_every_time_in_the_workdir() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo ran >> log"))?;
        Ok(())
    });
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(
        needing_update(&events),
        ["Scene > Command('echo ran >> log')"]
    );
    s.deploy();
    assert_eq!(runs(&s, "log"), ["ran", "ran"]);
}

#[test]
fn unless_skips_when_the_guard_succeeds() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo ran >> log; touch done").unless("test -f done"))?;
        Ok(())
    });
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(runs(&s, "log"), ["ran"]);
}

#[test]
fn onlyif_runs_only_when_the_guard_succeeds() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo ran >> log").onlyif("test -f go"))?;
        Ok(())
    });
    assert_eq!(s.deploy().0.changed, 0);
    assert!(runs(&s, "log").is_empty());
    std::fs::write(s.path("go"), "").unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(runs(&s, "log"), ["ran"]);
}

#[test]
fn a_failure_is_reported_with_exit_code_and_stderr() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo doing; echo 'it broke' >&2; exit 3"))?;
        Ok(())
    });
    let (result, _) = s.run(false);
    let err = result.unwrap_err();
    assert_eq!(err.host, "localhost");
    assert_eq!(
        err.component,
        "Scene > Command('echo doing; echo 'it broke' >&2; exit 3')"
    );
    match &err.source {
        Error::Command(c) => match &c.kind {
            CommandErrorKind::Failed { code, stderr, .. } => {
                assert_eq!(*code, 3);
                assert_eq!(stderr, "it broke\n");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("return code 3"), "{text}");
    assert!(text.contains("it broke"), "{text}");
}

#[test]
fn command_lines_and_guards_are_template_expanded() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            Command::new("echo {{ component.greeting }} {{ host.name }} >> out")
                .unless("grep -q {{ component.port }} out"),
        )?;
        ctx.add(Command::new("echo '{{ literal }}' > raw").raw())?;
        Ok(())
    });
    let (_, events) = s.deploy();
    assert_eq!(runs(&s, "out"), ["hello localhost"]);
    assert_eq!(runs(&s, "raw"), ["{{ literal }}"]);
    // Breadcrumbs show the line as written (an expanded line could hold a
    // secret).
    assert!(
        needing_update(&events).contains(
            &"Scene > Command('echo {{ component.greeting }} {{ host.name }} >> out')".into()
        ),
        "{events:#?}"
    );
    // The guard sees the expanded port: 8080 is not in `out`, so it ran.
    assert_eq!(s.deploy().0.changed, 2);
    assert_eq!(runs(&s, "out"), ["hello localhost", "hello localhost"]);
}

#[test]
fn a_failing_expansion_is_a_configuration_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo {{ nope }}"))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("configure fails");
    assert!(
        matches!(
            &errors[..],
            [ConfigError::Component {
                source: Error::Template(_),
                ..
            }]
        ),
        "{errors:?}"
    );
}

#[test]
fn env_cwd_and_timeout() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Directory::new("sub"))?;
        ctx.add(
            Command::new("echo \"$WHO\" > here")
                .env("WHO", "me")
                .cwd("sub"),
        )?;
        ctx.add(Command::new("sleep 30").timeout(std::time::Duration::from_millis(200)))?;
        Ok(())
    });
    let start = std::time::Instant::now();
    let (result, _) = s.run(false);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let err = result.unwrap_err();
    assert!(
        matches!(&err.source, Error::Command(c) if matches!(c.kind, CommandErrorKind::Timeout(_))),
        "{err:?}"
    );
    assert_eq!(runs(&s, "sub/here"), ["me"]);
}

use crate::stdlib::Directory;

#[test]
fn predicting_runs_the_guard_but_not_the_command() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Command::new("echo ran >> log").unless("echo guard >> guards; test -f done"))?;
        Ok(())
    });
    s.prepare();
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(
        needing_update(&events),
        ["Scene > Command('echo ran >> log')"]
    );
    assert!(
        runs(&s, "log").is_empty(),
        "the command ran while predicting"
    );
    assert_eq!(runs(&s, "guards"), ["guard"]);
    // A passing guard predicts no change.
    std::fs::write(s.path("done"), "").unwrap();
    assert_eq!(s.predict().0.changed, 0);
    assert!(runs(&s, "log").is_empty());
}
