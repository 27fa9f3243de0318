//! What a remote deploy reports: the timings when it worked, the failures
//! (hosts lost, roots failed) when it did not.

use super::untrusted::agent_text;
use crate::error::ConfigError;
use crate::remote::protocol::{Holder, WireError};

/// A host that could not be reached or whose agent failed.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFailure {
    pub host: String,
    pub message: String,
}

/// A root that failed on its host.
#[derive(Debug, Clone, PartialEq)]
pub struct RootFailure {
    pub host: String,
    pub component: String,
    pub message: String,
    /// The component panicked (a bug), rather than failing with an error:
    /// an internal error, as the same panic is in a local deploy.
    pub panicked: bool,
}

impl RootFailure {
    /// A failure an agent reported for a request sent to `host`: the host
    /// is the one asked, whatever the agent says; the component is the
    /// one it names, else `root`.
    pub(super) fn reported(host: &str, root: &str, error: WireError) -> RootFailure {
        RootFailure {
            host: host.to_string(),
            component: error.component.unwrap_or_else(|| root.to_string()),
            message: agent_text(&error.message),
            panicked: error.panicked,
        }
    }
}

/// Why a remote deploy stopped.
#[derive(Debug)]
pub enum RemoteFailure {
    /// Hosts could not be reached, or their connection was lost.
    Connect(Vec<HostFailure>),
    /// The model is wrong on some hosts (merged, with the affected hosts).
    Config(Vec<ConfigError>),
    /// Another deploy runs on these hosts.
    Locked(Vec<(String, Holder)>),
    /// Components failed; connection problems during the deploy are
    /// reported here too.
    Deploy {
        roots: Vec<RootFailure>,
        lost: Vec<HostFailure>,
    },
    /// Interrupted (SIGINT, see [`crate::interrupt`]): the running roots
    /// finished (or failed, in `roots` and `lost`), `undone` (host, root)
    /// never started.
    Interrupted {
        undone: Vec<(String, String)>,
        roots: Vec<RootFailure>,
        lost: Vec<HostFailure>,
    },
}

/// Timing of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    pub host: String,
    pub user: String,
    pub uploaded: bool,
    /// Bytes of agent sent to the host (a delta, compressed or whole).
    pub upload_bytes: u64,
    /// Asset blobs the host lacked and was sent, and the bytes of that
    /// protocol line.
    pub assets_sent: usize,
    pub asset_bytes: u64,
    pub connect_seconds: f64,
    pub deploy_seconds: f64,
    pub changed: usize,
}

/// Timing of one root.
#[derive(Debug, Clone, PartialEq)]
pub struct RootReport {
    pub host: String,
    pub root: String,
    pub seconds: f64,
    pub changed: usize,
}

/// What a remote deploy did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteReport {
    pub changed: usize,
    pub connect_seconds: f64,
    pub deploy_seconds: f64,
    pub hosts: Vec<HostReport>,
    pub roots: Vec<RootReport>,
}

/// Seconds as an agent reports them: a hostile or confused one must not
/// put a negative or non-finite time into the summary.
pub(super) fn agent_seconds(seconds: f64) -> f64 {
    if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_agent_times_are_believed() {
        assert_eq!(agent_seconds(1.5), 1.5);
        assert_eq!(agent_seconds(-1.0), 0.0);
        assert_eq!(agent_seconds(f64::NAN), 0.0);
        assert_eq!(agent_seconds(f64::INFINITY), 0.0);
    }
}
