//! The renderer of one `deploy` run: the transcript (with the live view
//! on a terminal) or the JSON stream, fed by the operation's events and
//! steps, and the verdict lines at its end.

use std::path::Path;
use std::time::Instant;

use batou_core::ConfigError;
use batou_core::event::{Event, EventSink};
use batou_core::ops::{Mode, Observer, Reach, Step};
use batou_core::secrets::Masker;

use crate::diagnostics::Diagnostics;
use crate::exit::ExitStatus;
use crate::json::{ErrorEvent, JsonStream};
use crate::output::{Color, Output};
use crate::progress::Progress;
use crate::transcript::Transcript;

pub(crate) struct Run<'a> {
    pub out: Output,
    pub diagnostics: Diagnostics<'a>,
    pub mode: Mode,
    /// `-P --exit-code`: pending changes make exit status 6.
    pub exit_code: bool,
    /// `--debug`: timings and decisions as extra lines.
    pub debug: bool,
    pub start: Instant,
    /// Redacts secret values from everything printed once secrets are
    /// loaded (defence in depth: core errors do not quote them anyway).
    pub masker: Masker,
    /// `--json`: events go here instead of to the transcript.
    pub json: Option<std::sync::Arc<JsonStream>>,
    pub project_dir: &'a Path,
    pub configure_seconds: Option<f64>,
    pub deploy_seconds: Option<f64>,
    /// The live per-host view on a terminal.
    pub progress: Option<Progress>,
    /// The step a failed run failed in (for the notification).
    pub failed_during: std::sync::Mutex<Option<String>>,
}

impl Run<'_> {
    /// What the run is called in its sections: `DEPLOYMENT`, ...
    pub fn action(&self) -> String {
        let (title, reach) = match self.mode {
            Mode::Deploy => ("DEPLOYMENT", Reach::Environment),
            Mode::Predict(reach) => ("DEPLOYMENT PREDICTION", reach),
            Mode::Check(reach) => ("CONSISTENCY CHECK", reach),
        };
        match reach {
            Reach::Environment => title.to_string(),
            Reach::ThisMachine => format!("{title} (local)"),
        }
    }

    pub fn fail(&self, step: &str, status: ExitStatus) -> ExitStatus {
        *self.failed_during.lock().unwrap_or_else(|p| p.into_inner()) = Some(step.to_string());
        self.out.section(
            &format!("{} FAILED (during {step})", self.action()),
            Some(Color::Red),
        );
        status
    }

    /// The desktop notification for a run that ended with `status`
    /// (none after Ctrl-C or a usage error: the user is right there).
    pub fn notify(&self, environment: &str, status: ExitStatus) {
        let title = match status {
            ExitStatus::Success | ExitStatus::ChangesPending => {
                format!("{} SUCCEEDED", self.action())
            }
            ExitStatus::Interrupted | ExitStatus::Usage => return,
            _ => match self
                .failed_during
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_deref()
            {
                Some(step) if !step.is_empty() => {
                    format!("{} FAILED (during {step})", self.action())
                }
                _ => format!("{} FAILED", self.action()),
            },
        };
        crate::notify::send(&title, environment);
    }

    /// Prints `text` (an error) on stderr and, with `--json`, emits
    /// `error` as an event; both through [`crate::guard`].
    pub fn error(&self, text: &str, error: ErrorEvent) {
        self.out.suspend(|| crate::guard::err(text.trim_end()));
        self.error_event(error);
    }

    /// As [`Run::error`], for a diagnostic already rendered for the
    /// terminal (its parts were escaped before).
    pub fn rendered_error(&self, text: &str, error: ErrorEvent) {
        self.out
            .suspend(|| crate::guard::err_rendered(text.trim_end()));
        self.error_event(error);
    }

    fn error_event(&self, error: ErrorEvent) {
        if let Some(json) = &self.json {
            json.error(error);
        }
    }

    /// Masks the environment's secrets in everything printed from now on.
    pub fn set_masker(&mut self, masker: Masker) {
        crate::guard::set_masker(&masker);
        self.masker = masker;
    }

    pub fn config_errors(&mut self, errors: Vec<ConfigError>, step: &str) -> ExitStatus {
        let (summaries, errors): (Vec<_>, Vec<_>) =
            errors.into_iter().partition(|e| e.is_summary());
        for e in &errors {
            let text = self.diagnostics.config_error(e);
            self.rendered_error(&text, ErrorEvent::config(e, self.project_dir));
        }
        // What is left unconfigured, after the errors that explain it;
        // shown, not counted.
        for s in &summaries {
            self.out
                .suspend(|| crate::guard::err(&format!("  {}", s.to_string().trim_end())));
        }
        let n = errors.len();
        self.out.section(
            &format!(
                "{n} ERROR{} - CONFIGURATION FAILED",
                if n == 1 { "" } else { "S" }
            ),
            Some(Color::Red),
        );
        self.fail(step, ExitStatus::Config)
    }

    /// The end of a successful run: what changed, the timings, the verdict.
    pub fn finish(&self, changed: usize, connect: f64, deploy: f64) -> ExitStatus {
        let predict = self.mode.predicts();
        let verb = if predict { "would change" } else { "changed" };
        self.out.line(&match changed {
            0 if predict => "Nothing would change.".to_string(),
            0 => "Nothing changed.".to_string(),
            n => format!("{n} component{} {verb}.", if n == 1 { "" } else { "s" }),
        });
        self.out.line(&format!(
            "Deployment took total={:.2}s, connect={connect:.2}s, deploy={deploy:.2}s",
            self.start.elapsed().as_secs_f64(),
        ));
        let color = if predict { Color::Purple } else { Color::Green };
        self.out
            .section(&format!("{} FINISHED", self.action()), Some(color));
        if predict && self.exit_code && changed > 0 {
            ExitStatus::ChangesPending
        } else {
            ExitStatus::Success
        }
    }
}

/// Renders events, secrets redacted, as transcript or JSON.
impl EventSink for Run<'_> {
    fn emit(&self, event: Event) {
        let event = self.masker.redact_event(event);
        match &self.json {
            Some(json) => json.emit(event),
            None => {
                if let Some(progress) = &self.progress {
                    progress.emit(crate::guard::screen_event(event.clone()));
                }
                Transcript { out: &self.out }.emit(event)
            }
        }
    }
}

/// The stages of the run as the transcript's sections and steps.
impl Observer for Run<'_> {
    fn step(&mut self, step: Step<'_>) {
        match step {
            Step::Loading { environment } => {
                self.out.section("Preparing", None);
                self.out.step(
                    "📦",
                    "main",
                    &format!("Loading environment `{environment}`..."),
                );
            }
            Step::LoadingSecrets => self.out.step("🔑", "main", "Loading secrets ..."),
            Step::Secrets(masker) => self.set_masker(masker.clone()),
            Step::Settled(settled) => {
                if self.debug {
                    self.out.line(&format!("Number of jobs: {}", settled.jobs));
                }
            }
            Step::Configuring => {
                if self.mode == Mode::Check(Reach::ThisMachine) {
                    self.out.section("LOCAL CONSISTENCY CHECK", None);
                } else {
                    self.out
                        .section("Connecting hosts and configuring model ...", None);
                }
            }
            Step::Configured {
                roots,
                components,
                seconds,
            } => {
                self.configure_seconds = Some(seconds);
                if self.debug {
                    self.out.line(&format!(
                        "Configured {roots} root(s), {components} component(s) in {seconds:.3}s"
                    ));
                }
            }
            Step::Agent(binary) => {
                if self.debug {
                    self.out.line(&format!(
                        "Agent binary: {} ({} {}, sha256 {})",
                        binary.path.display(),
                        binary.os,
                        binary.arch,
                        binary.hash.get(..12).unwrap_or(&binary.hash)
                    ));
                }
            }
            Step::Deploying => self.out.section(
                if self.mode.predicts() {
                    "Predicting deployment actions"
                } else {
                    "Deploying"
                },
                None,
            ),
        }
    }
}
