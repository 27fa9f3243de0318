//! `batou show ENV` and `batou graph ENV`: the merged environment and the
//! dependency graph of its model. Both load and configure the environment
//! as `deploy -c` does (configuration errors exit 3) and touch no host.

use std::path::Path;

use batou_core::Registry;
use batou_core::ops::{self, Rejected};
use batou_core::secrets::Keys;
use batou_core::show::Description;

use crate::args::{GraphArgs, ShowArgs};
use crate::diagnostics::Diagnostics;
use crate::exit::ExitStatus;

/// Prints every error of an environment that does not load or configure;
/// exit status 3.
fn rejected(project_dir: &Path, color: bool, rejected: Rejected) -> ExitStatus {
    let mut diagnostics = Diagnostics::new(project_dir, color);
    for e in &rejected.errors {
        eprint!("{}", rejected.masker.redact(&diagnostics.config_error(e)));
    }
    let n = rejected.errors.len();
    eprintln!(
        "{n} ERROR{} - CONFIGURATION FAILED",
        if n == 1 { "" } else { "S" }
    );
    ExitStatus::Config
}

/// `batou show ENV`.
pub fn show(registry: &Registry, project_dir: &Path, opts: &ShowArgs, color: bool) -> ExitStatus {
    let shown = ops::show(
        registry,
        project_dir,
        &opts.environment,
        opts.platform.as_deref(),
        &mut Keys::new(),
    );
    let (description, masker) = match shown {
        Ok(shown) => shown,
        Err(r) => return rejected(project_dir, color, r),
    };
    let text = if opts.json {
        match serde_json::to_string_pretty(&description) {
            Ok(json) => format!("{json}\n"),
            Err(e) => {
                eprintln!("ERROR: {e}");
                return ExitStatus::Internal;
            }
        }
    } else {
        render(&description)
    };
    // Defence in depth: `describe` leaves secret values out already.
    print!("{}", masker.redact(&text));
    ExitStatus::Success
}

/// The human form of `show`.
fn render(d: &Description) -> String {
    let mut out = format!("environment {} ({})\n", d.environment, d.file);
    out.push_str("\nsettings:\n");
    for s in &d.settings {
        let value = match &s.value {
            serde_json::Value::String(v) => v.clone(),
            serde_json::Value::Null => "(none)".into(),
            other => other.to_string(),
        };
        match &s.source {
            Some(src) => out.push_str(&format!("  {} = {value}  ({src})\n", s.key)),
            None => out.push_str(&format!("  {} = {value}  (default)\n", s.key)),
        }
    }
    out.push_str("\nhosts:\n");
    for h in &d.hosts {
        out.push_str(&format!(
            "  {}{}  ({})\n",
            h.name,
            if h.ignored { " (ignored)" } else { "" },
            h.source
        ));
        if h.fqdn != h.name {
            out.push_str(&format!("    fqdn: {}\n", h.fqdn));
        }
        out.push_str(&format!(
            "    platform: {}\n",
            h.platform.as_deref().unwrap_or("(none)")
        ));
        for (k, v) in &h.data {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            out.push_str(&format!("    data-{k} = {v}\n"));
        }
        out.push_str("    components:\n");
        for c in &h.components {
            let features = if c.features.is_empty() {
                String::new()
            } else {
                format!(" [features: {}]", c.features.join(", "))
            };
            out.push_str(&format!(
                "      {}{features}{}  ({})\n",
                c.name,
                if c.ignored { " (ignored)" } else { "" },
                c.source
            ));
        }
    }
    out.push_str("\noverrides:\n");
    if d.overrides.is_empty() {
        out.push_str("  (none)\n");
    }
    for c in &d.overrides {
        out.push_str(&format!("  {}:\n", c.component));
        for v in &c.values {
            match &v.value {
                _ if v.secret => out.push_str(&format!(
                    "    {} = (secret, from {})\n",
                    v.key, v.source.file
                )),
                Some(serde_json::Value::String(s)) => {
                    out.push_str(&format!("    {} = {s}  ({})\n", v.key, v.source))
                }
                Some(other) => out.push_str(&format!("    {} = {other}  ({})\n", v.key, v.source)),
                None => out.push_str(&format!("    {}  ({})\n", v.key, v.source)),
            }
        }
    }
    out.push_str("\nresolver:\n");
    if d.resolver.is_empty() {
        out.push_str("  (none)\n");
    }
    for r in &d.resolver {
        out.push_str(&format!("  {} = {}  ({})\n", r.host, r.address, r.source));
    }
    out
}

/// `batou graph ENV`.
pub fn graph_cmd(
    registry: &Registry,
    project_dir: &Path,
    opts: &GraphArgs,
    color: bool,
) -> ExitStatus {
    let (g, name) = match ops::graph_of(registry, project_dir, &opts.environment, &mut Keys::new())
    {
        Ok(graphed) => graphed,
        Err(r) => return rejected(project_dir, color, r),
    };
    if opts.json {
        match serde_json::to_string_pretty(&g) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot serialize the graph: {e}");
                return ExitStatus::Internal;
            }
        }
    } else if opts.dot {
        print!("{}", g.to_dot(&name));
    } else {
        print!("{}", g.to_text());
    }
    ExitStatus::Success
}
