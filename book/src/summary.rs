//! Every page in `docs/` is a chapter of the book: mdbook builds only what
//! `docs/SUMMARY.md` lists, so a page missing from it would be compiled
//! as a doc test here but never shown to a reader.

use std::path::{Path, PathBuf};

fn pages(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            pages(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

#[test]
fn every_page_in_docs_is_in_the_summary() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).expect("docs/SUMMARY.md");
    let mut all = Vec::new();
    pages(&docs, &mut all);
    assert!(all.len() > 10, "docs/ has only {} pages", all.len());
    let missing: Vec<String> = all
        .iter()
        .map(|p| {
            p.strip_prefix(&docs)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|rel| rel != "SUMMARY.md" && !summary.contains(&format!("]({rel})")))
        .collect();
    assert!(
        missing.is_empty(),
        "pages in docs/ that docs/SUMMARY.md does not list (add a line for each): {missing:?}"
    );
}
