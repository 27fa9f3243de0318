//! The configure phase: every agent greets the controller and configures
//! the model on its host; their errors are merged (one error for all the
//! hosts that report it), a held target lock is reported with its holder.

use std::collections::BTreeSet;

use super::outcome::RemoteFailure;
use super::pump::{Loss, Phase, Pump};
use super::sessions::Sessions;
use super::untrusted::{agent_text, printable};
use crate::configure::Model;
use crate::error::ConfigError;
use crate::event::{Event, EventSink};
use crate::remote::protocol::{Holder, PROTOCOL_VERSION, Reply, WireError};

/// Waits until every agent has configured (or failed to); `Err` if any
/// host was lost, is locked by another deploy, or has errors in its model.
pub(super) fn await_configured(
    pump: &mut Pump<'_>,
    model: &Model,
    sink: &dyn EventSink,
) -> Result<(), RemoteFailure> {
    let mut phase = Configuring {
        expected: model
            .roots
            .iter()
            .map(|r| (r.host.clone(), r.name.clone()))
            .collect(),
        waiting: pump.sessions.all().map(|s| s.index).collect(),
        greeted: BTreeSet::new(),
        locked: Vec::new(),
        merged: Vec::new(),
        sink,
    };
    pump.run(&mut phase);
    if pump.any_lost() {
        return Err(RemoteFailure::Connect(pump.take_lost()));
    }
    if !phase.locked.is_empty() {
        return Err(RemoteFailure::Locked(phase.locked));
    }
    if !phase.merged.is_empty() {
        return Err(RemoteFailure::Config(config_errors(
            phase.merged,
            pump.sessions,
        )));
    }
    Ok(())
}

/// An error several agents may report alike, and which hosts did.
struct Merged {
    error: WireError,
    hosts: Vec<String>,
}

struct Configuring<'a> {
    /// (host, root) of every root, as the controller configured them.
    expected: Vec<(String, String)>,
    /// Sessions that have not configured yet.
    waiting: BTreeSet<usize>,
    greeted: BTreeSet<usize>,
    locked: Vec<(String, Holder)>,
    merged: Vec<Merged>,
    sink: &'a dyn EventSink,
}

impl Phase for Configuring<'_> {
    const DURING: &'static str = "before the agent was configured";

    fn awaiting(&self, _: &Sessions, i: usize) -> bool {
        self.waiting.contains(&i)
    }

    fn done(&self, _: &Pump<'_>) -> bool {
        self.waiting.is_empty()
    }

    fn reply(&mut self, pump: &mut Pump<'_>, i: usize, reply: Reply) {
        if !self.waiting.contains(&i) {
            // Already configured: only an agent giving up (`fatal`, which
            // the pump handles) matters now.
            return;
        }
        let greeted = self.greeted.contains(&i);
        let host = pump.sessions.host(i).to_string();
        match reply {
            Reply::Hello { protocol, .. } if protocol != PROTOCOL_VERSION => pump.lose(
                i,
                Loss::Mismatch(format!(
                    "the agent speaks protocol {protocol}, we speak {PROTOCOL_VERSION}"
                )),
            ),
            Reply::Hello { binary_hash, .. }
                if pump
                    .sessions
                    .get(i)
                    .is_some_and(|s| s.binary_hash != binary_hash) =>
            {
                let started = pump
                    .sessions
                    .get(i)
                    .map(|s| s.binary_hash.clone())
                    .unwrap_or_default();
                pump.lose(
                    i,
                    Loss::Mismatch(format!(
                        "the agent runs binary {}, not the {started} the controller started",
                        printable(&binary_hash),
                    )),
                )
            }
            Reply::Hello { .. } if greeted => {
                pump.lose(i, Loss::Violation("the agent greeted twice".into()))
            }
            Reply::Hello { missing_assets, .. } => {
                self.greeted.insert(i);
                if !missing_assets.is_empty() {
                    let sent = pump.sessions.get(i).map(|s| s.send_assets(&missing_assets));
                    if let Some(Err(e)) = sent {
                        pump.lose(i, Loss::Violation(e));
                    }
                }
            }
            _ if !greeted => pump.lose(
                i,
                Loss::Violation("the agent answered before it greeted".into()),
            ),
            Reply::LockHeld { holder } => {
                self.locked.push((host, holder));
                self.waiting.remove(&i);
            }
            Reply::Configured { assets_hash, .. }
                if pump
                    .sessions
                    .get(i)
                    .is_some_and(|s| s.assets.manifest_hash != assets_hash) =>
            {
                pump.lose(
                    i,
                    Loss::Mismatch(format!(
                        "the agent configured with assets {}, not the set the controller shipped",
                        printable(&assets_hash)
                    )),
                )
            }
            Reply::Configured {
                errors,
                roots,
                warnings,
                ..
            } => {
                for message in warnings {
                    self.sink.emit(Event::Warning {
                        host: Some(host.clone()),
                        component: None,
                        message: agent_text(&message),
                    });
                }
                if errors.is_empty() && roots != self.expected {
                    merge(&mut self.merged, different_model(&host), &host);
                }
                for mut e in errors {
                    e.message = agent_text(&e.message);
                    merge(&mut self.merged, e, &host);
                }
                self.waiting.remove(&i);
            }
            Reply::Deployed { .. } | Reply::Failed { .. } | Reply::Ran { .. } => pump.lose(
                i,
                Loss::Violation("the agent reported a deploy before it was configured".into()),
            ),
            // Events before the model is configured show nothing.
            Reply::Event { .. } | Reply::Heartbeat | Reply::Fatal { .. } => {}
        }
    }

    fn lost(&mut self, _: &Sessions, i: usize) {
        self.waiting.remove(&i);
    }
}

fn different_model(host: &str) -> WireError {
    WireError {
        message: "the agent configured a different model than the controller".into(),
        origin: None,
        host: Some(host.to_string()),
        component: None,
        hint: Some("the agent binary and the controller must be the same build".into()),
        panicked: false,
    }
}

/// Errors equal but for the reporting host are reported once.
fn merge(merged: &mut Vec<Merged>, error: WireError, host: &str) {
    match merged
        .iter_mut()
        .find(|m| m.error.message == error.message && m.error.origin == error.origin)
    {
        Some(m) => {
            if !m.hosts.iter().any(|h| h == host) {
                m.hosts.push(host.to_string());
            }
        }
        None => merged.push(Merged {
            error,
            hosts: vec![host.to_string()],
        }),
    }
}

/// The merged errors as configuration errors, each naming its hosts in
/// the environment's order (not the order the agents happened to answer
/// in), or "all hosts".
fn config_errors(merged: Vec<Merged>, sessions: &Sessions) -> Vec<ConfigError> {
    let all_hosts: Vec<&str> = sessions.all().map(|s| s.host.as_str()).collect();
    merged
        .into_iter()
        .map(|Merged { error, mut hosts }| {
            hosts.sort_by_key(|h| all_hosts.iter().position(|a| a == h));
            ConfigError::Reported {
                message: error.message,
                origin: error.origin,
                host: error.host,
                component: error.component,
                hint: error.hint,
                affected: if hosts.len() == all_hosts.len() && hosts.len() > 1 {
                    vec!["all hosts".into()]
                } else {
                    hosts
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(message: &str, line: usize) -> WireError {
        WireError {
            message: message.into(),
            origin: Some(crate::error::Origin::new("env.cfg", line, None)),
            host: None,
            component: None,
            hint: None,
            panicked: false,
        }
    }

    #[test]
    fn equal_errors_from_several_hosts_are_merged_with_their_hosts() {
        let mut merged = Vec::new();
        merge(&mut merged, error("bad port", 3), "h1");
        merge(&mut merged, error("bad port", 3), "h2");
        merge(&mut merged, error("bad port", 3), "h2");
        merge(&mut merged, error("bad port", 4), "h2");
        merge(&mut merged, error("no such name", 3), "h3");
        let summary: Vec<(String, usize, Vec<String>)> = merged
            .into_iter()
            .map(|m| {
                (
                    m.error.message,
                    m.error.origin.map_or(0, |o| o.line),
                    m.hosts,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "bad port".to_string(),
                    3,
                    vec!["h1".to_string(), "h2".to_string()]
                ),
                ("bad port".to_string(), 4, vec!["h2".to_string()]),
                ("no such name".to_string(), 3, vec!["h3".to_string()]),
            ]
        );
    }
}
