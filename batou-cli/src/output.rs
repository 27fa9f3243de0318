//! Writing batou's transcript: sections, steps, coloured lines. Every
//! piece of text passes [`crate::guard::text`] (secrets masked, control
//! characters escaped) before colours are added.

use std::io::Write;
use std::sync::Mutex;

/// ANSI colours, used only on a terminal and never with `NO_COLOR`.
#[derive(Debug, Clone, Copy)]
pub enum Color {
    Red,
    Green,
    Yellow,
    Cyan,
    Purple,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Red => "31",
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Cyan => "36",
            Color::Purple => "35",
        }
    }
}

pub struct Output {
    color: bool,
    width: usize,
    out: Mutex<Box<dyn Write + Send>>,
    /// The live view on a terminal: lines are printed above it.
    progress: Option<indicatif::MultiProgress>,
}

impl Output {
    pub fn stdout(color: bool) -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|w: &usize| *w >= 40)
            .unwrap_or(80);
        Output {
            color,
            width,
            out: Mutex::new(Box::new(std::io::stdout())),
            progress: None,
        }
    }

    /// Prints every line above `progress`'s live view (which is hidden
    /// while the line is written, then drawn again below it).
    pub fn with_progress(mut self, progress: indicatif::MultiProgress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs `f` (which prints, e.g. to stderr) with the live view hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.progress {
            Some(p) => p.suspend(f),
            None => f(),
        }
    }

    /// Prints nothing (the transcript's place with `--json`).
    pub fn discard() -> Self {
        Output {
            color: false,
            width: 80,
            out: Mutex::new(Box::new(std::io::sink())),
            progress: None,
        }
    }

    fn paint(&self, text: &str, color: Option<Color>, bold: bool) -> String {
        let text = crate::guard::text(text);
        if !self.color || (color.is_none() && !bold) {
            return text;
        }
        let mut codes = Vec::new();
        if bold {
            codes.push("1");
        }
        if let Some(c) = color {
            codes.push(c.code());
        }
        format!("\x1b[{}m{text}\x1b[0m", codes.join(";"))
    }

    pub fn line(&self, text: &str) {
        self.write(&self.paint(text, None, false));
    }

    pub fn colored(&self, text: &str, color: Color) {
        self.write(&self.paint(text, Some(color), false));
    }

    /// `====== title ======`, full width.
    pub fn section(&self, title: &str, color: Option<Color>) {
        let inner = format!(" {title} ");
        let len = inner.chars().count();
        let fill = self.width.saturating_sub(len);
        let left = fill / 2;
        let right = fill - left;
        let text = format!("{}{inner}{}", "=".repeat(left), "=".repeat(right));
        self.write(&self.paint(&text, color, true));
    }

    /// `<icon> ctx: message`, bold.
    pub fn step(&self, icon: &str, ctx: &str, message: &str) {
        let text = format!("{icon} {ctx}: {message}");
        self.write(&self.paint(&text, None, true));
    }

    pub fn warn(&self, message: &str) {
        let text = format!("   WARN: {message}");
        self.write(&self.paint(&text, Some(Color::Yellow), true));
    }

    /// Several lines (each with its color) in one write: a diff of
    /// thousands of lines costs one system call, not one per line.
    pub fn lines<'t>(&self, lines: impl IntoIterator<Item = (&'t str, Option<Color>)>) {
        let mut text = String::new();
        for (line, color) in lines {
            text.push_str(&self.paint(line, color, false));
            text.push('\n');
        }
        self.emit(&text);
    }

    fn write(&self, text: &str) {
        self.emit(&format!("{text}\n"));
    }

    /// One write of whole lines, with the live view (if any) cleared
    /// meanwhile.
    fn emit(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout (e.g. `| head`) must not turn into a panic.
        self.suspend(|| {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        });
    }
}

/// batou's duration format: `1.23s`, `1m1s`, `∅` for "did not run".
pub fn format_duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "∅".to_string(),
        Some(s) if s < 60.0 => format!("{s:.2}s"),
        Some(s) => {
            let whole = s.round() as u64;
            format!("{}m{}s", whole / 60, whole % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(None), "∅");
        assert_eq!(format_duration(Some(1.234)), "1.23s");
        assert_eq!(format_duration(Some(61.2)), "1m1s");
    }
}
