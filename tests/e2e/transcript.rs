//! The transcript's shape (reference §7.2), pinned by snapshots of small
//! fixed environments. Timings, the version line and the project path
//! are redacted. Review changes with `cargo insta review`, or accept them
//! with `INSTA_UPDATE=always cargo test -p batou-tests`.

use super::support::{LOCAL, Outcome, Project, redact};

/// Both streams and the exit code, redacted.
fn transcript(p: &Project, o: &Outcome) -> String {
    format!(
        "$ batou {}\nexit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.args.join(" "),
        o.code.map_or("signal".to_string(), |c| c.to_string()),
        redact(&o.stdout, p.path()),
        redact(&o.stderr, p.path()),
    )
}

fn small() -> Project {
    Project::new().env(
        "small",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = requirer, provider, hello, !featured\n!elsewhere = typed\n\
             [component:provider]\nvalue = 42\n\
             [component:hello]\ntext = Hello from {{{{ host.name }}}}\n"
        ),
    )
}

#[test]
fn first_deploy() {
    let p = small();
    let o = p.run(&["deploy", "small"]).success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn second_deploy() {
    let p = small();
    p.run(&["deploy", "small"]).success();
    let o = p.run(&["deploy", "small"]).success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn predict() {
    let p = small();
    p.run(&["deploy", "small"]).success();
    p.write(
        "environments/small.cfg",
        &p.read("environments/small.cfg")
            .replace("value = 42", "value = 43"),
    );
    let o = p.run(&["deploy", "-P", "small"]).success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn consistency_check() {
    let p = small();
    let o = p.run(&["deploy", "-c", "small"]).success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn configuration_errors() {
    let p = Project::new().env(
        "broken",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = typed, hello\n\
             [component:typed]\nport = 70000\nflavour = mint\naddress = db.internal\n\
             [component:hello]\ntext = {{{{ nope }}}}\n"
        ),
    );
    let o = p.run(&["deploy", "broken"]).code(3);
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn load_errors() {
    let p = Project::new().env(
        "broken",
        &format!("{LOCAL}jobs = -1\n[hosts]\nlocalhost = hello\n[hosts2]\n"),
    );
    let o = p.run(&["deploy", "broken"]).code(3);
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn deploy_failure() {
    let p = Project::new().env(
        "failing",
        &format!("{LOCAL}[hosts]\nlocalhost = hello, failing, featured\n"),
    );
    let o = p.run(&["deploy", "failing"]).code(1);
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn singular_and_plural_summaries() {
    let p = Project::new().env("one", &format!("{LOCAL}[hosts]\nlocalhost = hello\n"));
    p.run(&["deploy", "-P", "one"])
        .success()
        .stdout_contains("\n1 component would change.\n");
    p.run(&["deploy", "one"])
        .success()
        .stdout_contains("\n1 component changed.\n");
}

#[test]
fn sections_are_80_columns_wide() {
    let o = Project::example().run(&["deploy", "-c", "local"]).success();
    let sections: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("==")).collect();
    assert!(sections.len() >= 4, "{}", o.stdout);
    for s in sections {
        assert_eq!(s.chars().count(), 80, "{s:?}");
        assert!(s.ends_with('='), "{s:?}");
    }
}

#[test]
fn columns_sets_the_width() {
    let p = Project::example();
    let o = p
        .run_with(&["deploy", "-c", "local"], &[("COLUMNS", "60")])
        .success();
    let first = o.stdout.lines().find(|l| l.starts_with("==")).unwrap();
    assert_eq!(first.chars().count(), 60, "{first:?}");
}

#[test]
fn no_color_means_no_escape_codes() {
    let p = Project::example();
    let o = p.run(&["deploy", "local"]).success();
    assert!(!o.stdout.contains('\u{1b}'), "{}", o.stdout);
    let o = p.run(&["deploy", "nope"]).code(3);
    assert!(!o.stderr.contains('\u{1b}'), "{}", o.stderr);
}

#[test]
fn local_consistency_check() {
    let p = small();
    let o = p.run(&["deploy", "-c", "-L", "small"]).success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn narrowed_deploy() {
    let p = small();
    let o = p
        .run(&["deploy", "--skip-components", "hello", "small"])
        .success();
    insta::assert_snapshot!(transcript(&p, &o));
}

#[test]
fn unknown_names_in_narrowing() {
    let p = small();
    let o = p
        .run(&[
            "deploy",
            "--hosts",
            "nowhere",
            "--components",
            "nothing",
            "small",
        ])
        .code(2);
    insta::assert_snapshot!(transcript(&p, &o));
}
