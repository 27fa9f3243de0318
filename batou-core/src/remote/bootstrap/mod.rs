//! Starting the agent on a target: the controller's own executable,
//! uploaded once per content hash into a private cache directory on the
//! host and started through a transport, as the service user if there is
//! one.
//!
//! An unchanged deployment costs one transport command per host: a small
//! POSIX `sh` script that decides on sudo, reports the platform, checks the
//! cached binary (hashing it only when it may have changed, see `START`)
//! and `exec`s it. Only when the binary is missing
//! (or was tampered with) does a second command upload it, and a third
//! start it.
//!
//! The script talks to the controller in lines on stdout before the agent
//! takes over:
//!
//! ```text
//! BATOU-PLATFORM Linux x86_64     always first
//! BATOU-USER deploy               who the agent runs as
//! BATOU-START                     the agent's own stdout begins after this
//! BATOU-MISSING                   no (valid) cached binary: upload it
//! BATOU-ERROR cache <message>     the cache directory cannot be used
//! ```

mod binary;
mod error;
mod launch;
mod preamble;
mod scripts;

pub use binary::{AgentBinary, local_arch, local_os};
pub use error::BootstrapError;
pub use launch::{AgentLaunch, Launched, connect_gated, launch, launch_gated};
pub use scripts::DEFAULT_CACHE_DIR;
