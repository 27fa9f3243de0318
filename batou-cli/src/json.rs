//! `--json`: a run as a versioned JSON-lines event stream on stdout
//! (documented in `docs/json-events.md`).
//!
//! The first line is a `start` event carrying [`VERSION`], then every core
//! [`Event`] as serde serializes it (`{"event":"host_connecting",...}`),
//! `error` events for whatever made the run fail, and a final `summary`
//! with counts, timings and the exit status.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use batou_core::event::{Event, EventSink};
use batou_core::{ConfigError, DeployError};
use serde::Serialize;

use crate::exit::ExitStatus;

/// The stream's format version; bumped on incompatible changes.
pub const VERSION: u32 = 1;

/// What happened so far, for the summary.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    /// Roots scheduled for deployment.
    pub roots: usize,
    /// Roots skipped (ignored, or not selected).
    pub skipped: usize,
    /// Components that finished (changed or not).
    pub components: usize,
    /// Components that were (or, predicting, would be) updated.
    pub changed: usize,
    /// Components that needed no update.
    pub unchanged: usize,
    /// `error` events.
    pub errors: usize,
    /// Roots that failed and were put back (`root_reverted` events);
    /// left out while none was.
    #[serde(skip_serializing_if = "is_zero")]
    pub reverted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An `error` event: one problem, with where it is and what it concerns.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ErrorEvent {
    pub message: String,
    /// Relative to the project when inside it.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub host: Option<String>,
    pub component: Option<String>,
    pub hint: Option<String>,
}

impl ErrorEvent {
    /// Just a message.
    pub fn message(message: impl Into<String>) -> Self {
        ErrorEvent {
            message: message.into(),
            ..Default::default()
        }
    }

    /// A configuration error, its file relative to `project_dir`.
    pub fn config(error: &ConfigError, project_dir: &Path) -> Self {
        let origin = error.origin();
        ErrorEvent {
            message: error
                .to_string()
                .replace(&format!("{}/", project_dir.display()), ""),
            file: origin.map(|o| {
                o.file
                    .strip_prefix(project_dir)
                    .unwrap_or(&o.file)
                    .display()
                    .to_string()
            }),
            line: origin.map(|o| o.line),
            host: error.host().map(str::to_string).or_else(|| {
                let affected = error.affected_hosts();
                (!affected.is_empty()).then(|| affected.join(", "))
            }),
            component: error.component().map(str::to_string),
            hint: error.hint(),
        }
    }

    /// A component that failed while deploying.
    pub fn deploy(error: &DeployError) -> Self {
        ErrorEvent {
            message: error.source.to_string(),
            host: Some(error.host.clone()),
            component: Some(error.component.clone()),
            ..Default::default()
        }
    }
}

/// Timings of the run, in seconds, for the summary.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Timings {
    pub total: f64,
    pub configure: Option<f64>,
    pub deploy: Option<f64>,
}

/// Writes the stream; counts what passes through for the summary. Every
/// line goes through [`crate::guard::json_line`], which masks secrets in
/// all of its strings.
pub struct JsonStream {
    out: Mutex<Box<dyn Write + Send>>,
    counts: Mutex<Counts>,
    started: Instant,
    /// The summary is written: nothing may follow it.
    finished: AtomicBool,
}

impl JsonStream {
    /// A stream on stdout, registered with [`crate::guard`] so that a
    /// panic still ends it with an `error` and a `summary`.
    pub fn stdout() -> Arc<Self> {
        let stream = Arc::new(JsonStream {
            out: Mutex::new(Box::new(std::io::stdout())),
            counts: Mutex::new(Counts::default()),
            started: Instant::now(),
            finished: AtomicBool::new(false),
        });
        crate::guard::register_json(&stream);
        stream
    }

    /// Whether the summary was written.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    fn write<T: Serialize>(&self, value: &T) {
        let Some(line) = crate::guard::json_line(value) else {
            return;
        };
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout must not turn into a panic.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The first line: format version, batou version, environment and
    /// what the run does (`deploy`, `predict`, `consistency`).
    pub fn start(&self, environment: &str, action: &str) {
        #[derive(Serialize)]
        struct Start<'a> {
            event: &'static str,
            version: u32,
            batou: &'static str,
            environment: &'a str,
            action: &'a str,
        }
        self.write(&Start {
            event: "start",
            version: VERSION,
            batou: env!("CARGO_PKG_VERSION"),
            environment,
            action,
        });
    }

    /// An `error` event.
    pub fn error(&self, error: ErrorEvent) {
        #[derive(Serialize)]
        struct Tagged {
            event: &'static str,
            #[serde(flatten)]
            error: ErrorEvent,
        }
        self.count(|c| c.errors += 1);
        self.write(&Tagged {
            event: "error",
            error,
        });
    }

    /// After a panic: an `error` event with `message`, and a summary
    /// with the time since the stream started.
    pub fn end_after_panic(&self, message: String) {
        self.error(ErrorEvent::message(message));
        self.summary(
            ExitStatus::Internal,
            Timings {
                total: self.started.elapsed().as_secs_f64(),
                ..Timings::default()
            },
        );
    }

    /// The last line: counts, timings and how the run ended.
    pub fn summary(&self, status: ExitStatus, timings: Timings) {
        #[derive(Serialize)]
        struct Summary {
            event: &'static str,
            status: &'static str,
            exit_code: i32,
            #[serde(flatten)]
            counts: Counts,
            seconds: Timings,
        }
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        let counts = *self.counts.lock().unwrap_or_else(|p| p.into_inner());
        self.write(&Summary {
            event: "summary",
            status: status.name(),
            exit_code: status.code(),
            counts,
            seconds: timings,
        });
    }
}

impl EventSink for JsonStream {
    fn emit(&self, event: Event) {
        match &event {
            Event::RootScheduled { .. } => self.count(|c| c.roots += 1),
            Event::RootSkipped { .. } => self.count(|c| c.skipped += 1),
            Event::RootReverted { .. } => self.count(|c| c.reverted += 1),
            Event::ComponentFinished { changed, .. } => self.count(|c| {
                c.components += 1;
                if *changed {
                    c.changed += 1;
                } else {
                    c.unchanged += 1;
                }
            }),
            _ => {}
        }
        self.write(&event);
    }
}
