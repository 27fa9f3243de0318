//! Deploying to remote hosts through an agent: the deployment binary
//! itself, uploaded once per build and started over a transport, speaking
//! line-delimited JSON ([`protocol`]). The agent configures the model on
//! its host (with the host's DNS, as batou does) and deploys the roots the
//! controller asks for; the controller ([`orchestrate`]) merges errors,
//! orders roots across hosts and runs up to `jobs` at once.

pub mod agent;
pub mod bootstrap;
pub mod early;
pub(crate) mod finish;
pub mod orchestrate;
pub mod platform;
mod platform_launch;
pub mod protocol;
mod replies;
mod self_hash;
pub(crate) mod session;
pub mod target_lock;
mod untrusted;
