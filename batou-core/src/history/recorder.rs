//! The agent's record of the deploy on its host.
//!
//! Armed when `configure` brings the deploy's identity (a real deploy;
//! predictions are not recorded), opened — written with outcome
//! `interrupted` and no end time — by the first real `deploy` or `finish`
//! request, filled from the replies the agent sends (every reply passes
//! through [`Recorder::observe`]), and closed when the agent ends. An
//! agent killed in between leaves its record open: `interrupted`, which
//! is what happened.

use std::path::PathBuf;
use std::sync::Mutex;

use super::journal::{JournalError, write_record};
use super::record::{Outcome, Record, now};
use super::tally::HostTally;
use crate::event::Event;
use crate::remote::protocol::Reply;

use crate::remote::orchestrate::finish::FINISH_ID;

#[derive(Debug)]
struct Armed {
    path: PathBuf,
    record: Record,
    tally: HostTally,
    open: bool,
    failed: bool,
    reverted: bool,
    finished: bool,
    rolled_back: bool,
}

/// One deploy's record on this host; does nothing until armed.
#[derive(Debug, Default)]
pub struct Recorder {
    state: Mutex<Option<Armed>>,
}

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Armed) -> T) -> Option<T> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(f)
    }

    /// The deploy whose record goes to the journal at `path`.
    pub fn arm(&self, path: PathBuf, record: Record) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(Armed {
            path,
            record,
            tally: HostTally::default(),
            open: false,
            failed: false,
            reverted: false,
            finished: false,
            rolled_back: false,
        });
    }

    /// A real `deploy` of `root` (or, with `None`, `finish`) starts: the
    /// record is written open the first time.
    pub fn deploying(&self, root: Option<&str>) -> Result<(), JournalError> {
        self.with(|a| {
            if let Some(root) = root {
                a.tally.root(root);
            }
            if a.open {
                return Ok(());
            }
            a.open = true;
            a.tally.fill(&mut a.record);
            write_record(&a.path, &a.record)
        })
        .unwrap_or(Ok(()))
    }

    /// Sees a reply on its way to the controller.
    pub fn observe(&self, reply: &Reply) {
        match reply {
            Reply::Event {
                event:
                    Event::ComponentFinished {
                        component,
                        changed: true,
                        ..
                    },
                ..
            } => {
                self.with(|a| {
                    if a.open {
                        a.tally.changed(component)
                    }
                });
            }
            Reply::Event {
                event:
                    Event::RootReverted {
                        failed,
                        recovered: false,
                        ..
                    },
                ..
            } if failed.is_empty() => self.reverted(),
            Reply::Failed { .. } => {
                self.with(|a| a.failed |= a.open);
            }
            Reply::Deployed { id, .. } if *id >= FINISH_ID => {
                self.with(|a| a.finished |= a.open);
            }
            _ => {}
        }
    }

    /// A failed root's changes were undone (for the revert machinery):
    /// the record says `reverted` rather than `failed`.
    pub fn reverted(&self) {
        self.with(|a| a.reverted |= a.open);
    }

    /// `batou rollback` put the host back: the record says `rolled-back`.
    pub fn rolled_back(&self) {
        self.with(|a| a.rolled_back |= a.open);
    }

    /// The agent ends: an open record gets its end time and outcome.
    pub fn close(&self) -> Result<(), JournalError> {
        let Some(mut armed) = self.state.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        if !armed.open {
            return Ok(());
        }
        armed.tally.fill(&mut armed.record);
        armed.record.ended = Some(now());
        armed.record.outcome = if armed.rolled_back {
            Outcome::RolledBack
        } else if armed.reverted {
            Outcome::Reverted
        } else if armed.failed {
            Outcome::Failed
        } else if armed.finished {
            Outcome::Ok
        } else {
            Outcome::Interrupted
        };
        write_record(&armed.path, &armed.record)
    }
}
