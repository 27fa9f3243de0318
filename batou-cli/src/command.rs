//! `batou run`: the flags become an [`ops::RunPlan`], [`ops::run`] runs
//! it, and the hosts' answers are printed as a table (or, with many
//! fields, host by host) or passed through as JSON.

use std::path::Path;

use batou_core::Registry;
use batou_core::ops::{self, CommandOutcome, HostAnswer, Rejected, RunFailure, RunPlan, RunReport};
use batou_core::secrets::{Keys, Masker};
use serde_json::Value;

use crate::args::RunArgs;
use crate::exit::ExitStatus;
use crate::guard;

/// Up to this many value columns the answers are a table; more are
/// listed host by host.
const MAX_COLUMNS: usize = 6;

/// A cell longer than this is cut short in the table.
const MAX_CELL: usize = 60;

/// `batou run`.
pub fn run(registry: &Registry, project_dir: &Path, opts: &RunArgs) -> ExitStatus {
    if opts.list_hosts {
        return crate::exec::list_hosts(
            project_dir,
            &opts.environment,
            &opts.select.hosts,
            &opts.select.skip_hosts,
            false,
        );
    }
    let Some(name) = opts.name.clone() else {
        guard::err("ERROR: which command? (batou run ENV NAME [ARGS...])");
        return ExitStatus::Usage;
    };
    let plan = RunPlan {
        project_dir: project_dir.to_path_buf(),
        environment: batou_core::environment::environment_name(&opts.environment),
        hosts: opts.select.hosts.clone(),
        skip_hosts: opts.select.skip_hosts.clone(),
        command: name,
        args: opts.args.clone(),
        jobs: opts.jobs.map(|j| j as usize),
        connect_timeout: opts.connect_timeout,
        lock: opts.lock,
    };
    let mut loading = crate::exec::Loading {
        masker: Masker::default(),
    };
    match ops::run(registry, &plan, &mut Keys::new(), &mut loading, &|_| {}) {
        Ok(report) => {
            let status = status_of(&report);
            if opts.json {
                render_json(&report, status);
            } else {
                guard::out_raw(&render_text(&report));
            }
            summary(&report);
            status
        }
        Err(RunFailure::Config(errors)) => crate::inspect::rejected(
            project_dir,
            false,
            Rejected {
                errors,
                masker: loading.masker,
            },
        ),
        Err(e @ (RunFailure::Hosts(_) | RunFailure::UnknownCommand { .. })) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Usage
        }
        Err(RunFailure::Setup(e)) => crate::exec::setup_failed(&e),
    }
}

/// 130 after Ctrl-C; 0 when every host answered; 7 when the command
/// failed on a host; else 5 when a host's deploy lock was held (`--lock`);
/// else 4 when a host could not be reached.
fn status_of(report: &RunReport) -> ExitStatus {
    let any =
        |pred: &dyn Fn(&CommandOutcome) -> bool| report.hosts.iter().any(|a| pred(&a.outcome));
    if any(&|o| matches!(o, CommandOutcome::Interrupted)) {
        ExitStatus::Interrupted
    } else if any(&|o| matches!(o, CommandOutcome::Failed { .. })) {
        ExitStatus::CommandFailed
    } else if any(&|o| matches!(o, CommandOutcome::Locked { .. })) {
        ExitStatus::Locked
    } else if any(&|o| matches!(o, CommandOutcome::Unreachable { .. })) {
        ExitStatus::Connection
    } else {
        ExitStatus::Success
    }
}

fn result_word(outcome: &CommandOutcome) -> &'static str {
    match outcome {
        CommandOutcome::Ok { .. } => "ok",
        CommandOutcome::Failed { .. } => "failed",
        CommandOutcome::Unreachable { .. } => "unreachable",
        CommandOutcome::Locked { .. } => "locked",
        CommandOutcome::Interrupted => "interrupted",
    }
}

fn render_json(report: &RunReport, status: ExitStatus) {
    let names = |pred: &dyn Fn(&CommandOutcome) -> bool| -> Vec<&str> {
        report
            .hosts
            .iter()
            .filter(|a| pred(&a.outcome))
            .map(|a| a.host.as_str())
            .collect()
    };
    let value = serde_json::json!({
        "command": report.command,
        "args": report.args,
        "hosts": report.hosts,
        "summary": {
            "ok": names(&|o| o.ok()),
            "failed": names(&|o| matches!(o, CommandOutcome::Failed { .. })),
            "unreachable": names(&|o| matches!(o, CommandOutcome::Unreachable { .. })),
            "locked": names(&|o| matches!(o, CommandOutcome::Locked { .. })),
            "interrupted": names(&|o| matches!(o, CommandOutcome::Interrupted)),
            "ignored": report.ignored,
            "exit_code": status.code(),
            "status": status.name(),
        }
    });
    match guard::json_line(&value) {
        Some(line) => guard::out(&line),
        None => guard::err("ERROR: cannot render the result as JSON"),
    }
}

/// The answers as text: a table `HOST RESULT SECONDS <fields...>`, the
/// fields being an object answer's keys (nested ones joined with `.`) or
/// `VALUE`; with more than [`MAX_COLUMNS`] fields, `=== host` blocks of
/// `field: value` lines.
pub(crate) fn render_text(report: &RunReport) -> String {
    let rows: Vec<(&HostAnswer, Vec<(String, String)>)> = report
        .hosts
        .iter()
        .map(|a| {
            let fields = match &a.outcome {
                CommandOutcome::Ok { value } => {
                    let mut out = Vec::new();
                    flatten("", value, &mut out);
                    out
                }
                _ => Vec::new(),
            };
            (a, fields)
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for (_, fields) in &rows {
        for (k, _) in fields {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut out = String::new();
    if columns.len() > MAX_COLUMNS {
        for (a, fields) in &rows {
            out.push_str(&format!(
                "=== {}: {} ({:.2}s)\n",
                a.host,
                result_word(&a.outcome),
                a.seconds
            ));
            for (k, v) in fields {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
        return out;
    }
    let mut table: Vec<Vec<String>> = vec![
        ["HOST", "RESULT", "SECONDS"]
            .iter()
            .map(|s| s.to_string())
            .chain(columns.iter().map(|c| c.to_uppercase()))
            .collect(),
    ];
    for (a, fields) in &rows {
        let mut row = vec![
            a.host.clone(),
            result_word(&a.outcome).to_string(),
            format!("{:.2}", a.seconds),
        ];
        for c in &columns {
            let v = fields
                .iter()
                .find(|(k, _)| k == c)
                .map_or("-", |(_, v)| v.as_str());
            row.push(cut(v));
        }
        table.push(row);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `value` as `(field, text)` pairs: an object's keys (nested objects
/// joined with `.`), anything else one `value` field. Text from hosts has
/// its control characters escaped.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            let key = if prefix.is_empty() { "value" } else { prefix };
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            out.push((escape(key), escape(&text)));
        }
    }
}

/// Control characters (a hostile host's terminal escapes) shown escaped.
fn escape(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_string()
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() > MAX_CELL {
        let mut s: String = text.chars().take(MAX_CELL - 3).collect();
        s.push_str("...");
        s
    } else {
        text.to_string()
    }
}

/// One line on stderr: how many hosts answered, naming the others, and
/// each one's error.
fn summary(report: &RunReport) {
    let ok = report.hosts.iter().filter(|a| a.outcome.ok()).count();
    let mut bad = Vec::new();
    for a in report.hosts.iter().filter(|a| !a.outcome.ok()) {
        bad.push(format!("{} ({})", a.host, result_word(&a.outcome)));
        match &a.outcome {
            CommandOutcome::Failed { error, .. }
            | CommandOutcome::Unreachable { error }
            | CommandOutcome::Locked { error } => {
                guard::err(&format!("ERROR: {}: {error}", a.host));
            }
            _ => {}
        }
    }
    let mut line = format!(
        "run {}: {ok} of {} hosts answered",
        report.command,
        report.hosts.len()
    );
    if !bad.is_empty() {
        line.push_str(&format!("; not ok: {}", bad.join(", ")));
    }
    if !report.ignored.is_empty() {
        line.push_str(&format!("; ignored: {}", report.ignored.join(", ")));
    }
    guard::err(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(host: &str, outcome: CommandOutcome) -> HostAnswer {
        HostAnswer {
            host: host.into(),
            user: None,
            outcome,
            seconds: 0.5,
        }
    }

    #[test]
    fn object_answers_are_a_table_with_their_keys_as_columns() {
        let report = RunReport {
            command: "disk".into(),
            args: vec![],
            hosts: vec![
                answer(
                    "h1",
                    CommandOutcome::Ok {
                        value: serde_json::json!({"used": 10, "fs": {"type": "ext4"}}),
                    },
                ),
                answer(
                    "h2",
                    CommandOutcome::Unreachable {
                        error: "down".into(),
                    },
                ),
            ],
            ignored: vec![],
        };
        assert_eq!(
            render_text(&report),
            "HOST  RESULT       SECONDS  USED  FS.TYPE\n\
             h1    ok           0.50     10    ext4\n\
             h2    unreachable  0.50     -     -\n"
        );
    }

    #[test]
    fn control_characters_from_a_host_are_escaped() {
        let report = RunReport {
            command: "x".into(),
            args: vec![],
            hosts: vec![answer(
                "h1",
                CommandOutcome::Ok {
                    value: serde_json::json!("\u{1b}[31mred"),
                },
            )],
            ignored: vec![],
        };
        let text = render_text(&report);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
    }
}
