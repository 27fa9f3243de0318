//! The deploy history: every deploy appends one [`Record`] per host to a
//! journal on that host (next to its deploy lock), and the controller
//! keeps a copy of the records it wrote in the project's `.batou/history/`.
//!
//! * [`record`]: what a record holds, and the deploy's identity the
//!   controller hands to every agent ([`DeployMeta`]);
//! * [`journal`]: the file: private (0600 in a 0700 directory), replaced
//!   atomically on every write, bounded to the newest records;
//! * [`tally`]: which roots ran and which components changed, per host,
//!   counted from the deploy's events as they pass;
//! * [`recorder`]: the agent's side: one record for its host, opened by the
//!   first real deploy request and closed when the agent ends.

pub mod journal;
pub mod record;
pub mod recorder;
pub mod tally;

pub use journal::{JournalError, MAX_BYTES, MAX_RECORDS, journal_beside, parse_journal};
pub use record::{DeployMeta, Outcome, Record};
pub use recorder::Recorder;
pub use tally::Tally;

#[cfg(test)]
mod tests;
