//! The live per-host view on a terminal (indicatif): one spinner line per
//! host saying what it is doing — connecting, configuring, verifying a
//! root, updating a component — driven by the same core events as the
//! transcript. The transcript is still printed in full, above the view
//! (see [`crate::output::Output::with_progress`]); the view is cleared at
//! the end, so the final screen is the transcript and its summary.
//!
//! Shown only when stdout and stderr are terminals, without `--json` and
//! without `--no-progress`; see [`Progress::wanted`].

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use batou_core::event::{Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The view: a spinner per host, created on the host's first event.
pub struct Progress {
    multi: MultiProgress,
    style: ProgressStyle,
    hosts: Mutex<HashMap<String, HostLine>>,
    predict: bool,
}

/// One host's spinner and what it counted so far.
struct HostLine {
    bar: ProgressBar,
    root: Option<String>,
    finished: usize,
    changed: usize,
    /// `batch 2/4`, once the host's batch started (with `serial`).
    batch: Option<String>,
}

impl HostLine {
    /// Shows `message`, after the host's batch if it has one.
    fn say(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.batch {
            Some(batch) => self.bar.set_message(format!("[{batch}] {message}")),
            None => self.bar.set_message(message),
        }
    }
}

impl Progress {
    /// Whether to show the view: both output streams are terminals (a
    /// pipe, a file or CI gets plain lines) and the user did not opt out.
    pub fn wanted(no_progress: bool, json: bool) -> bool {
        !no_progress
            && !json
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
    }

    /// A view drawn on stderr; `color` as for the transcript (never with
    /// `NO_COLOR`).
    pub fn new(color: bool, predict: bool) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let template = if color {
            "{spinner:.cyan} {prefix:.bold}: {wide_msg}"
        } else {
            "{spinner} {prefix}: {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
        Progress {
            multi,
            style,
            hosts: Mutex::new(HashMap::new()),
            predict,
        }
    }

    /// Where transcript lines go through, so they print above the view.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    /// Runs `f` on `host`'s line, creating it first.
    fn on_host(&self, host: &str, f: impl FnOnce(&mut HostLine)) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let line = hosts.entry(host.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(self.style.clone());
            bar.set_prefix(host.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            HostLine {
                bar,
                root: None,
                finished: 0,
                changed: 0,
                batch: None,
            }
        });
        f(line);
    }

    /// Clears the view (at the end of a run, before errors and verdict
    /// are final on screen).
    pub fn clear(&self) {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        for line in hosts.values() {
            line.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn status(line: &HostLine) -> String {
        format!("{} done, {} changed", line.finished, line.changed)
    }
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        let updating = if self.predict {
            "would update"
        } else {
            "updating"
        };
        match event {
            Event::HostConnecting { host, method, .. } => self.on_host(&host, |l| {
                l.bar.set_message(format!("connecting via {method}"))
            }),
            Event::HostIgnored { host, .. } => {
                self.on_host(&host, |l| l.bar.finish_with_message("ignored"))
            }
            Event::HostNotSelected { host, .. } => {
                self.on_host(&host, |l| l.bar.finish_with_message("not selected"))
            }
            Event::AgentReady { host, .. } => {
                self.on_host(&host, |l| l.bar.set_message("configuring"))
            }
            Event::AgentBuildStarted { triple, .. } => self
                .on_host(&format!("agent {triple}"), |l| {
                    l.bar.set_message("building (cargo)")
                }),
            Event::AgentBuildOutput { triple, line } => self
                .on_host(&format!("agent {triple}"), |l| {
                    l.bar.set_message(line.trim().to_string())
                }),
            Event::AgentBuildFinished { triple, .. } => {
                self.on_host(&format!("agent {triple}"), |l| l.bar.finish_and_clear())
            }
            Event::BatchStarted {
                index,
                total,
                hosts,
            } => {
                for host in &hosts {
                    self.on_host(host, |l| {
                        l.batch = Some(format!("batch {index}/{total}"));
                        l.say("starting");
                    });
                }
                // The hosts of later batches wait for theirs.
                let lines = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
                for line in lines.values() {
                    if line.batch.is_none() && !line.bar.is_finished() {
                        line.say("waits for a later batch");
                    }
                }
            }
            Event::BatchFinished {
                deployed,
                failed,
                partial,
                untouched,
                ..
            } => {
                for (what, hosts) in [
                    ("deployed", deployed),
                    ("failed", failed),
                    ("partly deployed", partial),
                    ("not started", untouched),
                ] {
                    for host in &hosts {
                        self.on_host(host, |l| l.say(format!("batch finished: {what}")));
                    }
                }
            }
            Event::RootWaiting { host, root, limit } => self.on_host(&host, |l| {
                l.say(format!("{root} waits (max_parallel {limit})"))
            }),
            Event::RootScheduled { host, root } => self.on_host(&host, |l| {
                l.say(format!("verifying {root} ({})", Self::status(l)));
                l.root = Some(root);
            }),
            Event::ComponentNeedsUpdate { host, component } => {
                self.on_host(&host, |l| l.say(format!("{updating} {component}")))
            }
            // A health gate's attempts: the host waits for its gate.
            Event::Log {
                host,
                component: Some(component),
                message,
            } if component.contains("HealthCheck(") => {
                self.on_host(&host, |l| l.say(format!("gate: {message}")))
            }
            Event::ComponentFinished { host, changed, .. } => self.on_host(&host, |l| {
                l.finished += 1;
                l.changed += usize::from(changed);
                let root = l.root.clone().unwrap_or_default();
                l.say(format!("verifying {root} ({})", Self::status(l)));
            }),
            _ => {}
        }
    }
}
