//! The controller's connections to the agents of one deploy, by the
//! index of their host among the hosts connected.

use std::time::Duration;

use super::session::Session;

/// Every agent session of a deploy; closed (agents asked to stop, killed
/// if they do not) when dropped, on every way out of the deploy.
pub(crate) struct Sessions(Vec<Option<Session>>);

impl Sessions {
    pub(super) fn new(sessions: Vec<Option<Session>>) -> Sessions {
        Sessions(sessions)
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Session> {
        self.0.iter().flatten()
    }

    pub(super) fn get(&self, i: usize) -> Option<&Session> {
        self.0.get(i).and_then(Option::as_ref)
    }

    pub(super) fn by_host(&self, host: &str) -> Option<&Session> {
        self.all().find(|s| s.host == host)
    }

    /// The host of session `i` (empty if there is none).
    pub(super) fn host(&self, i: usize) -> &str {
        self.get(i).map_or("", |s| s.host.as_str())
    }

    /// Closes every session at once, each within a few seconds.
    fn close_all(&mut self) {
        let sessions: Vec<Session> = self.0.drain(..).flatten().collect();
        std::thread::scope(|scope| {
            for s in &sessions {
                scope.spawn(move || s.close(Duration::from_secs(5)));
            }
        });
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.close_all();
    }
}
