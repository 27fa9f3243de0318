//! Text from places batou does not control (a target's files, an agent's
//! words, names in an environment) made safe for a terminal: control
//! characters are shown escaped, so no escape sequence can retitle the
//! operator's window, clear the screen or hide lines.

use std::borrow::Cow;

/// `text` with every control character but newline and tab written as
/// Rust writes it in a string literal (`\u{1b}`, `\r`, `\u{9b}`): C0,
/// DEL and C1 alike. Text without any is returned as it is.
///
/// ```
/// use batou_core::escape::control_chars;
/// assert_eq!(control_chars("a\u{1b}]0;owned\u{7}b\n"), "a\\u{1b}]0;owned\\u{7}b\n");
/// assert_eq!(control_chars("plain\ttext\n"), "plain\ttext\n");
/// ```
pub fn control_chars(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_escaped(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_character_but_newline_and_tab_is_escaped() {
        assert_eq!(
            control_chars("\r\u{7f}\u{9b}2J\0"),
            "\\r\\u{7f}\\u{9b}2J\\0"
        );
        assert!(matches!(control_chars("ünïcode ✓\n"), Cow::Borrowed(_)));
        // What is left holds no control character but the two kept.
        let all: String = (0u32..0x200).filter_map(char::from_u32).collect();
        assert!(
            control_chars(&all)
                .chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\t')
        );
    }
}
