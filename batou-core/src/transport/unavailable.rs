//! A transport name this build knows but cannot serve: `ssh2` in a
//! deployment built without the `ssh2` feature, or in the static (musl)
//! build — the agent that runs on targets — which carries no libssh2. It
//! says so and how to get it, instead of being an unknown
//! `connect_method`.

use super::{Channel, Target, Transport, TransportError};

/// Fails every command with `reason`.
pub struct Unavailable {
    reason: &'static str,
}

impl Unavailable {
    /// A transport whose every start fails with `reason`.
    pub const fn new(reason: &'static str) -> Unavailable {
        Unavailable { reason }
    }
}

impl Transport for Unavailable {
    fn start(&self, target: &Target, _command: &str) -> Result<Channel, TransportError> {
        Err(TransportError::Connect {
            host: target.host.clone(),
            message: self.reason.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_fails_with_the_reason_and_the_host() {
        let t = Unavailable::new("not in this build");
        let target = Target {
            host: "web1".into(),
            address: "web1".into(),
            ssh_config: None,
            connect_timeout: std::time::Duration::from_secs(1),
        };
        let err = t.start(&target, "true").err().expect("an error");
        assert_eq!(err.to_string(), "web1: cannot connect: not in this build");
    }
}
