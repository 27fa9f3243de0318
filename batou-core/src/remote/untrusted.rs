//! What the controller does with what agents tell it. An agent runs on a
//! target, and a target may be compromised: its words are shown escaped,
//! and one failure per host is enough.

use super::orchestrate::HostFailure;
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

/// One failure per host: the first says why; what follows (the
/// connection closing after we dropped it) is a consequence.
pub(crate) fn first_per_host(lost: Vec<HostFailure>) -> Vec<HostFailure> {
    let mut seen: Vec<HostFailure> = Vec::new();
    for failure in lost {
        if !seen.iter().any(|f| f.host == failure.host) {
            seen.push(failure);
        }
    }
    seen
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
}
