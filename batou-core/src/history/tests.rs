use std::os::unix::fs::PermissionsExt;

use super::journal::{read_journal, write_record};
use super::*;

fn record(id: &str, host: &str) -> Record {
    let meta = DeployMeta {
        id: id.to_string(),
        environment: "prod".into(),
        controller: "alice@laptop".into(),
        started: 1_700_000_000,
        commit: Some("abc".into()),
        dirty: Some(false),
    };
    meta.record(host, None)
}

#[test]
fn an_open_record_is_replaced_when_closed_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/history.jsonl");
    let mut r = record("d1", "h1");
    write_record(&path, &r).unwrap();
    r.ended = Some(1_700_000_009);
    r.outcome = Outcome::Ok;
    write_record(&path, &r).unwrap();
    write_record(&path, &record("d1", "h2")).unwrap();
    let records = read_journal(&path).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0], r);
    assert_eq!(records[1].host, "h2");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["history.jsonl"], "no temporary file is left");
}

#[test]
fn the_journal_keeps_only_the_newest_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    for i in 0..MAX_RECORDS + 5 {
        write_record(&path, &record(&format!("d{i}"), "h1")).unwrap();
    }
    let records = read_journal(&path).unwrap();
    assert_eq!(records.len(), MAX_RECORDS);
    assert_eq!(records[0].id, "d5");
    assert_eq!(records.last().unwrap().id, format!("d{}", MAX_RECORDS + 4));
}

#[test]
fn the_journal_keeps_within_its_byte_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut big = record("x", "h1");
    big.roots = vec!["r".repeat(100_000)];
    for i in 0..15 {
        big.id = format!("d{i}");
        write_record(&path, &big).unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(len <= MAX_BYTES, "{len}");
    let records = read_journal(&path).unwrap();
    assert_eq!(records.last().unwrap().id, "d14");
    assert!(
        records.len() < 15 && records.len() >= 9,
        "{}",
        records.len()
    );
}

#[test]
fn a_symlinked_journal_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let path = dir.path().join("history.jsonl");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let e = write_record(&path, &record("d1", "h1")).unwrap_err();
    assert!(e.to_string().contains("it is a symlink"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn lines_that_are_not_records_are_named_and_skipped() {
    let good = serde_json::to_string(&record("d1", "h1")).unwrap();
    let (records, problems) = parse_journal(&format!("{good}\n\nnot json\n"));
    assert_eq!(records.len(), 1);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("line 3: "), "{problems:?}");
}

#[test]
fn the_recorder_writes_nothing_for_a_prediction_and_closes_what_it_opened() {
    use crate::remote::protocol::Reply;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    // Not armed (a prediction): nothing is written.
    let idle = Recorder::default();
    idle.deploying(Some("app")).unwrap();
    idle.close().unwrap();
    assert!(!path.exists());
    // Armed, a root deployed, then the agent killed: the record is open.
    let rec = Recorder::default();
    rec.arm(path.clone(), record("d1", "h1"));
    rec.deploying(Some("app")).unwrap();
    let open = read_journal(&path).unwrap();
    assert_eq!(open[0].outcome, Outcome::Interrupted);
    assert_eq!(open[0].ended, None);
    assert_eq!(open[0].roots, ["app"]);
    rec.observe(&Reply::Failed {
        id: 0,
        error: crate::remote::protocol::WireError {
            message: "boom".into(),
            origin: None,
            host: None,
            component: None,
            hint: None,
            panicked: false,
        },
    });
    rec.close().unwrap();
    let closed = read_journal(&path).unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].outcome, Outcome::Failed);
    assert!(closed[0].ended.is_some());
}
