//! `batou exec` and `--list-hosts`: the flags become an
//! [`ops::ExecPlan`], [`ops::exec`] runs it, and each host's answer is
//! printed grouped (`--format`), as lines arrive (`--stream`) or as JSON.

use std::path::Path;

use batou_core::Registry;
use batou_core::event::{Event, EventSink};
use batou_core::ops::{
    self, ExecFailure, ExecPlan, ExecReport, ExecSink, HostRun, ListFailure, Observer, Outcome,
    Rejected, Step, Stream,
};
use batou_core::secrets::{Keys, Masker};

use crate::args::ExecArgs;
use crate::exit::ExitStatus;
use crate::guard;

/// The grouped view when `--format` is not given.
const DEFAULT_FORMAT: &str = "=== %h: %r (exit %s, %ts)\n%o%e";

/// `batou exec`.
pub fn run(registry: &Registry, project_dir: &Path, opts: &ExecArgs) -> ExitStatus {
    if opts.list_hosts {
        return list_hosts(
            project_dir,
            &opts.environment,
            &opts.select.hosts,
            &opts.select.skip_hosts,
            false,
        );
    }
    let plan = ExecPlan {
        project_dir: project_dir.to_path_buf(),
        environment: batou_core::environment::environment_name(&opts.environment),
        hosts: opts.select.hosts.clone(),
        skip_hosts: opts.select.skip_hosts.clone(),
        command: opts.command.clone(),
        jobs: opts.jobs.map(|j| j as usize),
        connect_timeout: opts.connect_timeout,
        command_timeout: opts.command_timeout,
        lock: opts.lock,
    };
    let printer = Printer {
        stream: opts.stream,
    };
    let mut loading = Loading {
        masker: Masker::default(),
    };
    match ops::exec(registry, &plan, &mut Keys::new(), &mut loading, &printer) {
        Ok(report) => {
            let status = status_of(&report);
            if opts.json {
                render_json(&report, status);
            } else if !opts.stream {
                let format = opts.format.as_deref().unwrap_or(DEFAULT_FORMAT);
                for run in &report.hosts {
                    let mut text = expand(format, run);
                    if opts.format.is_none() && !text.is_empty() && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    guard::out_raw(&text);
                }
            }
            summary(&report);
            status
        }
        Err(failure) => failed(project_dir, loading, failure),
    }
}

/// What `exec` and `history` print when they could not start: the
/// environment's errors, a bad selection (exit 2), or a setup error.
pub(crate) fn failed(project_dir: &Path, loading: Loading, failure: ExecFailure) -> ExitStatus {
    match failure {
        ExecFailure::Config(errors) => crate::inspect::rejected(
            project_dir,
            false,
            Rejected {
                errors,
                masker: loading.masker,
            },
        ),
        ExecFailure::Hosts(e) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Usage
        }
        ExecFailure::Setup(e) => setup_failed(&e),
    }
}

/// A setup error (no transport, a bad setting) with its hint: exit 4.
pub(crate) fn setup_failed(e: &batou_core::ops::SetupError) -> ExitStatus {
    guard::err(&format!("ERROR: {e}"));
    if let Some(hint) = e.hint() {
        guard::err(&format!("  {hint}"));
    }
    ExitStatus::Connection
}

/// 130 after Ctrl-C; 0 when every host's command exited 0; 7 when it failed on a host; else
/// 5 when a host's deploy lock was held (`--lock`); else 4 when a host
/// could not be reached.
fn status_of(report: &ExecReport) -> ExitStatus {
    let any = |pred: &dyn Fn(&Outcome) -> bool| report.hosts.iter().any(|r| pred(&r.outcome));
    if any(&|o| matches!(o, Outcome::Interrupted)) {
        ExitStatus::Interrupted
    } else if any(&|o| matches!(o, Outcome::Exited { .. } | Outcome::TimedOut { .. }) && !o.ok()) {
        ExitStatus::CommandFailed
    } else if any(&|o| matches!(o, Outcome::Locked { .. })) {
        ExitStatus::Locked
    } else if any(&|o| matches!(o, Outcome::Unreachable { .. })) {
        ExitStatus::Connection
    } else {
        ExitStatus::Success
    }
}

/// `ok`, `failed`, `timeout` or `unreachable`.
fn result_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Exited { exit_code: Some(0) } => "ok",
        Outcome::Exited { .. } => "failed",
        Outcome::TimedOut { .. } => "timeout",
        Outcome::Unreachable { .. } => "unreachable",
        Outcome::Locked { .. } => "locked",
        Outcome::Interrupted => "interrupted",
    }
}

/// `format` with `run`'s fields filled in (see `--format`).
fn expand(format: &str, run: &HostRun) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match (c, c == '%' || c == '\\') {
            (_, false) => out.push(c),
            ('%', true) => match chars.next() {
                Some('h') => out.push_str(&run.host),
                Some('u') => out.push_str(run.user.as_deref().unwrap_or("-")),
                Some('r') => out.push_str(result_word(&run.outcome)),
                Some('s') => match &run.outcome {
                    Outcome::Exited {
                        exit_code: Some(code),
                    } => out.push_str(&code.to_string()),
                    _ => out.push('-'),
                },
                Some('t') => out.push_str(&format!("{:.2}", run.seconds)),
                Some('o') => out.push_str(&run.stdout),
                Some('e') => match &run.outcome {
                    Outcome::Unreachable { error } | Outcome::Locked { error } => {
                        out.push_str(error);
                        out.push('\n');
                    }
                    _ => out.push_str(&run.stderr),
                },
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            },
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
        }
    }
    out
}

/// One line on stderr: how many hosts answered how, naming the others.
fn summary(report: &ExecReport) {
    let ok = report.hosts.iter().filter(|r| r.outcome.ok()).count();
    let mut bad = Vec::new();
    for r in report.hosts.iter().filter(|r| !r.outcome.ok()) {
        let what = match &r.outcome {
            Outcome::Exited {
                exit_code: Some(code),
            } => format!("exit {code}"),
            Outcome::Exited { exit_code: None } => "killed by a signal".into(),
            Outcome::TimedOut { seconds } => format!("timed out after {seconds}s"),
            Outcome::Unreachable { .. } => "unreachable".into(),
            Outcome::Locked { .. } => "locked".into(),
            Outcome::Interrupted => "interrupted".into(),
        };
        bad.push(format!("{} ({what})", r.host));
        if let Outcome::Unreachable { error } | Outcome::Locked { error } = &r.outcome {
            guard::err(&format!("ERROR: {}: {error}", r.host));
        }
    }
    let mut line = format!("exec: {ok} of {} hosts ok", report.hosts.len());
    if !bad.is_empty() {
        line.push_str(&format!("; not ok: {}", bad.join(", ")));
    }
    if !report.ignored.is_empty() {
        line.push_str(&format!("; ignored: {}", report.ignored.join(", ")));
    }
    guard::err(&line);
}

fn render_json(report: &ExecReport, status: ExitStatus) {
    let names = |pred: &dyn Fn(&Outcome) -> bool| -> Vec<&str> {
        report
            .hosts
            .iter()
            .filter(|r| pred(&r.outcome))
            .map(|r| r.host.as_str())
            .collect()
    };
    let value = serde_json::json!({
        "command": report.command,
        "hosts": report.hosts,
        "summary": {
            "ok": names(&|o| o.ok()),
            "failed": names(&|o| matches!(o, Outcome::Exited { .. }) && !o.ok()),
            "timed_out": names(&|o| matches!(o, Outcome::TimedOut { .. })),
            "unreachable": names(&|o| matches!(o, Outcome::Unreachable { .. })),
            "locked": names(&|o| matches!(o, Outcome::Locked { .. })),
            "interrupted": names(&|o| matches!(o, Outcome::Interrupted)),
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

/// Streams lines with `--stream`; the grouped views print at the end.
struct Printer {
    stream: bool,
}

impl ExecSink for Printer {
    fn line(&self, host: &str, stream: Stream, line: &str) {
        if self.stream {
            let mark = match stream {
                Stream::Stdout => ':',
                Stream::Stderr => '!',
            };
            guard::out(&format!("{host}{mark} {line}"));
        }
    }

    fn done(&self, _run: &HostRun) {}
}

/// Loading the environment: its warnings on stderr, its secrets masked
/// from then on.
pub(crate) struct Loading {
    pub(crate) masker: Masker,
}

impl EventSink for Loading {
    fn emit(&self, event: Event) {
        if let Event::Warning { message, .. } = event {
            guard::err(&format!("WARN: {message}"));
        }
    }
}

impl Observer for Loading {
    fn step(&mut self, step: Step<'_>) {
        if let Step::Secrets(masker) = step {
            guard::set_masker(masker);
            self.masker = masker.clone();
        }
    }
}

/// `--list-hosts` (of `deploy` and `exec`): the selected hosts, one a
/// line: the name, its tags as `@tag`, `(ignored)`.
pub fn list_hosts(
    project_dir: &Path,
    environment: &str,
    hosts: &[String],
    skip_hosts: &[String],
    color: bool,
) -> ExitStatus {
    let name = batou_core::environment::environment_name(environment);
    match ops::list_hosts(project_dir, &name, hosts, skip_hosts) {
        Ok(selected) => {
            for h in selected {
                let mut line = h.name.clone();
                for tag in &h.tags {
                    line.push_str(&format!(" @{tag}"));
                }
                if h.ignored {
                    line.push_str(" (ignored)");
                }
                guard::out(&line);
            }
            ExitStatus::Success
        }
        Err(ListFailure::Config(errors)) => crate::inspect::rejected(
            project_dir,
            color,
            Rejected {
                errors,
                masker: Masker::default(),
            },
        ),
        Err(ListFailure::Hosts(e)) => {
            guard::err(&format!("ERROR: {e}"));
            ExitStatus::Usage
        }
    }
}
