//! Turns every page of the book (`../docs/**/*.md`) into a doc comment of
//! an empty module, so that `cargo test --doc` compiles (and runs) every
//! ```rust block of the book. Two of mdBook's own rules are applied first,
//! the way `mdbook build` applies them, so the tested text is the shown
//! text: `{{#include FILE}}` / `{{#include FILE:ANCHOR}}` (on a line of
//! their own, the only way the book uses them) are replaced by
//! the file (or the lines between `ANCHOR: name` and `ANCHOR_END: name`),
//! and a fence without a language, which rustdoc would take for Rust and
//! mdBook shows as plain text, is marked `text`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let docs = manifest.join("../docs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed={}", docs.display());

    let mut pages = Vec::new();
    collect(&docs, &mut pages);
    pages.sort();

    let mut modules = String::new();
    for page in &pages {
        let rel = page.strip_prefix(&docs).expect("below docs/");
        let text = std::fs::read_to_string(page)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
        let text = label_bare_fences(&expand_includes(&text, page));
        let name = module_name(rel);
        let generated = out.join(format!("{name}.md"));
        std::fs::write(&generated, text).expect("write to OUT_DIR");
        writeln!(
            modules,
            "#[doc = include_str!({:?})]\npub mod {name} {{}}",
            generated.display().to_string()
        )
        .unwrap();
    }
    std::fs::write(out.join("pages.rs"), modules).expect("write to OUT_DIR");
}

fn collect(dir: &Path, pages: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, pages);
        } else if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
}

/// `stdlib/files.md` → `stdlib_files` (a valid, unique identifier).
fn module_name(rel: &Path) -> String {
    let stem = rel.with_extension("");
    let mut name: String = stem
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    format!("page_{name}")
}

/// mdBook's `{{#include path}}` and `{{#include path:anchor}}`, relative
/// to the page. Anchor marker lines are never part of the result.
fn expand_includes(text: &str, page: &Path) -> String {
    let mut result = String::new();
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let Some(spec) = trimmed
            .strip_prefix("{{#include ")
            .and_then(|s| s.strip_suffix("}}"))
        else {
            result.push_str(line);
            continue;
        };
        let spec = spec.trim();
        let (file, anchor) = match spec.rsplit_once(':') {
            Some((f, a)) if !a.contains('/') => (f, Some(a)),
            _ => (spec, None),
        };
        let path = page.parent().expect("a page is in a directory").join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let included = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {{{{#include {spec}}}}}: {}: {e}",
                page.display(),
                path.display()
            )
        });
        let mut inside = anchor.is_none();
        let mut found = anchor.is_none();
        for l in included.lines() {
            if let Some(a) = anchor {
                if marker(l, "ANCHOR:") == Some(a) {
                    inside = true;
                    found = true;
                    continue;
                }
                if marker(l, "ANCHOR_END:") == Some(a) {
                    inside = false;
                    continue;
                }
            }
            if marker(l, "ANCHOR:").is_some() || marker(l, "ANCHOR_END:").is_some() {
                continue;
            }
            if inside {
                result.push_str(l);
                result.push('\n');
            }
        }
        assert!(
            found,
            "{}: anchor {anchor:?} not found in {}",
            page.display(),
            path.display()
        );
    }
    result
}

fn marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    let at = line.find(kind)?;
    Some(line[at + kind.len()..].trim())
}

/// An opening fence without a language becomes ```text; closing fences
/// and labelled ones stay as they are.
fn label_bare_fences(text: &str) -> String {
    let mut result = String::new();
    let mut open = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let fence = trimmed.trim_start();
        if fence.starts_with("```") {
            if !open && fence.trim_start_matches('`').is_empty() {
                let indent = &trimmed[..trimmed.len() - fence.len()];
                result.push_str(indent);
                result.push_str("```text\n");
            } else {
                result.push_str(line);
            }
            open = !open;
        } else {
            result.push_str(line);
        }
    }
    result
}
