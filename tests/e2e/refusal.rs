//! How the SSH transports and the bootstrap refuse: a command the
//! transport will not run (a changed or unknown host key), and an agent
//! cache directory the bootstrap will not use. Shared by `transport` and
//! `hostile`.

use std::path::Path;

use batou_core::remote::bootstrap::BootstrapError;
use batou_core::transport::{Target, Transport, TransportError};

use super::transport::{agent_script, launch_as, text};

/// Starts `command` through `t` and returns the transport's own error:
/// at the start (as `ssh2` fails at once) or diagnosed from how the
/// process ended (as `ssh` exits with its own error). `Err` says how the
/// command ended when the transport let it run.
pub(super) fn start_refused(
    t: &dyn Transport,
    target: &Target,
    command: &str,
) -> Result<TransportError, String> {
    match t.start(target, command) {
        Err(e) => Ok(e),
        Ok(channel) => {
            let (code, _, err) = channel.finish().unwrap();
            t.diagnose(target, code, &text(&err))
                .ok_or_else(|| format!("{code:?} {}", text(&err)))
        }
    }
}

/// The bootstrap refuses an agent cache directory that `prepare` made
/// (in a fresh temp dir) on host `target`: the error names the host, the
/// directory and contains `message`, and nothing is uploaded into it.
#[track_caller]
pub(super) fn assert_cache_dir_refused(
    name: &str,
    t: &dyn Transport,
    target: &Target,
    prepare: impl FnOnce(&Path),
    message_part: &str,
    used: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    prepare(&cache);
    let binary = agent_script(dir.path());
    match launch_as(t, target, &binary, Some(&cache), None) {
        Err(BootstrapError::CacheDir {
            host,
            path,
            message,
        }) => {
            assert_eq!(host, "target");
            assert_eq!(path, cache.display().to_string(), "{name}");
            assert!(message.contains(message_part), "{name}: {message}");
        }
        Err(other) => panic!("{name}: expected a cache error, got {other}"),
        Ok(_) => panic!("{name}: {used}"),
    }
    assert!(
        !cache.join(format!("batou-agent-{}", binary.hash)).exists(),
        "{name}: nothing was uploaded into it"
    );
}
