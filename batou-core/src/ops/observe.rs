//! What an operation tells its caller while it runs: the deploy's events
//! (an [`EventSink`]) and the stages around them, which a transcript shows
//! as sections and a JSON stream leaves out.

use crate::event::EventSink;
use crate::remote::bootstrap::AgentBinary;
use crate::secrets::Masker;

use super::plan::Settled;

/// A stage of an operation, in the order they come.
#[derive(Debug)]
pub enum Step<'a> {
    /// The project lock is held; the environment is read next.
    Loading { environment: &'a str },
    /// The environment is read (its warnings went out as events); its
    /// secrets are decrypted next.
    LoadingSecrets,
    /// Secrets are decrypted: whatever the caller shows from now on must
    /// be redacted with this masker.
    Secrets(&'a Masker),
    /// The flags are merged with the environment's settings.
    Settled(&'a Settled),
    /// Hosts are connected (remote) while the model is configured.
    Configuring,
    /// The model is configured and the selection applied.
    Configured {
        roots: usize,
        components: usize,
        seconds: f64,
    },
    /// Remote: agents are started from this binary (one step per agent
    /// at hand before the deploy; others are built as hosts need them).
    Agent(&'a AgentBinary),
    /// Local: the roots are deployed (or predicted) now.
    Deploying,
}

/// Receives an operation's events and steps.
pub trait Observer: EventSink {
    fn step(&mut self, step: Step<'_>);
}

/// Ignores steps and events (an operation whose caller shows neither).
pub struct Quiet;

impl EventSink for Quiet {
    fn emit(&self, _event: crate::event::Event) {}
}

impl Observer for Quiet {
    fn step(&mut self, _step: Step<'_>) {}
}
