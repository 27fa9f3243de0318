//! Long diffs are cut as batou cuts them; no diff is ever written to disk.

use super::*;
use crate::stdlib::File;

fn logs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_diff_of_more_than_200_lines_shows_the_first_and_last_50() {
    let s = Stage::new(|_, ctx| {
        let text: String = (0..300).map(|i| format!("line {i}\n")).collect();
        ctx.add(File::new("long").content(text))?;
        Ok(())
    });
    let (_, events) = s.deploy();
    let shown = diffs(&events);
    let lines = &shown[0].1;
    assert_eq!(lines.len(), 101);
    assert_eq!(lines[..3], ["---", "+++", "@@ -0,0 +1,300 @@"]);
    assert_eq!(lines[49], "+line 46");
    assert_eq!(lines[50], "...");
    assert_eq!(lines[51], "+line 250");
    assert_eq!(lines[100], "+line 299");
    let logs = logs(&events);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(
        logs[0],
        "More than 200 lines of diff. Showing first and last 50 lines."
    );
    // How to see the rest: the whole diff is nowhere on disk.
    assert!(
        logs[1].starts_with("All 303 lines: run with --full-diff="),
        "{}",
        logs[1]
    );
    // The whole file was written all the same.
    assert_eq!(s.read("long").lines().count(), 300);
}

#[test]
fn a_short_diff_has_no_note() {
    let s = Stage::new(|_, ctx| {
        let text: String = (0..197).map(|i| format!("{i}\n")).collect();
        ctx.add(File::new("short").content(text))?;
        Ok(())
    });
    let (_, events) = s.deploy();
    assert_eq!(diffs(&events)[0].1.len(), 200);
    assert!(logs(&events).is_empty(), "{:?}", logs(&events));
}

#[test]
fn no_diff_is_written_anywhere() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            File::new("secret")
                .content("token hunter2\n")
                .sensitive(true),
        )?;
        ctx.add(File::new("plain").content("plain\n"))?;
        Ok(())
    });
    std::fs::write(s.prepare().join("secret"), "token old\n").unwrap();
    let (_, events) = s.deploy();
    assert_eq!(hidden(&events).len(), 1);
    assert_eq!(diffs(&events).len(), 1);
    // batou keeps every diff in work/.batou-diffs; we keep none: the only
    // files in the project are the two deployed ones (and what the
    // project brought).
    let mut found = Vec::new();
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    walk(s.project.path(), &mut found);
    let with_diff: Vec<_> = found
        .iter()
        .filter(|p| {
            p.to_string_lossy().contains("batou-diffs")
                || std::fs::read_to_string(p).is_ok_and(|t| t.contains("-token old"))
        })
        .collect();
    assert!(with_diff.is_empty(), "{with_diff:?}");
}
