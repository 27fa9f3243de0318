//! Renders errors with miette: the source line and a caret for errors
//! about the environment, plus the host and component they concern and a
//! hint where one helps.

use std::collections::HashMap;
use std::path::Path;

use batou_core::{ConfigError, DeployError};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};

pub struct Diagnostics<'a> {
    project_dir: &'a Path,
    color: bool,
    sources: HashMap<std::path::PathBuf, String>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(project_dir: &'a Path, color: bool) -> Self {
        Diagnostics {
            project_dir,
            color,
            sources: HashMap::new(),
        }
    }

    fn handler(&self) -> GraphicalReportHandler {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        GraphicalReportHandler::new_themed(theme).with_width(100)
    }

    fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(self.project_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// One configuration error, as text (ends with a newline). Every part
    /// of it is escaped (control characters) before it is rendered, so
    /// the colours miette adds are the only escape sequences in it.
    pub fn config_error(&mut self, error: &ConfigError) -> String {
        // Paths inside messages (a duplicate host's first definition, the
        // files a missing environment was looked for in) are shown relative
        // to the project, like the `at FILE:LINE` context.
        let mut message = escape(
            &format!("ERROR: {error}").replace(&format!("{}/", self.project_dir.display()), ""),
        );
        let mut context = Vec::new();
        let affected = error.affected_hosts();
        if !affected.is_empty() {
            // An error the agents reported: once, with every host that saw it.
            context.push(format!("hosts: {}", escape(&affected.join(", "))));
        } else if let Some(h) = error.host() {
            context.push(format!("host: {}", escape(h)));
        }
        if let Some(c) = error.component() {
            context.push(format!("component: {}", escape(c)));
        }
        let mut diag = MietteDiagnostic::new(String::new());
        if let Some(hint) = error.hint() {
            diag = diag.with_help(escape(&hint));
        }
        let mut report_source = None;
        if let Some(origin) = error.origin() {
            context.insert(
                0,
                escape(&format!(
                    "at {}:{}",
                    self.display_path(&origin.file),
                    origin.line
                )),
            );
            // An encrypted secrets file has no readable source to quote.
            let encrypted = batou_core::secrets::Provider::from_path(&origin.file).is_some();
            if let Some(source) = self.source(&origin.file).filter(|_| !encrypted) {
                // Escaping moves the bytes after it: then the whole line.
                // Line ends (`\r\n` too) are left to miette.
                let escaped = if source
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
                {
                    escape(&source)
                } else {
                    source.clone()
                };
                let span = origin
                    .span
                    .clone()
                    .filter(|s| s.end <= source.len() && s.start <= s.end && escaped == source)
                    .map(|s| miette::SourceSpan::from(s.start..s.end))
                    .unwrap_or_else(|| line_span(&escaped, origin.line));
                let source = escaped;
                diag = diag.with_label(LabeledSpan::new_primary_with_span(
                    Some(label_for(error)),
                    span,
                ));
                report_source = Some(NamedSource::new(
                    escape(&self.display_path(&origin.file)),
                    source,
                ));
            }
        }
        if !context.is_empty() {
            message.push_str(&format!("\n  ({})", context.join(", ")));
        }
        let diag = MietteDiagnostic { message, ..diag };
        let report = match report_source {
            Some(src) => Report::new(diag).with_source_code(src),
            None => Report::new(diag),
        };
        let mut out = String::new();
        if self
            .handler()
            .render_report(&mut out, report.as_ref())
            .is_err()
        {
            out = format!("{report}\n");
        }
        out
    }

    pub fn deploy_error(&self, error: &DeployError) -> String {
        let mut out = format!(
            "ERROR: {}\n  (host: {}, component: {})\n",
            error.source, error.host, error.component
        );
        if let batou_core::Error::Command(c) = &error.source {
            out.push_str(&format!("  command: {}\n", c.command));
        }
        out
    }

    fn source(&mut self, file: &Path) -> Option<String> {
        if !self.sources.contains_key(file) {
            let text = std::fs::read_to_string(file).ok()?;
            self.sources.insert(file.to_path_buf(), text);
        }
        self.sources.get(file).cloned()
    }
}

/// `text` with control characters escaped (newlines and tabs kept).
fn escape(text: &str) -> String {
    batou_core::escape::control_chars(text).into_owned()
}

/// The byte range of 1-based `line`.
fn line_span(source: &str, line: usize) -> miette::SourceSpan {
    let mut offset = 0;
    for (i, text) in source.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset, text.trim_end().len()).into();
        }
        offset += text.len();
    }
    (source.len(), 0).into()
}

fn label_for(error: &ConfigError) -> String {
    match error {
        ConfigError::UnknownAttribute { .. } => "no such attribute".into(),
        ConfigError::Conversion { .. } => "cannot be converted".into(),
        ConfigError::ComputedAttribute { .. } => "computed by the component".into(),
        ConfigError::Expansion { .. } => "expansion failed".into(),
        ConfigError::UnknownComponent { .. } => "unknown component".into(),
        ConfigError::SuperfluousComponentSection { .. } => "unknown component".into(),
        ConfigError::SuperfluousSection { .. } => "not a batou section".into(),
        ConfigError::DuplicateHost { .. } => "defined again here".into(),
        ConfigError::InvalidIpAddress { .. } => "not an IP address".into(),
        ConfigError::InvalidValue { .. } => "invalid value".into(),
        ConfigError::MissingComponents { .. } => "this host lists no components".into(),
        _ => "here".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_from_agents_name_every_affected_host() {
        let error = ConfigError::Reported {
            message: "Error while resolving db:5432: no such name".into(),
            origin: None,
            host: Some("web2".into()),
            component: Some("app".into()),
            hint: None,
            affected: vec!["web2".into(), "web3".into()],
        };
        let text = Diagnostics::new(Path::new("/p"), false).config_error(&error);
        assert!(text.contains("Error while resolving db:5432"), "{text}");
        assert!(text.contains("hosts: web2, web3"), "{text}");
        assert!(text.contains("component: app"), "{text}");
        assert!(!text.contains("host: web2,"), "{text}");
    }
}
