//! Renders core events as batou's transcript.

use batou_core::event::{Event, EventSink, Phase, SkipReason};

use crate::output::{Color, Output, format_duration};

/// Prints events as they arrive.
pub struct Transcript<'a> {
    pub out: &'a Output,
}

impl EventSink for Transcript<'_> {
    fn emit(&self, event: Event) {
        let out = self.out;
        match event {
            Event::Phase {
                phase: Phase::Deploying,
            } => out.section("Deploying", None),
            Event::Phase {
                phase: Phase::Predicting,
            } => out.section("Predicting deployment actions", None),
            Event::HostConnecting {
                host,
                method,
                index,
                total,
            } => out.step(
                "🌐",
                &host,
                &format!("Connecting via {method} ({index}/{total})"),
            ),
            Event::HostIgnored { host, index, total } => out.step(
                "⏭️",
                &host,
                &format!("Connection ignored ({index}/{total})"),
            ),
            Event::HostNotSelected { host, index, total } => out.step(
                "⏭️",
                &host,
                &format!("Not connecting: no component selected ({index}/{total})"),
            ),
            Event::AgentReady {
                host,
                user,
                uploaded,
            } => {
                if uploaded {
                    out.step("📦", &host, &format!("Uploaded agent (runs as {user})"))
                }
            }
            Event::AgentBuildStarted {
                triple,
                host,
                command,
            } => out.step(
                "🔨",
                &host,
                &format!("Building the agent for {triple}: {command}"),
            ),
            // cargo's own progress, on stderr as when cargo runs in a
            // terminal, each line labelled with what it builds.
            Event::AgentBuildOutput { triple, line } => out.suspend(|| {
                crate::guard::err(&format!("  [agent {triple}] {}", line.trim_start()))
            }),
            Event::AgentBuildFinished {
                triple,
                seconds,
                success,
            } => {
                if success {
                    out.step(
                        "🔨",
                        &triple,
                        &format!("Agent built in {}", format_duration(Some(seconds))),
                    )
                }
            }
            Event::BatchStarted {
                index,
                total,
                hosts,
            } => out.section(
                &format!("batch {index}/{total}: {}", hosts.join(", ")),
                None,
            ),
            Event::BatchFinished {
                index,
                total,
                deployed,
                failed,
                partial,
                untouched,
            } => {
                let parts: Vec<String> = [
                    ("deployed", deployed),
                    ("failed", failed),
                    ("partly deployed", partial),
                    ("not started", untouched),
                ]
                .into_iter()
                .filter(|(_, hosts)| !hosts.is_empty())
                .map(|(what, hosts)| format!("{what} {}", hosts.join(", ")))
                .collect();
                out.line(&format!(
                    "batch {index}/{total} finished: {}",
                    parts.join("; ")
                ))
            }
            Event::BatchWait { seconds, next } => out.line(&format!(
                "Waiting {seconds}s before batch {next} (batch_wait) ..."
            )),
            Event::RolloutFinished {
                deployed,
                failed,
                partial,
                untouched,
            } => {
                out.section("Rollout", None);
                for (what, hosts) in [
                    ("deployed", deployed),
                    ("failed", failed),
                    ("partly deployed", partial),
                    ("not started", untouched),
                ] {
                    if !hosts.is_empty() {
                        out.line(&format!("{what} ({}): {}", hosts.len(), hosts.join(", ")));
                    }
                }
            }
            Event::RootWaiting { host, root, limit } => out.step(
                "⏳",
                &host,
                &format!("Waiting with component {root} (max_parallel {limit}) ..."),
            ),
            Event::RootScheduled { host, root } => {
                out.step("⚪", &host, &format!("Scheduling component {root} ..."))
            }
            Event::RootSkipped { host, root, reason } => {
                let why = match reason {
                    SkipReason::ComponentIgnored => "Component ignored",
                    SkipReason::HostIgnored => "Host ignored",
                    SkipReason::NotSelected => "Not selected",
                };
                out.step(
                    "⏭️",
                    &host,
                    &format!("Skipping component {root} ... ({why})"),
                )
            }
            Event::ComponentNeedsUpdate { host, component } => out.step("🚀", &host, &component),
            Event::Diff { label, lines, .. } => {
                let texts: Vec<(String, Option<Color>)> = lines
                    .iter()
                    .map(|line| {
                        let color = if line.starts_with('+') && !line.starts_with("+++") {
                            Some(Color::Green)
                        } else if line.starts_with('-') && !line.starts_with("---") {
                            Some(Color::Red)
                        } else {
                            None
                        };
                        (format!("  {label} {line}"), color)
                    })
                    .collect();
                out.lines(texts.iter().map(|(t, c)| (t.as_str(), *c)));
            }
            Event::DiffHidden { label, reason, .. } => {
                out.colored(&format!("  {label} {reason}"), Color::Yellow)
            }
            Event::Log { host, message, .. } => out.line(&format!("{host}: {message}")),
            Event::Warning { message, .. } => out.warn(&message),
            Event::HandlerTriggered {
                host,
                component,
                handler,
                trigger,
                cause,
                ..
            } => out.step(
                "🔔",
                &host,
                // batou's predict line is `Trigger before-update: C.handler`.
                &format!(
                    "Trigger {}: {component}.{handler} ({cause})",
                    trigger.replace('_', "-")
                ),
            ),
            Event::RootReverted {
                host,
                root,
                restored,
                not_reverted,
                failed,
                recovered,
            } => {
                let when = if recovered {
                    "left by a deploy that was killed; "
                } else {
                    ""
                };
                out.step(
                    "↩️",
                    &host,
                    &format!(
                        "Reverted component {root} ({when}{} paths restored)",
                        restored.len()
                    ),
                );
                for path in &restored {
                    out.line(&format!("  reverted {path}"));
                }
                for what in &not_reverted {
                    out.colored(&format!("  not reverted: {what}"), Color::Yellow);
                }
                for why in &failed {
                    out.colored(&format!("  could not revert: {why}"), Color::Red);
                }
            }
            Event::EventPublished { host, root, key } => {
                out.step("📣", &host, &format!("Published {key} ({root})"))
            }
            Event::ComponentFinished {
                host,
                component,
                timing,
                ..
            } => {
                if timing.is_slow() {
                    out.step(
                        "💤",
                        &host,
                        &format!(
                            "{component} [total={}, verify={}, update={}, sub={}]",
                            format_duration(Some(timing.total)),
                            format_duration(timing.verify),
                            format_duration(timing.update),
                            format_duration(timing.sub),
                        ),
                    )
                }
            }
        }
    }
}
