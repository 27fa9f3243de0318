//! Starting the agent on a target: the controller's own executable (or
//! `agent_binary`), uploaded once per content hash into a private cache
//! directory on the host and started through a transport, as the service
//! user if there is one.
//!
//! An unchanged deployment costs one transport command per host: a small
//! POSIX `sh` script that decides on sudo, reports the platform, checks
//! the cache directory and the cached binary (a regular file whose sha256
//! is computed on every start, see `scripts::START`) and `exec`s it. Only
//! when the binary is missing (or was tampered with) does a second
//! command upload it, and a third start it.
//!
//! The scripts talk to the controller in lines on stdout before the agent
//! takes over:
//!
//! ```text
//! BATOU-PLATFORM Linux x86_64     always first (`uname -sm`)
//! BATOU-USER deploy               who the agent runs as
//! BATOU-START                     said by the agent itself once it runs;
//!                                 its protocol follows. An exec that
//!                                 fails ends the script instead, and its
//!                                 stderr (the loader's or the kernel's
//!                                 words) becomes the error.
//! BATOU-HAVE <hash> ...           agents in the cache (delta bases)
//! BATOU-UNPACK zstd xz gzip       decompressors on the target's PATH
//! BATOU-MISSING                   no (valid) cached binary: upload it
//! BATOU-UPLOADED                  (upload script) verified and in place
//! BATOU-ERROR cache <path>: <why> the cache directory cannot be used
//! BATOU-ERROR noexec <path>       the cache cannot hold programs
//! BATOU-ERROR nohash <why>        no sha256 tool on the target
//! BATOU-ERROR upload <why>        (upload script) nothing was installed;
//!                                 the target's own message follows
//! ```
//!
//! The upload script takes its mode as arguments: `raw`, `zstd`, `xz`,
//! `gzip` (unpacked by that tool on the target) or `patch <base>` (a zstd
//! delta applied by the cached agent `<base>` as `batou agent-patch`,
//! after its hash was checked). A patch that fails is retried as a full
//! upload. Whatever the mode, the result is hashed before it is moved into
//! the cache, and the cache is trimmed to `agent_cache_keep` agents.

mod binary;
mod error;
mod exec_failure;
mod launch;
mod payload;
mod preamble;
mod scripts;
mod store;

pub use binary::{AgentBinary, hash_file};
// Also here, where the agent binary is described.
pub use crate::remote::platform::{local_arch, local_os};
pub use error::BootstrapError;
pub use launch::{
    AgentLaunch, DEFAULT_KEEP, Launched, UploadOptions, connect_gated, launch, launch_gated,
};
pub use payload::{apply_patch, delta};
pub use scripts::DEFAULT_CACHE_DIR;

/// What an agent started by the start script says first: `BATOU-START`
/// (the script exports `BATOU_AGENT_HASH` for it). Said by the agent, not
/// the script, so the controller tells an agent that runs from an `exec`
/// that failed. Nothing when the agent was started otherwise.
pub fn announce_start(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if std::env::var_os("BATOU_AGENT_HASH").is_some() {
        out.write_all(b"BATOU-START\n")?;
        out.flush()?;
    }
    Ok(())
}
