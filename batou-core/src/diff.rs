//! Unified diffs of file contents, as batou shows them: no file names in the
//! headers (bare `---` / `+++`), three lines of context, long diffs cut to
//! their first and last 50 lines ([`truncate`]).
//!
//! Diffs only ever travel as events ([`crate::event::Event::Diff`]), which
//! the CLI prints. Unlike batou we write no `work/.batou-diffs/*.diff`
//! files at all: batou writes every diff there, including the clear text of
//! diffs it hides as sensitive, which leaves secrets on disk. So a hidden
//! (sensitive) diff exists nowhere. A truncated diff's middle is shown
//! instead of filed: the roots [`FullDiff`] names (`--full-diff`) show
//! their diffs whole, and the note under a cut diff says so.

use similar::Algorithm;

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
    // similar's ready-made, non-generic entry point: TextDiff is generic
    // over its input and, used directly, instantiated all of similar's
    // algorithms here, a seventh of this crate's code to compile
    // (bench/loop, the cold build).
    let text = similar::udiff::unified_diff(Algorithm::Myers, old, new, 3, Some(("", "")));
    text.lines()
        .map(|l| l.trim_end_matches(['\r', ' ']).to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Diffs longer than this many lines are truncated.
pub const MAX_LINES: usize = 200;

/// How many lines a truncated diff keeps at its start and at its end.
pub const KEEP_LINES: usize = 50;

/// What is said under a truncated diff.
pub const TRUNCATED_NOTE: &str = "More than 200 lines of diff. Showing first and last 50 lines.";

/// Which roots show long diffs whole instead of cut (`--full-diff`).
/// Sensitive diffs stay hidden whatever this says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FullDiff {
    /// Cut every long diff (batou's behaviour).
    #[default]
    None,
    /// Show every diff whole.
    All,
    /// Show the diffs of these roots (registered component names) whole.
    Roots(Vec<String>),
}

impl FullDiff {
    /// Whether `root`'s diffs are shown whole.
    ///
    /// ```
    /// use batou_core::diff::FullDiff;
    /// assert!(FullDiff::All.covers("nginx"));
    /// assert!(FullDiff::Roots(vec!["nginx".into()]).covers("nginx"));
    /// assert!(!FullDiff::Roots(vec!["nginx".into()]).covers("app"));
    /// assert!(!FullDiff::None.covers("nginx"));
    /// ```
    pub fn covers(&self, root: &str) -> bool {
        match self {
            FullDiff::None => false,
            FullDiff::All => true,
            FullDiff::Roots(roots) => roots.iter().any(|r| r == root),
        }
    }
}

/// What is said under a cut diff besides [`TRUNCATED_NOTE`]: how to see
/// all of it.
pub fn full_diff_hint(lines: usize, root: &str, environment: &str) -> String {
    format!(
        "All {lines} lines: run with --full-diff={root} (e.g. batou deploy -P --full-diff={root} {environment})."
    )
}

/// batou's cut of a long diff: more than [`MAX_LINES`] lines become the
/// first 50, `...` and the last 50. Returns whether it cut.
///
/// ```
/// let long: Vec<String> = (0..201).map(|i| i.to_string()).collect();
/// let (lines, cut) = batou_core::diff::truncate(long);
/// assert!(cut);
/// assert_eq!((lines.len(), &lines[49][..], &lines[50][..], &lines[51][..]), (101, "49", "...", "151"));
/// ```
pub fn truncate(mut lines: Vec<String>) -> (Vec<String>, bool) {
    if lines.len() <= MAX_LINES {
        return (lines, false);
    }
    let tail = lines.split_off(lines.len() - KEEP_LINES);
    lines.truncate(KEEP_LINES);
    lines.push("...".to_string());
    lines.extend(tail);
    (lines, true)
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
    fn two_hundred_lines_are_kept_whole_and_more_are_cut() {
        let lines = |n: usize| (0..n).map(|i| format!("+{i}")).collect::<Vec<_>>();
        assert_eq!(truncate(lines(200)), (lines(200), false));
        let (cut, truncated) = truncate(lines(500));
        assert!(truncated);
        assert_eq!(cut.len(), 101);
        assert_eq!(cut[..50], lines(50)[..]);
        assert_eq!(cut[50], "...");
        assert_eq!(cut[51], "+450");
        assert_eq!(cut[100], "+499");
    }

    #[test]
    fn equal_is_empty() {
        assert!(unified("x\n", "x\n").is_empty());
    }
}
