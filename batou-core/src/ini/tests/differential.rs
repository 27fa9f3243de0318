//! Every file in `corpus/` must parse exactly as Python parses it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::python::{python_render, render};
use crate::ini::parse;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ini/corpus");

fn corpus_files() -> Vec<PathBuf> {
    let entries = std::fs::read_dir(CORPUS)
        .unwrap_or_else(|e| panic!("cannot read the INI corpus at {CORPUS}: {e}"));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ini"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_matches_python() {
    let files = corpus_files();
    assert!(
        files.len() >= 40,
        "expected at least 40 corpus files in {CORPUS}, found {}",
        files.len()
    );
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let expected = python_render(&paths);

    let mut mismatches = Vec::new();
    let mut python_outcomes = BTreeSet::new();
    for (path, want) in files.iter().zip(&expected) {
        let bytes = std::fs::read(path).expect("readable corpus file");
        let source = String::from_utf8(bytes).expect("corpus files are UTF-8");
        let got = render(&parse(&source));
        if &got != want {
            mismatches.push(format!(
                "{}:\n  python: {want}\n  rust:   {got}",
                path.display()
            ));
        }
        let outcome = match want.strip_prefix("{\"error\": \"") {
            Some(rest) => rest.split('"').next().unwrap_or("").to_owned(),
            None => "ok".to_owned(),
        };
        python_outcomes.insert(outcome);
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} corpus files differ from Python:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
    // Guard against the corpus losing its error cases.
    let wanted = [
        "ok",
        "ParsingError",
        "MissingSectionHeaderError",
        "DuplicateSectionError",
        "DuplicateOptionError",
    ];
    for outcome in wanted {
        assert!(
            python_outcomes.contains(outcome),
            "no corpus file produces {outcome} in Python (saw {python_outcomes:?})"
        );
    }
}
