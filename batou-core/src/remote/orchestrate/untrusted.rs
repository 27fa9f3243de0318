//! What the controller does with what agents tell it. An agent runs on a
//! target, and a target may be compromised: its words are shown escaped,
//! and it speaks for its own host only.

use crate::event::Event;

/// The host an event is about, if it names one: an agent speaks for its
/// own host only.
pub(crate) fn event_host(event: &Event) -> Option<String> {
    serde_json::to_value(event)
        .ok()?
        .get("host")?
        .as_str()
        .map(str::to_string)
}

/// What an agent said, made safe to show: control characters escaped
/// (no terminal escape sequences from a hostile host), and cut short.
pub(crate) fn printable(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(80)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if text.chars().count() > 80 {
        format!("{shown}...")
    } else {
        shown
    }
}

/// A message from an agent, with control characters other than newlines
/// and tabs escaped, so a hostile host cannot drive the operator's
/// terminal; an empty one is said to be empty.
pub(crate) fn agent_text(text: &str) -> String {
    if text.trim().is_empty() {
        // An empty reason would make an empty error line.
        return "(the agent gave no reason)".into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `: <the last lines of an agent's stderr>` for a message, or nothing
/// if it said nothing there; control characters escaped.
pub(crate) fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let last = lines[lines.len().saturating_sub(5)..].join(" | ");
    format!(": {}", agent_text(&last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_lines_kept() {
        assert_eq!(agent_text("a\u{1b}[2Jb\nc\td"), "a\\u{1b}[2Jb\nc\td");
        assert_eq!(
            printable(&"x".repeat(100)),
            format!("{}...", "x".repeat(80))
        );
        assert_eq!(printable("\n"), "\\n");
        // Found by `a_hostile_agent_cannot_crash_or_mislead_the_controller`
        // (seed 1): a `fatal` with an empty message made an empty error.
        assert_eq!(agent_text(" "), "(the agent gave no reason)");
    }

    #[test]
    fn the_last_lines_of_stderr_are_shown_escaped() {
        assert_eq!(stderr_suffix(""), "");
        assert_eq!(
            stderr_suffix("1\n2\n3\n4\n5\n6\u{1b}]0;owned\u{7}"),
            ": 2 | 3 | 4 | 5 | 6\\u{1b}]0;owned\\u{7}"
        );
    }
}
