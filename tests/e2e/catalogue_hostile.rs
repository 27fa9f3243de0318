//! The bad-input catalogue, second table: hostile components and hostile
//! targets (#15). Each row is a deploy of the `evil` fixture (whose
//! `secret` comes from encrypted secrets) or of a target holding hostile
//! content, and states the exit code, the message and where it points.
//! Every row also holds to the rules of the first table where they apply
//! (no secret in any form in the output, no raw control character from a
//! target on the terminal) and to its own check of what must (not) have
//! happened on the target.
//!
//! Rows run in one test so the table reads as one catalogue; a failure
//! lists every failing row.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use super::secrets::{encrypt, identity};
use super::support::{Outcome, Project};

/// Secret of every row: letters in both cases, so that `| upper` and
/// `| reverse` differ from it.
const SECRET: &str = "catalogueSecret-Qw7z";

/// What a row checks beyond exit code, message and location: `None` when
/// it holds, else what is wrong.
type Check = Box<dyn Fn(&Project, &Outcome) -> Option<String>>;

struct Row {
    name: &'static str,
    project: Project,
    args: Vec<&'static str>,
    code: i32,
    message: &'static str,
    location: Vec<String>,
    check: Check,
}

/// The `evil` component (`case`, with `more` attribute lines) on
/// localhost, its secret encrypted.
fn evil(case: &str, more: &str) -> Project {
    let p = Project::new();
    p.write(
        "environments/sec/environment.cfg",
        &format!(
            "[environment]\nconnect_method = local\n[hosts]\nlocalhost = evil\n\n\
             [component:evil]\ncase = {case}\n{more}"
        ),
    );
    encrypt(&p, &format!("[evil]\nsecret = {SECRET}\n"));
    p
}

fn ok() -> Check {
    Box::new(|_, _| None)
}

fn mode(p: &Project, path: &str) -> u32 {
    std::fs::metadata(p.path().join(path))
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0)
}

/// The last two JSON lines are an `error` and a summary with `status`.
fn json_ends_with_error_and(status: &'static str) -> Check {
    Box::new(move |_, o| {
        let lines: Vec<Value> = o
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let n = lines.len();
        if n < 2 || lines[n - 2]["event"] != "error" || lines[n - 1]["status"] != status {
            return Some(format!(
                "the stream does not end with an error and a {status} summary"
            ));
        }
        None
    })
}

fn rows() -> Vec<Row> {
    let target_file = |p: Project, content: &str| {
        std::fs::create_dir_all(p.path().join("work/evil")).unwrap();
        std::fs::write(p.path().join("work/evil/plain.txt"), content).unwrap();
        p
    };
    let escapes = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[8mhidden\r\u{9b}31m\n";
    vec![
        Row {
            name: "failing_command_with_a_secret",
            project: evil("command", ""),
            args: vec!["deploy", "sec"],
            code: 1,
            message: "return code 3",
            location: vec![
                "host: localhost, component: Evil > Command('echo ********; exit 3')".into(),
            ],
            check: ok(),
        },
        Row {
            name: "failing_command_with_a_secret_json",
            project: evil("command", ""),
            args: vec!["deploy", "--json", "sec"],
            code: 1,
            message: "\"component\":\"Evil > Command('echo ********; exit 3')\"",
            location: vec!["\"host\":\"localhost\"".into()],
            check: json_ends_with_error_and("deploy_failed"),
        },
        Row {
            name: "panic_with_a_secret_in_configure",
            project: evil("panic-configure", ""),
            args: vec!["deploy", "sec"],
            code: 70,
            message: "evil panic in configure: ********",
            location: vec!["This is a bug in batou".into()],
            check: ok(),
        },
        Row {
            name: "panic_with_a_secret_in_verify",
            project: evil("panic-verify", ""),
            args: vec!["deploy", "sec"],
            code: 70,
            message: "evil panic in verify: ********",
            location: vec!["tests/fixtures/evil.rs".into()],
            check: ok(),
        },
        Row {
            name: "json_after_a_panic",
            project: evil("panic-update", ""),
            args: vec!["deploy", "--json", "sec"],
            code: 70,
            message: "evil panic in update: ********",
            location: vec!["\"event\":\"error\"".into()],
            check: json_ends_with_error_and("internal"),
        },
        Row {
            name: "sensitive_template_file_mode",
            project: evil("mode", ""),
            args: vec!["deploy", "sec"],
            code: 0,
            message: "Not showing diff as it contains sensitive data.",
            location: vec!["Evil > File('secret.conf') > Content('secret.conf')".into()],
            check: Box::new(|p, _| {
                let modes = (
                    mode(p, "work/evil/secret.conf"),
                    mode(p, "work/evil/explicit.conf"),
                    mode(p, "work/evil/public.conf"),
                );
                (modes != (0o600, 0o640, 0o644))
                    .then(|| format!("modes {:o} {:o} {:o}", modes.0, modes.1, modes.2))
            }),
        },
        Row {
            name: "transformed_secret_in_a_template",
            project: evil("transformed", ""),
            args: vec!["deploy", "-P", "sec"],
            code: 0,
            message: "Not showing diff as it contains sensitive data.",
            location: vec!["Evil > File('transformed.conf')".into()],
            check: ok(),
        },
        Row {
            name: "secret_in_a_path",
            project: evil("path", ""),
            args: vec!["deploy", "-P", "--json", "sec"],
            code: 0,
            message: "\"label\":\"dir-********.conf\"",
            location: vec!["File('********.conf')".into()],
            check: ok(),
        },
        Row {
            name: "hostile_old_content_with_escapes",
            project: target_file(evil("file", "text = new\n"), escapes),
            args: vec!["deploy", "-P", "sec"],
            code: 0,
            message: "-\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{1b}[8mhidden\\r",
            location: vec!["plain.txt".into()],
            check: ok(),
        },
        Row {
            name: "hostile_old_content_with_escapes_json",
            project: target_file(evil("file", "text = new\n"), escapes),
            args: vec!["deploy", "-P", "--json", "sec"],
            code: 0,
            message: "\\u001b]0;owned\\u0007",
            location: vec!["\"label\":\"plain.txt\"".into()],
            check: ok(),
        },
        Row {
            name: "a_tree_in_the_way_of_a_file",
            project: {
                let p = evil("file", "");
                std::fs::create_dir_all(p.path().join("work/evil/plain.txt/keep")).unwrap();
                p
            },
            args: vec!["deploy", "sec"],
            code: 1,
            message: "is a directory holding 1 entry; refusing to replace it with a file",
            location: vec![
                "work/evil/plain.txt".into(),
                "component: Evil > File('plain.txt')".into(),
            ],
            check: Box::new(|p, _| {
                (!p.path().join("work/evil/plain.txt/keep").is_dir())
                    .then(|| "the tree was deleted".to_string())
            }),
        },
        Row {
            name: "a_foreign_symlink_in_the_workdir",
            project: {
                let p = evil("file", "");
                std::fs::create_dir_all(p.path().join("work")).unwrap();
                std::fs::create_dir_all(p.path().join("elsewhere")).unwrap();
                let link = p.path().join("work/evil");
                std::os::unix::fs::symlink(p.path().join("elsewhere"), &link).unwrap();
                std::os::unix::fs::lchown(&link, Some(54_321), None).unwrap();
                p
            },
            args: vec!["deploy", "sec"],
            code: 1,
            message: "refusing to follow the symlink evil",
            location: vec!["it belongs to uid 54321".into()],
            check: Box::new(|p, _| {
                (std::fs::read_dir(p.path().join("elsewhere"))
                    .unwrap()
                    .count()
                    > 0)
                .then(|| "written through the planted link".to_string())
            }),
        },
        Row {
            name: "a_command_timeout_past_the_clock",
            project: evil("command", "").file(
                "environments/sec/environment.cfg",
                "[environment]\nconnect_method = local\ncommand_timeout = 18446744073709551615\n\
                 [hosts]\nlocalhost = evil\n[component:evil]\ncase = command\n",
            ),
            args: vec!["deploy", "sec"],
            code: 1,
            message: "return code 3",
            location: vec!["component: Evil > Command(".into()],
            check: ok(),
        },
    ]
}

#[test]
fn hostile_component_and_target_catalogue() {
    let rows = rows();
    let mut failures = Vec::new();
    let forms = [
        SECRET.to_string(),
        SECRET.to_uppercase(),
        SECRET.chars().rev().collect(),
        SECRET[3..].to_string(),
    ];
    for row in &rows {
        let out = row
            .project
            .run_with(&row.args, &[("BATOU_AGE_IDENTITIES", &identity())]);
        let text = format!("{}\n{}", out.stderr_unwrapped(), out.stdout);
        let mut problems = Vec::new();
        if out.code != Some(row.code) {
            problems.push(format!("exit code {:?}, expected {}", out.code, row.code));
        }
        if !text.contains(row.message) {
            problems.push(format!("no message {:?}", row.message));
        }
        for needle in &row.location {
            if !text.contains(needle.as_str()) {
                problems.push(format!("no location {needle:?}"));
            }
        }
        if forms.iter().any(|f| text.contains(f.as_str())) {
            problems.push("the secret (or a form of it) is in the output".into());
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            problems.push("a raw control character reached the output".into());
        }
        if row.code != 70 && text.contains("panicked") {
            problems.push("panicked".into());
        }
        if let Some(problem) = (row.check)(&row.project, &out) {
            problems.push(problem);
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  batou-test {}\n{}",
                row.name,
                problems.join("; "),
                row.args.join(" "),
                text.lines()
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(rows.len() >= 13, "the table has {} rows", rows.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}
