//! Deploying to remote hosts through an agent: the deployment binary
//! itself, uploaded once per build and started over a transport, speaking
//! line-delimited JSON ([`protocol`]). The agent configures the model on
//! its host (with the host's DNS, as batou does) and deploys the roots the
//! controller asks for; the controller ([`orchestrate`]) merges errors,
//! orders roots across hosts and runs up to `jobs` at once.

pub mod agent;
pub mod bootstrap;
pub mod orchestrate;
pub mod platform;
pub mod protocol;
mod replies;
mod self_hash;
pub mod target_lock;
pub(crate) mod watched;
pub mod whoami;

pub use orchestrate::early;
