//! Unified diffs of file contents, as batou shows them: no file names in the
//! headers (bare `---` / `+++`), three lines of context.

use similar::TextDiff;

/// The lines of a unified diff from `old` to `new`; empty if they are equal.
///
/// ```
/// let lines = batou_core::diff::unified("a\nb\n", "a\nc\n");
/// assert_eq!(lines, ["---", "+++", "@@ -1,2 +1,2 @@", " a", "-b", "+c"]);
/// ```
pub fn unified(old: &str, new: &str) -> Vec<String> {
    if old == new {
        return Vec::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header("", "")
        .to_string();
    text.lines()
        .map(|l| l.trim_end_matches(['\r', ' ']).to_string())
        .map(|l| match l.as_str() {
            "---" | "+++" => l,
            _ if l.starts_with("\\ No newline") => l,
            _ => l,
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_file_diffs_against_empty() {
        assert_eq!(
            unified("", "hello\n"),
            ["---", "+++", "@@ -0,0 +1 @@", "+hello"]
        );
    }

    #[test]
    fn equal_is_empty() {
        assert!(unified("x\n", "x\n").is_empty());
    }
}
