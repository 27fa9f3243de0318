//! `batou history ENV`: the flags become an [`ops::HistoryPlan`],
//! [`ops::history`] reads the journals, and the deploys are printed one a
//! row with each host's outcome in its own column (or as JSON).

use std::collections::BTreeMap;
use std::path::Path;

use batou_core::Registry;
use batou_core::history::Record;
use batou_core::ops::{self, HistoryPlan, HistoryReport};
use batou_core::remote::protocol::format_epoch;
use batou_core::secrets::{Keys, Masker};

use crate::args::HistoryArgs;
use crate::exec::{Loading, failed};
use crate::exit::ExitStatus;
use crate::guard;

/// `batou history`.
pub fn run(registry: &Registry, project_dir: &Path, opts: &HistoryArgs) -> ExitStatus {
    let plan = HistoryPlan {
        project_dir: project_dir.to_path_buf(),
        environment: batou_core::environment::environment_name(&opts.environment),
        hosts: opts.select.hosts.clone(),
        skip_hosts: opts.select.skip_hosts.clone(),
        connect_timeout: opts.connect_timeout,
    };
    let mut loading = Loading {
        masker: Masker::default(),
    };
    match ops::history(registry, &plan, &mut Keys::new(), &mut loading) {
        Ok(report) => {
            let status = status_of(&report);
            if opts.json {
                render_json(&report, status);
            } else {
                guard::out_raw(&table(&report));
            }
            for h in &report.hosts {
                if let Some(error) = &h.error {
                    guard::err(&format!("ERROR: {}: {error}", h.host));
                }
                for problem in &h.problems {
                    guard::err(&format!("WARN: {}: journal {problem}", h.host));
                }
            }
            status
        }
        Err(failure) => failed(project_dir, loading, failure),
    }
}

/// 0 when every selected host's journal was read; 130 after Ctrl-C; else
/// 4 (a host could not be reached or its journal not read; the others
/// are shown).
fn status_of(report: &HistoryReport) -> ExitStatus {
    let errors: Vec<&str> = report
        .hosts
        .iter()
        .filter_map(|h| h.error.as_deref())
        .collect();
    if errors.contains(&"interrupted") {
        ExitStatus::Interrupted
    } else if !errors.is_empty() {
        ExitStatus::Connection
    } else {
        ExitStatus::Success
    }
}

fn render_json(report: &HistoryReport, status: ExitStatus) {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("exit_code".into(), status.code().into());
        map.insert("status".into(), status.name().into());
    }
    match guard::json_line(&value) {
        Some(line) => guard::out(&line),
        None => guard::err("ERROR: cannot render the history as JSON"),
    }
}

/// One row per deploy (oldest first), one outcome column per host.
fn table(report: &HistoryReport) -> String {
    // A deploy by its id; its first record found says when and by whom.
    let mut deploys: BTreeMap<(u64, &str), &Record> = BTreeMap::new();
    for record in report.hosts.iter().flat_map(|h| &h.records) {
        deploys
            .entry((record.started, &record.id))
            .or_insert(record);
    }
    let mut rows = vec![
        ["DEPLOY", "STARTED", "BY", "COMMIT"]
            .map(String::from)
            .into_iter()
            .chain(report.hosts.iter().map(|h| h.host.clone()))
            .collect::<Vec<_>>(),
    ];
    for ((_, id), first) in &deploys {
        let commit = match (&first.commit, first.dirty) {
            (Some(c), Some(true)) => format!("{}+dirty", short(c)),
            (Some(c), _) => short(c).to_string(),
            (None, _) => "-".into(),
        };
        let mut row = vec![
            id.to_string(),
            format_epoch(first.started),
            first.controller.clone(),
            commit,
        ];
        for h in &report.hosts {
            row.push(match h.records.iter().find(|r| r.id == *id) {
                Some(r) => cell(r),
                None if h.error.is_some() => "?".into(),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, text) in row.iter().enumerate() {
            line.push_str(&format!("{text:<width$}  ", width = widths[c]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if deploys.is_empty() {
        out.push_str("(no deploys recorded)\n");
    }
    out
}

/// `ok (3 changed)`; an open record (its agent never closed it) says so.
fn cell(r: &Record) -> String {
    let mut text = format!("{} ({} changed)", r.outcome.word(), r.changed_count);
    if r.ended.is_none() {
        text.push_str(" unfinished");
    }
    text
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}
