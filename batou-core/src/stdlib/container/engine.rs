//! Talking to podman or docker: the two share the commands used here
//! (`container inspect --format`, `image inspect`, `pull`, `run -d`,
//! `start`, `stop -t`, `rm -f`, `exec`); they differ in their messages
//! for a missing object and in how an image ID is spelled (docker
//! prefixes `sha256:`).

use std::time::Duration;

use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};
use crate::transport::quote;

/// Which container engine runs the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    pub(super) fn default_executable(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }
}

/// One engine executable with its global options.
#[derive(Debug, Clone)]
pub(super) struct Cli {
    pub engine: Engine,
    pub executable: String,
    pub options: Vec<String>,
    pub timeout: Duration,
}

/// What an inspect found.
pub(super) enum Found {
    Yes(String),
    /// The engine says there is no such container or image.
    Missing,
}

impl Cli {
    fn argv<'a>(&'a self, args: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
        std::iter::once(self.executable.as_str())
            .chain(self.options.iter().map(String::as_str))
            .chain(args.iter().copied())
    }

    fn spec(&self, args: &[&str]) -> CommandSpec {
        CommandSpec::argv(self.argv(args)).timeout(self.timeout)
    }

    /// The command as one shell line (for the health check).
    pub fn shell_line(&self, args: &[&str]) -> String {
        self.argv(args).map(quote).collect::<Vec<_>>().join(" ")
    }

    fn name(&self) -> &str {
        self.engine.default_executable()
    }

    /// Runs a command that must succeed; its stdout.
    pub fn run(&self, ctx: &Deploy<'_>, args: &[&str]) -> Result<String> {
        match ctx.run(&self.spec(args)) {
            Ok(out) => Ok(out.stdout),
            Err(Error::Command(e)) => Err(Error::msg(format!(
                "{} {} failed: {}",
                self.name(),
                args.first().copied().unwrap_or(""),
                e
            ))),
            Err(e) => Err(e),
        }
    }

    /// `inspect --format FORMAT` of a container or an image:
    /// `Missing` when the engine says there is none, an error when the
    /// engine could not answer at all.
    pub fn inspect(&self, ctx: &Deploy<'_>, kind: &str, format: &str, what: &str) -> Result<Found> {
        let args = [kind, "inspect", "--format", format, what];
        match ctx.run(&self.spec(&args)) {
            Ok(out) => Ok(Found::Yes(out.stdout.trim().to_string())),
            Err(Error::Command(e)) => match &e.kind {
                CommandErrorKind::Failed { stderr, .. } if is_missing(stderr) => Ok(Found::Missing),
                CommandErrorKind::Spawn(io) => Err(Error::msg(format!(
                    "cannot run {} (`{}`): {io}; is {} installed?",
                    self.name(),
                    self.executable,
                    self.name()
                ))),
                _ => Err(Error::msg(format!(
                    "{} {kind} inspect failed: {e}",
                    self.name()
                ))),
            },
            Err(e) => Err(e),
        }
    }
}

/// podman: "no such container", "image not known"; docker: "No such
/// container", "No such image", "No such object".
fn is_missing(stderr: &str) -> bool {
    let text = stderr.to_lowercase();
    text.contains("no such container")
        || text.contains("no such image")
        || text.contains("no such object")
        || text.contains("image not known")
}

/// An image ID as podman spells it (docker's has a `sha256:` prefix).
pub(super) fn image_id(text: &str) -> &str {
    text.trim().strip_prefix("sha256:").unwrap_or(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_objects_are_recognised_in_both_engines_words() {
        assert!(is_missing(
            "Error: inspecting object: no such container nope"
        ));
        assert!(is_missing(
            "Error: inspecting object: localhost/x:1: image not known"
        ));
        assert!(is_missing("Error: No such container: nope"));
        assert!(is_missing("Error response from daemon: No such image: x:1"));
        assert!(!is_missing("Error: cannot connect to Podman"));
        assert_eq!(image_id("sha256:abc\n"), "abc");
        assert_eq!(image_id("abc"), "abc");
    }
}
