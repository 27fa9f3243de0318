//! `batou deploy`: load, configure, deploy, summarize — batou's pipeline
//! and transcript (or, with `--json`, its event stream).

use std::path::Path;
use std::time::Instant;

use batou_core::configure::{ConfigureOptions, Selection, configure};
use batou_core::deploy::{DeployOptions, deploy_local};
use batou_core::environment::{Environment, environment_name};
use batou_core::event::{Event, EventSink};
use batou_core::host::Host;
use batou_core::lock::{LockError, ProjectLock};
use batou_core::secrets::{Masker, Redacting, Secrets};
use batou_core::{ConfigError, Registry};

use crate::args::DeployArgs;
use crate::diagnostics::Diagnostics;
use crate::exit::ExitStatus;
use crate::json::{ErrorEvent, JsonStream, Timings};
use crate::output::{Color, Output};
use crate::progress::Progress;
use crate::transcript::Transcript;

pub(crate) struct Run<'a> {
    pub out: Output,
    pub diagnostics: Diagnostics<'a>,
    pub action: String,
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
}

impl Run<'_> {
    pub fn fail(&self, step: &str, status: ExitStatus) -> ExitStatus {
        self.out.section(
            &format!("{} FAILED (during {step})", self.action),
            Some(Color::Red),
        );
        status
    }

    /// Prints `text` (an error) on stderr and, with `--json`, emits
    /// `error` as an event; both through [`crate::guard`].
    pub fn error(&self, text: &str, error: ErrorEvent) {
        self.out.suspend(|| crate::guard::err(text.trim_end()));
        self.error_event(error);
    }

    /// As [`Run::error`], for a diagnostic already rendered for the
    /// terminal (its parts were escaped before).
    fn rendered_error(&self, text: &str, error: ErrorEvent) {
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
        for e in &errors {
            let text = self.diagnostics.config_error(e);
            self.rendered_error(&text, ErrorEvent::config(e, self.project_dir));
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

    /// Where events go: the transcript or the JSON stream, with secrets
    /// redacted.
    pub fn sink(&self) -> Redacting<'_, Self> {
        Redacting::new(self, self.masker.clone())
    }
}

/// Renders (unredacted: use [`Run::sink`]) as transcript or JSON.
impl EventSink for Run<'_> {
    fn emit(&self, event: Event) {
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

/// Runs `deploy`; with `--json`, the stream's `start` and `summary` frame
/// whatever happens in between.
pub fn run(
    registry: &Registry,
    project_dir: &Path,
    opts: &DeployArgs,
    color: bool,
    debug: bool,
) -> ExitStatus {
    let json = opts.json.then(JsonStream::stdout);
    if let Some(json) = &json {
        let action = if opts.consistency_only {
            "consistency"
        } else if opts.predict_only {
            "predict"
        } else {
            "deploy"
        };
        json.start(&environment_name(&opts.environment), action);
    }
    let progress = Progress::wanted(opts.no_progress, opts.json)
        .then(|| Progress::new(color, opts.predict_only));
    let mut out = if json.is_some() {
        Output::discard()
    } else {
        Output::stdout(color)
    };
    if let Some(p) = &progress {
        out = out.with_progress(p.multi());
    }
    let mut run = Run {
        out,
        diagnostics: Diagnostics::new(project_dir, color),
        action: String::new(),
        start: Instant::now(),
        masker: Masker::default(),
        json,
        project_dir,
        configure_seconds: None,
        deploy_seconds: None,
        progress,
    };
    let status = deploy(&mut run, registry, project_dir, opts, debug);
    if let Some(progress) = &run.progress {
        progress.clear();
    }
    if let Some(json) = &run.json {
        json.summary(
            status,
            Timings {
                total: run.start.elapsed().as_secs_f64(),
                configure: run.configure_seconds,
                deploy: run.deploy_seconds,
            },
        );
    }
    status
}

fn deploy(
    run: &mut Run<'_>,
    registry: &Registry,
    project_dir: &Path,
    opts: &DeployArgs,
    debug: bool,
) -> ExitStatus {
    let mut action = if opts.consistency_only {
        "CONSISTENCY CHECK"
    } else if opts.predict_only {
        "DEPLOYMENT PREDICTION"
    } else {
        "DEPLOYMENT"
    }
    .to_string();
    if opts.local {
        if !(opts.consistency_only || opts.predict_only) {
            let message =
                "The --local option is only to be used with --consistency-only or --predict-only.";
            run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
            return ExitStatus::Usage;
        }
        action.push_str(" (local)");
    }
    run.action = action;
    run.out.line(&format!(
        "batou/{} (rust, {} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    ));

    let _lock = match ProjectLock::acquire(project_dir) {
        Ok(lock) => lock,
        Err(e @ LockError::Held(_)) => {
            run.error(
                &format!("ERROR: {e}\nExiting."),
                ErrorEvent::message(e.to_string()),
            );
            return ExitStatus::Locked;
        }
        Err(e) => {
            run.error(&format!("ERROR: {e}"), ErrorEvent::message(e.to_string()));
            return ExitStatus::Config;
        }
    };

    run.out.section("Preparing", None);
    run.out.step(
        "📦",
        "main",
        &format!(
            "Loading environment `{}`...",
            environment_name(&opts.environment)
        ),
    );
    // Errors found while loading are reported together with those the
    // model finds later, so one run shows everything that is wrong.
    let (env, mut load_errors) = Environment::load_partial(project_dir, &opts.environment);
    let Some(mut env) = env else {
        return run.config_errors(load_errors, "load");
    };
    for w in &env.warnings {
        let file = w
            .origin
            .file
            .strip_prefix(project_dir)
            .unwrap_or(&w.origin.file);
        run.sink().emit(Event::Warning {
            host: None,
            component: None,
            message: format!("{}:{}: {}", file.display(), w.origin.line, w.message),
        });
    }
    run.out.step("🔑", "main", "Loading secrets ...");
    match Secrets::load(project_dir, &env.name, &mut crate::prompt::keys()) {
        Ok(Some(secrets)) => {
            let errors = batou_core::secrets::apply(&mut env, &secrets, registry);
            run.set_masker(env.secrets.masker().clone());
            if !errors.is_empty() {
                load_errors.extend(errors);
                return run.config_errors(load_errors, "load secrets");
            }
        }
        Ok(None) => {}
        Err(e) => {
            load_errors.push(e.into());
            return run.config_errors(load_errors, "load secrets");
        }
    }
    if let Some(j) = opts.jobs {
        env.settings.jobs = j as usize;
    }
    if let Some(t) = opts.timeout {
        env.settings.timeout = t;
    }
    if let Some(t) = opts.command_timeout {
        env.settings.command_timeout = Some(t);
    }
    if opts.local {
        env.settings.connect_method = "local".into();
    }
    let method = env.settings.connect_method.clone();
    if debug {
        run.out
            .line(&format!("Number of jobs: {}", env.settings.jobs));
    }
    let remote = method != "local";
    if remote && !opts.consistency_only && registry.transport_for(&method).is_none() {
        let known = registry.transport_names().join(", ");
        run.error(
            &format!("ERROR: unknown connect_method `{method}`\n  (known: {known})"),
            ErrorEvent {
                hint: Some(format!("known: {known}")),
                ..ErrorEvent::message(format!("unknown connect_method `{method}`"))
            },
        );
        return run.fail("connect", ExitStatus::Config);
    }

    if opts.local && opts.consistency_only {
        run.out.section("LOCAL CONSISTENCY CHECK", None);
    } else {
        run.out
            .section("Connecting hosts and configuring model ...", None);
    }
    if !remote {
        let total = env.hosts.len();
        let sink = run.sink();
        for (i, host) in env.hosts.values().enumerate() {
            let event = if host.ignore {
                batou_core::event::Event::HostIgnored {
                    host: host.name.clone(),
                    index: i + 1,
                    total,
                }
            } else {
                batou_core::event::Event::HostConnecting {
                    host: host.name.clone(),
                    method: method.clone(),
                    index: i + 1,
                    total,
                }
            };
            sink.emit(event);
        }
    }
    let selection = Selection {
        hosts: opts.hosts.clone(),
        skip_hosts: opts.skip_hosts.clone(),
        components: opts.components.clone(),
        skip_components: opts.skip_components.clone(),
    };
    // Connections open while the model is configured (the targets are
    // not touched until it is known to be sound), only to hosts this run
    // needs, and not at all when loading already found errors.
    let early = (remote && !opts.consistency_only && load_errors.is_empty())
        .then(|| crate::remote::connect_early(registry, &env, &selection, opts, project_dir))
        .flatten();
    let configure_start = Instant::now();
    let options = ConfigureOptions {
        platform: opts.platform.clone(),
        // The agents resolve names for real, on their hosts.
        lenient_dns: remote,
        ..Default::default()
    };
    let mut model = match configure(env, registry, &options) {
        Ok(m) => m,
        Err(errors) => {
            let step = if load_errors.is_empty() {
                "connect"
            } else {
                "load"
            };
            load_errors.extend(errors);
            load_errors.sort_by_key(ConfigError::sort_key);
            return run.config_errors(load_errors, step);
        }
    };
    if !load_errors.is_empty() {
        return run.config_errors(load_errors, "load");
    }
    if let Err(unknown) = model.select(&selection) {
        for u in &unknown {
            run.error(&format!("ERROR: {u}"), ErrorEvent::message(u.to_string()));
        }
        return run.fail("connect", ExitStatus::Usage);
    }
    let configure_time = configure_start.elapsed().as_secs_f64();
    run.configure_seconds = Some(configure_time);
    for (host, root, message) in model.configure_logs() {
        run.sink().emit(Event::Log {
            host,
            component: Some(root),
            message,
        });
    }
    if debug {
        let components: usize = model.roots.iter().map(|r| r.component_count()).sum();
        run.out.line(&format!(
            "Configured {} root(s), {components} component(s) in {configure_time:.3}s",
            model.roots.len()
        ));
    }

    if opts.consistency_only {
        run.out.section("Summary", None);
        run.out.line(&format!(
            "Consistency check took total={:.2}s",
            run.start.elapsed().as_secs_f64()
        ));
        run.out
            .section(&format!("{} FINISHED", run.action), Some(Color::Cyan));
        return ExitStatus::Success;
    }

    if remote {
        let status = crate::remote::run(run, registry, &model, opts, project_dir, debug, early);
        // The process ends next: freeing a model of thousands of
        // components one by one would only delay the exit.
        std::mem::forget(model);
        return status;
    }
    run.out.section(
        if opts.predict_only {
            "Predicting deployment actions"
        } else {
            "Deploying"
        },
        None,
    );
    let deploy_options = DeployOptions {
        predict: opts.predict_only,
    };
    // Ctrl-C from here on winds the deploy down (see batou_core::interrupt).
    batou_core::interrupt::install();
    let host = Host::local_batched().beneath(&model.env_info.base_dir);
    let result = deploy_local(&mut model, &host, &run.sink(), deploy_options);
    let report = match result {
        Ok(r) => r,
        Err(e) if matches!(e.source, batou_core::Error::Interrupted { .. }) => {
            let message = e.source.to_string();
            run.error(&format!("ERROR: {message}"), ErrorEvent::message(message));
            return run.fail("deploy", ExitStatus::Interrupted);
        }
        Err(e) => {
            let text = run.diagnostics.deploy_error(&e);
            run.error(&text, ErrorEvent::deploy(&e));
            return run.fail("deploy", ExitStatus::DeployFailed);
        }
    };
    run.deploy_seconds = Some(report.seconds);
    run.out.section("Summary", None);
    run.finish(opts, report.changed, configure_time, report.seconds)
}

impl Run<'_> {
    /// The end of a successful run: what changed, the timings, the verdict.
    pub(crate) fn finish(
        &self,
        opts: &DeployArgs,
        changed: usize,
        connect: f64,
        deploy: f64,
    ) -> ExitStatus {
        let verb = if opts.predict_only {
            "would change"
        } else {
            "changed"
        };
        self.out.line(&match changed {
            0 if opts.predict_only => "Nothing would change.".to_string(),
            0 => "Nothing changed.".to_string(),
            n => format!("{n} component{} {verb}.", if n == 1 { "" } else { "s" }),
        });
        self.out.line(&format!(
            "Deployment took total={:.2}s, connect={connect:.2}s, deploy={deploy:.2}s",
            self.start.elapsed().as_secs_f64(),
        ));
        let color = if opts.predict_only {
            Color::Purple
        } else {
            Color::Green
        };
        self.out
            .section(&format!("{} FINISHED", self.action), Some(color));
        pending(opts, changed)
    }
}

/// The status of a run that worked: with `-P --exit-code`, whether
/// anything would change.
pub(crate) fn pending(opts: &DeployArgs, changed: usize) -> ExitStatus {
    if opts.predict_only && opts.exit_code && changed > 0 {
        ExitStatus::ChangesPending
    } else {
        ExitStatus::Success
    }
}
